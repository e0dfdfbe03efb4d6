//! A job's code: a copy of a folder, or a git repository checked out at a ref. The resolved
//! commit is returned so the job records exactly what ran.

use std::path::{Path, PathBuf};
use std::process::Command;

use mlbench_domain::{FromIo, Source};
use sha2::Digest;

use crate::{Error, Result};

/// The files a folder copy leaves out in every folder: gitignore syntax, read with the
/// `ignore` crate. `.dockerignore` is what users already write to keep things out of a
/// container; `.mlbenchignore` is for mlbench alone. `.gitignore` is not read: data sets are
/// often ignored by git and still needed by the job.
pub const IGNORE_FILES: [&str; 2] = [".dockerignore", ".mlbenchignore"];

/// What a folder copy must leave out, and how much it may copy.
pub struct FolderRules {
    /// Folders never copied (mlbench's own home, which may sit inside the folder).
    pub skip: Vec<PathBuf>,
    /// Above this many bytes the copy is refused (`None`: no limit).
    pub max_bytes: Option<u64>,
}

/// Puts the source's files into `dest` (which must not exist yet) and returns the commit sha
/// when the code comes from git.
pub fn prepare(source: &Source, dest: &Path, rules: &FolderRules) -> Result<Option<String>> {
    match source {
        Source::Folder { path } => {
            if path.exists() && !path.is_dir() {
                return Err(Error::Invalid(format!(
                    "repo {} is a file, not a folder: give its folder or a git URL with --repo",
                    path.display()
                )));
            }
            if !path.is_dir() {
                return Err(Error::NotFound(format!(
                    "repo folder {} does not exist: give a folder or a git URL with --repo",
                    path.display()
                )));
            }
            if is_git_dir(path) {
                return clone_at(&path.to_string_lossy(), None, dest);
            }
            copy_folder(path, dest, rules)?;
            Ok(folder_commit(path))
        }
        Source::Git { url, reference } => clone_at(url, reference.as_deref(), dest),
    }
}

/// The commit a folder inside a git checkout started from. Asking git costs a process
/// (~10 ms of a submit), so only where git could answer.
pub(crate) fn folder_commit(path: &Path) -> Option<String> {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let in_checkout =
        std::env::var_os("GIT_DIR").is_some() || absolute.ancestors().any(|dir| dir.join(".git").exists());
    in_checkout
        .then(|| git(path, &["rev-parse", "HEAD"]).ok())
        .flatten()
}

/// A git directory rather than a checkout: a bare repository, or a checkout's `.git`. Copied
/// as a folder, a job would see git's own files; it is cloned instead.
fn is_git_dir(path: &Path) -> bool {
    path.join("HEAD").is_file() && path.join("objects").is_dir() && path.join("refs").is_dir()
}

/// Clones `url` into `dest` and checks out `reference` (default: its HEAD); returns the commit.
fn clone_at(url: &str, reference: Option<&str>, dest: &Path) -> Result<Option<String>> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    git(
        parent,
        &[
            "clone",
            "--quiet",
            "--no-checkout",
            "--",
            url,
            &dest.to_string_lossy(),
        ],
    )
    .map_err(|e| Error::NotFound(format!("cannot clone {url}: {e}")))?;
    let wanted = reference.unwrap_or("HEAD");
    let sha = [wanted.to_string(), format!("origin/{wanted}")]
        .iter()
        .find_map(|r| {
            git(
                dest,
                &["rev-parse", "--verify", "--quiet", &format!("{r}^{{commit}}")],
            )
            .ok()
        })
        .ok_or_else(|| {
            Error::NotFound(format!(
                "ref {wanted} is not in {url}: give a branch, tag or commit it has"
            ))
        })?;
    git(dest, &["checkout", "--quiet", "--detach", &sha])
        .map_err(|e| Error::Other(format!("cannot check out {wanted} of {url}: {e}")))?;
    Ok(Some(sha))
}

/// Runs git and returns its trimmed stdout, or its last stderr line as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git ({e}): install git"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        // git's first `fatal:` line names the problem; what follows is advice.
        let lines: Vec<&str> = err.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let line = lines
            .iter()
            .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
            .or(lines.last());
        Err(line
            .map_or("git failed", |l| {
                l.trim_start_matches("fatal: ").trim_start_matches("error: ")
            })
            .to_string())
    }
}

/// What a walk found: each file to copy as (source, path below the folder, its metadata), and
/// the special files (FIFOs, sockets, device nodes) left out, which a copy cannot read.
type Walked = (Vec<(PathBuf, PathBuf, std::fs::Metadata)>, Vec<PathBuf>);

/// The files of a folder to copy, as (source, path below the folder): `.git` (history is not
/// code), the skipped folders and what the ignore files name are left out; links are kept as
/// links, never followed.
fn folder_files(from: &Path, rules: &FolderRules) -> Result<Walked> {
    let skip: Vec<PathBuf> = rules.skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut walk = ignore::WalkBuilder::new(from);
    walk.standard_filters(false).follow_links(false);
    for name in IGNORE_FILES {
        walk.add_custom_ignore_filename(name);
    }
    walk.filter_entry(move |entry| {
        entry.file_name() != ".git"
            && !(entry.file_type().is_some_and(|t| t.is_dir())
                && entry.path().canonicalize().is_ok_and(|p| skip.contains(&p)))
    });
    walked_files(from, &walk)
}

