//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only): each
//! feeds arbitrary bytes to one parser of outside input. A panic is a bug; an error is fine.

/// The config file.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::Config::parse(text);
    }
}
