//! Plain aligned tables for the terminal, and JSON for scripts.

use serde::Serialize;

use crate::{Error, Result};

pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// "42s", "3m", "5h", "2d": how long ago or how long, to the largest unit.
pub fn short_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

pub fn secs_between(from: &str, to: Option<&str>) -> Option<i64> {
    let from = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let to = match to {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .ok()?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    Some((to - from.with_timezone(&chrono::Utc)).num_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_unit() {
        assert_eq!(short_duration(59), "59s");
        assert_eq!(short_duration(61), "1m");
        assert_eq!(short_duration(7200), "2h");
        assert_eq!(short_duration(200000), "2d");
        assert_eq!(
            secs_between("2026-01-01T00:00:00Z", Some("2026-01-01T00:01:30Z")),
            Some(90)
        );
    }
}
