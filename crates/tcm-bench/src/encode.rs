//! Our encode-and-send path for one 1×3×224×224 FP32 inference, the part of a call that all
//! four clients share: the sans-IO core builds and encodes the frame (as every client does)
//! and it is written to a raw socket. The reply is read outside the window.

use std::time::{Duration, Instant};

use tcm_proto::{AuthContext, Connection, InferenceRequest, Request, Tensor, TensorData, Transmit};
use tungstenite::Message;

use crate::Result;
use crate::clients::Values;
use crate::window::{Sample, Window};

/// `repeats` windows, each one encode-and-send of an input with `values`.
pub fn encode_send(url: &str, repeats: usize, values: Values) -> Result<Vec<Sample>> {
    let values = values.values();
    let uuid = format!("bench-enc-{}", std::process::id());
    let mut ws = crate::raw::connect(url, &uuid)?;
    let now = Instant::now();
    let mut cfg = tcm_proto::Config::new(&uuid);
    cfg.max_message_bytes = 16 << 20;
    cfg.keepalive = None;
    // The frames go out on the raw socket authenticated above, under the same uuid.
    cfg.exact_first_uuid = true;
    let mut conn = Connection::new(cfg, AuthContext::anonymous());
    let _ = conn.poll_dial();
    conn.handle_connected(now);
    while conn.poll_transmit().is_some() {}
    conn.handle_text(now, r#"{"type":"auth.ok"}"#);
    while conn.poll_event().is_some() {}
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let data = values.to_vec();
        let window = Window::start();
        let tensor = Tensor::new("INPUT0", vec![1, 3, 224, 224], TensorData::Fp32(data))?;
        let mut req = InferenceRequest::new("127.0.0.1", "c", "identity")
            .with_input(tensor)
            .with_allow_transient(true);
        req.vm_id = Some("vm".into());
        let id = conn.request(now, Request::from(req), Some(Duration::from_secs(60)))?;
        let Some(Transmit::Text(frame)) = conn.poll_transmit() else {
            return Err("the core produced no frame for the inference".into());
        };
        ws.send(Message::text(frame))?;
        samples.push(window.finish(1));
        let _ = ws.read()?;
        conn.cancel(now, id);
        while conn.poll_event().is_some() {}
        // The cancelled inference orphans the slot; its reply was read above.
        conn.handle_text(
            now,
            &format!(
                r#"{{"type":"inference","uuid":"{}","payload":{{"data":"x","status":"FAILED","model_name":null}}}}"#,
                conn.uuid()
            ),
        );
        while conn.poll_event().is_some() {}
    }
    let _ = ws.close(None);
    Ok(samples)
}
