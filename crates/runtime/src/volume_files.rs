//! Reading and writing a remote engine's volume from here: a folder of it fetched as a tar
//! through a never-started helper's archive API (each entry's kind, size and time, and the
//! bytes of regular files up to a cap), files written back as a tar, files removed by a started
//! helper, and a file or folder copied out to this machine. Paths are as a job sees them
//! (`/storage/...`). Docker resolves a path inside the helper's own root, so a link a job
//! planted in the volume never reaches the engine's machine; mlbench refuses links anyway, as
//! it does here.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;

use crate::{DockerRuntime, Error, Result};

/// What an entry of a fetched folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Folder,
    Link,
    /// A FIFO, socket or device node ("a FIFO").
    Special(&'static str),
}

/// One entry of a fetched folder.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
    /// Where a link points.
    pub link: Option<PathBuf>,
    /// A regular file's first bytes, up to the fetch's cap (all of them when `bytes` is no
    /// more than that).
    pub data: Option<Vec<u8>>,
}

/// A folder of a volume, as fetched: every entry under it by path (as a job sees it).
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub nodes: BTreeMap<PathBuf, Node>,
}

impl DockerRuntime {
    /// Fetches `path` of `volume` (mounted at `mount`, such as `/storage`) with everything under
    /// it; regular files' bytes are kept up to `data_cap` each. Nothing there is an empty tree.
    pub fn fetch_tree<'a>(
        &'a self,
        volume: &'a str,
        mount: &'a str,
        path: &'a Path,
        data_cap: u64,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<Tree>> {
        Box::pin(async move {
            let helper = self.files_helper(&[(volume, mount, true)], labels).await?;
            let fetched = async {
                let Some(_) = helper.stat(&path.display().to_string()).await? else {
                    return Ok(Tree::default());
                };
                let asked = path.to_path_buf();
                stream_tar(helper.get(&path.display().to_string()), move |archive| {
                    parse_tree(archive, &asked, data_cap)
                })
                .await
            }
            .await;
            helper.remove().await;
            fetched
        })
    }

    /// What is at `path` of `volume` (mounted at `mount`), its size, and its first `n` bytes when
    /// it is a regular file; the rest of it is not fetched.
    pub fn file_head<'a>(
        &'a self,
        volume: &'a str,
        mount: &'a str,
        path: &'a Path,
        n: u64,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<(NodeKind, u64, Vec<u8>)>> {
        Box::pin(async move {
            let helper = self.files_helper(&[(volume, mount, true)], labels).await?;
            if helper.stat(&path.display().to_string()).await?.is_none() {
                helper.remove().await;
                return Err(Error::NotFound(format!("{} is not there", path.display())));
            }
            let head = stream_tar(helper.get(&path.display().to_string()), move |mut archive| {
                let bad = |e: std::io::Error| Error::io("cannot read the engine's tar", e);
                let mut entries = archive.entries().map_err(bad)?;
                let mut entry = entries
                    .next()
                    .ok_or_else(|| Error::Other("the engine sent an empty tar".into()))?
                    .map_err(bad)?;
                let kind = kind_of(entry.header().entry_type());
                let bytes = entry.header().size().unwrap_or(0);
                let mut head = Vec::new();
                if kind == NodeKind::File {
                    std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, n), &mut head)
                        .map_err(bad)?;
                }
                Ok((kind, bytes, head))
            })
            .await;
            helper.remove().await;
            head
        })
    }

    /// Writes each `(path, content)` into `volume` (mounted at `mount`), making the folders on
    /// the way, as `owner`'s files.
    pub fn write_files<'a>(
        &'a self,
        volume: &'a str,
        mount: &'a str,
        files: &'a [(PathBuf, Vec<u8>)],
        owner: (u32, u32),
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut folders = std::collections::BTreeSet::new();
            for (path, _) in files {
                let relative = inside(path, mount)?;
                for folder in relative.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
                    folders.insert(folder.to_path_buf());
                }
            }
            let mut builder = tar::Builder::new(Vec::new());
            let header = |size: u64, mode: u32| {
                let mut header = tar::Header::new_gnu();
                header.set_size(size);
                header.set_mode(mode);
                header.set_uid(owner.0.into());
                header.set_gid(owner.1.into());
                header.set_mtime(now_secs());
                header
            };
            let failed = |e| Error::io("cannot make a tar for the engine", e);
            // Folders first (shortest first), so each file's folder exists when it comes.
            for folder in &folders {
                let mut dir = header(0, 0o755);
                dir.set_entry_type(tar::EntryType::Directory);
                builder
                    .append_data(&mut dir, folder, std::io::empty())
                    .map_err(failed)?;
            }
            for (path, content) in files {
                builder
                    .append_data(
                        &mut header(content.len() as u64, 0o644),
                        inside(path, mount)?,
                        content.as_slice(),
                    )
                    .map_err(failed)?;
            }
            let archive = builder.into_inner().map_err(failed)?;
            let helper = self.files_helper(&[(volume, mount, false)], labels).await?;
            let written = helper.put(mount, archive).await;
            helper.remove().await;
            written
        })
    }

    /// Removes files of `volume` (mounted at `mount`), as root from a started helper; one
    /// already gone is fine.
    pub fn remove_files<'a>(
        &'a self,
        volume: &'a str,
        mount: &'a str,
        paths: &'a [PathBuf],
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut args = vec!["remove-paths".to_string()];
            for path in paths {
                inside(path, mount)?;
                args.push(path.display().to_string());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mount_of = super::helpers::volume_mount(volume, mount, false);
            self.run_helper(&args, vec![mount_of], labels)
                .await
                .map_err(|why| Error::Docker(format!("cannot remove files of volume {volume}: {why}")))
        })
    }

    /// Copies `path` of `volume` (a file, or a folder with everything in it) to `dest` here,
    /// which must not exist. Links and special files are left out and named, with why.
    pub fn copy_out<'a>(
        &'a self,
        volume: &'a str,
        mount: &'a str,
        path: &'a Path,
        dest: &'a Path,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<Vec<(PathBuf, &'static str)>>> {
        Box::pin(async move {
            let helper = self.files_helper(&[(volume, mount, true)], labels).await?;
            let copied = async {
                let (asked, dest) = (path.to_path_buf(), dest.to_path_buf());
                stream_tar(helper.get(&path.display().to_string()), move |archive| {
                    extract(archive, &asked, &dest)
                })
                .await
            }
            .await;
            helper.remove().await;
            copied
        })
    }
}

