//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only): each
//! feeds arbitrary bytes to one parser of outside input. A panic is a bug; an error is fine.

use std::str::FromStr;

use crate::domain::PortMapping;

/// The metrics parser reads every line every job prints.
pub fn metrics_line(data: &[u8]) {
    for metric in crate::ml::metrics::parse_line(data) {
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
    let options = crate::ml::train::TrainOptions {
        input,
        output: dir.path().join("model"),
        kind: crate::ml::train::ModelKind::Linear,
        features: Vec::new(),
        target: None,
        drop: Vec::new(),
        test_fraction: 0.0,
        seed: 1,
        max_depth: None,
    };
    let _ = crate::ml::train::train(&options);
}

/// An Open Inference Protocol request body, decoded into rows for models of 1 to 3 features.
pub fn oip_request(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<crate::serve::oip::InferRequest>(data) {
        for features in 1..=3 {
            let _ = crate::serve::oip::rows(&request, features);
        }
    }
}

/// A port mapping as typed; one that parses prints as text that parses to the same mapping.
pub fn port_mapping(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mapping) = PortMapping::from_str(text) {
        assert_eq!(
            PortMapping::from_str(&mapping.to_string()).ok(),
            Some(mapping),
            "{text:?}"
        );
    }
}

/// The config file.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::parse(text);
    }
}

/// Sweep parameters as typed (`--grid`, `--space`, `--early-stop`, a command with
/// placeholders): a grid that parses expands to exactly as many points as it says.
pub fn sweep_parameters(data: &[u8]) {
    use crate::domain::sweep::{EarlyStop, GridAxis, RandomAxis, Space, substitute};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (grid, command) = text.split_once('\n').unwrap_or((text, "{a}"));
    let axes: Vec<GridAxis> = grid.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let space = Space::Grid { axes };
    if space.len() <= 10_000 {
        let points = space.points();
        assert_eq!(points.len(), space.len(), "{grid:?}");
        for point in points.iter().take(10) {
            let _ = substitute(command, point);
        }
    }
    let _ = grid.parse::<RandomAxis>();
    let _ = grid.parse::<EarlyStop>();
}
