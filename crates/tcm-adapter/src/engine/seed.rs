//! Seeding of the core's jitter (and request-id) generators from operating-system randomness.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use tcm_proto::Config;
use tcm_proto::jsonrpc::RpcConfig;

/// A random non-zero seed: std's `RandomState` (seeded by the OS) over the time and process id.
pub(crate) fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish() | 1
}

/// Gives a `Config` without a seed a random one (std's `RandomState` is seeded by the OS), so
/// reconnecting clients do not share a jitter sequence. A fixed seed is kept, for tests.
pub fn seeded(mut config: Config) -> Config {
    config.seed.get_or_insert_with(random_seed);
    config
}

/// Gives an `RpcConfig` without a seed a random one, so reconnecting clients do not share
/// request ids or jitter. A fixed seed is kept, for tests.
pub fn seeded_rpc(mut config: RpcConfig) -> RpcConfig {
    config.seed.get_or_insert_with(random_seed);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_seed_is_drawn_and_a_fixed_one_kept() {
        assert!(seeded(Config::new("a")).seed.is_some());
        let mut fixed = Config::new("a");
        fixed.seed = Some(42);
        assert_eq!(seeded(fixed).seed, Some(42));
    }

    #[test]
    fn a_missing_rpc_seed_is_drawn() {
        assert!(seeded_rpc(RpcConfig::new("k")).seed.is_some());
    }
}
