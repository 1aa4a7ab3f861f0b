//! Seeding of the core's jitter (and request-id) generators from operating-system randomness.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use tcm_proto::Config;
use tcm_proto::jsonrpc::RpcConfig;

/// A random non-zero seed: std's `RandomState` (seeded by the OS) over the time and process id.
fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish() | 1
}

/// Replaces a zero `Config::seed` with a random one (std's `RandomState` is seeded by the OS),
/// so reconnecting clients do not share a jitter sequence. A non-zero seed is kept for tests.
pub fn seeded(mut config: Config) -> Config {
    if config.seed == 0 {
        config.seed = random_seed();
    }
    config
}

/// Replaces a zero `RpcConfig::seed` with OS randomness so reconnecting clients do not share
/// request ids or jitter. A non-zero seed is kept for tests.
pub fn seeded_rpc(mut config: RpcConfig) -> RpcConfig {
    if config.seed == 0 {
        config.seed = random_seed();
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_seed_is_replaced_and_a_fixed_one_kept() {
        assert_ne!(seeded(Config::new("a")).seed, 0);
        let mut fixed = Config::new("a");
        fixed.seed = 42;
        assert_eq!(seeded(fixed).seed, 42);
    }

    #[test]
    fn a_zero_rpc_seed_is_replaced() {
        assert_ne!(seeded_rpc(RpcConfig::new("k")).seed, 0);
    }
}
