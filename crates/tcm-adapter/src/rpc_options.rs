//! [`RpcOptions`]: the options of a JSON-RPC client beyond its protocol configuration.

use std::time::Duration;

use crate::options::ClientOptions;

/// Options of an `RpcClient` beyond the protocol configuration: transport settings and the
/// deadline of server-request handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcOptions {
    /// Timeouts and TLS trust of the transport (shared with the TCM client).
    pub transport: ClientOptions,
    /// Longest a handler may run before its request is answered with -32603; `None` waits
    /// for ever.
    pub handler_timeout: Option<Duration>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        Self {
            transport: ClientOptions::default(),
            handler_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl RpcOptions {
    /// Sets the transport options.
    pub fn with_transport(mut self, transport: ClientOptions) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the handler deadline (`None`: no deadline).
    pub fn with_handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handler_timeout = timeout;
        self
    }
}
