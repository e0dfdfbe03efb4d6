//! What mlbench runs in short-lived helper containers, as root, on an engine's files:
//! `empty-folder` removes files a job left that the user who runs mlbench may not remove (a
//! job's image ran as root; the overlay's own `work/work`, mode 000); the folder itself stays,
//! for its owner to remove, and links are removed, never followed. `own-folder` gives a new
//! volume's root to the user whose jobs write there (a remote project's /storage);
//! `remove-paths` removes a remote deployment's pin, and ended jobs' layers from a remote
//! engine's layers volume.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::{Error, Result};

#[derive(Args)]
pub struct EmptyFolderArgs {
    /// The folder whose contents go.
    pub folder: PathBuf,
}

pub(crate) fn empty_folder(args: &EmptyFolderArgs) -> Result<()> {
    let entries = std::fs::read_dir(&args.folder).map_err(|e| cannot("read", &args.folder, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| cannot("read", &args.folder, &e))?;
        let path = entry.path();
        let is_folder = entry.file_type().map_err(|e| cannot("read", &path, &e))?.is_dir();
        // remove_dir_all removes a link inside the tree, never what it points at.
        let removed = if is_folder {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| cannot("remove", &path, &e))?;
    }
    Ok(())
}

#[derive(Args)]
pub struct RemovePathsArgs {
    /// The files, links (removed themselves) or folders (with everything in them) to remove;
    /// one already gone is fine.
    pub paths: Vec<PathBuf>,
}

pub(crate) fn remove_paths(args: &RemovePathsArgs) -> Result<()> {
    for path in &args.paths {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot("read", path, &e)),
            // remove_dir_all removes a link inside the tree, never what it points at.
            Ok(meta) if meta.is_dir() => {
                std::fs::remove_dir_all(path).map_err(|e| cannot("remove", path, &e))?;
            }
            Ok(_) => std::fs::remove_file(path).map_err(|e| cannot("remove", path, &e))?,
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct OwnFolderArgs {
    /// The folder to give away.
    pub folder: PathBuf,
    /// Its new owner, as UID:GID.
    pub owner: String,
}

pub(crate) fn own_folder(args: &OwnFolderArgs) -> Result<()> {
    let bad = || Error::Invalid(format!("{:?} is not UID:GID", args.owner));
    let (uid, gid) = args.owner.split_once(':').ok_or_else(bad)?;
    let uid: u32 = uid.parse().map_err(|_| bad())?;
    let gid: u32 = gid.parse().map_err(|_| bad())?;
    std::os::unix::fs::chown(&args.folder, Some(uid), Some(gid))
        .map_err(|e| cannot("give away", &args.folder, &e))
}

fn cannot(action: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::Invalid(format!("cannot {action} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_removed_whole_links_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::create_dir_all(dir.path().join("7/upper/deep")).unwrap();
        std::fs::write(dir.path().join("pin"), "3\n").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join("7/upper/link")).unwrap();
        remove_paths(&RemovePathsArgs {
            paths: vec![
                dir.path().join("7"),
                dir.path().join("pin"),
                dir.path().join("gone"),
            ],
        })
        .unwrap();
        assert!(!dir.path().join("7").exists() && !dir.path().join("pin").exists());
        assert!(outside.is_dir());
    }

    #[test]
    fn a_folder_is_emptied_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "k").unwrap();
        let folder = dir.path().join("folder");
        std::fs::create_dir_all(folder.join("a/b")).unwrap();
        std::fs::write(folder.join("a/b/f"), "x").unwrap();
        std::fs::write(folder.join("top"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("a/link")).unwrap();
        empty_folder(&EmptyFolderArgs {
            folder: folder.clone(),
        })
        .unwrap();
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
        assert!(outside.join("keep").exists());
        let missing = empty_folder(&EmptyFolderArgs {
            folder: dir.path().join("missing"),
        });
        assert!(missing.unwrap_err().to_string().starts_with("cannot read"));
    }
}
