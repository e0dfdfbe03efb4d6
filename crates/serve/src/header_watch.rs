//! The deadline for a request's headers, kept by the connection itself: from the moment the
//! connection waits for a request (it opened, or answered the one before) to the end of that
//! request's headers. A slowloris client that trickles its headers is cut off, and so is one
//! that holds a connection without sending anything, as hyper's own header timer did. That timer
//! is armed and dropped for every request, which cost `GET /sal/25` about a tenth of its
//! throughput; here the stream notes the times and one check per connection, a few times per
//! deadline, closes a connection whose headers are late. The same clock keeps the deadline for
//! reading an answer: from its first byte written until the client sends again, so a client
//! that reads a trickle (each write resets the wait for its next request) is cut off too.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Past a request's headers: its body and answer are the route's business.
const NOT_IN_HEADERS: u64 = 0;
const END_OF_HEADERS: &[u8] = b"\r\n\r\n";

/// Since when the connection has waited for a request's headers, and since when an answer has
/// waited for the client to read it.
pub(crate) struct HeaderClock {
    epoch: Instant,
    /// Milliseconds from `epoch` to when the wait began, plus one; or [`NOT_IN_HEADERS`].
    started: AtomicU64,
    /// The same for the answer being written, or [`NOT_ANSWERING`].
    answering: AtomicU64,
}

const NOT_ANSWERING: u64 = 0;

impl HeaderClock {
    /// A new connection's clock: it waits for its first request from now.
    pub(crate) fn new() -> Arc<HeaderClock> {
        Arc::new(HeaderClock {
            epoch: Instant::now(),
            started: AtomicU64::new(1),
            answering: AtomicU64::new(NOT_ANSWERING),
        })
    }

    /// Returns once a request's headers, or the client's reading of an answer, have taken
    /// longer than `limit`.
    pub(crate) async fn overdue(&self, limit: Duration) {
        let look_every = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut looks = tokio::time::interval(look_every);
        looks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let late = |mark: u64| mark != 0 && (self.epoch + Duration::from_millis(mark - 1)).elapsed() >= limit;
        loop {
            looks.tick().await;
            if late(self.started.load(Ordering::Relaxed)) || late(self.answering.load(Ordering::Relaxed)) {
                return;
            }
        }
    }

    /// Now, as a mark: milliseconds since `epoch`, plus one.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn begin(&self) {
        self.started.store(self.now(), Ordering::Relaxed);
    }

    fn end(&self) {
        self.started.store(NOT_IN_HEADERS, Ordering::Relaxed);
    }

    fn begin_answer(&self) {
        self.answering.store(self.now(), Ordering::Relaxed);
    }

    fn end_answer(&self) {
        self.answering.store(NOT_ANSWERING, Ordering::Relaxed);
    }
}

/// A connection's stream that tells its [`HeaderClock`] when the wait for a request begins (at
/// each answer) and ends (the request's first blank line, which ends its headers).
pub(crate) struct HeaderWatch<S> {
    inner: S,
    clock: Arc<HeaderClock>,
    /// Reading a request's headers (or waiting for its first byte); once they are in, the body
    /// and the answer are the route's business.
    in_headers: bool,
    /// The last bytes read in headers (`tail_len` of them), so a blank line split over two
    /// reads is seen.
    tail: [u8; KEEP],
    tail_len: usize,
    /// Whether the request line has begun. Empty lines before it are skipped (RFC 9112 lets a
    /// server), so they must not end the wait: `\r\n\r\n` sent first would stop the clock.
    request_begun: bool,
    /// Writing an answer: from its first byte until the client sends again.
    answering: bool,
}

/// The bytes of a blank line that can lie before a read's first byte.
const KEEP: usize = END_OF_HEADERS.len() - 1;

impl<S> HeaderWatch<S> {
    /// A response went out: the wait for the next request's headers begins.
    fn answered(&mut self) {
        self.in_headers = true;
        self.tail_len = 0;
        self.request_begun = false;
        self.clock.begin();
    }

    pub(crate) fn new(inner: S, clock: Arc<HeaderClock>) -> HeaderWatch<S> {
        HeaderWatch {
            inner,
            clock,
            in_headers: true,
            tail: [0; KEEP],
            tail_len: 0,
            request_begun: false,
            answering: false,
        }
    }

