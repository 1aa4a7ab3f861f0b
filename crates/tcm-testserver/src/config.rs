//! Server configuration and the named profiles used by the conversation vectors.

use std::net::SocketAddr;
use std::time::Duration;

/// Errors raised while building a [`Config`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The profile name is not one of [`Config::PROFILES`].
    #[error("unknown server profile '{0}'")]
    UnknownProfile(String),
}

/// Authentication mode of the `auth` block (§5.3); any mode other than strict behaves as simple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Simple mode: the token is not inspected, roles come from the client block.
    Simple,
    /// Strict mode without key material: claims-only validation of an unsigned JWT.
    StrictClaimsOnly,
}

/// The `auth` block of the server configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Which mode is in effect.
    pub mode: AuthMode,
    /// Simple mode: a missing or empty token drops the connection without any frame (Q5).
    pub require_token: bool,
    /// Strict mode: claims that must be present.
    pub required_claims: Vec<String>,
    /// Strict mode: expected `iss`, if any.
    pub issuer: Option<String>,
    /// Strict mode: expected `aud`, if any.
    pub audience: Option<String>,
    /// Strict mode: leeway added to `exp`, in seconds.
    pub leeway_seconds: f64,
    /// Value of `TCM_ENV`; strict claims-only validation is refused outside `development`.
    pub env: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Simple,
            require_token: false,
            required_claims: Vec::new(),
            issuer: None,
            audience: None,
            leeway_seconds: 60.0,
            env: "development".to_string(),
        }
    }
}

/// Per-client, per-tenant and auth-failure limits; 0 disables a limit.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Sliding one-second window per client uuid (error and close 1008 when exceeded).
    pub messages_per_second_per_client: u32,
    /// Token bucket per tenant (coded error and close 1008 when empty).
    pub messages_per_second_per_tenant: u32,
    /// Token failures per uuid in a sliding 60 s window.
    pub auth_failures_per_minute_per_client: u32,
}

/// How typed Triton errors are classified (§9.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// The dev server: backend errors are wrapped and re-classified, giving nested messages.
    DevNested,
    /// Modules loaded once: backend errors stay `TRITON_INFERENCE_FAILED`, non-retriable.
    Flat,
}

/// Which server entry point is imitated; it changes `/ready` and the management backend texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `apps/manager/dev_server.py`: `/ready` is always `{"status":"ready"}`.
    DevServer,
    /// `apps/manager/client_manager.py`: `/ready` reports the Triton registry.
    FullServer,
}

