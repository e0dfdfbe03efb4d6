//! A remote engine's files. It sees none of this machine's files, so what a job there needs
//! reaches it through the Engine API and lives in its volumes:
//!
//! - the job's code: a volume per snapshot, uploaded once per content and engine through the
//!   archive API of a helper that is never started, and shared read-only by every job of that
//!   code (its files under `tree/`; an empty volume beside it says all of it is there); each
//!   job writes in a layer of its own (`<job>/upper` and `<job>/work` in the home's layers
//!   volume, made through a never-started helper that is kept), the two mounted as an overlay
//!   at /workspace, as the local engine does with folders; gc removes ended jobs' layers;
//! - a project's /storage: a volume, given to the user whose jobs write there when it is made;
//! - images: a user's image that only the local engine has is copied there (save, then load).
//!
//! Volumes carry the home's label, and their names the home's label too, so homes sharing an
//! engine never see each other's.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use bollard::models::VolumeCreateRequest;
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use mlbench_domain::FromIo;

use crate::docker::is_not_found;
use crate::{DockerRuntime, Error, Result};

/// Where a code volume's files are, inside it.
pub(crate) const CODE_TREE: &str = "tree";

/// Where the layers helper mounts the layers volume.
const LAYERS_MOUNT: &str = "/layers";

/// The volume made once all of the code volume `volume` was sent: an empty volume, so that a
/// job of code sent earlier is known to find all of it with a question to the engine.
fn sent_marker(volume: &str) -> String {
    format!("{volume}.sent")
}

/// The volumes of one home on an engine, by what they hold.
#[derive(Debug, Clone)]
pub struct VolumeNames {
    home: String,
}

impl VolumeNames {
    /// The volumes of the home labelled `home`.
    pub fn of_home(home: &str) -> VolumeNames {
        VolumeNames {
            home: home.to_string(),
        }
    }

    /// What the volume called `name` holds, if it is one of this home's.
    pub fn kind_of<'n>(&self, name: &'n str) -> Option<VolumeKind<'n>> {
        let rest = name.strip_prefix(&format!("mlbench-{}-", self.home))?;
        if let Some(key) = rest.strip_prefix("code-") {
            return Some(VolumeKind::Code(key.strip_suffix(".sent").unwrap_or(key)));
        }
        if rest == "layers" {
            return Some(VolumeKind::Layers);
        }
        rest.strip_prefix("storage-").map(VolumeKind::Storage)
    }

    /// The code snapshot called `key`.
    pub fn code(&self, key: &str) -> String {
        format!("mlbench-{}-code-{key}", self.home)
    }

    /// The writable layers of the home's jobs on the engine, one folder each (`<job>/upper`,
    /// `<job>/work`).
    pub fn layers(&self) -> String {
        format!("mlbench-{}-layers", self.home)
    }

    /// The never-started helper, kept, through which jobs' layers are made.
    pub fn layers_helper(&self) -> String {
        format!("mlbench-{}-layers-helper", self.home)
    }

    /// The /storage of `project`.
    pub fn storage(&self, project: &str) -> String {
        format!("mlbench-{}-storage-{project}", self.home)
    }
}

/// What one of a home's volumes holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind<'n> {
    /// The code snapshot of this key.
    Code(&'n str),
    /// The writable layers of the home's jobs.
    Layers,
    /// The /storage of this project.
    Storage(&'n str),
}

/// How a remote job's code got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSent {
    /// An earlier job of the same code sent it.
    AlreadyThere,
    /// Sent now: this many bytes of tar.
    Sent(u64),
}

