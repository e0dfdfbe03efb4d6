//! A job's code: a copy of a folder, or a git repository checked out at a ref. The resolved
//! commit is returned so the job records exactly what ran.

use std::path::Path;
use std::process::Command;

use crate::domain::Source;
use crate::{Error, Result};

/// Puts the source's files into `dest` (which must not exist yet) and returns the commit sha
/// when the code comes from git.
pub fn prepare(source: &Source, dest: &Path) -> Result<Option<String>> {
    match source {
        Source::Folder { path } => {
            if !path.is_dir() {
                return Err(Error::NotFound(format!(
                    "repo folder {} does not exist: give a folder or a git URL with --repo",
                    path.display()
                )));
            }
            copy_tree(path, dest)?;
            // A folder that is a git checkout still tells which commit its files started from.
            Ok(git(path, &["rev-parse", "HEAD"]).ok())
        }
        Source::Git { url, reference } => {
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
            let wanted = reference.as_deref().unwrap_or("HEAD");
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
    }
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

/// Copies a folder, keeping symlinks as links and leaving out `.git` (history is not code).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::at(to, "cannot create"))?;
    for entry in std::fs::read_dir(from).map_err(Error::at(from, "cannot read"))? {
        let entry = entry.map_err(Error::at(from, "cannot read"))?;
        if entry.file_name() == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(Error::at(&src, "cannot read"))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(Error::at(&src, "cannot read link"))?;
            std::os::unix::fs::symlink(target, &dst).map_err(Error::at(&dst, "cannot create link"))?;
        } else {
            std::fs::copy(&src, &dst).map_err(Error::at(&src, "cannot copy"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("ref v9 is not in file://"), "{err}");
        let err = prepare(
            &Source::Git {
                url: "file:///nope".into(),
                reference: None,
            },
            &dir.path().join("w3"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("cannot clone file:///nope"), "{err}");
    }

    #[test]
    fn folder_source_is_copied_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("data/.git")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::write(src.join("data/sal.csv"), "x,y\n").unwrap();
        assert_eq!(
            prepare(&Source::Folder { path: src.clone() }, &dir.path().join("w")).unwrap(),
            None
        );
        assert!(dir.path().join("w/data/sal.csv").exists());
        assert!(!dir.path().join("w/.git").exists());
        let err = prepare(
            &Source::Folder {
                path: dir.path().join("missing"),
            },
            &dir.path().join("w2"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
