//! A project's /storage seen from the host. Jobs write there and may plant symbolic links
//! (`ln -s /etc/shadow /storage/x`); host-side reads never follow a link out of the project's
//! storage: a path is resolved and must stay inside, and listings and copies do not follow links.

use std::path::{Component, Path, PathBuf};

use mlbench_domain::FromIo;

use crate::{Engine, Error, Result};

/// One file (or link) under /storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As a job sees it: `/storage/...`.
    pub path: String,
    pub bytes: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
    /// Where a symbolic link points; it is listed, never followed.
    pub link: Option<PathBuf>,
}

/// A host path of the project's storage, after links are resolved: refused unless it is
/// still inside the storage.
pub(crate) fn inside(engine: &Engine, project: &str, host_path: &Path) -> Result<PathBuf> {
    let root = engine.home.storage_dir(project);
    confined(&root, host_path, &format!("the /storage of project {project}"))
}

/// `path` with links resolved, refused unless it stays under `root` (`place` names it). A path
/// that does not exist is returned as it is: the read that follows says it is missing.
pub(crate) fn confined(root: &Path, path: &Path, place: &str) -> Result<PathBuf> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(path.to_path_buf());
    }
    let root = root.canonicalize().map_err(Error::at(root, "cannot resolve"))?;
    let real = path.canonicalize().map_err(Error::at(path, "cannot resolve"))?;
    if !real.starts_with(&root) {
        return Err(Error::Invalid(format!(
            "{} leads outside {place} (a symbolic link): mlbench does not follow it",
            path.display()
        )));
    }
    Ok(real)
}

/// `/storage/...` for a host path under the storage root.
fn shown(root: &Path, host_path: &Path) -> String {
    let relative = host_path.strip_prefix(root).unwrap_or(host_path);
    format!("/storage/{}", relative.display())
}

/// A path given as inside /storage (`/storage/x`, `x` or `/x`), refusing `..` and links out.
pub fn resolve(engine: &Engine, project: &str, path: Option<&str>) -> Result<PathBuf> {
    engine.store.require_project(project)?;
    let root = engine.home.storage_dir(project);
    let Some(path) = path else { return Ok(root) };
    let inner = path.strip_prefix("/storage").unwrap_or(path);
    let mut resolved = root.clone();
    for part in Path::new(inner).components() {
        match part {
            Component::Normal(p) => resolved.push(p),
            Component::RootDir | Component::CurDir => {}
            _ => {
                return Err(Error::Invalid(format!(
                    "path {path:?} leaves /storage: give a path inside it"
                )));
            }
        }
    }
    if std::fs::symlink_metadata(&resolved).is_err() {
        return Err(Error::NotFound(format!(
            "{path} is not in the storage of project {project}: `mlbench storage ls {project}` lists it"
        )));
    }
    inside(engine, project, &resolved)
}