/// What `walk` finds below `from`, links not followed; `from` itself left out.
fn walked_files(from: &Path, walk: &ignore::WalkBuilder) -> Result<Walked> {
    let (mut files, mut special) = (Vec::new(), Vec::new());
    for entry in walk.build() {
        let entry = entry.map_err(|e| Error::Invalid(format!("cannot read {}: {e}", from.display())))?;
        let relative = entry
            .path()
            .strip_prefix(from)
            .unwrap_or(entry.path())
            .to_path_buf();
        if relative.as_os_str().is_empty() {
            continue;
        }
        let meta = std::fs::symlink_metadata(entry.path()).map_err(Error::at(entry.path(), "cannot read"))?;
        let kind = meta.file_type();
        if kind.is_file() || kind.is_dir() || kind.is_symlink() {
            files.push((entry.path().to_path_buf(), relative, meta));
        } else {
            // Opening a FIFO to copy it would wait for a writer for good.
            special.push(relative);
        }
    }
    Ok((files, special))
}

/// Copies a folder by [`folder_files`], after checking its size against the limit.
fn copy_folder(from: &Path, to: &Path, rules: &FolderRules) -> Result<()> {
    let (files, _) = folder_files(from, rules)?;
    check_size(from, &files, rules)?;
    copy_files(files, to)
}

fn check_size(
    from: &Path,
    files: &[(PathBuf, PathBuf, std::fs::Metadata)],
    rules: &FolderRules,
) -> Result<()> {
    let bytes: u64 = files.iter().filter(|f| f.2.is_file()).map(|f| f.2.len()).sum();
    if let Some(max) = rules.max_bytes.filter(|max| bytes > *max) {
        return Err(Error::field(
            "repo",
            Error::Invalid(format!(
                "repo folder {} holds {} to copy, over the {} limit: is it the right folder? Leave files out with .mlbenchignore, or pass --force",
                from.display(),
                mlbench_domain::machine::format_bytes(bytes),
                mlbench_domain::machine::format_bytes(max)
            )),
        ));
    }
    Ok(())
}

fn copy_files(files: Vec<(PathBuf, PathBuf, std::fs::Metadata)>, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
    for (src, relative, meta) in files {
        let dst = to.join(relative);
        if meta.is_dir() {
            std::fs::create_dir_all(&dst).map_err(Error::at(&dst, "cannot create"))?;
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&src).map_err(Error::at(&src, "cannot read link"))?;
            std::os::unix::fs::symlink(target, &dst).map_err(Error::at(&dst, "cannot create link"))?;
        } else {
            std::fs::copy(&src, &dst).map_err(Error::at(&src, "cannot copy"))?;
        }
    }
    Ok(())
}

/// Copies every file of `from` (a snapshot: `.git` and dotfiles included, links as links)
/// into `to`, which must not exist yet.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut walk = ignore::WalkBuilder::new(from);
    walk.standard_filters(false).follow_links(false);
    let (files, _) = walked_files(from, &walk)?;
    copy_files(files, to)
}

