//! `mlbench doctor`: the findings, one line each, and an exit code that says whether all is well.

use std::io::IsTerminal;
use std::process::ExitCode;

use mlbench_engine::upkeep::doctor::{self, Finding, Status};

use crate::Result;

pub(crate) async fn doctor(json: bool) -> Result<ExitCode> {
    let mut findings = doctor::diagnose().await;
    findings.push(terminal());
    if json {
        super::table::print_json(&findings)?;
    } else {
        let width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
        for finding in &findings {
            let mark = match finding.status {
                Status::Ok => "ok  ",
                Status::Note => "note",
                Status::Fail => "FAIL",
            };
            let fix = finding.fix.as_ref().map(|f| format!(": {f}")).unwrap_or_default();
            println!("{mark} {:width$}  {}{fix}", finding.check, finding.detail);
        }
    }
    Ok(if findings.iter().any(|f| f.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The terminal the workbench would draw in: a terminal at all, its size, colours and mouse.
fn terminal() -> Finding {
    if !std::io::stdout().is_terminal() {
        return Finding::note(
            "terminal",
            "not a terminal (output is piped): the workbench needs one".into(),
            None,
        );
    }
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" {
        return Finding::fail(
            "terminal",
            format!("TERM is {term:?}: the workbench cannot draw"),
            "set TERM to your terminal's type (xterm-256color, say)".into(),
        );
    }
    let colours = if std::env::var("COLORTERM").is_ok_and(|c| c == "truecolor" || c == "24bit") {
        "24-bit colour"
    } else if term.contains("256color") {
        "256 colours"
    } else {
        "16 colours"
    };
    let mouse = if term == "linux" {
        "no mouse (the Linux console)"
    } else {
        "mouse"
    };
    let (min_width, min_height) = mlbench_tui::MIN_SIZE;
    match crossterm::terminal::size() {
        Ok((width, height)) if width < min_width || height < min_height => Finding::fail(
            "terminal",
            format!("{width}x{height}, {term}, {colours}: the workbench needs {min_width}x{min_height}"),
            "make the window bigger".into(),
        ),
        Ok((width, height)) => Finding::ok(
            "terminal",
            format!("{width}x{height}, {term}, {colours}, {mouse}"),
        ),
        Err(err) => Finding::note(
            "terminal",
            format!("{term}, {colours}; size unknown ({err})"),
            None,
        ),
    }
}
