//! The raw tungstenite peer: one blocking socket sending the same `queue_stats` frames as our
//! clients, with none of their machinery (no I/O thread, no decoding of the replies). It is the
//! floor our clients are measured against. For the async clients, the same loop over
//! async-tungstenite on smol and on tokio shows the floor of an async client on that runtime
//! (its reactor, none of our machinery), and [`lockstep_bounded`] is the floor of a blocking
//! client that bounds its waits and decodes its replies.

use std::net::TcpStream;

use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

use crate::Result;
use crate::window::{Sample, Window, deadline};

/// A raw, authenticated WebSocket.
pub type Raw = WebSocket<MaybeTlsStream<TcpStream>>;

/// Connects with `TCP_NODELAY` (as our clients do), authenticates as `uuid` and reads `auth.ok`.
pub fn connect(url: &str, uuid: &str) -> Result<Raw> {
    let (mut ws, _) = tungstenite::connect(url)?;
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_nodelay(true)?;
    }
    ws.send(Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"auth","payload":{{}}}}"#
    )))?;
    let _ = ws.read()?;
    Ok(ws)
}

/// The `n`th `queue_stats` request of `uuid`.
fn queue_stats(uuid: &str, n: u64) -> Message {
    Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"info","payload":{{"action":"queue_stats","job_id":"j{n}"}}}}"#
    ))
}

/// One request at a time for `seconds`: send, read the reply, repeat.
pub fn lockstep(url: &str, seconds: f64) -> Result<Sample> {
    lockstep_with(url, "l", seconds, |ws| {
        let _ = ws.read()?;
        Ok(())
    })
}

/// [`lockstep`] doing the least a client that returns typed replies and never waits past a
/// deadline must add: each reply is awaited with `poll(2)` bounded by a deadline before it is
/// read, and decoded into the core's typed frame. The floor of a blocking client, with none of
/// the rest (no correlation, no sharing between threads, no timers).
pub fn lockstep_bounded(url: &str, seconds: f64) -> Result<Sample> {
    use std::os::fd::AsFd;
    lockstep_with(url, "b", seconds, |ws| {
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            let fd = s.as_fd();
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let within = rustix::event::Timespec {
                tv_sec: 30,
                tv_nsec: 0,
            };
            if rustix::event::poll(&mut fds, Some(&within))? == 0 {
                return Err("no reply within its deadline".into());
            }
        }
        let reply = ws.read()?;
        std::hint::black_box(tcm_proto::ServerFrame::decode(reply.to_text()?))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Lock-step `queue_stats` on a raw socket for `seconds` (after a warm-up), each request's
/// reply taken by `reply`; `what` names the connection.
fn lockstep_with(
    url: &str,
    what: &str,
    seconds: f64,
    reply: impl Fn(&mut Raw) -> Result<()>,
) -> Result<Sample> {
    let uuid = format!("raw-{what}-{}", std::process::id());
    let mut ws = connect(url, &uuid)?;
    for n in 0..crate::clients::WARM_UP {
        ws.send(queue_stats(&uuid, n))?;
        reply(&mut ws)?;
    }
    let end = deadline(seconds);
    let window = Window::start();
    let mut n = 0;
    while std::time::Instant::now() < end {
        ws.send(queue_stats(&uuid, n))?;
        reply(&mut ws)?;
        n += 1;
    }
    let sample = window.finish(n);
    let _ = ws.close(None);
    Ok(sample)
}

/// [`lockstep`] over async-tungstenite on `stream`: send, await the reply, repeat.
async fn lockstep_async<S>(stream: S, url: &str, seconds: f64) -> Result<Sample>
where
    S: futures_util::AsyncRead + futures_util::AsyncWrite + Unpin,
{
    use futures_util::StreamExt;
    let uuid = format!("raw-a-{}", std::process::id());
    let (mut ws, _) = async_tungstenite::client_async(url, stream).await?;
    ws.send(Message::text(format!(
        r#"{{"uuid":"{uuid}","type":"auth","payload":{{}}}}"#
    )))
    .await?;
    let _ = ws.next().await;
    for n in 0..crate::clients::WARM_UP {
        ws.send(queue_stats(&uuid, n)).await?;
        let _ = ws.next().await;
    }
    let end = deadline(seconds);
    let window = Window::start();
    let mut n = 0;
    while std::time::Instant::now() < end {
        ws.send(queue_stats(&uuid, n)).await?;
        let _ = ws.next().await.ok_or("the socket closed")??;
        n += 1;
    }
    let sample = window.finish(n);
    let _ = ws.close(None).await;
    Ok(sample)
}

/// The host and port of a `ws://` URL.
fn address(url: &str) -> Result<String> {
    let rest = url.strip_prefix("ws://").ok_or("not a ws:// URL")?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// [`lockstep`] over async-tungstenite on smol's reactor (async-io, as async-std's).
pub fn lockstep_smol(url: &str, seconds: f64) -> Result<Sample> {
    smol::block_on(async {
        let tcp = smol::net::TcpStream::connect(address(url)?).await?;
        tcp.set_nodelay(true)?;
        lockstep_async(tcp, url, seconds).await
    })
}

/// [`lockstep`] over async-tungstenite on tokio.
pub fn lockstep_tokio(tokio: &tokio::runtime::Runtime, url: &str, seconds: f64) -> Result<Sample> {
    use tokio_util::compat::TokioAsyncReadCompatExt;
    tokio.block_on(async {
        let tcp = tokio::net::TcpStream::connect(address(url)?).await?;
        tcp.set_nodelay(true)?;
        lockstep_async(tcp.compat(), url, seconds).await
    })
}

/// Keeps `in_flight` requests outstanding on one socket for `seconds`: each reply read is
/// answered by a new request.
pub fn pipelined(url: &str, in_flight: usize, seconds: f64) -> Result<Sample> {
    let uuid = format!("raw-p{in_flight}-{}", std::process::id());
    let mut ws = connect(url, &uuid)?;
    let end = deadline(seconds);
    let window = Window::start();
    let mut sent = 0u64;
    for _ in 0..in_flight {
        sent += 1;
        ws.write(queue_stats(&uuid, sent))?;
    }
    ws.flush()?;
    let mut done = 0u64;
    while std::time::Instant::now() < end {
        let _ = ws.read()?;
        done += 1;
        sent += 1;
        ws.write(queue_stats(&uuid, sent))?;
        ws.flush()?;
    }
    let sample = window.finish(done);
    let _ = ws.close(None);
    Ok(sample)
}
