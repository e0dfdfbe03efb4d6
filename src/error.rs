//! The library's error: each variant prints as one line that names the problem and what to do.
//! The variants a caller may act on (a port in use, a missing image, no Docker Engine, a bad
//! field) carry their facts, so the workbench can, say, show a refusal beside its field.

use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong; the message says what to do instead.
    #[error("{0}")]
    Invalid(String),
    /// One input field (a form field, a flag) is wrong: `field` names it.
    #[error("{source}")]
    Field { field: &'static str, source: Box<Error> },
    #[error("{0}")]
    NotFound(String),
    /// A host port a job would publish is taken, by one of this home's jobs or by something
    /// else.
    #[error(
        "host port {port} on {ip} is not free ({source}{}): pick another with --port",
        holder.as_ref().map(|h| format!(", held by {h}")).unwrap_or_default()
    )]
    PortInUse {
        ip: IpAddr,
        port: u16,
        /// "job 4" or "job 4 of deployment salary".
        holder: Option<String>,
        source: std::io::Error,
    },
    /// The image a job names is not on the engine.
    #[error(
        "image {image} is not present locally: build it with `mlbench images build` or pull it with `mlbench images pull`"
    )]
    ImageMissing { image: String },
    /// No Docker Engine answered where one was needed.
    #[error("no Docker Engine answered at {address} ({reason}): start Docker")]
    DockerUnavailable { address: String, reason: String },
    /// The Docker Engine answered with an error.
    #[error("Docker Engine: {0}")]
    Docker(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn at(path: &Path, action: &str) -> impl FnOnce(std::io::Error) -> Error {
        let context = format!("{action} {}", path.display());
        move |source| Error::Io { context, source }
    }

    /// Says which input field `source` is about.
    pub fn field(field: &'static str, source: Error) -> Error {
        Error::Field {
            field,
            source: Box::new(source),
        }
    }

    /// The input field this error is about, if it is about one.
    pub fn field_name(&self) -> Option<&'static str> {
        match self {
            Error::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// How long an error line may get before its middle gives way to an ellipsis.
const MAX_LINE: usize = 400;

/// A text as one line of at most [`MAX_LINE`] characters: line breaks and runs of white space
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

impl From<bollard::errors::Error> for Error {
    fn from(err: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match err {
            B::DockerResponseServerError { message, .. } => Error::Docker(message.trim().to_string()),
            other => Error::Docker(other.to_string().replace('\n', " ")),
        }
    }
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
    fn a_field_error_prints_its_cause_and_names_the_field() {
        let err = Error::field("ports", Error::Invalid("host port 0 is out of range".into()));
        assert_eq!(err.to_string(), "host port 0 is out of range");
        assert_eq!(err.field_name(), Some("ports"));
        assert_eq!(Error::Other("x".into()).field_name(), None);
    }

    #[test]
    fn a_port_in_use_names_its_holder() {
        let err = Error::PortInUse {
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
}
