//! Closing a server-side WebSocket politely, shared by the reference servers.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::WebSocket;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted))
}

/// Closes a server-side WebSocket the way the reference servers do: sends the close frame (by
/// hand when tungstenite's state is unusable, e.g. after an oversized frame), then reads until the
/// peer answers or goes quiet (at most 2 s), and shuts the TCP stream down. `unreadable` skips
/// the WebSocket reader and discards raw bytes instead.
pub fn close_gracefully(ws: &mut WebSocket<TcpStream>, code: u16, reason: &str, unreadable: bool) {
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(5)));
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_string().into(),
    };
    if ws.close(Some(frame)).is_err() {
        // The protocol state may be unusable (e.g. after an oversized frame): write the
        // close frame by hand.
        write_raw_close(ws.get_mut(), code, reason);
    }
    let _ = ws.flush();
    let deadline = Instant::now() + Duration::from_secs(2);
    if unreadable {
        drain_raw(ws.get_mut(), deadline);
        let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        return;
    }
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match ws.read() {
            Ok(_) => quiet_since = Instant::now(),
            Err(e) if is_timeout(&e) => {
                let _ = ws.flush();
                if quiet_since.elapsed() > Duration::from_millis(500) {
                    break;
                }
            }
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                break;
            }
            Err(_) => {
                // Unreadable protocol state (oversized frame): discard raw bytes until quiet.
                drain_raw(ws.get_mut(), deadline);
                break;
            }
        }
    }
    let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
}

fn write_raw_close(stream: &mut TcpStream, code: u16, reason: &str) {
    use std::io::Write;
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(125);
    let mut frame = vec![0x88, payload.len() as u8];
    frame.extend_from_slice(&payload);
    let _ = stream.write_all(&frame);
}

fn drain_raw(stream: &mut TcpStream, deadline: Instant) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => quiet_since = Instant::now(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if quiet_since.elapsed() > Duration::from_millis(300) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
}
