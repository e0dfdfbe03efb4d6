//! A project's /storage wherever its engine keeps it: a folder of this machine, reached through
//! [`Beneath`] (no link followed, regular files only), or a volume of a remote engine, of which
//! a folder is fetched into memory through the engine's archive API and written back on
//! [`StorageFiles::commit`]. The same rules hold for both: a link is refused wherever it is on
//! the way, and only regular files under their cap are read.

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use mlbench_domain::LOCAL_ENGINE;
use mlbench_domain::numfmt::human_bytes;
use mlbench_runtime::DockerRuntime;
use mlbench_runtime::remote::VolumeNames;
use mlbench_runtime::volume_files::{Node, NodeKind, Tree};

use crate::beneath::{Beneath, Cap, Found, Kind};
use crate::{Engine, Error, Result};

/// Where a remote job sees its project's storage, and so where its paths start.
pub(crate) const STORAGE_MOUNT: &str = "/storage";

pub(crate) enum StorageFiles {
    Here(Beneath),
    Fetched(Box<Fetched>),
}

/// A folder of a remote storage volume, fetched, with the writes and removals asked since.
pub(crate) struct Fetched {
    docker: DockerRuntime,
    volume: String,
    labels: std::collections::HashMap<String, String>,
    /// What was fetched: everything under it is in `tree`.
    folder: PathBuf,
    tree: Tree,
    place: String,
    writes: RefCell<Vec<(PathBuf, Vec<u8>)>>,
    removals: RefCell<Vec<PathBuf>>,
}

/// How much of each file a fetch keeps: what mlbench reads of any file in storage (model files
/// are capped lower when read).
const FETCH_CAP: u64 = 64 << 20;

impl StorageFiles {
    /// The storage of `project` on the engine called `engine_name`; for a remote engine, the
    /// folder `folder` of it (as a job sees it: `/storage/...`; none: all of it) is fetched,
    /// with its files' bytes when `read` says they will be read (a listing needs none).
    pub(crate) async fn open(
        engine: &Engine,
        project: &str,
        engine_name: &str,
        folder: Option<&Path>,
        read: bool,
    ) -> Result<StorageFiles> {
        engine.store.require_project(project)?;
        if engine_name == LOCAL_ENGINE {
            return Ok(StorageFiles::Here(crate::projects::storage::open(
                engine, project,
            )?));
        }
        let docker = crate::engines::connect(engine, engine_name).await?;
        let volume = VolumeNames::of_home(&engine.home.label()).storage(project);
        let labels = crate::home_labels(&engine.home);
        let folder = folder.map_or_else(|| PathBuf::from(STORAGE_MOUNT), Path::to_path_buf);
        let tree = docker
            .fetch_tree(
                &volume,
                STORAGE_MOUNT,
                &folder,
                if read { FETCH_CAP } else { 0 },
                &labels,
            )
            .await?;
        Ok(StorageFiles::Fetched(Box::new(Fetched {
            docker,
            volume,
            labels,
            folder,
            tree,
            place: format!("the /storage of project {project} on engine {engine_name}"),
            writes: RefCell::default(),
            removals: RefCell::default(),
        })))
    }

    /// The storage's own path: this machine's folder, or `/storage` on a remote engine.
    pub(crate) fn root(&self) -> &Path {
        match self {
            StorageFiles::Here(beneath) => beneath.root(),
            StorageFiles::Fetched(_) => Path::new(STORAGE_MOUNT),
        }
    }

    pub(crate) fn link_refused(&self, path: &Path) -> Error {
        match self {
            StorageFiles::Here(beneath) => beneath.link_refused(path),
            StorageFiles::Fetched(fetched) => Error::Invalid(format!(
                "{} is a symbolic link (a job can plant them): mlbench does not follow links in {}",
                path.display(),
                fetched.place
            )),
        }
    }

    /// What is at `path` (none when nothing is), links not followed; a link on the way is
    /// refused.
    pub(crate) fn find(&self, path: &Path) -> Result<Option<Found>> {
        match self {
            StorageFiles::Here(beneath) => beneath.find(path),
            StorageFiles::Fetched(fetched) => Ok(fetched.node(path)?.map(found)),
        }
    }

    /// The entries of the folder at `path`, by name.
    pub(crate) fn list(&self, path: &Path) -> Result<Vec<(OsString, Found)>> {
        match self {
            StorageFiles::Here(beneath) => beneath.list(path),
            StorageFiles::Fetched(fetched) => {
                match fetched.node(path)? {
                    Some(node) if node.kind == NodeKind::Folder => {}
                    Some(_) => return Err(Error::Invalid(format!("{} is not a folder", path.display()))),
                    None => {
                        return Err(Error::NotFound(format!(
                            "{} is not in {}",
                            path.display(),
                            fetched.place
                        )));
                    }
                }
                Ok(fetched
                    .tree
                    .nodes
                    .iter()
                    .filter(|(p, _)| p.parent() == Some(path))
                    .filter_map(|(p, node)| Some((p.file_name()?.to_os_string(), found(node))))
                    .collect())
            }
        }
    }

