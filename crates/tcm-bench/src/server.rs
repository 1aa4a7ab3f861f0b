//! The reference server in a child process, so that the bench process's CPU clock counts the
//! client alone. The child is this same binary run with the hidden `--serve` flag: it starts
//! `tcm_testserver`, prints its URL on one line of stdout and serves until its stdin closes
//! (which also happens when the parent dies).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use crate::Result;

/// The flag that turns this binary into the reference server.
pub const SERVE_FLAG: &str = "--serve";

/// The server's configuration: the `dev-simple` profile on an ephemeral loopback port, frames
/// up to 16 MiB, no simulated inference latency.
fn config() -> Result<tcm_testserver::Config> {
    let mut cfg = tcm_testserver::Config::profile("dev-simple")?;
    cfg.bind = ([127, 0, 0, 1], 0).into();
    cfg.max_message_bytes = 16 << 20;
    cfg.inference_latency_ms = (0, 0);
    Ok(cfg)
}

/// The child's side: serves until stdin reaches its end.
pub fn serve() -> Result<()> {
    let server = tcm_testserver::TestServer::start(config()?)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", server.ws_url())?;
    out.flush()?;
    drop(out);
    let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
    server.stop();
    Ok(())
}

/// The parent's handle on the child server; dropping it kills the child and reaps it.
pub struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Starts the child and reads its URL.
    pub fn spawn() -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(SERVE_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let url = line.trim().to_owned();
        let process = Self { child, url };
        if !process.url.starts_with("ws://") {
            return Err(format!("the server process printed no URL ({line:?})").into());
        }
        Ok(process)
    }

    /// The server's `ws://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
