//! What the commands print of text a job could have written (its output, file names, model
//! files, a server's answers, errors quoting them): on a terminal, with every control sequence
//! but colours shown instead of done; into a pipe or file, unchanged.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

use mlbench_domain::controls::escaped;

/// Whether stdout and stderr are terminals, asked once.
fn terminals() -> (bool, bool) {
    static ASKED: OnceLock<(bool, bool)> = OnceLock::new();
    *ASKED.get_or_init(|| (std::io::stdout().is_terminal(), std::io::stderr().is_terminal()))
}

/// `text` as it may go to stdout.
pub(crate) fn out(text: &str) -> Cow<'_, str> {
    if terminals().0 {
        escaped(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` as it may go to stderr.
pub(crate) fn err(text: &str) -> Cow<'_, str> {
    if terminals().1 {
        escaped(text)
    } else {
        Cow::Borrowed(text)
    }
}

/// A progress line on stderr (a deployment's failure quotes its log).
pub(crate) fn say(line: &str) {
    eprintln!("{}", err(line));
}

/// Whether `stdout` (else stderr) is a terminal.
pub(crate) fn is_terminal(stdout: bool) -> bool {
    let (out, err) = terminals();
    if stdout { out } else { err }
}
