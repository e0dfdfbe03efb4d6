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

/// What a client sends, split into reads anywhere (the first byte picks the read sizes): the
/// header watch sees the end of the headers exactly when the bytes after any leading empty
/// lines hold a blank line, whatever the split.
pub fn header_watch(data: &[u8]) {
    use crate::header_watch::{HeaderClock, HeaderWatch};
    let Some((&seed, sent)) = data.split_first() else {
        return;
    };
    let request = &sent[sent
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(sent.len())..];
    let expected = memchr::memmem::find(request, b"\r\n\r\n").is_some();
    let mut watch = HeaderWatch::new((), HeaderClock::new());
    let sizes = (1..=usize::from(seed % 8) + 1).cycle();
    let mut rest = sent;
    for size in sizes {
        if rest.is_empty() {
            break;
        }
        let (read, after) = rest.split_at(size.min(rest.len()));
        watch.saw(read);
        rest = after;
    }
    assert_eq!(
        watch.headers_ended(),
        expected,
        "{sent:?} in reads of up to {}",
        seed % 8 + 1
    );
}
