//! Line editing for every text input of the workbench (form fields, the log search and filter,
//! prompts): a cursor that moves by character and word, Home/End, the readline keys (Ctrl-A/E/U/K/W,
//! Alt-B/F/D), pasted text, and a view that scrolls a long value so the cursor stays visible.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Drawn where the cursor is.
pub(crate) const CURSOR: char = '▏';

/// What a key did to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The text changed.
    Changed,
    /// Only the cursor moved.
    Moved,
    /// Not a line-editing key: the caller's to handle (Enter, Esc, Tab, …).
    Ignored,
}

/// A line of text and where the cursor is in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineInput {
    pub(crate) text: String,
    /// A byte offset on a character boundary.
    pub(crate) cursor: usize,
}

impl LineInput {
    /// The text with the cursor after its end.
    pub(crate) fn new(text: impl Into<String>) -> LineInput {
        let text = text.into();
        LineInput {
            cursor: text.len(),
            text,
        }
    }

    pub(crate) fn key(&mut self, key: KeyEvent) -> Edit {
        edit(&mut self.text, &mut self.cursor, key)
    }

    pub(crate) fn paste(&mut self, pasted: &str) {
        paste(&mut self.text, &mut self.cursor, pasted);
    }

    /// Empties the line, handing back what it held.
    pub(crate) fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    pub(crate) fn view(&self, width: usize) -> String {
        view(&self.text, self.cursor, width)
    }
}

/// Applies a key to `text` with its cursor at byte `cursor`.
pub(crate) fn edit(text: &mut String, cursor: &mut usize, key: KeyEvent) -> Edit {
    *cursor = (*cursor).min(text.len());
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('a') if ctrl => move_to(cursor, 0),
        KeyCode::Char('e') if ctrl => move_to(cursor, text.len()),
        KeyCode::Char('b') if ctrl => move_to(cursor, previous_char(text, *cursor)),
        KeyCode::Char('f') if ctrl => move_to(cursor, next_char(text, *cursor)),
        KeyCode::Char('b') if alt => move_to(cursor, previous_word(text, *cursor)),
        KeyCode::Char('f') if alt => move_to(cursor, next_word(text, *cursor)),
        KeyCode::Char('u') if ctrl => remove(text, cursor, 0..*cursor),
        KeyCode::Char('k') if ctrl => remove(text, cursor, *cursor..text.len()),
        KeyCode::Char('w') if ctrl => remove(text, cursor, previous_word(text, *cursor)..*cursor),
        KeyCode::Backspace if ctrl || alt => remove(text, cursor, previous_word(text, *cursor)..*cursor),
        KeyCode::Char('d') if alt => remove(text, cursor, *cursor..next_word(text, *cursor)),
        KeyCode::Char('d') if ctrl => remove(text, cursor, *cursor..next_char(text, *cursor)),
        KeyCode::Char('h') if ctrl => remove(text, cursor, previous_char(text, *cursor)..*cursor),
        // Other control and alt chords are commands, not text.
        KeyCode::Char(_) if ctrl || alt => Edit::Ignored,
        KeyCode::Char(c) => {
            text.insert(*cursor, c);
            *cursor += c.len_utf8();
            Edit::Changed
        }
        KeyCode::Backspace => remove(text, cursor, previous_char(text, *cursor)..*cursor),
        KeyCode::Delete => remove(text, cursor, *cursor..next_char(text, *cursor)),
        KeyCode::Left if ctrl || alt => move_to(cursor, previous_word(text, *cursor)),
        KeyCode::Right if ctrl || alt => move_to(cursor, next_word(text, *cursor)),
        KeyCode::Left => move_to(cursor, previous_char(text, *cursor)),
        KeyCode::Right => move_to(cursor, next_char(text, *cursor)),
        KeyCode::Home => move_to(cursor, 0),
        KeyCode::End => move_to(cursor, text.len()),
        _ => Edit::Ignored,
    }
}