    /// The whole of the regular file at `path`, refused above `cap`.
    pub(crate) fn read(&self, path: &Path, cap: Cap) -> Result<Vec<u8>> {
        match self {
            StorageFiles::Here(beneath) => beneath.read(path, cap),
            StorageFiles::Fetched(fetched) => {
                let node = fetched.node(path)?.ok_or_else(|| {
                    Error::NotFound(format!("{} is not in {}", path.display(), fetched.place))
                })?;
                match (node.kind, &node.data) {
                    (NodeKind::File, _) if node.bytes > cap.bytes => Err(Error::Invalid(format!(
                        "{} is {}, more than the {} mlbench reads of {}: it is refused",
                        path.display(),
                        human_bytes(node.bytes),
                        human_bytes(cap.bytes),
                        cap.what
                    ))),
                    (NodeKind::File, Some(data)) if data.len() as u64 == node.bytes => Ok(data.clone()),
                    (NodeKind::File, _) => Err(Error::Other(format!(
                        "{} was listed, not fetched, from {}",
                        path.display(),
                        fetched.place
                    ))),
                    (NodeKind::Folder, _) => Err(Error::Invalid(format!("{} is a folder", path.display()))),
                    (NodeKind::Link, _) => Err(self.link_refused(path)),
                    (NodeKind::Special(what), _) => Err(Error::Invalid(format!(
                        "{} is {what}, not a regular file: mlbench reads only regular files in {}",
                        path.display(),
                        fetched.place
                    ))),
                }
            }
        }
    }

    /// Where the link at `path` points (it is never followed).
    pub(crate) fn link_target(&self, path: &Path) -> Result<PathBuf> {
        match self {
            StorageFiles::Here(beneath) => beneath.link_target(path),
            StorageFiles::Fetched(fetched) => fetched
                .tree
                .nodes
                .get(path)
                .and_then(|node| node.link.clone())
                .ok_or_else(|| Error::Invalid(format!("{} is not a link", path.display()))),
        }
    }

    /// Replaces the file at `path` with `content` as a whole (on a remote engine, at
    /// [`StorageFiles::commit`]). A link on the way, or at `path`, is refused.
    pub(crate) fn write(&self, path: &Path, content: &[u8]) -> Result<()> {
        match self {
            StorageFiles::Here(beneath) => beneath.write(path, content),
            StorageFiles::Fetched(fetched) => {
                if let Some(node) = fetched.node(path)?
                    && node.kind != NodeKind::File
                {
                    return Err(match node.kind {
                        NodeKind::Link => self.link_refused(path),
                        _ => Error::Invalid(format!("{} is not a regular file", path.display())),
                    });
                }
                fetched
                    .writes
                    .borrow_mut()
                    .push((path.to_path_buf(), content.to_vec()));
                Ok(())
            }
        }
    }

    /// Removes the file (or link) at `path` (on a remote engine, at [`StorageFiles::commit`]);
    /// nothing there is fine.
    pub(crate) fn remove(&self, path: &Path) -> Result<()> {
        match self {
            StorageFiles::Here(beneath) => beneath.remove(path),
            StorageFiles::Fetched(fetched) => {
                fetched.node(path)?;
                fetched.removals.borrow_mut().push(path.to_path_buf());
                Ok(())
            }
        }
    }

    /// Sends a remote storage the writes and removals asked for; nothing to do here.
    pub(crate) async fn commit(&self) -> Result<()> {
        let StorageFiles::Fetched(fetched) = self else {
            return Ok(());
        };
        let writes = std::mem::take(&mut *fetched.writes.borrow_mut());
        if !writes.is_empty() {
            fetched
                .docker
                .write_files(
                    &fetched.volume,
                    STORAGE_MOUNT,
                    &writes,
                    crate::invoking_ids(),
                    &fetched.labels,
                )
                .await?;
        }
        let removals = std::mem::take(&mut *fetched.removals.borrow_mut());
        if !removals.is_empty() {
            fetched
                .docker
                .remove_files(&fetched.volume, STORAGE_MOUNT, &removals, &fetched.labels)
                .await?;
        }
        Ok(())
    }
}

impl Fetched {
    /// The entry at `path`, none when nothing is; refused when a link is on the way, or when
    /// `path` is outside what was fetched.
    fn node(&self, path: &Path) -> Result<Option<&Node>> {
        if !path.starts_with(&self.folder) && !self.folder.starts_with(path) {
            return Err(Error::Other(format!(
                "{} was not fetched from {} (only {} was)",
                path.display(),
                self.place,
                self.folder.display()
            )));
        }
        for above in path.ancestors().skip(1) {
            if let Some(node) = self.tree.nodes.get(above)
                && node.kind == NodeKind::Link
            {
                return Err(Error::Invalid(format!(
                    "{} is a symbolic link (a job can plant them): mlbench does not follow links in {}",
                    above.display(),
                    self.place
                )));
            }
        }
        Ok(self.tree.nodes.get(path))
    }
}

fn found(node: &Node) -> Found {
    Found {
        kind: match node.kind {
            NodeKind::File => Kind::File,
            NodeKind::Folder => Kind::Folder,
            NodeKind::Link => Kind::Link,
            NodeKind::Special(what) => Kind::Special(what),
        },
        bytes: node.bytes,
        modified: node.modified,
    }
}
