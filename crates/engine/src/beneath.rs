//! Reading and writing, from the host, inside a folder a job could write: a project's /storage
//! or a job's workspace. A job may plant symbolic links, FIFOs or device nodes there, and swap a
//! file for a link between a check and a use; so every path is walked one component at a time
//! from a handle on the root, each opened with `O_NOFOLLOW` relative to the one before. A link
//! anywhere on the way is refused, whatever it points at. Only regular files are read, up to a
//! cap; files are replaced through a temporary made with `O_EXCL` beside them and renamed in the
//! same folder handle. Nothing is checked by name and then used by name.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use mlbench_domain::FromIo;
use mlbench_domain::numfmt::human_bytes;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::{Error, Result};

/// A folder a job could write, opened once; every path under it is reached from this handle.
pub(crate) struct Beneath {
    root: OwnedFd,
    root_path: PathBuf,
    /// What the folder is to the user: "the /storage of project p".
    place: String,
}

/// What is at a path, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Folder,
    Link,
    /// A FIFO, socket or device node: never opened.
    Special(&'static str),
}

/// A path's kind, size and time, as `lstat` gives them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) kind: Kind,
    pub(crate) bytes: u64,
    pub(crate) modified: Option<SystemTime>,
}

/// How much of a kind of file mlbench reads: a file above its cap is refused, not read in part.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cap {
    pub(crate) bytes: u64,
    /// What the file was being read as, for the refusal: "a model file".
    pub(crate) what: &'static str,
}

