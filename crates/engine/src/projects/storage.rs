//! A project's /storage seen from here, on whichever engine keeps it. Jobs write there and may
//! plant symbolic links (`ln -s /etc/shadow /storage/x`), FIFOs or device nodes: every read goes
//! through [`StorageFiles`], which follows no link and reads regular files only (this machine's
//! folder through [`Beneath`]; a remote engine's volume through its archive API); listings name
//! links and special files without opening them, and copies leave them out.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use futures_util::future::LocalBoxFuture;
use mlbench_domain::{FromIo, LOCAL_ENGINE};
use mlbench_runtime::remote::VolumeNames;
use mlbench_runtime::volume_files::NodeKind;

use crate::beneath::{Beneath, Cap, Kind};
use crate::projects::files::{STORAGE_MOUNT, StorageFiles};
use crate::{Engine, Error, Result};

/// One file (or link, or special file) under /storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// As a job sees it: `/storage/...`.
    pub path: String,
    pub bytes: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
    /// Where a symbolic link points; it is listed, never followed.
    pub link: Option<PathBuf>,
    /// What a special file is ("a FIFO"); it is listed, never opened.
    pub special: Option<&'static str>,
    /// A folder, listed by [`list_folder`] (whose entries are one folder's); [`list`] lists
    /// files only.
    pub is_folder: bool,
}

/// One folder of the storage, as the browser shows it: what is directly in it, folders first,
/// then the rest, each by name. Only this folder is read, so a storage of any size opens at
/// once and holds only what one folder has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// As a job sees it: `/storage` or `/storage/...`.
    pub path: String,
    pub entries: Vec<Entry>,
}

/// The project's storage here, opened for host-side reads and writes that follow no link.
pub(crate) fn open(engine: &Engine, project: &str) -> Result<Beneath> {
    Beneath::open(
        &engine.home.storage_dir(project),
        format!("the /storage of project {project}"),
    )
}

/// `/storage/...` for a path under the storage's root.
fn shown(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    format!("/storage/{}", relative.display())
}

/// A path given as inside /storage (`/storage/x`, `x` or `/x`), as a path of `storage`: refused
/// when it leaves the storage (`..`).
fn inside(storage: &StorageFiles, path: Option<&str>) -> Result<PathBuf> {
    under(storage.root(), path)
}

/// A path given as inside /storage, under `root`.
fn under(root: &Path, path: Option<&str>) -> Result<PathBuf> {
    let mut resolved = root.to_path_buf();
    let Some(path) = path else { return Ok(resolved) };
    let inner = path.strip_prefix(STORAGE_MOUNT).unwrap_or(path);
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
    Ok(resolved)
}

/// [`inside`], then refused when nothing is there or a link is on the way.
fn resolve(storage: &StorageFiles, project: &str, path: Option<&str>) -> Result<PathBuf> {
    let resolved = inside(storage, path)?;
    let Some(path) = path else { return Ok(resolved) };
    match storage.find(&resolved)? {
        None => Err(Error::NotFound(format!(
            "{path} is not in the storage of project {project}: `mlbench storage ls {project}` lists it"
        ))),
        Some(found) if found.kind == Kind::Link => Err(storage.link_refused(Path::new(path))),
        Some(_) => Ok(resolved),
    }
}

/// The storage of `project` on the engine called `engine_name`, with the folder `path` of it
/// fetched when it is remote.
async fn open_at(
    engine: &Engine,
    project: &str,
    engine_name: &str,
    path: Option<&str>,
) -> Result<StorageFiles> {
    if engine_name == LOCAL_ENGINE && !engine.home.storage_dir(project).exists() {
        engine.store.require_project(project)?;
        std::fs::create_dir_all(engine.home.storage_dir(project))
            .map_err(Error::at(&engine.home.storage_dir(project), "cannot create"))?;
    }
    let mount = Path::new(STORAGE_MOUNT);
    let folder = match path {
        Some(path) => {
            let inner = path.strip_prefix(STORAGE_MOUNT).unwrap_or(path);
            mount.join(inner.trim_start_matches('/'))
        }
        None => mount.to_path_buf(),
    };
    StorageFiles::open(engine, project, engine_name, Some(&folder), false).await
}

