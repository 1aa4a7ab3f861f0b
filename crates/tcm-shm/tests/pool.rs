//! The region pool: regions reused under one key, never lent twice at once, retired keys
//! never used again, and nothing left in `/dev/shm` after close, drop or a panic.

use std::collections::BTreeSet;
use std::path::PathBuf;

use tcm_proto::{InferenceRequest, Tensor, TensorData, TensorInput};
use tcm_shm::{
    ConvertOptions, MIN_CLASS, PoolConfig, RegionPool, ShmError, ShmTensor, size_class,
    to_shm_request_in,
};

fn path_of(key: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(key.trim_start_matches('/'))
}

/// 150 528 FP32 values: one 1×3×224×224 image.
const IMAGE_BYTES: usize = 150_528 * 4;

#[test]
fn size_classes_are_powers_of_two_of_at_least_a_page() {
    assert_eq!(size_class(1), Some(MIN_CLASS));
    assert_eq!(size_class(4096), Some(4096));
    assert_eq!(size_class(4097), Some(8192));
    assert_eq!(size_class(IMAGE_BYTES), Some(1 << 20));
    assert_eq!(size_class(usize::MAX), None);
}

#[test]
fn a_returned_region_is_lent_again_under_the_same_key() {
    let pool = RegionPool::default();
    let mut first = pool.lease(IMAGE_BYTES).unwrap();
    assert_eq!(first.len(), IMAGE_BYTES);
    assert_eq!(first.capacity(), 1 << 20);
    first.as_mut_slice().fill(7);
    let key = first.key().to_owned();
    drop(first);
    assert!(path_of(&key).exists(), "an idle region stays linked");

    let again = pool.lease(IMAGE_BYTES).unwrap();
    assert_eq!(again.key(), key, "same key, same memory object");
    assert_eq!(
        again.as_slice()[0],
        7,
        "the very same memory: nothing was re-created"
    );
    let stats = pool.stats();
    assert_eq!((stats.created, stats.reused, stats.leased), (1, 1, 1));
}

#[test]
fn tensors_of_one_size_class_share_a_region_and_send_their_own_byte_size() {
    let pool = RegionPool::default();
    let small = ShmTensor::from_slice_in(&pool, "INPUT0", &[1250], &[1.5f32; 1250]).unwrap();
    assert_eq!(small.byte_size(), 5000, "byte_size is the tensor's size");
    assert_eq!(small.region().len(), 8192, "the region is its size class");
    let key = small.key().to_owned();
    drop(small);

    let larger = ShmTensor::from_slice_in(&pool, "INPUT0", &[2000], &[2.5f32; 2000]).unwrap();
    assert_eq!(larger.key(), key);
    assert_eq!(larger.reference().byte_size, 8000);
    assert_eq!(&larger.region().as_slice()[..4], 2.5f32.to_le_bytes());
}

#[test]
fn a_region_in_use_is_never_lent_to_another_lease() {
    let pool = RegionPool::default();
    let a = pool.lease(100).unwrap();
    let b = pool.lease(100).unwrap();
    assert_ne!(a.key(), b.key());
    assert_eq!(pool.stats().leased, 2);
}

#[test]
fn past_the_idle_bound_a_returned_region_is_retired_and_its_key_never_used_again() {
    let pool = RegionPool::new(PoolConfig::new().with_max_idle_regions(1));
    let mut seen = BTreeSet::new();
    let mut retired = BTreeSet::new();
    for _ in 0..5 {
        let a = pool.lease(100).unwrap();
        let b = pool.lease(100).unwrap();
        let (ka, kb) = (a.key().to_owned(), b.key().to_owned());
        assert!(
            !retired.contains(&ka) && !retired.contains(&kb),
            "a retired key came back"
        );
        seen.extend([ka.clone(), kb.clone()]);
        drop(a);
        drop(b);
        // The first back is kept; the second is past the bound.
        assert!(path_of(&ka).exists());
        assert!(
            !path_of(&kb).exists(),
            "retired regions are unlinked at once"
        );
        retired.insert(kb);
    }
    assert_eq!(pool.stats().idle, 1);
    assert_eq!(pool.stats().retired, 5);
    assert_eq!(seen.len(), 6, "one reused key plus five fresh ones");
}