impl Beneath {
    /// Opens `root` (mlbench's own folder, so a link to it is followed); `place` names it in
    /// refusals.
    pub(crate) fn open(root: &Path, place: impl Into<String>) -> Result<Beneath> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT => Error::NotFound(format!("{}: no such folder", root.display())),
            e => io_error(root, "cannot open", e),
        })?;
        Ok(Beneath {
            root: fd,
            root_path: root.to_path_buf(),
            place: place.into(),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root_path
    }

    /// The components of `path` below the root: a host path under it, or a relative one.
    fn parts<'p>(&self, path: &'p Path) -> Result<Vec<&'p OsStr>> {
        let relative = path.strip_prefix(&self.root_path).unwrap_or(path);
        if relative.is_absolute() {
            return Err(Error::Invalid(format!(
                "{} is not in {}",
                path.display(),
                self.place
            )));
        }
        relative
            .components()
            .filter(|c| *c != Component::CurDir)
            .map(|c| match c {
                Component::Normal(part) => Ok(part),
                _ => Err(Error::Invalid(format!(
                    "{} leaves {} (..): give a path inside it",
                    path.display(),
                    self.place
                ))),
            })
            .collect()
    }

    /// The refusal for a link found at `path`.
    pub(crate) fn link_refused(&self, path: &Path) -> Error {
        Error::Invalid(format!(
            "{} is a symbolic link (a job can plant them): mlbench does not follow links in {}",
            path.display(),
            self.place
        ))
    }

    /// Opens the folder made of `parts` with no link on the way; `create` makes missing ones.
    fn folder(&self, path: &Path, parts: &[&OsStr], create: bool) -> Result<OwnedFd> {
        let mut fd = rustix::io::dup(&self.root).map_err(|e| io_error(&self.root_path, "cannot open", e))?;
        let mut reached = self.root_path.clone();
        for part in parts {
            reached.push(part);
            if create {
                match rustix::fs::mkdirat(&fd, *part, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_error(&reached, "cannot create", e)),
                }
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            fd = match rustix::fs::openat(&fd, *part, flags, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::LOOP) => return Err(self.link_refused(&reached)),
                Err(Errno::NOTDIR) => {
                    return Err(match self.found_in(&fd, part)? {
                        Some(Found { kind: Kind::Link, .. }) => self.link_refused(&reached),
                        _ => Error::Invalid(format!("{} is not a folder", reached.display())),
                    });
                }
                Err(Errno::NOENT) => return Err(not_found(path, &self.place)),
                Err(e) => return Err(io_error(&reached, "cannot open", e)),
            };
        }
        Ok(fd)
    }

    /// The folder holding `path` and the last part of its name (none: `path` is the root).
    fn parent<'p>(&self, path: &'p Path, create: bool) -> Result<(OwnedFd, Option<&'p OsStr>)> {
        let parts = self.parts(path)?;
        match parts.split_last() {
            Some((last, before)) => Ok((self.folder(path, before, create)?, Some(*last))),
            None => Ok((self.folder(path, &[], false)?, None)),
        }
    }

    fn found_in(&self, dir: &OwnedFd, name: &OsStr) -> Result<Option<Found>> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(found(&stat))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io_error(&self.root_path.join(name), "cannot read", e)),
        }
    }

    /// What is at `path` (none when nothing is), links not followed.
    pub(crate) fn find(&self, path: &Path) -> Result<Option<Found>> {
        let (dir, name) = match self.parent(path, false) {
            Ok(found) => found,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        match name {
            Some(name) => self.found_in(&dir, name),
            None => rustix::fs::fstat(&dir)
                .map(|stat| Some(found(&stat)))
                .map_err(|e| io_error(path, "cannot read", e)),
        }
    }

    /// Opens the regular file at `path` for reading, refusing links, special files and files
    /// above `cap`; returns it with its size.
    pub(crate) fn open_file(&self, path: &Path, cap: Cap) -> Result<(File, u64)> {
        let (dir, name) = self.parent(path, false)?;
        let Some(name) = name else {
            return Err(Error::Invalid(format!("{} is a folder", path.display())));
        };
        match self.found_in(&dir, name)? {
            None => return Err(not_found(path, &self.place)),
            Some(found) => self.readable(path, found, cap)?,
        }
        // Non-blocking, so that a FIFO swapped in after the check cannot hold the open.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => return Err(self.link_refused(path)),
            Err(Errno::NOENT) => return Err(not_found(path, &self.place)),
            Err(e) => return Err(io_error(path, "cannot read", e)),
        };
        // What was opened is checked again: the name may have been swapped since the check.
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_error(path, "cannot read", e))?;
        let opened = found(&stat);
        self.readable(path, opened, cap)?;
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| io_error(path, "cannot read", e))?;
        Ok((File::from(fd), opened.bytes))
    }

    /// Refuses what mlbench does not read as a file at `path`.
    fn readable(&self, path: &Path, found: Found, cap: Cap) -> Result<()> {
        match found.kind {
            Kind::File if found.bytes > cap.bytes => Err(Error::Invalid(format!(
                "{} is {}, more than the {} mlbench reads of {}: it is refused",
                path.display(),
                human_bytes(found.bytes),
                human_bytes(cap.bytes),
                cap.what
            ))),
            Kind::File => Ok(()),
            Kind::Folder => Err(Error::Invalid(format!("{} is a folder", path.display()))),
            Kind::Link => Err(self.link_refused(path)),
            Kind::Special(what) => Err(Error::Invalid(format!(
                "{} is {what}, not a regular file: mlbench reads only regular files in {}",
                path.display(),
                self.place
            ))),
        }
    }

    /// The whole of the regular file at `path`, refused above `cap`.
    pub(crate) fn read(&self, path: &Path, cap: Cap) -> Result<Vec<u8>> {
        let (file, bytes) = self.open_file(path, cap)?;
        let mut content = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
        // The file may grow after the check: never more than the cap.
        file.take(cap.bytes)
            .read_to_end(&mut content)
            .map_err(Error::at(path, "cannot read"))?;
        Ok(content)
    }

    /// The entries of the folder at `path`, with what each is (links not followed), by name.
    pub(crate) fn list(&self, path: &Path) -> Result<Vec<(OsString, Found)>> {
        let parts = self.parts(path)?;
        let dir = self.folder(path, &parts, false)?;
        let entries = rustix::fs::Dir::read_from(&dir).map_err(|e| io_error(path, "cannot read", e))?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(path, "cannot read", e))?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            // An entry removed since the listing is not listed.
            if let Some(found) = self.found_in(&dir, name)? {
                listed.push((name.to_os_string(), found));
            }
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(listed)
    }

    /// Where the link at `path` points (it is never followed).
    pub(crate) fn link_target(&self, path: &Path) -> Result<PathBuf> {
        let (dir, name) = self.parent(path, false)?;
        let name = name.ok_or_else(|| Error::Invalid(format!("{} is a folder", path.display())))?;
        let target =
            rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(|e| io_error(path, "cannot read", e))?;
        Ok(PathBuf::from(OsStr::from_bytes(target.as_bytes())))
    }

    /// Replaces the file at `path` with `content` as a whole: written to a new temporary file
    /// beside it (created exclusively, so a planted name is never written through) and renamed
    /// over it in the same folder handle. Missing folders on the way are made.
    pub(crate) fn write(&self, path: &Path, content: &[u8]) -> Result<()> {
        use std::io::Write;
        let (dir, name) = self.parent(path, true)?;
        let name = name.ok_or_else(|| Error::Invalid(format!("{} is a folder", path.display())))?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut attempt = 0u32;
        let (temp, fd) = loop {
            let mut temp = OsString::from(".");
            temp.push(name);
            temp.push(format!(".{}.{attempt}.tmp", std::process::id()));
            match rustix::fs::openat(&dir, &temp, flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => break (temp, fd),
                // Left by a crash, or planted: another name.
                Err(Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => return Err(io_error(path, "cannot write", e)),
            }
        };
        let written = File::from(fd)
            .write_all(content)
            .map_err(Error::at(path, "cannot write"))
            .and_then(|()| {
                rustix::fs::renameat(&dir, &temp, &dir, name).map_err(|e| io_error(path, "cannot replace", e))
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&dir, &temp, AtFlags::empty());
        }
        written
    }

    /// Removes the file (or link) at `path`; nothing there is fine. A link is removed itself.
    pub(crate) fn remove(&self, path: &Path) -> Result<()> {
        let (dir, name) = match self.parent(path, false) {
            Ok(found) => found,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let name = name.ok_or_else(|| Error::Invalid(format!("{} is a folder", path.display())))?;
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_error(path, "cannot remove", e)),
        }
    }
}