/// Lists the folder at `path` (as a job sees it: `/storage/...` or relative to it; `None`: the
/// storage itself) of `project`'s storage on the engine called `engine_name`, links and special
/// files named, never followed or opened.
pub fn list_folder<'a>(
    engine: &'a Engine,
    project: &'a str,
    engine_name: &'a str,
    path: Option<&'a str>,
) -> LocalBoxFuture<'a, Result<Folder>> {
    Box::pin(async move {
        let storage = open_at(engine, project, engine_name, path).await?;
        let dir = resolve(&storage, project, path)?;
        if path.is_none() && storage.find(&dir)?.is_none() {
            return Ok(Folder {
                path: STORAGE_MOUNT.into(),
                entries: Vec::new(),
            });
        }
        let mut entries = Vec::new();
        for (name, found) in storage.list(&dir)? {
            let at = dir.join(&name);
            let link = match found.kind {
                Kind::Link => Some(storage.link_target(&at)?),
                _ => None,
            };
            entries.push(Entry {
                path: shown(storage.root(), &at),
                bytes: if found.kind == Kind::File { found.bytes } else { 0 },
                modified: found.modified.map(chrono::DateTime::<chrono::Utc>::from),
                link,
                special: match found.kind {
                    Kind::Special(what) => Some(what),
                    _ => None,
                },
                is_folder: found.kind == Kind::Folder,
            });
        }
        // `list` gives them by name; folders go first, keeping that order.
        entries.sort_by_key(|e| !e.is_folder);
        Ok(Folder {
            path: shown(storage.root(), &dir).trim_end_matches('/').to_string(),
            entries,
        })
    })
}

/// Every file under `path` (a folder or a file of the storage; `None`: all of it) of
/// `project`'s storage on the engine called `engine_name`, links and special files listed but
/// not followed or opened.
pub fn list<'a>(
    engine: &'a Engine,
    project: &'a str,
    engine_name: &'a str,
    path: Option<&'a str>,
) -> LocalBoxFuture<'a, Result<Vec<Entry>>> {
    Box::pin(async move {
        let storage = open_at(engine, project, engine_name, path).await?;
        let dir = resolve(&storage, project, path)?;
        let root = storage.root().to_path_buf();
        let mut entries = Vec::new();
        let Some(top) = storage.find(&dir)? else {
            return Ok(entries);
        };
        let mut pending = vec![(dir, top)];
        while let Some((next, found)) = pending.pop() {
            if found.kind == Kind::Folder {
                for (name, child) in storage.list(&next)? {
                    pending.push((next.join(name), child));
                }
                continue;
            }
            let link = match found.kind {
                Kind::Link => Some(storage.link_target(&next)?),
                _ => None,
            };
            entries.push(Entry {
                path: shown(&root, &next),
                bytes: if found.kind == Kind::File { found.bytes } else { 0 },
                modified: found.modified.map(chrono::DateTime::<chrono::Utc>::from),
                link,
                special: match found.kind {
                    Kind::Special(what) => Some(what),
                    _ => None,
                },
                is_folder: false,
            });
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    })
}

/// The start of a file of the storage: its text when it is text, else only its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub path: String,
    pub bytes: u64,
    /// The first lines, when the file is text (none for a binary file).
    pub text: Option<Vec<String>>,
}

/// Previews and copies read any size of file: a preview only its start, a copy in pieces.
const ANY_SIZE: Cap = Cap {
    bytes: u64::MAX,
    what: "a file",
};

/// How much of a file a preview reads.
const PREVIEW_BYTES: usize = 16 << 10;

