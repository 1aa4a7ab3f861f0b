//! The official Python SDK, measured by `python/sdk_bench.py` in its own process (its CPU
//! figures are that process's, from `time.process_time()`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::Result;
use crate::window::Sample;

/// A Python interpreter with the SDK (`tcm-client`) installed.
pub struct Sdk {
    python: PathBuf,
}

/// The identity inference through the SDK: encode-and-send windows and whole-call windows.
pub struct Identity {
    pub encode: Vec<Sample>,
    pub call: Vec<Sample>,
}

impl Sdk {
    pub fn new(python: PathBuf) -> Self {
        Self { python }
    }

    /// `seconds` of lock-step `info_queue_stats` calls.
    pub fn lockstep(&self, url: &str, seconds: f64) -> Result<Sample> {
        let out = self.run("lockstep", url, &[&seconds.to_string()])?;
        let field = |k: &str| {
            out.get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("the SDK bench reported no '{k}'"))
        };
        Ok(Sample {
            ops: field("ops")? as u64,
            wall: field("wall")?,
            cpu: field("cpu")?,
            switches: None,
        })
    }

    /// `repeats` identity inferences of 1×3×224×224 FP32 `values` sent as JSON.
    pub fn identity(
        &self,
        url: &str,
        repeats: usize,
        values: crate::clients::Values,
    ) -> Result<Identity> {
        let out = self.run("identity", url, &[&repeats.to_string(), values.name()])?;
        Ok(Identity {
            encode: calls(&out, "encode")?,
            call: calls(&out, "call")?,
        })
    }

    fn run(&self, mode: &str, url: &str, args: &[&str]) -> Result<Value> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/sdk_bench.py");
        let out = Command::new(&self.python)
            .arg(script)
            .args([mode, url])
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "the SDK bench ({mode}) failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }
}

/// `[[wall, cpu], …]` under `key`, one call each.
fn calls(out: &Value, key: &str) -> Result<Vec<Sample>> {
    let list = out
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the SDK bench reported no '{key}'"))?;
    list.iter()
        .map(|pair| match pair.as_array().map(|p| p.as_slice()) {
            Some([wall, cpu]) => Ok(Sample {
                ops: 1,
                wall: wall.as_f64().ok_or("a wall time is not a number")?,
                cpu: cpu.as_f64().ok_or("a CPU time is not a number")?,
                switches: None,
            }),
            _ => Err(format!("a '{key}' entry is not [wall, cpu]").into()),
        })
        .collect()
}