fn found(stat: &rustix::fs::Stat) -> Found {
    let kind = match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Folder,
        FileType::Symlink => Kind::Link,
        FileType::Fifo => Kind::Special("a FIFO"),
        FileType::Socket => Kind::Special("a socket"),
        FileType::CharacterDevice => Kind::Special("a character device"),
        FileType::BlockDevice => Kind::Special("a block device"),
        FileType::Unknown => Kind::Special("a file of an unknown type"),
    };
    let modified = u64::try_from(stat.st_mtime)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::new(s, u32::try_from(stat.st_mtime_nsec).unwrap_or(0)));
    Found {
        kind,
        bytes: u64::try_from(stat.st_size).unwrap_or(0),
        modified,
    }
}

fn not_found(path: &Path, place: &str) -> Error {
    Error::NotFound(format!("{} is not in {place}", path.display()))
}

fn io_error(path: &Path, doing: &str, errno: Errno) -> Error {
    Error::at(path, doing)(std::io::Error::from(errno))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const CAP: Cap = Cap {
        bytes: 1 << 20,
        what: "a test file",
    };

    fn folder() -> (tempfile::TempDir, Beneath) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let beneath = Beneath::open(&dir.path().join("root"), "the test folder").unwrap();
        (dir, beneath)
    }

    #[test]
    fn a_link_anywhere_on_the_way_is_refused_and_never_written_through() {
        let (dir, beneath) = folder();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), "host file").unwrap();
        symlink(&outside, root.join("pins")).unwrap();
        symlink(outside.join("secret"), root.join("leak")).unwrap();

        for path in [root.join("pins/secret"), root.join("leak")] {
            let read = beneath.read(&path, CAP).unwrap_err().to_string();
            assert!(read.contains("is a symbolic link"), "{read}");
        }
        let write = beneath
            .write(&root.join("pins/secret"), b"x")
            .unwrap_err()
            .to_string();
        assert!(write.contains("is a symbolic link"), "{write}");
        beneath.remove(&root.join("pins/secret")).unwrap_err();
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "host file"
        );

        // A link at the name itself is replaced, not written through.
        beneath.write(&root.join("leak"), b"mine").unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "host file"
        );
        assert_eq!(std::fs::read_to_string(root.join("leak")).unwrap(), "mine");
        // A planted temporary name is stepped over.
        symlink(
            outside.join("secret"),
            root.join(format!(".f.{}.0.tmp", std::process::id())),
        )
        .unwrap();
        beneath.write(&root.join("f"), b"new").unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "host file"
        );
        assert_eq!(beneath.read(&root.join("f"), CAP).unwrap(), b"new");
        // Removing a link removes the link.
        beneath.remove(&root.join("pins")).unwrap();
        assert!(outside.join("secret").exists());
        let up = beneath.read(Path::new("../outside/secret"), CAP).unwrap_err();
        assert!(up.to_string().contains("leaves the test folder"), "{up}");
    }

    #[test]
    fn only_regular_files_under_their_cap_are_read() {
        let (dir, beneath) = folder();
        let root = dir.path().join("root");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let fifo = beneath.read(&root.join("fifo"), CAP).unwrap_err().to_string();
        assert!(fifo.contains("is a FIFO, not a regular file"), "{fifo}");
        std::fs::write(root.join("big"), vec![b'a'; 2 << 20]).unwrap();
        let big = beneath.read(&root.join("big"), CAP).unwrap_err().to_string();
        assert!(
            big.contains("more than the 1.0 MiB mlbench reads of a test file"),
            "{big}"
        );
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a"), "a").unwrap();
        let names: Vec<_> = beneath
            .list(&root)
            .unwrap()
            .into_iter()
            .map(|(n, f)| (n, f.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("big".into(), Kind::File),
                ("fifo".into(), Kind::Special("a FIFO")),
                ("sub".into(), Kind::Folder)
            ]
        );
        assert!(matches!(
            beneath.read(&root.join("nothing"), CAP),
            Err(Error::NotFound(_))
        ));
        assert!(beneath.find(&root.join("nothing/deeper")).unwrap().is_none());
    }
}