impl DockerRuntime {
    async fn volume_exists(&self, volume: &str) -> Result<bool> {
        match self.docker.inspect_volume(volume).await {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Makes `volume` unless it exists; true when it was made now.
    async fn ensure_volume(&self, volume: &str, labels: &HashMap<String, String>) -> Result<bool> {
        match self.docker.inspect_volume(volume).await {
            Ok(_) => return Ok(false),
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err.into()),
        }
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.to_string()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await?;
        Ok(true)
    }

    /// Where `volume`'s files are on the engine's machine: what an overlay names.
    pub(crate) async fn volume_path(&self, volume: &str) -> Result<String> {
        let found = self.docker.inspect_volume(volume).await?;
        Ok(found.mountpoint)
    }

    /// Sends the snapshot folder `snapshot` into the code volume `volume`, unless an earlier job
    /// sent it whole; files go as `owner` (`(uid, gid)`), readable by every user.
    pub fn ensure_code<'a>(
        &'a self,
        volume: &'a str,
        snapshot: &'a Path,
        owner: (u32, u32),
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<CodeSent>> {
        Box::pin(async move {
            // Two questions to the engine, not a helper: a job of code already sent starts at
            // once.
            let marker = sent_marker(volume);
            if self.volume_exists(volume).await? && self.volume_exists(&marker).await? {
                return Ok(CodeSent::AlreadyThere);
            }
            self.ensure_volume(volume, labels).await?;
            let helper = self.files_helper(&[(volume, "/code", false)], labels).await?;
            let (body, sent_bytes) = tar_stream(snapshot.to_path_buf(), owner);
            let sent = helper.put_stream("/code", body).await;
            helper.remove().await;
            sent?;
            self.ensure_volume(&marker, labels).await?;
            Ok(CodeSent::Sent(
                sent_bytes.load(std::sync::atomic::Ordering::Relaxed),
            ))
        })
    }

    /// Makes job `volume`'s writable layer: `upper/` and `work/`, the user's.
    pub fn make_layer<'a>(
        &'a self,
        names: &'a VolumeNames,
        job: i64,
        owner: (u32, u32),
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let volume = names.layers();
            self.ensure_volume(&volume, labels).await?;
            let helper = self
                .lasting_files_helper(&names.layers_helper(), &volume, LAYERS_MOUNT, labels)
                .await?;
            let mut dirs = tar::Builder::new(Vec::new());
            for dir in [String::new(), "/upper".into(), "/work".into()] {
                append_dir(&mut dirs, &format!("{job}{dir}"), owner)?;
            }
            helper.put(LAYERS_MOUNT, finish(dirs)?).await
        })
    }

    /// Removes the layers of the ended jobs `ended` from the layers volume, as root from a
    /// started helper (an ended job's overlay leaves root's files there). Only ended jobs are
    /// named: a layer made meanwhile for a new job is never touched.
    pub fn remove_layers<'a>(
        &'a self,
        names: &'a VolumeNames,
        ended: &'a [i64],
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let volume = names.layers();
            if ended.is_empty() || !self.volume_exists(&volume).await? {
                return Ok(());
            }
            let mount = super::helpers::volume_mount(&volume, LAYERS_MOUNT, false);
            // A thousand at a time keeps each command line short.
            for batch in ended.chunks(1000) {
                let mut args = vec!["remove-paths".to_string()];
                args.extend(batch.iter().map(|job| format!("{LAYERS_MOUNT}/{job}")));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                self.run_helper(&args, vec![mount.clone()], labels)
                    .await
                    .map_err(|why| Error::Docker(format!("cannot remove ended jobs' layers: {why}")))?;
            }
            Ok(())
        })
    }

    /// Makes a project's storage `volume` unless it exists, given to `owner` (`UID:GID`), whose
    /// jobs write there.
    pub fn ensure_storage<'a>(
        &'a self,
        volume: &'a str,
        owner: Option<&'a str>,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.ensure_volume(volume, labels).await?
                && let Some(owner) = owner
            {
                self.own_volume(volume, owner, labels).await?;
            }
            Ok(())
        })
    }

    /// The volumes carrying all of `labels` (a home's), by name.
    pub fn volumes_labelled<'a>(
        &'a self,
        labels: &'a HashMap<String, String>,
    ) -> LocalBoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let filters = HashMap::from([("label".to_string(), wanted)]);
            let options = bollard::query_parameters::ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build();
            let listed = self.docker.list_volumes(Some(options)).await?;
            let mut names: Vec<String> = listed
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name)
                .collect();
            names.sort();
            Ok(names)
        })
    }

    /// Removes `volume`; one already gone is fine.
    pub fn remove_volume<'a>(&'a self, volume: &'a str) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match self
                .docker
                .remove_volume(volume, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Err(err) if !is_not_found(&err) => Err(err.into()),
                _ => Ok(()),
            }
        })
    }

    /// Copies `image` from the engine `from` into this one (`docker save | docker load`, as a
    /// stream), telling `progress` how far it got. Returns the bytes sent.
    pub fn copy_image_from<'a>(
        &'a self,
        from: &'a DockerRuntime,
        image: &'a str,
        progress: &'a mut dyn FnMut(&str),
    ) -> LocalBoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let total = from
                .docker
                .inspect_image(image)
                .await?
                .size
                .map_or(0, |s| u64::try_from(s).unwrap_or(0));
            progress(&format!(
                "sending image {image} ({}) to engine {}",
                mlbench_domain::numfmt::human_bytes(total),
                self.engine_name()
            ));
            let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counted = sent.clone();
            let saved = from.docker.export_image(image).map(move |chunk| {
                chunk
                    .inspect(|bytes| {
                        counted.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    })
                    .map_err(std::io::Error::other)
            });
            let mut loading = self.docker.import_image_stream(
                bollard::query_parameters::ImportImageOptions::default(),
                saved,
                None,
            );
            while let Some(step) = loading.try_next().await? {
                if let Some(message) = step.error_detail.and_then(|d| d.message) {
                    return Err(Error::Docker(format!(
                        "engine {} did not load image {image}: {message}",
                        self.engine_name()
                    )));
                }
            }
            Ok(sent.load(std::sync::atomic::Ordering::Relaxed))
        })
    }
}

