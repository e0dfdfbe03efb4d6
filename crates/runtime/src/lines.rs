//! A job's raw output (an attached container's, a local process's) split into log records:
//! each stream's unfinished line is held until its newline comes, up to the log's cap; past
//! it the line goes out in cut pieces, so output without newlines never grows the holder.

use mlbench_domain::output::{HeldLine, OutputSink, Piece, Stream, now_ts};

#[derive(Default)]
pub(crate) struct RawLines {
    held: [HeldLine; 2],
}

impl RawLines {
    pub(crate) fn push(
        &mut self,
        stream: Stream,
        bytes: &[u8],
        log: &mut impl OutputSink,
    ) -> std::io::Result<()> {
        let slot = usize::from(stream == Stream::Stderr);
        let ts = now_ts();
        let max = log.max_line();
        let mut emit = |text: &[u8], piece: Piece| write(log, ts.as_bytes(), stream, text, piece);
        let mut rest = bytes;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            self.held[slot].end(&rest[..nl], max, &mut emit)?;
            rest = &rest[nl + 1..];
        }
        self.held[slot].add(rest, max, &mut emit)
    }

    /// A last line without a newline is still output.
    pub(crate) fn finish(&mut self, log: &mut impl OutputSink) -> std::io::Result<()> {
        let ts = now_ts();
        for (slot, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if self.held[slot].is_open() {
                let max = log.max_line();
                self.held[slot].end(&[], max, &mut |text, piece| {
                    write(log, ts.as_bytes(), stream, text, piece)
                })?;
            }
        }
        Ok(())
    }
}

fn write(
    log: &mut impl OutputSink,
    ts: &[u8],
    stream: Stream,
    text: &[u8],
    piece: Piece,
) -> std::io::Result<()> {
    if piece.is_cut() {
        log.cut(ts, stream, text)
    } else {
        log.line(ts, stream, without_cr(text))
    }
}

pub(crate) fn without_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
