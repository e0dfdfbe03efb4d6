//! How a command ends for its user: an argument mistake is one line with the usage (exit code
//! 2, as with clap), any other error one line (exit code 1). Both binaries end this way.

use std::fmt::Display;
use std::process::ExitCode;

use std::io::IsTerminal;

use mlbench_domain::controls::escaped;
use mlbench_domain::error::one_line;

/// The command's exit code, or its error printed as one line and exit code 1.
pub fn report<E: Display>(outcome: Result<ExitCode, E>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let line = one_line(&err.to_string());
            // The error may quote what a job wrote (a file name, a server's answer).
            let line = if std::io::stderr().is_terminal() {
                escaped(&line)
            } else {
                line.into()
            };
            eprintln!("mlbench: {line}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version print as clap writes them; a mistake in the arguments is one line (what is
/// wrong, then the usage) and exit code 2, as with clap.
pub fn argument_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let text = err.render().to_string();
    let problem = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or("the arguments are not right");
    let usage = text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .map(|u| format!("; usage: {u}"))
        .unwrap_or_default();
    eprintln!(
        "mlbench: {}",
        one_line(&format!("{problem}{usage} (more: --help)"))
    );
    ExitCode::from(2)
}