    /// Whether the request's headers have ended (for the fuzz target).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn headers_ended(&self) -> bool {
        !self.in_headers
    }

    pub(crate) fn saw(&mut self, bytes: &[u8]) {
        if !self.in_headers {
            return;
        }
        let bytes = if self.request_begun {
            bytes
        } else {
            // Empty lines before the request line: still waiting for the request.
            match bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) {
                Some(first) => {
                    self.request_begun = true;
                    &bytes[first..]
                }
                None => return,
            }
        };
        let head = &bytes[..bytes.len().min(KEEP)];
        let mut seam = [0u8; 2 * KEEP];
        seam[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        seam[self.tail_len..self.tail_len + head.len()].copy_from_slice(head);
        let seam = &seam[..self.tail_len + head.len()];
        if memchr::memmem::find(seam, END_OF_HEADERS).is_some()
            || memchr::memmem::find(bytes, END_OF_HEADERS).is_some()
        {
            self.in_headers = false;
            self.clock.end();
            return;
        }
        // What ends the bytes seen so far: the read's own end, or with a short read, the seam's.
        let last = if bytes.len() >= KEEP { bytes } else { seam };
        let kept = &last[last.len().saturating_sub(KEEP)..];
        self.tail[..kept.len()].copy_from_slice(kept);
        self.tail_len = kept.len();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderWatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            if self.answering {
                // The client sends again: it has done with the answer.
                self.answering = false;
                self.clock.end_answer();
            }
            self.saw(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderWatch<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            // A response: the request it answers is over, whatever its headers did, and the
            // wait for the next one begins.
            self.answered();
            if !self.answering {
                self.answering = true;
                self.clock.begin_answer();
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> HeaderWatch<()> {
        HeaderWatch::new((), HeaderClock::new())
    }

    fn in_headers(w: &HeaderWatch<()>) -> bool {
        w.clock.started.load(Ordering::Relaxed) != NOT_IN_HEADERS
    }

    #[test]
    fn a_request_is_in_headers_until_its_blank_line_even_split_over_reads() {
        for split in 1..30 {
            let request = b"GET /sal/25 HTTP/1.1\r\nHost: x\r\n\r\n";
            let mut w = watch();
            assert!(in_headers(&w), "a new connection waits for its first request");
            let (first, rest) = request.split_at(split.min(request.len()));
            w.saw(first);
            assert!(in_headers(&w) || rest.is_empty(), "split at {split}");
            for byte in rest.chunks(1) {
                w.saw(byte);
            }
            assert!(
                !in_headers(&w),
                "split at {split}: the end of the headers was missed"
            );
            assert!(!w.in_headers);
        }
    }

    #[test]
    fn trickled_headers_stay_in_headers_and_an_answer_starts_the_next_wait() {
        let mut w = watch();
        w.saw(b"GET / HTTP/1.1\r\nHo");
        w.saw(b"st: x\r\n");
        w.saw(b"\r");
        assert!(in_headers(&w));
        w.saw(b"\n");
        assert!(!in_headers(&w));
        // The body (with its own blank lines) is not headers.
        w.saw(b"\r\n\r\nbody");
        assert!(!in_headers(&w));
        // The answer: the connection waits for the next request, idle or not.
        w.answered();
        assert!(in_headers(&w));
        w.saw(b"GET /x HTTP/1.1\r\n\r\n");
        assert!(!in_headers(&w));
    }

    #[test]
    fn empty_lines_before_the_request_line_do_not_end_the_wait() {
        for leading in [&b"\r\n\r\n"[..], b"\r\n\r\n\r\n\r\n", b"\n\n"] {
            let mut w = watch();
            w.saw(leading);
            assert!(in_headers(&w), "{leading:?} stopped the clock");
            w.saw(b"\r\n");
            assert!(in_headers(&w));
            w.saw(b"GET / HTTP/1.1\r\nHost: x\r\n");
            assert!(in_headers(&w));
            w.saw(b"\r\n");
            assert!(!in_headers(&w), "the request's own blank line ends the wait");
        }
        // Split anywhere, with the empty lines and the request in one read.
        let mut w = watch();
        w.saw(b"\r\n\r\nGET / HTTP/1.1\r\n\r");
        assert!(in_headers(&w));
        w.saw(b"\n");
        assert!(!in_headers(&w));
        // After an answer the next request may lead with empty lines too.
        w.answered();
        w.saw(b"\r\n\r\n");
        assert!(in_headers(&w));
    }

    #[tokio::test]
    async fn an_answer_is_timed_from_its_first_byte_until_the_client_sends_again() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, mut client) = tokio::io::duplex(64);
        let clock = HeaderClock::new();
        let mut watch = HeaderWatch::new(server, clock.clone());
        let answering = || clock.answering.load(Ordering::Relaxed) != NOT_ANSWERING;
        assert!(!answering());
        watch.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        let first = clock.answering.load(Ordering::Relaxed);
        assert_ne!(first, NOT_ANSWERING);
        tokio::time::sleep(Duration::from_millis(5)).await;
        // More of the same answer does not restart its clock.
        watch.write_all(b"content-length: 0\r\n\r\n").await.unwrap();
        assert_eq!(clock.answering.load(Ordering::Relaxed), first);
        let mut read = [0u8; 64];
        let _ = client.read(&mut read).await.unwrap();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let _ = watch.read(&mut read).await.unwrap();
        assert!(!answering(), "the client sent again: the answer is done");
    }

    #[tokio::test]
    async fn the_clock_is_overdue_only_while_a_request_is_late() {
        let clock = HeaderClock::new();
        let limit = Duration::from_millis(100);
        // A connection that sends nothing is cut off too.
        let started = Instant::now();
        let idle = tokio::time::timeout(Duration::from_secs(5), clock.overdue(limit)).await;
        assert!(idle.is_ok(), "a silent connection was kept");
        assert!(started.elapsed() >= limit);
        clock.end();
        let served = tokio::time::timeout(Duration::from_millis(500), clock.overdue(limit)).await;
        assert!(served.is_err(), "a connection past its headers was cut");
    }
}