/// Inserts pasted text at the cursor; a line break becomes a space (these are one-line inputs).
pub(crate) fn paste(text: &mut String, cursor: &mut usize, pasted: &str) {
    *cursor = (*cursor).min(text.len());
    let flat: String = pasted
        .trim_end_matches(['\r', '\n'])
        .chars()
        .map(|c| {
            if c == '\r' || c == '\n' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    text.insert_str(*cursor, &flat);
    *cursor += flat.len();
}

/// The part of `text` that fits `width` columns with the cursor drawn in it: a long value
/// scrolls so the cursor stays in view, and `…` marks a clipped end.
pub(crate) fn view(text: &str, cursor: usize, width: usize) -> String {
    let cursor = cursor.min(text.len());
    let chars: Vec<char> = text[..cursor]
        .chars()
        .chain([CURSOR])
        .chain(text[cursor..].chars())
        .collect();
    let width = width.max(3);
    if chars.len() <= width {
        return chars.into_iter().collect();
    }
    let at = text[..cursor].chars().count();
    // The cursor sits a column before the right edge when the text runs past it.
    let start = (at + 2)
        .saturating_sub(width.saturating_sub(1))
        .min(chars.len() - width);
    let end = start + width;
    let mut shown: Vec<char> = chars[start..end].to_vec();
    if start > 0 {
        shown[0] = '…';
    }
    if end < chars.len() {
        shown[width - 1] = '…';
    }
    shown.into_iter().collect()
}

fn move_to(cursor: &mut usize, to: usize) -> Edit {
    *cursor = to;
    Edit::Moved
}

fn remove(text: &mut String, cursor: &mut usize, range: std::ops::Range<usize>) -> Edit {
    if range.is_empty() {
        return Edit::Moved;
    }
    *cursor = range.start;
    text.replace_range(range, "");
    Edit::Changed
}

fn previous_char(text: &str, at: usize) -> usize {
    text[..at].char_indices().next_back().map_or(0, |(i, _)| i)
}

fn next_char(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(at, |c| at + c.len_utf8())
}

/// The start of the word before `at` (spaces before it skipped), as readline's Ctrl-W.
fn previous_word(text: &str, at: usize) -> usize {
    let before = text[..at].trim_end();
    before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// The end of the word after `at`.
fn next_word(text: &str, at: usize) -> usize {
    let rest = &text[at..];
    let word = rest.len() - rest.trim_start().len();
    rest[word..]
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
        .map_or(text.len(), |(i, _)| at + word + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(input: &mut LineInput, code: KeyCode, modifiers: KeyModifiers) -> Edit {
        input.key(KeyEvent::new(code, modifiers))
    }

    fn typed(text: &str) -> LineInput {
        let mut input = LineInput::default();
        for c in text.chars() {
            press(&mut input, KeyCode::Char(c), KeyModifiers::NONE);
        }
        input
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut input = typed("python train.py");
        for _ in 0.."train.py".len() {
            press(&mut input, KeyCode::Left, KeyModifiers::NONE);
        }
        for c in "src/".chars() {
            press(&mut input, KeyCode::Char(c), KeyModifiers::NONE);
        }
        assert_eq!(input.text, "python src/train.py");
        press(&mut input, KeyCode::Home, KeyModifiers::NONE);
        press(&mut input, KeyCode::Delete, KeyModifiers::NONE);
        press(&mut input, KeyCode::Char('P'), KeyModifiers::NONE);
        assert_eq!(input.text, "Python src/train.py");
        press(&mut input, KeyCode::End, KeyModifiers::NONE);
        press(&mut input, KeyCode::Backspace, KeyModifiers::NONE);
        assert_eq!((input.text.as_str(), input.cursor), ("Python src/train.p", 18));
    }

    #[test]
    fn readline_chords_cut_and_move() {
        let mut input = typed("mlbench train -i data/sal.csv");
        press(&mut input, KeyCode::Char('w'), KeyModifiers::CONTROL);
        assert_eq!(input.text, "mlbench train -i ");
        press(&mut input, KeyCode::Char('w'), KeyModifiers::CONTROL);
        assert_eq!(input.text, "mlbench train ");
        press(&mut input, KeyCode::Char('a'), KeyModifiers::CONTROL);
        assert_eq!(input.cursor, 0);
        press(&mut input, KeyCode::Char('f'), KeyModifiers::ALT);
        assert_eq!(input.cursor, "mlbench".len());
        press(&mut input, KeyCode::Char('k'), KeyModifiers::CONTROL);
        assert_eq!(input.text, "mlbench");
        press(&mut input, KeyCode::Char('b'), KeyModifiers::ALT);
        assert_eq!(input.cursor, 0);
        press(&mut input, KeyCode::Char('e'), KeyModifiers::CONTROL);
        press(&mut input, KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!((input.text.as_str(), input.cursor), ("", 0));
        // A chord that is not an edit is left to the caller, not typed.
        assert_eq!(
            press(&mut input, KeyCode::Char('c'), KeyModifiers::CONTROL),
            Edit::Ignored
        );
        assert_eq!(
            press(&mut input, KeyCode::Enter, KeyModifiers::NONE),
            Edit::Ignored
        );
        assert_eq!(input.text, "");
    }

    #[test]
    fn multibyte_characters_move_whole() {
        let mut input = typed("né ü");
        press(&mut input, KeyCode::Left, KeyModifiers::NONE);
        press(&mut input, KeyCode::Backspace, KeyModifiers::NONE);
        assert_eq!(input.text, "néü");
        press(&mut input, KeyCode::Left, KeyModifiers::NONE);
        press(&mut input, KeyCode::Delete, KeyModifiers::NONE);
        assert_eq!(input.text, "nü");
    }

    #[test]
    fn a_paste_is_one_line_at_the_cursor() {
        let mut input = LineInput::new("python ");
        input.paste("train.py\n--epochs 3\n");
        assert_eq!(input.text, "python train.py --epochs 3");
        assert_eq!(input.cursor, input.text.len());
    }

    #[test]
    fn a_long_value_scrolls_to_keep_the_cursor_in_view() {
        assert_eq!(view("short", 5, 20), "short▏");
        let text = "abcdefghijklmnopqrstuvwxyz";
        // At the end: the start is clipped.
        assert_eq!(view(text, text.len(), 10), "…stuvwxyz▏");
        // At the start: the end is clipped.
        assert_eq!(view(text, 0, 10), "▏abcdefgh…");
        // In the middle: both, with the cursor shown.
        let middle = view(text, 13, 10);
        assert_eq!(middle.chars().count(), 10);
        assert!(middle.starts_with('…') && middle.ends_with('…') && middle.contains('▏'));
    }
}
