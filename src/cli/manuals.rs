//! Shell completions and man pages, both made from the command-line definition itself so they
//! cannot drift from what the binary accepts.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use mlbench_domain::FromIo;

use super::Cli;
use crate::{Error, Result};

/// Writes the completion script for `shell` to stdout (`source <(mlbench completions bash)`).
pub(crate) fn completions(shell: Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "mlbench", &mut std::io::stdout());
}

/// Writes `mlbench.1` and one page per subcommand (`mlbench-run.1`, …) into `dir`, creating
/// it, and says how many there are.
pub(crate) fn man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::at(dir, "cannot create"))?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(Error::at(dir, "cannot write man pages in"))?;
    let pages = std::fs::read_dir(dir)
        .map_err(Error::at(dir, "cannot read"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("mlbench") && name.ends_with(".1"))
        .count();
    println!(
        "{pages} man pages in {}: read them with `man {}`",
        dir.display(),
        dir.join("mlbench.1").display()
    );
    Ok(())
}