/// Full configuration of a test server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Which entry point is imitated.
    pub flavor: Flavor,
    /// Application frame limit in UTF-8 bytes (exclusive: exactly this size passes).
    pub max_message_bytes: usize,
    /// Transport frame limit (uvicorn's 16 MiB).
    pub transport_max_bytes: usize,
    /// Authentication settings.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Typed error classification style.
    pub error_style: ErrorStyle,
    /// `max_request_payload_mb`; 0 disables the 413 admission check.
    pub max_request_payload_mb: u64,
    /// Whether `/dev/shm` counts as available for capability negotiation.
    pub shm_available: bool,
    /// Directory holding shared-memory regions (normally `/dev/shm`).
    pub shm_dir: std::path::PathBuf,
    /// Hosts on which a transient Triton client can connect; every other `vm_ip` refuses.
    pub reachable_hosts: Vec<String>,
    /// Registered Triton servers as `(vm_ip, container_id)`; needed by pipelines and non-transient requests.
    pub registered_servers: Vec<(String, String)>,
    /// Never answer inference requests (the stock dev server, Q1); role checks still run.
    pub never_answer_inference: bool,
    /// Fault switches in force from the start (the handle can change them at runtime).
    pub faults: crate::faults::FaultState,
    /// Seed of the generator that reorders inference completions.
    pub seed: u64,
    /// Range of the simulated latency of one inference, in milliseconds (inclusive).
    pub inference_latency_ms: (u64, u64),
    /// Delay between two chunks of a gRPC stream.
    pub stream_chunk_interval: Duration,
    /// Simulated latency of one management job.
    pub management_latency: Duration,
    /// Interval of the scheduler pass.
    pub scheduler_tick: Duration,
    /// Interval of the server's keepalive pings (uvicorn: 20 s); `None` disables them.
    pub ping_interval: Option<Duration>,
    /// Time allowed for the pong before closing 1011 `keepalive ping timeout` (uvicorn: 20 s).
    pub ping_timeout: Duration,
    /// Emit the advisory `BACKPRESSURE_INSUFFICIENT_BUDGET` frame when a tenant exceeds its per-pass budget.
    pub budget_advisories: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            flavor: Flavor::DevServer,
            max_message_bytes: 65536,
            transport_max_bytes: 16 * 1024 * 1024,
            auth: AuthConfig::default(),
            rate_limits: RateLimits::default(),
            error_style: ErrorStyle::DevNested,
            max_request_payload_mb: 0,
            shm_available: std::path::Path::new("/dev/shm").is_dir(),
            shm_dir: std::path::PathBuf::from("/dev/shm"),
            reachable_hosts: vec!["127.0.0.1".to_string()],
            registered_servers: Vec::new(),
            never_answer_inference: false,
            faults: crate::faults::FaultState::default(),
            seed: 0x5eed,
            inference_latency_ms: (4, 14),
            stream_chunk_interval: Duration::from_millis(2),
            management_latency: Duration::ZERO,
            scheduler_tick: Duration::from_millis(10),
            budget_advisories: true,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Duration::from_secs(20),
        }
    }
}

impl Config {
    /// Every profile name accepted by [`Config::profile`].
    pub const PROFILES: &'static [&'static str] = &[
        "dev-simple",
        "dev-simple-stock",
        "dev-simple-budget-1mb",
        "dev-simple-client-rate-2",
        "dev-simple-tenant-rate-1",
        "simple-require-token",
        "strict-claims-only",
        "strict-claims-only-authfail-1",
        "full-server",
    ];

    /// The configuration of a named server profile (vectors README §3.1).
    pub fn profile(name: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        match name {
            "dev-simple" => {}
            "dev-simple-stock" => c.never_answer_inference = true,
            "dev-simple-budget-1mb" => c.max_request_payload_mb = 1,
            "dev-simple-client-rate-2" => c.rate_limits.messages_per_second_per_client = 2,
            "dev-simple-tenant-rate-1" => c.rate_limits.messages_per_second_per_tenant = 1,
            "simple-require-token" => c.auth.require_token = true,
            "strict-claims-only" | "strict-claims-only-authfail-1" => {
                c.auth.mode = AuthMode::StrictClaimsOnly;
                c.auth.issuer = Some("tcm-test-issuer".to_string());
                c.auth.audience = Some("tcm-test-aud".to_string());
                c.auth.required_claims = vec!["sub".to_string()];
                c.auth.leeway_seconds = 60.0;
                if name.ends_with("authfail-1") {
                    c.rate_limits.auth_failures_per_minute_per_client = 1;
                }
            }
            "full-server" => {
                c.flavor = Flavor::FullServer;
                c.error_style = ErrorStyle::Flat;
            }
            other => return Err(ConfigError::UnknownProfile(other.to_string())),
        }
        Ok(c)
    }

    /// The byte limit of the 413 admission check, if enabled.
    pub fn payload_limit_bytes(&self) -> Option<u64> {
        (self.max_request_payload_mb > 0).then(|| self.max_request_payload_mb * 1024 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_profile_builds() {
        for name in Config::PROFILES {
            assert!(Config::profile(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn unknown_profile_is_an_error() {
        assert_eq!(
            Config::profile("nope").err(),
            Some(ConfigError::UnknownProfile("nope".into()))
        );
    }
}
