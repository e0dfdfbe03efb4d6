//! `mlbench doctor`: the findings, one line each, and an exit code that says whether all is well.

use std::process::ExitCode;

use crate::Result;
use crate::engine::doctor::{self, Scope, Status};

pub async fn doctor(json: bool) -> Result<ExitCode> {
    let findings = doctor::diagnose(Scope { terminal: true }).await;
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