/// What names a plain folder's contents without reading them: a hash of each file's path,
/// type, mode, size, modification and change times, device and inode (and a link's target),
/// after the ignore rules and the size limit. It is git's own test for an unchanged file: any
/// write to a file moves its change time, which no tool can set back. `None` for a source
/// that is not a plain folder (git: its commit names it). With it, the special files the copy
/// leaves out.
pub(crate) fn folder_identity(
    source: &Source,
    rules: &FolderRules,
) -> Result<Option<(String, Vec<PathBuf>)>> {
    use std::os::unix::fs::MetadataExt;
    let Source::Folder { path } = source else {
        return Ok(None);
    };
    if !path.is_dir() || is_git_dir(path) {
        return Ok(None);
    }
    let (mut files, special) = folder_files(path, rules)?;
    check_size(path, &files, rules)?;
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut hash = sha2::Sha256::new();
    for (src, relative, meta) in &files {
        hash.update(relative.as_os_str().as_encoded_bytes());
        let stat = [
            u64::from(meta.mode()),
            meta.size(),
            meta.mtime() as u64,
            meta.mtime_nsec() as u64,
            meta.ctime() as u64,
            meta.ctime_nsec() as u64,
            meta.dev(),
            meta.ino(),
        ];
        for value in stat {
            hash.update(value.to_le_bytes());
        }
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).map_err(Error::at(src, "cannot read link"))?;
            hash.update(target.as_os_str().as_encoded_bytes());
        }
        hash.update([0]);
    }
    let identity = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some((identity, special)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_rules() -> FolderRules {
        FolderRules {
            skip: Vec::new(),
            max_bytes: None,
        }
    }

    fn sh(dir: &Path, script: &str) {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }

    #[test]
    fn a_folder_in_a_checkout_records_its_commit_and_a_plain_folder_none() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("train")).unwrap();
        sh(
            &repo,
            "git init -q && git config user.email t@t && git config user.name t && \
             echo one > train/f && git add train && git commit -qm one",
        );
        let sha = prepare(
            &Source::Folder {
                path: repo.join("train"),
            },
            &dir.path().join("w1"),
            &open_rules(),
        )
        .unwrap();
        assert_eq!(sha, Some(git(&repo, &["rev-parse", "HEAD"]).unwrap()));
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let sha = prepare(
            &Source::Folder { path: plain },
            &dir.path().join("w2"),
            &open_rules(),
        )
        .unwrap();
        assert_eq!(sha, None);
    }

    #[test]
    fn git_source_is_checked_out_at_its_tag() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        sh(
            &repo,
            "git init -q && git config user.email t@t && git config user.name t && \
             echo one > f && git add f && git commit -qm one && git tag v1 && \
             echo two > f && git commit -qam two",
        );
        let url = format!("file://{}", repo.display());
        let sha = prepare(
            &Source::Git {
                url: url.clone(),
                reference: Some("v1".into()),
            },
            &dir.path().join("w1"),
            &open_rules(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("w1/f")).unwrap(), "one\n");
        assert_eq!(sha, git(&repo, &["rev-parse", "v1"]).unwrap());
        let err = prepare(
            &Source::Git {
                url,
                reference: Some("v9".into()),
            },
            &dir.path().join("w2"),
            &open_rules(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("ref v9 is not in file://"), "{err}");
        let err = prepare(
            &Source::Git {
                url: "file:///nope".into(),
                reference: None,
            },
            &dir.path().join("w3"),
            &open_rules(),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("cannot clone file:///nope"), "{err}");
    }

    #[test]
    fn a_bare_repository_or_a_git_dir_is_checked_out_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        sh(
            &repo,
            "git init -q && git config user.email t@t && git config user.name t && \
             echo one > f && git add f && git commit -qm one && git clone -q --bare . ../bare.git",
        );
        for (n, git_dir) in [dir.path().join("bare.git"), repo.join(".git")]
            .iter()
            .enumerate()
        {
            let dest = dir.path().join(format!("w{n}"));
            let sha = prepare(
                &Source::Folder {
                    path: git_dir.clone(),
                },
                &dest,
                &open_rules(),
            )
            .unwrap();
            assert_eq!(sha.map(|s| s.len()), Some(40));
            assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "one\n");
            assert!(
                !dest.join("HEAD").exists() && !dest.join("objects").exists(),
                "git's files were copied"
            );
        }
    }

    #[test]
    fn folder_source_is_copied_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("data/.git")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::write(src.join("data/sal.csv"), "x,y\n").unwrap();
        assert_eq!(
            prepare(
                &Source::Folder { path: src.clone() },
                &dir.path().join("w"),
                &open_rules()
            )
            .unwrap(),
            None
        );
        assert!(dir.path().join("w/data/sal.csv").exists());
        assert!(!dir.path().join("w/.git").exists());
        let err = prepare(
            &Source::Folder {
                path: dir.path().join("missing"),
            },
            &dir.path().join("w2"),
            &open_rules(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    /// Regression: `--repo .` from a folder holding the mlbench home copied the home into
    /// itself; a folder far too big (a home folder) was copied whole.
    #[test]
    fn a_folder_copy_skips_the_home_and_ignored_files_and_refuses_a_huge_folder() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let home = src.join("home");
        std::fs::create_dir_all(home.join("staging")).unwrap();
        std::fs::create_dir_all(src.join("data")).unwrap();
        std::fs::write(home.join("mlbench.db"), "db").unwrap();
        std::fs::write(src.join("data/sal.csv"), "x,y\n").unwrap();
        std::fs::write(src.join("secret.env"), "TOKEN=x").unwrap();
        std::fs::write(src.join("big.bin"), vec![0u8; 4096]).unwrap();
        std::fs::write(src.join(".mlbenchignore"), "*.env\n").unwrap();
        let rules = FolderRules {
            skip: vec![home.clone()],
            max_bytes: Some(8192),
        };
        prepare(
            &Source::Folder { path: src.clone() },
            &dir.path().join("w"),
            &rules,
        )
        .unwrap();
        let w = dir.path().join("w");
        assert!(w.join("data/sal.csv").exists() && w.join("big.bin").exists());
        assert!(!w.join("home").exists(), "the home was copied");
        assert!(!w.join("secret.env").exists(), "an ignored file was copied");
        let small = FolderRules {
            skip: vec![home],
            max_bytes: Some(1024),
        };
        let err = prepare(&Source::Folder { path: src }, &dir.path().join("w2"), &small).unwrap_err();
        assert_eq!(err.field_name(), Some("repo"));
        assert!(
            err.to_string().contains("limit: is it the right folder?"),
            "{err}"
        );
        assert!(!dir.path().join("w2").exists(), "a refused copy left files");
    }
}
