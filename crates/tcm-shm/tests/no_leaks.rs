//! A refused conversion removes the regions it had already made. This test has its own binary
//! so that no other test creates regions in this process while it counts them.

use tcm_proto::{InferenceRequest, Tensor, TensorData, TensorInput};
use tcm_shm::{ShmError, to_shm_request};

fn fp32(name: &str, values: &[f32]) -> TensorInput {
    Tensor::vector(name, TensorData::Fp32(values.to_vec())).into()
}

fn request(inputs: Vec<TensorInput>) -> InferenceRequest {
    InferenceRequest::for_container("c", "add").with_inputs(inputs)
}

#[test]
fn a_refused_conversion_leaves_no_region_behind() {
    let before = shm_entries();
    let r = request(vec![
        fp32("INPUT0", &[1.0]),
        Tensor::vector("S", TensorData::Bytes(vec!["x".into()])).into(),
    ]);
    assert!(matches!(
        to_shm_request(&r),
        Err(ShmError::BytesUnsupported { name }) if name == "S"
    ));
    let r = request(vec![fp32("INPUT0", &[1.0]), fp32("EMPTY", &[])]);
    assert!(matches!(to_shm_request(&r), Err(ShmError::Empty { .. })));
    let leaked: Vec<_> = shm_entries().difference(&before).cloned().collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

/// The regions this process has in `/dev/shm`.
fn shm_entries() -> std::collections::BTreeSet<String> {
    let prefix = format!("tcm-{}-", std::process::id());
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}
