//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only): each
//! feeds arbitrary bytes to one parser of outside input. A panic is a bug; an error is fine.

/// An Open Inference Protocol request body, decoded into rows for models of 1 to 3 features.
pub fn oip_request(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<crate::oip::InferRequest>(data) {
        for features in 1..=3 {
            let _ = crate::oip::rows(&request, features);
        }
    }
}
