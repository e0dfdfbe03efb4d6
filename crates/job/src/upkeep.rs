//! `mlbench empty-folder`: what mlbench's upkeep runs in a short-lived helper container, as root,
//! to remove files a job left that the user who runs mlbench may not remove (a job's image ran as
//! root; the overlay's own `work/work`, mode 000). The folder itself stays, for its owner to
//! remove; links are removed, never followed.

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

fn cannot(action: &str, path: &Path, err: &std::io::Error) -> Error {
    Error::Invalid(format!("cannot {action} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