/// Every file under `dir` (a folder or a file of the storage), links listed but not followed.
pub fn list(engine: &Engine, project: &str, dir: &Path) -> Result<Vec<Entry>> {
    let root = engine.home.storage_dir(project);
    let root = root.canonicalize().map_err(Error::at(&root, "cannot resolve"))?;
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let meta = std::fs::symlink_metadata(&next).map_err(Error::at(&next, "cannot read"))?;
        if meta.is_dir() {
            let children = std::fs::read_dir(&next).map_err(Error::at(&next, "cannot read"))?;
            pending.extend(children.filter_map(|e| e.ok().map(|e| e.path())));
            continue;
        }
        let link = if meta.file_type().is_symlink() {
            Some(std::fs::read_link(&next).map_err(Error::at(&next, "cannot read"))?)
        } else {
            None
        };
        entries.push(Entry {
            path: shown(&root, &next),
            bytes: if link.is_some() { 0 } else { meta.len() },
            modified: meta.modified().ok().map(chrono::DateTime::<chrono::Utc>::from),
            link,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// The start of a file of the storage: its text when it is text, else only its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub path: String,
    pub bytes: u64,
    /// The first lines, when the file is text (none for a binary file).
    pub text: Option<Vec<String>>,
}

/// How much of a file a preview reads.
const PREVIEW_BYTES: usize = 16 << 10;

/// Reads the start of `path` (as a job sees it: `/storage/...` or relative to it).
pub fn preview(engine: &Engine, project: &str, path: &str) -> Result<Preview> {
    use std::io::Read;
    let file = resolve(engine, project, Some(path))?;
    let meta = std::fs::metadata(&file).map_err(Error::at(&file, "cannot read"))?;
    if meta.is_dir() {
        return Err(Error::Invalid(format!("{path} is a folder")));
    }
    let mut head = Vec::with_capacity(PREVIEW_BYTES);
    std::fs::File::open(&file)
        .and_then(|f| f.take(PREVIEW_BYTES as u64).read_to_end(&mut head))
        .map_err(Error::at(&file, "cannot read"))?;
    // A character cut at the end of what was read is not a sign of binary data.
    let text = match std::str::from_utf8(&head) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
    .filter(|t| !t.contains('\0'))
    .map(|t| t.lines().map(str::to_string).collect());
    Ok(Preview {
        path: path.to_string(),
        bytes: meta.len(),
        text,
    })
}

/// Copies a file or folder of the storage out to `dest` (default: its name in the current
/// folder), which must not exist; returns where it went and the links left out.
pub fn get(
    engine: &Engine,
    project: &str,
    path: &str,
    dest: Option<PathBuf>,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let source = resolve(engine, project, Some(path))?;
    let name = source
        .file_name()
        .map_or_else(|| PathBuf::from(project), PathBuf::from);
    let dest = dest.unwrap_or(name);
    if dest.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists: choose another place with -o",
            dest.display()
        )));
    }
    let skipped = copy_out(&source, &dest)?;
    Ok((dest, skipped))
}

/// Copies a file or folder of the storage to `to`; links inside a folder are not followed but
/// named in the returned list of what was left out.
fn copy_out(from: &Path, to: &Path) -> Result<Vec<PathBuf>> {
    let mut skipped = Vec::new();
    copy(from, to, &mut skipped)?;
    Ok(skipped)
}

fn copy(from: &Path, to: &Path, skipped: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).map_err(Error::at(from, "cannot read"))?;
    if meta.file_type().is_symlink() {
        skipped.push(from.to_path_buf());
        return Ok(());
    }
    if meta.is_dir() {
        std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
        for entry in std::fs::read_dir(from).map_err(Error::at(from, "cannot read"))? {
            let entry = entry.map_err(Error::at(from, "cannot read"))?;
            copy(&entry.path(), &to.join(entry.file_name()), skipped)?;
        }
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(Error::at(from, "cannot copy"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_config::Config;
    use mlbench_store::Store;
    use mlbench_store::home::Home;

    #[test]
    fn a_preview_is_text_when_the_file_is_and_a_copy_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home")).unwrap();
        let engine = Engine {
            store: Store::open(&home).unwrap(),
            config: Config::parse("").unwrap(),
            home,
        };
        engine.store.create_project("p").unwrap();
        let root = engine.home.storage_dir("p");
        std::fs::create_dir_all(root.join("salary")).unwrap();
        std::fs::write(root.join("salary/model.json"), "{\n  \"kind\": \"linear\"\n}\n").unwrap();
        std::fs::write(root.join("salary/model.pkl"), [0x80, 0x04, 0x95, 0x00, 0xff]).unwrap();
        let text = preview(&engine, "p", "/storage/salary/model.json").unwrap();
        assert_eq!(text.text.unwrap(), ["{", "  \"kind\": \"linear\"", "}"]);
        let binary = preview(&engine, "p", "salary/model.pkl").unwrap();
        assert_eq!((binary.text, binary.bytes), (None, 5));
        assert!(
            preview(&engine, "p", "salary")
                .unwrap_err()
                .to_string()
                .contains("is a folder")
        );
        let out = dir.path().join("out.json");
        let (dest, skipped) = get(&engine, "p", "salary/model.json", Some(out.clone())).unwrap();
        assert_eq!((dest, skipped.len()), (out.clone(), 0));
        assert!(get(&engine, "p", "salary/model.json", Some(out)).is_err());
    }
}
