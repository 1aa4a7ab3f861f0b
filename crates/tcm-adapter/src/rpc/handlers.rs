//! [`RpcHandlers`]: the server → client request and notification handlers of a JSON-RPC
//! client, generic over the client handle they are called with.

use std::sync::{Arc, RwLock};

use serde_json::Value;
use tcm_proto::jsonrpc::{RpcError, ServerMethod};

/// A handler for server → client requests, called with a handle on the client.
pub(crate) type RequestFn<C> =
    Arc<dyn Fn(&C, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static>;
/// A handler for server notifications, called with a handle on the client.
pub(crate) type NotificationFn<C> = Arc<dyn Fn(&C, &str, &Value) + Send + Sync + 'static>;

/// Handlers for server → client traffic, registered before connecting so that requests sent
/// right after the session frame are served. Without a request handler every server request
/// is answered with -32601.
pub struct RpcHandlers<C> {
    pub(crate) request: Option<RequestFn<C>>,
    pub(crate) notification: Option<NotificationFn<C>>,
}

impl<C> Default for RpcHandlers<C> {
    fn default() -> Self {
        Self {
            request: None,
            notification: None,
        }
    }
}

impl<C> Clone for RpcHandlers<C> {
    fn clone(&self) -> Self {
        Self {
            request: self.request.clone(),
            notification: self.notification.clone(),
        }
    }
}

impl<C> std::fmt::Debug for RpcHandlers<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcHandlers")
            .field("request", &self.request.is_some())
            .field("notification", &self.notification.is_some())
            .finish()
    }
}

impl<C> RpcHandlers<C> {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles server requests on the handler thread; the result (or error) is sent back as
    /// the reply. A panic becomes -32603 with `data.exception`.
    pub fn on_request<F>(mut self, handler: F) -> Self
    where
        F: Fn(&C, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        self.request = Some(Arc::new(handler));
        self
    }

    /// Handles server notifications (method and params); they are never answered.
    pub fn on_notification<F>(mut self, handler: F) -> Self
    where
        F: Fn(&C, &str, &Value) + Send + Sync + 'static,
    {
        self.notification = Some(Arc::new(handler));
        self
    }
}

/// The handlers of one client, shared by its handles (which may replace them) and the worker.
pub struct SharedHandlers<C> {
    inner: Arc<RwLock<RpcHandlers<C>>>,
}

impl<C> Clone for SharedHandlers<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> SharedHandlers<C> {
    /// Shares `handlers`.
    pub fn new(handlers: RpcHandlers<C>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(handlers)),
        }
    }

    /// Replaces the server-request handler.
    pub fn set_request<F>(&self, handler: F)
    where
        F: Fn(&C, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        if let Ok(mut h) = self.inner.write() {
            h.request = Some(Arc::new(handler));
        }
    }

    /// Replaces the notification handler.
    pub fn set_notification<F>(&self, handler: F)
    where
        F: Fn(&C, &str, &Value) + Send + Sync + 'static,
    {
        if let Ok(mut h) = self.inner.write() {
            h.notification = Some(Arc::new(handler));
        }
    }

    /// The handlers registered now.
    pub(crate) fn current(&self) -> RpcHandlers<C> {
        self.inner.read().map(|h| h.clone()).unwrap_or_default()
    }
}
