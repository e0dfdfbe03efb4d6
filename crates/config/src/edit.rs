//! Writing the config for the user: `mlbench engines add|rm`. The file keeps its comments and
//! layout (only the engine's table changes), is checked whole before it is replaced, and is
//! replaced through a temporary file beside it, so a failure leaves it as it was.

use std::path::Path;

use mlbench_domain::FromIo;
use toml_edit::{DocumentMut, Item, Table, value};

use crate::{Config, Error, Result};

/// Adds `[engines.NAME]` with `host` (and `ssh_config`) to the config file at `path`, made when
/// missing; an engine of that name already there is refused.
pub fn add_engine(path: &Path, name: &str, host: &str, ssh_config: Option<&Path>) -> Result<()> {
    let mut document = read(path)?;
    let engines = document
        .entry("engines")
        .or_insert_with(|| {
            let mut table = Table::new();
            table.set_implicit(true);
            Item::Table(table)
        })
        .as_table_mut()
        .ok_or_else(|| Error::Invalid(format!("{}: engines is not a table", path.display())))?;
    if engines.contains_key(name) {
        return Err(Error::Invalid(format!(
            "engine {name} is already in {}: `mlbench engines rm {name}` first to change it",
            path.display()
        )));
    }
    let mut table = Table::new();
    table.insert("host", value(host));
    if let Some(config) = ssh_config {
        table.insert("ssh_config", value(config.display().to_string()));
    }
    engines.insert(name, Item::Table(table));
    write(path, &document)
}

/// Removes `[engines.NAME]` from the config file at `path`.
pub fn remove_engine(path: &Path, name: &str) -> Result<()> {
    let mut document = read(path)?;
    let removed = document
        .get_mut("engines")
        .and_then(Item::as_table_mut)
        .and_then(|engines| engines.remove(name));
    if removed.is_none() {
        return Err(Error::Invalid(format!(
            "engine {name} is not in {}: `mlbench engines` lists them",
            path.display()
        )));
    }
    write(path, &document)
}

fn read(path: &Path) -> Result<DocumentMut> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::at(path, "cannot read config")(e)),
    };
    text.parse().map_err(|e: toml_edit::TomlError| {
        Error::Invalid(format!("config {}: {}", path.display(), e.message()))
    })
}

/// Checks the new text whole, then puts it in place.
fn write(path: &Path, document: &DocumentMut) -> Result<()> {
    let text = document.to_string();
    Config::parse(&text).map_err(|e| Error::Invalid(format!("config {}: {e}", path.display())))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::at(dir, "cannot create"))?;
    }
    let temp = path.with_extension(format!("toml.{}.tmp", std::process::id()));
    std::fs::write(&temp, text).map_err(Error::at(&temp, "cannot write"))?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::at(path, "cannot replace")(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_is_added_and_removed_keeping_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# mine\nstop_grace_secs = 3 # short\n").unwrap();
        add_engine(&path, "gpu1", "ssh://alice@gpu1.lab", None).unwrap();
        add_engine(
            &path,
            "lab1",
            "ssh://root@lab1",
            Some(Path::new("/lab/ssh_config")),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nstop_grace_secs = 3 # short\n"),
            "{text}"
        );
        let config = Config::parse(&text).unwrap();
        let names: Vec<&str> = config.engines.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["gpu1", "lab1"]);
        assert_eq!(
            config.engines[1].ssh_config.as_deref(),
            Some(Path::new("/lab/ssh_config"))
        );
        let again = add_engine(&path, "gpu1", "ssh://x", None)
            .unwrap_err()
            .to_string();
        assert!(again.contains("already in"), "{again}");
        let bad = add_engine(&path, "gpu2", "gpu2.lab", None)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("is not an engine's address"), "{bad}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "a refusal writes nothing"
        );
        remove_engine(&path, "gpu1").unwrap();
        let config = Config::load_from(&path).unwrap();
        assert_eq!(config.engines.len(), 1);
        assert!(
            remove_engine(&path, "gpu1")
                .unwrap_err()
                .to_string()
                .contains("not in")
        );
    }

    #[test]
    fn a_missing_config_is_made_with_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlbench/config.toml");
        add_engine(&path, "gpu1", "tcp://gpu1.lab:2376", None).unwrap();
        let config = Config::load_from(&path).unwrap();
        assert_eq!(config.engines[0].address.to_string(), "tcp://gpu1.lab:2376");
    }
}
