//! Text a job wrote (its output, file names, a model file's fields, a server's error), made
//! safe to put on a user's terminal: a terminal obeys escape sequences, and some do more than
//! colour (OSC 52 sets the clipboard, OSC 0/2 the title, CSI moves the cursor or clears the
//! screen, DCS talks to tmux). SGR colours are kept, tabs and carriage returns too (progress
//! bars); every other control character is shown in caret notation (`^[`, `^G`) or, for the
//! C1 range, as `\u{9b}`, so what it would have done is visible instead of done.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control sequence but SGR colours made visible.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c) && c != '\t' && c != '\r') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && let Some(sgr) = sgr_at(rest)
        {
            out.push_str(sgr);
            rest = &rest[sgr.len()..];
            continue;
        }
        match c {
            '\t' | '\r' => out.push(c),
            '\x7f' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// C0, DEL and C1 control characters.
fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f'..='\u{9f}')
}

/// The SGR sequence (`ESC [ digits ; : m`) at the start of `text`, if one is.
fn sgr_at(text: &str) -> Option<&str> {
    let body = text.strip_prefix("\x1b[")?;
    let params = body
        .bytes()
        .take_while(|b| b.is_ascii_digit() || matches!(b, b';' | b':'))
        .count();
    (body.as_bytes().get(params) == Some(&b'm')).then(|| &text[..2 + params + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_stay_and_every_other_sequence_is_shown_not_done() {
        assert!(matches!(
            escaped("plain text, tabs\tand ünïcode"),
            Cow::Borrowed(_)
        ));
        assert_eq!(escaped("\x1b[1;31mred\x1b[0m"), "\x1b[1;31mred\x1b[0m");
        // OSC 52 (clipboard) with BEL, OSC 2 (title) with ST, a clear screen, a cursor move, DCS.
        assert_eq!(
            escaped("\x1b]52;c;aGk=\x07 \x1b]2;pwned\x1b\\ \x1b[2J\x1b[10;1H \x1bPtmux;\x1b\\"),
            "^[]52;c;aGk=^G ^[]2;pwned^[\\ ^[[2J^[[10;1H ^[Ptmux;^[\\"
        );
        assert_eq!(
            escaped("\u{9b}2J and \u{9d}0;t\u{9c} and \x7f"),
            "\\u{9b}2J and \\u{9d}0;t\\u{9c} and ^?"
        );
        assert_eq!(escaped("50%\r100%\n"), "50%\r100%^J");
        // An SGR cut short is no SGR.
        assert_eq!(escaped("\x1b[31"), "^[[31");
    }
}