#[test]
fn the_idle_byte_bound_retires_what_does_not_fit() {
    let pool = RegionPool::new(PoolConfig::new().with_max_idle_bytes(1 << 20));
    let big = pool.lease(IMAGE_BYTES).unwrap();
    let small = pool.lease(10).unwrap();
    let small_key = small.key().to_owned();
    drop(big);
    drop(small);
    assert!(!path_of(&small_key).exists(), "4 KiB more would pass 1 MiB");
    assert_eq!(pool.stats().idle, 1);
}

#[test]
fn a_retired_lease_is_unlinked_at_once_and_never_lent_again() {
    let pool = RegionPool::default();
    let lease = pool.lease(64).unwrap();
    let key = lease.key().to_owned();
    lease.retire();
    assert!(!path_of(&key).exists());
    let next = pool.lease(64).unwrap();
    assert_ne!(next.key(), key);
    assert_eq!(pool.stats().retired, 1);
}

#[test]
fn close_unlinks_idle_regions_now_and_leased_ones_as_they_return() {
    let pool = RegionPool::default();
    let idle = pool.lease(64).unwrap();
    let leased = pool.lease(64).unwrap();
    let (idle_key, leased_key) = (idle.key().to_owned(), leased.key().to_owned());
    drop(idle);
    pool.close();
    assert!(pool.is_closed());
    assert!(!path_of(&idle_key).exists(), "idle regions go at close");
    assert!(path_of(&leased_key).exists(), "a region in use stays");
    drop(leased);
    assert!(!path_of(&leased_key).exists(), "and goes when it returns");
    assert!(pool.idle_keys().is_empty());
}

#[test]
fn dropping_the_last_handle_and_lease_unlinks_every_region() {
    let pool = RegionPool::default();
    let clone = pool.clone();
    let idle = pool.lease(64).unwrap();
    let leased = pool.lease(64).unwrap();
    let keys = [idle.key().to_owned(), leased.key().to_owned()];
    drop(idle);
    drop(pool);
    drop(clone);
    assert!(path_of(&keys[0]).exists(), "the lease still holds the pool");
    drop(leased);
    for key in &keys {
        assert!(!path_of(key).exists(), "{key} outlived its pool");
    }
}

#[test]
fn a_lease_dropped_while_its_thread_panics_returns_its_region() {
    let pool = RegionPool::default();
    let in_thread = pool.clone();
    let key = std::thread::spawn(move || {
        let mut lease = in_thread.lease(64).unwrap();
        lease.as_mut_slice()[0] = 1;
        let key = lease.key().to_owned();
        std::panic::panic_any(key);
    })
    .join()
    .unwrap_err()
    .downcast::<String>()
    .unwrap();
    assert_eq!(pool.stats().leased, 0, "the unwinding returned the lease");
    assert_eq!(pool.idle_keys(), vec![key.to_string()]);
    drop(pool);
    assert!(!path_of(&key).exists());
}

#[test]
fn an_empty_lease_is_refused() {
    let pool = RegionPool::default();
    assert!(matches!(pool.lease(0), Err(ShmError::Empty { .. })));
    assert_eq!(pool.stats().leased, 0);
}

#[test]
fn requests_converted_in_a_pool_reuse_its_regions_and_carry_the_tensor_byte_size() {
    let pool = RegionPool::default();
    let request = |v: f32| {
        InferenceRequest::for_container("c", "identity")
            .with_input(Tensor::new("INPUT0", vec![2, 3], TensorData::Fp32(vec![v; 6])).unwrap())
    };
    let (first, guard) =
        to_shm_request_in(&pool, &request(1.0), ConvertOptions::default()).unwrap();
    let key = guard.tensors()[0].key().to_owned();
    assert!(guard.tensors()[0].is_leased());
    let TensorInput::Shm(reference) = &first.inputs[0] else {
        panic!("not converted: {:?}", first.inputs[0]);
    };
    assert_eq!(
        (reference.byte_size, reference.shm_key.as_str()),
        (24, key.as_str())
    );
    drop(guard);

    let (_, guard) = to_shm_request_in(&pool, &request(2.0), ConvertOptions::default()).unwrap();
    let tensor = &guard.tensors()[0];
    assert_eq!(tensor.key(), key);
    assert_eq!(&tensor.region().as_slice()[..4], 2.0f32.to_le_bytes());

    guard.retire();
    assert!(
        !path_of(&key).exists(),
        "a retired guard unlinks its regions"
    );
}
