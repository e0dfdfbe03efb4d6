//! Wakes a log's reader as soon as its file changes (inotify), so that a follower shows a new
//! line at once instead of at its next look. Where inotify cannot be had, the reader's own
//! timer is all there is.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub struct LogWatch {
    events: Option<AsyncFd<File>>,
}

impl LogWatch {
    /// Watches the folder that holds `log`, so a log that does not exist yet is seen too. Must
    /// be made inside the tokio runtime.
    pub fn new(log: &Path) -> LogWatch {
        LogWatch {
            events: log.parent().and_then(watch_folder),
        }
    }

    /// Returns when a file in the folder was written or made, or once `timeout` has passed.
    pub fn changed_or<'a>(&'a mut self, timeout: Duration) -> LocalBoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(events) = &self.events else {
                return tokio::time::sleep(timeout).await;
            };
            let _ = tokio::time::timeout(timeout, async {
                loop {
                    let Ok(mut ready) = events.readable().await else {
                        return std::future::pending::<()>().await;
                    };
                    // Read every waiting event: which file changed does not matter, only that one did.
                    let mut drained = [0u8; 4096];
                    let mut changed = false;
                    let mut inotify = events.get_ref();
                    while matches!(inotify.read(&mut drained), Ok(n) if n > 0) {
                        changed = true;
                    }
                    ready.clear_ready();
                    if changed {
                        return;
                    }
                }
            })
            .await;
        })
    }
}

fn watch_folder(folder: &Path) -> Option<AsyncFd<File>> {
    let folder = CString::new(folder.as_os_str().as_bytes()).ok()?;
    // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
    #[allow(unsafe_code)] // libc is the only way to inotify here
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just returned by inotify_init1 and nothing else owns it.
    #[allow(unsafe_code)] // taking ownership of the new descriptor
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fd is open (owned above) and `folder` is a NUL-terminated path that outlives the call.
    #[allow(unsafe_code)] // libc is the only way to inotify here
    let added = unsafe { libc::inotify_add_watch(fd, folder.as_ptr(), libc::IN_MODIFY | libc::IN_CREATE) };
    if added < 0 {
        return None;
    }
    // SAFETY: the File owns the descriptor, which stays open and the same for as long as the
    // AsyncFd holds the File.
    #[allow(unsafe_code)] // tokio's registration of a descriptor is unsafe
    let events = unsafe { AsyncFd::register_with_interest(File::from(owned), Interest::READABLE) };
    events.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_wakes_the_watch_before_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("output.log");
        let mut watch = LogWatch::new(&log);
        let writer = {
            let log = log.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                std::fs::write(&log, "line\n").unwrap();
            })
        };
        let started = std::time::Instant::now();
        watch.changed_or(Duration::from_secs(20)).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the write did not wake it"
        );
        writer.await.unwrap();
        // Nothing more happens: the timeout ends the wait.
        let started = std::time::Instant::now();
        watch.changed_or(Duration::from_millis(100)).await;
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
