//! Machine learning without Python: reading CSV data, fitting models with linfa, the model
//! file, and metrics read from any job's output. Nothing here knows about terminals or Docker.

pub mod csvscan;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod linear;
pub mod metrics;
pub mod model;
pub(crate) mod table;
pub mod train;
pub mod tree;
pub mod versions;

pub use error::{Error, Result};

/// Whether a row belongs to the test set: a seeded hash of the row's key (its byte offset in
/// the file, or its index), so the split is the same on every run and on every core.
pub(crate) fn is_test_row(seed: u64, key: u64, test_fraction: f64) -> bool {
    if test_fraction <= 0.0 {
        return false;
    }
    // splitmix64: cheap and well mixed.
    let mut z = seed.wrapping_add(key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < test_fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_seeded_and_near_the_fraction() {
        let test = (0..100_000).filter(|k| is_test_row(10, *k, 0.25)).count();
        assert!((24_000..26_000).contains(&test), "{test}");
        let a: Vec<bool> = (0..100).map(|k| is_test_row(1, k, 0.5)).collect();
        let b: Vec<bool> = (0..100).map(|k| is_test_row(2, k, 0.5)).collect();
        assert_ne!(a, b);
        assert!(!(0..1000).any(|k| is_test_row(1, k, 0.0)));
    }
}
