//! The frame codec: `"LLSF" | body length (u32 LE) | CRC-32 of the body | body = seq (u64 LE) |
//! event count (u32 LE) | events`, and reading frames back from a segment file at an offset,
//! with the resynchronisation that finds the next frame that checks out after damage. Must not:
//! know what a segment, a cursor or an event means.

use crate::event::Event;
use std::fs::File;
use std::os::unix::fs::FileExt;

pub(crate) const MAGIC: &[u8; 4] = b"LLSF";
pub(crate) const HEADER: usize = 12;
/// Events in one frame at most.
pub const FRAME_EVENTS_MAX: usize = 4096;
/// A frame body larger than this is corrupt.
const FRAME_BODY_MAX: usize = FRAME_EVENTS_MAX * 700 + 12;

/// One frame read back.
#[derive(Debug, Clone)]
pub struct StoredFrame {
    pub seq: u64,
    pub count: u32,
    /// The events, encoded back to back.
    pub events: bytes::Bytes,
    /// Its size on disk.
    pub len: u64,
}

/// The bytes of a frame holding `events`, numbered `seq`.
pub(crate) fn frame_bytes(seq: u64, events: &[Event]) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + events.len() * 120);
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(&(events.len() as u32).to_le_bytes());
    events.iter().for_each(|e| e.encode(&mut body));
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// What lies at an offset of a segment file.
#[derive(Debug)]
pub(crate) enum At {
    /// A whole frame that checks out.
    Frame(StoredFrame),
    /// The end of the file.
    End,
    /// Bytes that are not a whole valid frame (`why`); `partial` when they could be the start
    /// of a frame cut short by the end of the file (a torn write, or one still in progress).
    Bad { why: &'static str, partial: bool },
}

/// Reads as much of `buf` as the file holds at `offset`; the number of bytes read.
fn read_full(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The frame at `offset`, if one starts there and checks out (magic, length, checksum).
pub(crate) fn frame_at(f: &File, offset: u64) -> std::io::Result<At> {
    let mut header = [0u8; HEADER];
    let got = read_full(f, &mut header, offset)?;
    if got == 0 {
        return Ok(At::End);
    }
    // what is there cannot start a frame: damage, whatever follows it
    if header[..got.min(4)] != MAGIC[..got.min(4)] {
        return Ok(At::Bad {
            why: "no frame starts here",
            partial: false,
        });
    }
    if got < HEADER {
        return Ok(At::Bad {
            why: "a frame header cut short",
            partial: true,
        });
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if !(12..=FRAME_BODY_MAX).contains(&len) {
        return Ok(At::Bad {
            why: "a frame length out of bounds",
            partial: false,
        });
    }
    let mut body = vec![0u8; len];
    let got = read_full(f, &mut body, offset + HEADER as u64)?;
    if got < len {
        return Ok(At::Bad {
            why: "a frame cut short",
            partial: true,
        });
    }
    if crc32fast::hash(&body) != crc {
        return Ok(At::Bad {
            why: "a frame whose checksum does not match",
            partial: false,
        });
    }
    let seq = u64::from_le_bytes(body[..8].try_into().unwrap_or_default());
    let count = u32::from_le_bytes(body[8..12].try_into().unwrap_or_default());
    Ok(At::Frame(StoredFrame {
        seq,
        count,
        events: bytes::Bytes::from(body).slice(12..),
        len: (HEADER + len) as u64,
    }))
}

/// The offset of the first frame after `from` that checks out, if any: where reading goes on
/// after damage (a frame's magic found by a scan, then its length and checksum checked).
pub(crate) fn resync(f: &File, from: u64) -> std::io::Result<Option<u64>> {
    const CHUNK: usize = 64 * 1024;
    let mut buf = vec![0u8; CHUNK + MAGIC.len() - 1];
    let mut at = from + 1;
    loop {
        let got = read_full(f, &mut buf, at)?;
        if got < MAGIC.len() {
            return Ok(None);
        }
        let window = &buf[..got];
        let mut i = 0;
        while let Some(p) = window[i..].windows(MAGIC.len()).position(|w| w == MAGIC) {
            let candidate = at + (i + p) as u64;
            if let At::Frame(_) = frame_at(f, candidate)? {
                return Ok(Some(candidate));
            }
            i += p + 1;
        }
        if got < buf.len() {
            return Ok(None);
        }
        // the next chunk overlaps this one by a magic's length less one
        at += CHUNK as u64;
    }
}

/// What a segment holds, read from its start: its valid frames' offsets and sequence numbers,
/// the damaged ranges skipped between them, and a partial frame at its end with nothing valid
/// after it (a torn tail), if there is one.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// (offset, length, seq) of each frame that checks out, in file order.
    pub frames: Vec<(u64, u64, u64)>,
    /// (offset, length, why) of each damaged range that valid frames follow.
    pub skipped: Vec<(u64, u64, &'static str)>,
    /// (offset, why, partial) where the file ends in something that is not a whole frame, with
    /// nothing valid after it; `partial` when it starts as a frame cut short would (a torn
    /// write).
    pub tail: Option<(u64, &'static str, bool)>,
    pub len: u64,
}

impl Scan {
    pub(crate) fn of(f: &File) -> std::io::Result<Self> {
        let len = f.metadata()?.len();
        let mut s = Self {
            len,
            ..Self::default()
        };
        let mut at = 0;
        loop {
            match frame_at(f, at)? {
                At::Frame(fr) => {
                    s.frames.push((at, fr.len, fr.seq));
                    at += fr.len;
                }
                At::End => break,
                At::Bad { why, partial } => match resync(f, at)? {
                    Some(next) => {
                        s.skipped.push((at, next - at, why));
                        at = next;
                    }
                    None => {
                        s.tail = Some((at, why, partial));
                        break;
                    }
                },
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn frames(n: u64) -> Vec<Vec<u8>> {
        (1..=n).map(|seq| frame_bytes(seq, &[])).collect()
    }

    #[test]
    fn garbage_is_bad_not_a_panic_and_a_scan_goes_on_after_damage() {
        let mut f = tempfile::tempfile().unwrap();
        let fs = frames(6);
        let offs: Vec<u64> = fs
            .iter()
            .scan(0u64, |o, b| {
                let at = *o;
                *o += b.len() as u64;
                Some(at)
            })
            .collect();
        for b in &fs {
            f.write_all(b).unwrap();
        }
        // damage frame 2's checksum and frame 4's magic, and leave half a frame 7 at the end
        f.write_all_at(&[0xff], offs[1] + 9).unwrap();
        f.write_all_at(b"XX", offs[3]).unwrap();
        let seven = frame_bytes(7, &[]);
        f.write_all_at(&seven[..seven.len() / 2], offs[5] + fs[5].len() as u64)
            .unwrap();
        let s = Scan::of(&f).unwrap();
        let seqs: Vec<u64> = s.frames.iter().map(|x| x.2).collect();
        assert_eq!(seqs, vec![1, 3, 5, 6]);
        assert_eq!(s.skipped.len(), 2);
        assert_eq!(s.skipped[0].0, offs[1]);
        assert_eq!(s.skipped[0].1, fs[1].len() as u64);
        assert_eq!(s.skipped[1].0, offs[3]);
        assert_eq!(
            s.tail.map(|t| (t.0, t.2)),
            Some((offs[5] + fs[5].len() as u64, true))
        );
        for junk in [
            &b""[..],
            b"LL",
            b"LLSF\xff\xff\xff\xff",
            b"nonsense that is long",
        ] {
            let mut g = tempfile::tempfile().unwrap();
            g.write_all(junk).unwrap();
            let s = Scan::of(&g).unwrap();
            assert!(s.frames.is_empty());
        }
    }
}