/// Reads the start of `path` (as a job sees it: `/storage/...` or relative to it) of
/// `project`'s storage on the engine called `engine_name`. Any size of regular file is
/// previewed: only its start is read.
pub fn preview<'a>(
    engine: &'a Engine,
    project: &'a str,
    engine_name: &'a str,
    path: &'a str,
) -> LocalBoxFuture<'a, Result<Preview>> {
    Box::pin(async move {
        let (head, bytes) = if engine_name == LOCAL_ENGINE {
            let storage = StorageFiles::Here(open(engine, project)?);
            let file = resolve(&storage, project, Some(path))?;
            let StorageFiles::Here(beneath) = &storage else {
                return Err(Error::Other("the storage here is a folder".into()));
            };
            let (opened, bytes) = beneath.open_file(&file, ANY_SIZE)?;
            let mut head = Vec::with_capacity(PREVIEW_BYTES);
            opened
                .take(PREVIEW_BYTES as u64)
                .read_to_end(&mut head)
                .map_err(Error::at(&file, "cannot read"))?;
            (head, bytes)
        } else {
            // Only the file's start is fetched (a listing would fetch all of it).
            engine.store.require_project(project)?;
            let docker = crate::engines::connect(engine, engine_name).await?;
            let file = under(Path::new(STORAGE_MOUNT), Some(path))?;
            let volume = VolumeNames::of_home(&engine.home.label()).storage(project);
            let labels = crate::home_labels(&engine.home);
            let (kind, bytes, head) = docker
                .file_head(&volume, STORAGE_MOUNT, &file, PREVIEW_BYTES as u64, &labels)
                .await
                .map_err(|e| match e {
                    mlbench_runtime::Error::NotFound(_) => Error::NotFound(format!(
                        "{path} is not in the storage of project {project} on engine {engine_name}: `mlbench storage ls {project} --engine {engine_name}` lists it"
                    )),
                    e => e.into(),
                })?;
            match kind {
                NodeKind::File => (head, bytes),
                NodeKind::Folder => return Err(Error::Invalid(format!("{path} is a folder"))),
                NodeKind::Link => {
                    return Err(Error::Invalid(format!(
                        "{path} is a symbolic link (a job can plant them): mlbench does not follow links in /storage"
                    )));
                }
                NodeKind::Special(what) => {
                    return Err(Error::Invalid(format!(
                        "{path} is {what}, not a regular file: mlbench reads only regular files in /storage"
                    )));
                }
            }
        };
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
            bytes,
            text,
        })
    })
}

/// What a copy left out, and why ("a symbolic link, not followed").
pub type LeftOut = Vec<(PathBuf, &'static str)>;

/// Copies a file or folder of `project`'s storage on the engine called `engine_name` out to
/// `dest` (default: its name in the current folder), which must not exist; returns where it
/// went and what was left out.
pub fn get<'a>(
    engine: &'a Engine,
    project: &'a str,
    engine_name: &'a str,
    path: &'a str,
    dest: Option<PathBuf>,
) -> LocalBoxFuture<'a, Result<(PathBuf, LeftOut)>> {
    Box::pin(async move {
        let remote = engine_name != LOCAL_ENGINE;
        let storage = if remote {
            open_at(engine, project, engine_name, Some(path)).await?
        } else {
            StorageFiles::Here(open(engine, project)?)
        };
        let source = resolve(&storage, project, Some(path))?;
        let name = source
            .file_name()
            .map_or_else(|| PathBuf::from(project), PathBuf::from);
        let dest = dest.unwrap_or(name);
        if std::fs::symlink_metadata(&dest).is_ok() {
            return Err(Error::Invalid(format!(
                "{} already exists: choose another place with -o",
                dest.display()
            )));
        }
        let StorageFiles::Here(storage) = storage else {
            // A remote engine sends it as a tar; links and special files are left out of it.
            let docker = crate::engines::connect(engine, engine_name).await?;
            let volume = VolumeNames::of_home(&engine.home.label()).storage(project);
            let left_out = docker
                .copy_out(
                    &volume,
                    STORAGE_MOUNT,
                    &source,
                    &dest,
                    &crate::home_labels(&engine.home),
                )
                .await?;
            return Ok((dest, left_out));
        };
        let mut left_out = Vec::new();
        match storage.find(&source)?.map(|f| f.kind) {
            Some(Kind::Folder) => copy(&storage, &source, &dest, &mut left_out)?,
            // Asked for by name, anything but a regular file is refused (the open says why),
            // whatever the name became since it was resolved.
            _ => copy_file(&storage, &source, &dest)?,
        }
        Ok((dest, left_out))
    })
}

/// Copies `from` (in the storage) to `to`: folders as folders, regular files through handles
/// that followed no link; links and special files are named in `left_out`.
fn copy(storage: &Beneath, from: &Path, to: &Path, left_out: &mut LeftOut) -> Result<()> {
    let found = storage
        .find(from)?
        .ok_or_else(|| Error::NotFound(format!("{} is gone", from.display())))?;
    match found.kind {
        Kind::Link => left_out.push((from.to_path_buf(), "a symbolic link, not followed")),
        Kind::Special(what) => left_out.push((from.to_path_buf(), what)),
        Kind::Folder => {
            std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
            for (name, _) in storage.list(from)? {
                copy(storage, &from.join(&name), &to.join(&name), left_out)?;
            }
        }
        Kind::File => copy_file(storage, from, to)?,
    }
    Ok(())
}

