//! The public surface the blocking and the async clients have in common, written once. Each
//! macro takes the `impl` header and, for the async clients, `async` and `.await`; the methods
//! are one line each over the client's `call`, `stream` and shared state.

/// The TCM convenience calls of a client or pool that has `call(call, options)` and
/// `stream(request, options)`.
#[doc(hidden)]
#[macro_export]
macro_rules! tcm_calls {
    ({ $($head:tt)* }, { $($async:tt)* }, { $($await:tt)* }, $stream:ty) => {
        $($head)* {
            /// The server's queue counters (the info fast path).
            pub $($async)* fn queue_stats(&self) -> Result<$crate::__private::tcm_proto::QueueStats, $crate::Error> {
                self.call($crate::__private::tcm_proto::GetQueueStats, $crate::CallOptions::new()) $($await)*
            }

            /// An info request with any action; returns the reply's `data`.
            pub $($async)* fn info(&self, action: &str) -> Result<$crate::__private::Value, $crate::Error> {
                let request = $crate::__private::tcm_proto::InfoRequest::new(action.to_owned());
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// A management request (`action` plus the other payload keys); returns the
            /// reply's `data`. Management is never retried automatically.
            pub $($async)* fn management(
                &self,
                action: &str,
                payload: $crate::__private::Map<String, $crate::__private::Value>,
            ) -> Result<$crate::__private::Value, $crate::Error> {
                let request = $crate::__private::tcm_proto::ManagementRequest::new(action, payload);
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// An HTTP inference; returns the typed outputs.
            pub $($async)* fn infer(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// An HTTP inference whose typed tensor inputs travel through POSIX shared memory
            /// (TCM §9.7): required, or (with `fallback_to_json`) where negotiated. See
            /// [`Shm`]($crate::Shm).
            pub $($async)* fn infer_shm(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
                fallback_to_json: bool,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                let shm = if fallback_to_json { $crate::Shm::Preferred } else { $crate::Shm::Required };
                self.call(request, $crate::CallOptions::new().shm(shm)) $($await)*
            }

            /// A pipeline: `target` names the server (`vm_ip`, `container_id`); the steps run
            /// independently and the outputs come back per step name.
            pub $($async)* fn pipeline(
                &self,
                target: $crate::__private::tcm_proto::InferenceRequest,
                steps: Vec<$crate::__private::tcm_proto::PipelineStep>,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                self.call(target.into_pipeline(steps), $crate::CallOptions::new()) $($await)*
            }

            /// A gRPC streaming inference with the default deadline; see `stream`.
            pub fn infer_stream(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
            ) -> Result<$stream, $crate::Error> {
                self.stream(request, $crate::CallOptions::new())
            }
        }
    };
}

/// The accessors of a TCM client (a type with `shared: Arc<TcmShared>`).
#[doc(hidden)]
#[macro_export]
macro_rules! tcm_accessors {
    ({ $($head:tt)* }) => {
        $($head)* {
            /// The frames that answer no request (alerts, budget advisories, late replies), when
            /// enabled with [`ClientOptions::with_notifications`]($crate::ClientOptions::with_notifications):
            /// a channel to read with `recv().await`, `recv_blocking()` or `try_recv()`. Handed
            /// out once. When it is full, new notifications are dropped (and counted in the log).
            pub fn notifications(&self) -> Option<$crate::__private::Receiver<$crate::__private::tcm_proto::Notification>> {
                self.shared.extra.notifications.lock().ok()?.take()
            }

            /// The capabilities negotiated on the current transport; `None` while reconnecting.
            pub fn capabilities(&self) -> Option<$crate::__private::tcm_proto::Capabilities> {
                self.shared.status.capabilities()
            }

            /// The uuid of the current transport connection.
            pub fn uuid(&self) -> String {
                self.shared.status.uuid()
            }

            /// The connection's phase as last published by the I/O loop.
            pub fn state(&self) -> $crate::__private::tcm_proto::ConnectionState {
                self.shared.status.state()
            }

            /// The endpoint this client talks to.
            pub fn endpoint(&self) -> &$crate::__private::tcm_proto::Endpoint {
                &self.shared.target.endpoint
            }
        }
    };
}

/// The accessors and handler setters of a JSON-RPC client (a type with
/// `shared: Arc<RpcShared<Self>>`).
#[doc(hidden)]
#[macro_export]
macro_rules! rpc_accessors {
    ({ $($head:tt)* }, $client:ty) => {
        $($head)* {
            /// The id of the current session, from its session frame (`None` if the server
            /// sent none).
            pub fn session_id(&self) -> Option<String> {
                self.shared.status.session_id()
            }

            /// Whether a session is ready for calls (not reconnecting, not closed).
            pub fn is_ready(&self) -> bool {
                self.shared.status.state() == $crate::__private::tcm_proto::ConnectionState::Open
            }

            /// Whether the client is closed for good.
            pub fn is_closed(&self) -> bool {
                self.shared.status.state() == $crate::__private::tcm_proto::ConnectionState::Closed
            }

            /// Sets (or clears) the active run whose uuid is added to every call.
            pub fn set_run_uuid(&self, run_uuid: Option<String>) {
                let apply = move |s: &mut $crate::__private::tcm_proto::jsonrpc::RpcSession, _| s.set_run_uuid(run_uuid);
                let _ = self.shared.caller.send($crate::engine::Command::Apply(Box::new(apply)));
            }

            /// Replaces the server-request handler (see [`RpcHandlers::on_request`]($crate::RpcHandlers::on_request)).
            pub fn on_request<F>(&self, handler: F)
            where
                F: Fn(&$client, $crate::__private::tcm_proto::jsonrpc::ServerMethod) -> Result<$crate::__private::Value, $crate::__private::tcm_proto::jsonrpc::RpcError>
                    + Send + Sync + 'static,
            {
                self.shared.extra.handlers.set_request(handler);
            }

            /// Replaces the notification handler (see [`RpcHandlers::on_notification`]($crate::RpcHandlers::on_notification)).
            pub fn on_notification<F>(&self, handler: F)
            where
                F: Fn(&$client, &str, &$crate::__private::Value) + Send + Sync + 'static,
            {
                self.shared.extra.handlers.set_notification(handler);
            }

            /// Reconnects and disconnects, as they happen (up to 64 unread; later ones are
            /// dropped). Handed out once.
            pub fn events(&self) -> Option<$crate::__private::Receiver<$crate::RpcClientEvent>> {
                self.shared.extra.events.lock().ok()?.take()
            }
        }
    };
}

/// The accessors of a pool (a type with `members: Arc<Members<Client>>`).
#[doc(hidden)]
#[macro_export]
macro_rules! pool_accessors {
    ({ $($head:tt)* }, $client:ty) => {
        $($head)* {
            /// The members, e.g. to inspect their uuids.
            pub fn members(&self) -> &[$client] {
                self.members.all()
            }

            /// Number of connections.
            pub fn len(&self) -> usize {
                self.members.all().len()
            }

            /// Whether the pool has no connection (never true for a connected pool).
            pub fn is_empty(&self) -> bool {
                self.members.all().is_empty()
            }
        }
    };
}
