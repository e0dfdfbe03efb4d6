//! Ages and durations for people: the largest unit that fits.

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