/// Copies the regular file `from` (opened following no link) to a new file `to`.
fn copy_file(storage: &Beneath, from: &Path, to: &Path) -> Result<()> {
    let (mut file, _) = storage.open_file(from, ANY_SIZE)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(Error::at(to, "cannot create"))?;
    std::io::copy(&mut file, &mut out).map_err(Error::at(from, "cannot copy"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlbench_config::Config;
    use mlbench_store::Store;
    use mlbench_store::home::Home;

    /// An engine on a home under `dir` with project `p`.
    fn engine_with_project(dir: &std::path::Path) -> Engine {
        let home = Home::at(dir.join("home")).unwrap();
        let engine = Engine {
            store: Store::open(&home).unwrap(),
            config: Config::parse("").unwrap(),
            home,
        };
        engine.store.create_project("p").unwrap();
        engine
    }

    #[tokio::test]
    async fn a_preview_is_text_when_the_file_is_and_a_copy_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_project(dir.path());
        let root = engine.home.storage_dir("p");
        std::fs::create_dir_all(root.join("salary")).unwrap();
        std::fs::write(root.join("salary/model.json"), "{\n  \"kind\": \"linear\"\n}\n").unwrap();
        std::fs::write(root.join("salary/model.pkl"), [0x80, 0x04, 0x95, 0x00, 0xff]).unwrap();
        let text = preview(&engine, "p", LOCAL_ENGINE, "/storage/salary/model.json")
            .await
            .unwrap();
        assert_eq!(text.text.unwrap(), ["{", "  \"kind\": \"linear\"", "}"]);
        let binary = preview(&engine, "p", LOCAL_ENGINE, "salary/model.pkl")
            .await
            .unwrap();
        assert_eq!((binary.text, binary.bytes), (None, 5));
        assert!(
            preview(&engine, "p", LOCAL_ENGINE, "salary")
                .await
                .unwrap_err()
                .to_string()
                .contains("is a folder")
        );
        let out = dir.path().join("out.json");
        let (dest, skipped) = get(&engine, "p", LOCAL_ENGINE, "salary/model.json", Some(out.clone()))
            .await
            .unwrap();
        assert_eq!((dest, skipped.len()), (out.clone(), 0));
        assert!(
            get(&engine, "p", LOCAL_ENGINE, "salary/model.json", Some(out))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_folder_lists_only_what_is_directly_in_it_folders_first() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_project(dir.path());
        let top = list_folder(&engine, "p", LOCAL_ENGINE, None).await.unwrap();
        assert_eq!(
            (top.path.as_str(), top.entries.len()),
            ("/storage", 0),
            "no storage yet"
        );
        let root = engine.home.storage_dir("p");
        std::fs::create_dir_all(root.join("b/deep/deeper")).unwrap();
        std::fs::write(root.join("b/deep/deeper/f"), "x").unwrap();
        std::fs::write(root.join("a.txt"), "abc").unwrap();
        std::fs::create_dir(root.join("z")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("c")).unwrap();
        let top = list_folder(&engine, "p", LOCAL_ENGINE, None).await.unwrap();
        let names: Vec<(&str, bool)> = top
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.is_folder))
            .collect();
        assert_eq!(
            names,
            [
                ("/storage/b", true),
                ("/storage/z", true),
                ("/storage/a.txt", false),
                ("/storage/c", false)
            ]
        );
        assert_eq!(top.entries[2].bytes, 3);
        assert_eq!(top.entries[3].link.as_deref(), Some(Path::new("/etc")));
        let deep = list_folder(&engine, "p", LOCAL_ENGINE, Some("/storage/b/deep"))
            .await
            .unwrap();
        assert_eq!(deep.path, "/storage/b/deep");
        assert_eq!(deep.entries[0].path, "/storage/b/deep/deeper");
        let refused = list_folder(&engine, "p", LOCAL_ENGINE, Some("/storage/c"))
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("link"), "{refused}");
        assert!(
            list_folder(&engine, "p", LOCAL_ENGINE, Some("../x"))
                .await
                .is_err()
        );
    }
}
