//! Entry points for the fuzz targets in `fuzz/` (built with the `fuzzing` feature only): each
//! feeds arbitrary bytes to one parser of outside input. A panic is a bug; an error is fine.

use std::str::FromStr;

use crate::PortMapping;

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

/// Sweep parameters as typed (`--grid`, `--space`, `--early-stop`, a command with
/// placeholders): a grid that parses expands to exactly as many points as it says.
pub fn sweep_parameters(data: &[u8]) {
    use crate::sweep::{EarlyStop, GridAxis, RandomAxis, Space, substitute};
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

/// Text a job wrote, made safe for a terminal: what comes out holds no control character but
/// tabs, carriage returns and the escapes that open SGR colour sequences.
pub fn terminal_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let shown = crate::controls::escaped(&text);
    for (at, c) in shown.char_indices() {
        let control = matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}');
        if !control || c == '\t' || c == '\r' {
            continue;
        }
        let sgr = c == '\x1b' && {
            let body = shown[at + 1..].strip_prefix('[').unwrap_or("");
            let params = body
                .bytes()
                .take_while(|b| b.is_ascii_digit() || matches!(b, b';' | b':'))
                .count();
            body.as_bytes().get(params) == Some(&b'm')
        };
        assert!(sgr, "control {c:?} at {at} of {shown:?}");
    }
}
