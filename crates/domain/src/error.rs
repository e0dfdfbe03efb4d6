//! Errors: the domain's own refusal, the facts other crates' errors share (a failed file
//! operation, a host port that is taken), and the rule that every error a user reads is one
//! bounded line.

use std::net::IpAddr;
use std::path::Path;

/// A value the domain refuses (a port mapping, a machine type, a sweep's grid): the message names
/// the problem and what to write instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
}

/// A file or OS call that failed, with what was being done to what.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct IoError {
    pub(crate) context: String,
    pub(crate) source: std::io::Error,
}

/// Builds any crate's error from an I/O failure and its context: `map_err(Error::at(path,
/// "cannot read"))`, `Error::io("cannot start the server", err)`.
pub trait FromIo: From<IoError> {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        IoError {
            context: context.into(),
            source,
        }
        .into()
    }

    fn at(path: &Path, action: &str) -> impl FnOnce(std::io::Error) -> Self {
        let context = format!("{action} {}", path.display());
        move |source| IoError { context, source }.into()
    }
}

impl<E: From<IoError>> FromIo for E {}

/// A host port a job would publish is taken, by one of this home's jobs or by something else.
#[derive(Debug, thiserror::Error)]
#[error(
    "host port {port} on {ip} is not free ({source}{}): pick another with --port",
    holder.as_ref().map(|h| format!(", held by {h}")).unwrap_or_default()
)]
pub struct PortInUse {
    pub ip: IpAddr,
    pub port: u16,
    /// "job 4" or "job 4 of deployment salary".
    pub holder: Option<String>,
    pub source: std::io::Error,
}

/// How long an error line may get before its middle gives way to an ellipsis.
const MAX_LINE: usize = 400;

/// A text as one line of at most `MAX_LINE` characters: line breaks and runs of white space
/// become one space, and an overlong middle (a 2 MB CSV value, an HTML page where Docker was
/// expected) becomes `…`, keeping the start (what went wrong) and the end (what to do).
pub fn one_line(text: &str) -> String {
    let folded = text
        .split_whitespace()
        .map(cut_word)
        .collect::<Vec<_>>()
        .join(" ");
    let count = folded.chars().count();
    if count <= MAX_LINE {
        return folded;
    }
    let head: String = folded.chars().take(MAX_LINE * 3 / 4).collect();
    let tail: String = folded.chars().skip(count - MAX_LINE / 4 + 3).collect();
    format!("{head} … {tail}")
}

/// Longer words are values echoed back (a 10k-character project name): each keeps its start
/// and end, so the message around it stays readable.
const MAX_WORD: usize = 100;

fn cut_word(word: &str) -> std::borrow::Cow<'_, str> {
    let count = word.chars().count();
    if count <= MAX_WORD {
        return word.into();
    }
    let head: String = word.chars().take(MAX_WORD * 3 / 4).collect();
    let tail: String = word.chars().skip(count - MAX_WORD / 4).collect();
    format!("{head}…{tail}").into()
}

/// A cause quoted inside another message: its first line, at most 160 characters.
pub fn brief(text: &str) -> String {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if first.chars().count() <= 160 {
        return first.to_string();
    }
    format!("{}…", first.chars().take(159).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_become_one_bounded_line_that_keeps_both_ends() {
        let value = "9".repeat(2_000_000);
        let text = format!("data.csv:2: column \"x\": \"{value}\" is not a number\n: fix the row");
        let line = one_line(&text);
        assert!(line.chars().count() <= MAX_LINE, "{}", line.len());
        assert!(line.starts_with("data.csv:2: column \"x\""));
        assert!(line.ends_with("is not a number : fix the row"));
        assert_eq!(one_line("a\n  b"), "a b");
        let name = "a".repeat(10_000);
        let line = one_line(&format!(
            "project {name} does not exist: create it with `mlbench project create {name}`"
        ));
        assert!(
            line.contains(" does not exist: create it with `mlbench project create "),
            "{line}"
        );
        assert!(line.chars().count() < 300, "{line}");
        assert_eq!(brief("<html>\n<body>13 lines</body>"), "<html>");
    }

    #[test]
    fn a_port_in_use_names_its_holder() {
        let err = PortInUse {
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            holder: Some("job 4".into()),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        };
        assert_eq!(
            err.to_string(),
            "host port 8080 on 127.0.0.1 is not free (address in use, held by job 4): pick another with --port"
        );
    }

    #[test]
    fn an_io_error_says_what_was_done_to_what() {
        let err: IoError = IoError::at(Path::new("/x/model.json"), "cannot read")(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        ));
        assert_eq!(err.to_string(), "cannot read /x/model.json: entity not found");
    }
}
