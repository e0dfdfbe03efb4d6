//! Colours a program printed with ANSI SGR codes (`\x1b[31m…\x1b[0m`), as styled runs for the
//! log view. Other escape sequences are dropped.

use ratatui::style::{Color, Modifier, Style};

/// The text without escapes, and its runs with their styles (empty when the line had none).
pub(crate) fn parse(raw: &str) -> (String, Vec<(String, Style)>) {
    if !raw.contains('\x1b') {
        return (raw.to_string(), Vec::new());
    }
    let mut plain = String::with_capacity(raw.len());
    let mut runs: Vec<(String, Style)> = Vec::new();
    let mut style = Style::default();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            plain.push(c);
            match runs.last_mut() {
                Some((text, s)) if *s == style => text.push(c),
                _ => runs.push((c.to_string(), style)),
            }
            continue;
        }
        if chars.peek() != Some(&'[') {
            chars.next();
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut last = ' ';
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) {
                last = c;
                break;
            }
            params.push(c);
        }
        if last == 'm' {
            style = apply(style, &params);
        }
    }
    (plain, runs)
}

fn apply(mut style: Style, params: &str) -> Style {
    const COLORS: [Color; 8] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
    ];
    const BRIGHT: [Color; 8] = [
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    let codes: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
    for code in codes {
        style = match code {
            0 => Style::default(),
            1 => style.add_modifier(Modifier::BOLD),
            3 => style.add_modifier(Modifier::ITALIC),
            4 => style.add_modifier(Modifier::UNDERLINED),
            22 => style.remove_modifier(Modifier::BOLD),
            30..=37 => style.fg(COLORS[usize::from(code - 30)]),
            39 => style.fg(Color::Reset),
            40..=47 => style.bg(COLORS[usize::from(code - 40)]),
            49 => style.bg(Color::Reset),
            90..=97 => style.fg(BRIGHT[usize::from(code - 90)]),
            _ => style,
        };
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styled_runs() {
        let (plain, runs) = parse("\x1b[1;32mok\x1b[0m: \x1b[91mfailed\x1b[39m done\x1b[K");
        assert_eq!(plain, "ok: failed done");
        assert_eq!(
            runs[0],
            (
                "ok".to_string(),
                Style::default().fg(Color::Green).add_modifier(Modifier::BOLD)
            )
        );
        assert_eq!(runs[1], (": ".to_string(), Style::default()));
        assert_eq!(
            runs[2],
            ("failed".to_string(), Style::default().fg(Color::LightRed))
        );
        assert_eq!(runs[3].0, " done");
        assert_eq!(parse("plain"), ("plain".to_string(), Vec::new()));
    }
}