/// The folder `dir` as a tar under `tree/`, made on a thread of its own and sent as it is made
/// (a snapshot may be large), with the bytes made so far. Files are `owner`'s and readable by
/// every user: the job may run as another user than the files' owner.
fn tar_stream(
    dir: std::path::PathBuf,
    owner: (u32, u32),
) -> (
    impl futures_util::Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::result::Result<Bytes, std::io::Error>>(8);
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = bytes.clone();
    std::thread::spawn(move || {
        let writer = ChannelWriter {
            sender: sender.clone(),
            counted,
        };
        let mut builder = tar::Builder::new(writer);
        let made = append_tree(&mut builder, &dir, Path::new(CODE_TREE), owner)
            .and_then(|()| builder.into_inner().map(drop));
        if let Err(err) = made {
            let _ = sender.blocking_send(Err(err));
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    (stream, bytes)
}

/// Sends what a tar builder writes down a channel, in the pieces it writes them.
struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<std::result::Result<Bytes, std::io::Error>>,
    counted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.counted
            .fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.sender
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the engine stopped reading the code"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Adds the folder `dir` under the name `name`, and everything in it: folders, regular files
/// and symbolic links (kept as links); anything else is left out, as the snapshot does.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    owner: (u32, u32),
) -> std::io::Result<()> {
    append_dir(builder, &name.to_string_lossy(), owner).map_err(std::io::Error::other)?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let inner = name.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            append_tree(builder, &path, &inner, owner)?;
        } else if kind.is_symlink() {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            header.set_uid(owner.0.into());
            header.set_gid(owner.1.into());
            builder.append_link(&mut header, &inner, std::fs::read_link(&path)?)?;
        } else if kind.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let file = std::fs::File::open(&path)?;
            let meta = file.metadata()?;
            let mut header = tar::Header::new_gnu();
            header.set_size(meta.len());
            // Readable by all, executable by all where it was executable by someone.
            let executable = meta.permissions().mode() & 0o111 != 0;
            header.set_mode(if executable { 0o755 } else { 0o644 });
            header.set_uid(owner.0.into());
            header.set_gid(owner.1.into());
            header.set_mtime(
                meta.modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs()),
            );
            builder.append_data(&mut header, &inner, file)?;
        }
    }
    Ok(())
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str, owner: (u32, u32)) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_uid(owner.0.into());
    header.set_gid(owner.1.into());
    builder
        .append_data(&mut header, format!("{name}/"), std::io::empty())
        .map_err(|e| Error::io("cannot make a tar for the engine", e))
}

fn finish(builder: tar::Builder<Vec<u8>>) -> Result<Vec<u8>> {
    builder
        .into_inner()
        .map_err(|e| Error::io("cannot make a tar for the engine", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_goes_under_tree_readable_by_all_links_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/sal.csv"), "exp,salary\n1,2\n").unwrap();
        std::fs::write(dir.path().join("train.sh"), "echo hi\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("train.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::set_permissions(
            dir.path().join("data/sal.csv"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("data/sal.csv", dir.path().join("latest.csv")).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        append_tree(&mut builder, dir.path(), Path::new(CODE_TREE), (1000, 1000)).unwrap();
        let bytes = builder.into_inner().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            seen.push((
                entry.path().unwrap().display().to_string(),
                header.mode().unwrap(),
                header.uid().unwrap(),
                entry.link_name().unwrap().map(|l| l.display().to_string()),
            ));
        }
        assert_eq!(
            seen,
            [
                ("tree/".into(), 0o755, 1000, None),
                ("tree/data/".into(), 0o755, 1000, None),
                ("tree/data/sal.csv".into(), 0o644, 1000, None),
                ("tree/latest.csv".into(), 0o777, 1000, Some("data/sal.csv".into())),
                ("tree/train.sh".into(), 0o755, 1000, None),
            ]
        );
    }

    #[test]
    fn volumes_are_named_by_home_and_what_they_hold() {
        let names = VolumeNames::of_home("a2ce3e7c182d");
        assert_eq!(names.code("f00d"), "mlbench-a2ce3e7c182d-code-f00d");
        assert_eq!(names.layers(), "mlbench-a2ce3e7c182d-layers");
        assert_eq!(names.storage("salary"), "mlbench-a2ce3e7c182d-storage-salary");
        assert_eq!(names.kind_of(&names.code("f00d")), Some(VolumeKind::Code("f00d")));
        assert_eq!(
            names.kind_of(&sent_marker(&names.code("f00d"))),
            Some(VolumeKind::Code("f00d"))
        );
        assert_eq!(names.kind_of(&names.layers()), Some(VolumeKind::Layers));
        assert_eq!(names.kind_of(&names.storage("p")), Some(VolumeKind::Storage("p")));
        assert_eq!(names.kind_of("mlbench-otherhome-code-f00d"), None);
    }
}