/// Reads a tar the engine sends as it comes: `read` walks it on a thread of its own (the tar
/// crate reads synchronously) while the chunks arrive here, so a folder of any size is read in
/// flat memory. When `read` returns early (it has what it wanted), the rest is not fetched.
async fn stream_tar<T: Send + 'static>(
    stream: impl futures_util::Stream<Item = std::result::Result<bytes::Bytes, bollard::errors::Error>>,
    read: impl FnOnce(tar::Archive<ChunkReader>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let walker = tokio::task::spawn_blocking(move || {
        read(tar::Archive::new(ChunkReader {
            receiver,
            chunk: bytes::Bytes::new(),
        }))
    });
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        // The walker is done (or failed): what is left is not needed.
        if sender.send(chunk?).await.is_err() {
            break;
        }
    }
    drop(sender);
    walker
        .await
        .map_err(|e| Error::Other(format!("reading the engine's tar failed: {e}")))?
}

/// The chunks of a tar as one reader.
struct ChunkReader {
    receiver: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    chunk: bytes::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// `path` below `mount` (`/storage/a/b` → `a/b`), refusing one that leaves it.
fn inside<'p>(path: &'p Path, mount: &str) -> Result<&'p Path> {
    let relative = path
        .strip_prefix(mount)
        .map_err(|_| Error::Invalid(format!("{} is not in {mount}", path.display())))?;
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(Error::Invalid(format!("{} leaves {mount}", path.display())));
    }
    Ok(relative)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where a tar entry of a fetch of `asked` is: the engine names entries from the asked path's
/// last component (`/storage/a` sends `a/…`).
fn entry_path(asked: &Path, entry: &Path) -> PathBuf {
    match asked.parent() {
        Some(parent) => parent.join(entry),
        None => PathBuf::from("/").join(entry),
    }
}

/// The entries of a fetch of `asked`, each regular file's first `data_cap` bytes kept.
fn parse_tree(mut archive: tar::Archive<impl std::io::Read>, asked: &Path, data_cap: u64) -> Result<Tree> {
    let bad = |e: std::io::Error| Error::io("cannot read the engine's tar", e);
    let mut tree = Tree::default();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry_path(asked, &entry.path().map_err(bad)?);
        let path = PathBuf::from(path.to_string_lossy().trim_end_matches('/'));
        let header = entry.header();
        let kind = kind_of(header.entry_type());
        let bytes = header.size().unwrap_or(0);
        let modified = header
            .mtime()
            .ok()
            .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        let link = match kind {
            NodeKind::Link => entry.link_name().map_err(bad)?.map(std::borrow::Cow::into_owned),
            _ => None,
        };
        let data = if kind == NodeKind::File && data_cap > 0 {
            let kept = bytes.min(data_cap);
            let mut data = Vec::with_capacity(usize::try_from(kept).unwrap_or(0));
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut entry, kept), &mut data).map_err(bad)?;
            Some(data)
        } else {
            None
        };
        tree.nodes.insert(
            path,
            Node {
                kind,
                bytes,
                modified,
                link,
                data,
            },
        );
    }
    Ok(tree)
}

