//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only): each
//! feeds arbitrary bytes to one parser of outside input. A panic is a bug; an error is fine.

/// The metrics parser reads every line every job prints.
pub fn metrics_line(data: &[u8]) {
    for metric in crate::metrics::parse_line(data) {
        assert!(
            metric.value.is_finite(),
            "a metric that is not finite: {metric:?}"
        );
    }
}

/// The trainer on a CSV file of these bytes: header, scan, fit, model file.
pub fn train_csv(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let input = dir.path().join("data.csv");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    let options = crate::train::TrainOptions {
        input,
        output: dir.path().join("model"),
        kind: crate::train::ModelKind::Linear,
        features: Vec::new(),
        target: None,
        drop: Vec::new(),
        test_fraction: 0.0,
        seed: 1,
        max_depth: None,
    };
    let _ = crate::train::train(&options);
}
