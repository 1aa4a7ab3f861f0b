//! Seeding of the core's jitter generator from operating-system randomness.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use tcm_proto::Config;

/// Replaces a zero `Config::seed` with a random one (std's `RandomState` is seeded by the OS),
/// so reconnecting clients do not share a jitter sequence. A non-zero seed is kept for tests.
pub(crate) fn seeded(mut config: Config) -> Config {
    if config.seed == 0 {
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        config.seed = h.finish() | 1;
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
}