fn kind_of(entry: tar::EntryType) -> NodeKind {
    match entry {
        tar::EntryType::Regular | tar::EntryType::Continuous => NodeKind::File,
        tar::EntryType::Directory => NodeKind::Folder,
        tar::EntryType::Symlink | tar::EntryType::Link => NodeKind::Link,
        tar::EntryType::Fifo => NodeKind::Special("a FIFO"),
        tar::EntryType::Char => NodeKind::Special("a character device"),
        tar::EntryType::Block => NodeKind::Special("a block device"),
        _ => NodeKind::Special("a special file"),
    }
}

/// Writes the tar of a fetch of `asked` out under `dest`: folders and regular files; links and
/// special files are left out and named.
fn extract(
    mut archive: tar::Archive<impl std::io::Read>,
    asked: &Path,
    dest: &Path,
) -> Result<Vec<(PathBuf, &'static str)>> {
    let bad = |e: std::io::Error| Error::io("cannot read the engine's tar", e);
    let mut left_out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.into_owned();
        // The first component is the asked path's own name; below it, what `dest` gets.
        let below: PathBuf = name.components().skip(1).collect();
        if below.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(Error::Invalid(format!(
                "the engine sent {} outside the folder asked for",
                name.display()
            )));
        }
        // A file asked for by name is the tar's one entry: it becomes `dest` itself.
        let target = if below.as_os_str().is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&below)
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(Error::at(&target, "cannot create"))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(Error::at(parent, "cannot create"))?;
                }
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(Error::at(&target, "cannot create"))?;
                std::io::copy(&mut entry, &mut out).map_err(Error::at(&target, "cannot write"))?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                left_out.push((entry_path(asked, &name), "a symbolic link, not followed"));
            }
            _ => left_out.push((entry_path(asked, &name), "a special file")),
        }
    }
    Ok(left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        builder
            .append_data(&mut dir.clone(), "salary/", std::io::empty())
            .unwrap();
        builder
            .append_data(&mut dir, "salary/pins/", std::io::empty())
            .unwrap();
        let mut file = tar::Header::new_gnu();
        file.set_size(4);
        file.set_mode(0o644);
        file.set_mtime(1_700_000_000);
        builder
            .append_data(&mut file, "salary/model.json", &b"{}\n\n"[..])
            .unwrap();
        let mut big = tar::Header::new_gnu();
        big.set_size(10);
        big.set_mode(0o644);
        builder
            .append_data(&mut big, "salary/big.bin", &[7u8; 10][..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "salary/pins/x", "/etc/passwd")
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_fetched_folder_keeps_kinds_sizes_times_and_small_files_bytes() {
        let tree = parse_tree(
            tar::Archive::new(archive().as_slice()),
            Path::new("/storage/salary"),
            8,
        )
        .unwrap();
        let node = |p: &str| {
            tree.nodes
                .get(Path::new(p))
                .unwrap_or_else(|| panic!("{p}: {tree:?}"))
        };
        assert_eq!(node("/storage/salary").kind, NodeKind::Folder);
        let model = node("/storage/salary/model.json");
        assert_eq!((model.kind, model.bytes), (NodeKind::File, 4));
        assert_eq!(model.data.as_deref(), Some(&b"{}\n\n"[..]));
        assert_eq!(
            model.modified,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(
            node("/storage/salary/big.bin").data,
            Some(vec![7u8; 8]),
            "its start"
        );
        let link = node("/storage/salary/pins/x");
        assert_eq!(link.kind, NodeKind::Link);
        assert_eq!(link.link.as_deref(), Some(Path::new("/etc/passwd")));
    }

    #[test]
    fn a_copy_out_writes_folders_and_files_and_names_links() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("salary");
        let left = extract(
            tar::Archive::new(archive().as_slice()),
            Path::new("/storage/salary"),
            &dest,
        )
        .unwrap();
        assert_eq!(std::fs::read(dest.join("model.json")).unwrap(), b"{}\n\n");
        assert!(dest.join("pins").is_dir());
        assert_eq!(
            left,
            [(
                PathBuf::from("/storage/salary/pins/x"),
                "a symbolic link, not followed"
            )]
        );
        assert!(!dest.join("pins/x").exists());
    }

    #[test]
    fn a_file_asked_for_by_name_becomes_the_destination() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut file = tar::Header::new_gnu();
        file.set_size(2);
        file.set_mode(0o644);
        builder.append_data(&mut file, "model.json", &b"{}"[..]).unwrap();
        let archive = builder.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("got.json");
        extract(
            tar::Archive::new(archive.as_slice()),
            Path::new("/storage/salary/model.json"),
            &dest,
        )
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"{}");
    }

    #[test]
    fn paths_outside_the_volume_are_refused() {
        assert!(inside(Path::new("/storage/a/b"), "/storage").is_ok());
        assert!(inside(Path::new("/etc/passwd"), "/storage").is_err());
        assert!(inside(Path::new("/storage/../etc"), "/storage").is_err());
    }
}
