//! The forwarder's reader: frames after a position, in order, and the cursor moved over what the
//! queue confirmed (deleting the segments that hold nothing after it). Its disk work (reading,
//! listing, the cursor's write and fsync, deletions) runs on a blocking thread, never on the
//! runtime's. The segment list is read again only when a segment ends, not at every read.
//! Damage met while running is skipped as recovery skips it (at the next frame that checks out,
//! counted and logged once). Must not: move the cursor over a frame the queue has not
//! confirmed.

use super::frame::{At, StoredFrame, frame_at, resync};
use super::segments::{list, read_cursor, write_cursor};
use super::shared::Shared;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Reads frames after a position, for the forwarder.
pub struct SpoolReader {
    state: Arc<Mutex<ReadState>>,
}

struct ReadState {
    shared: Arc<Shared>,
    /// The last frame handed out.
    sent: u64,
    /// The last frame confirmed (the cursor).
    confirmed: u64,
    /// The segments as last listed.
    segs: Vec<(u64, PathBuf)>,
    /// The segment being read and the offset in it.
    cur: Option<Open>,
    /// Damage already counted and logged: (segment, offset).
    reported: Option<(u64, u64)>,
    /// Damage was skipped since the last frame: the frames missing before the next one were
    /// lost to it (damage found at start is counted by recovery).
    skipped: bool,
}

struct Open {
    first: u64,
    file: File,
    offset: u64,
}

impl SpoolReader {
    /// A reader of the frames after the cursor.
    pub fn new(shared: Arc<Shared>) -> Self {
        let confirmed = read_cursor(&shared.dir);
        Self {
            state: Arc::new(Mutex::new(ReadState {
                shared,
                sent: confirmed,
                confirmed,
                segs: Vec::new(),
                cur: None,
                reported: None,
                skipped: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last frame the queue confirmed.
    pub fn cursor(&self) -> u64 {
        self.lock().confirmed
    }

    /// Starts over after the cursor (what was sent but not confirmed is sent again).
    pub fn rewind(&self) {
        let mut s = self.lock();
        s.sent = s.confirmed;
        s.cur = None;
    }

    /// Frames after the last one handed out, up to `max` frames or `max_bytes`.
    pub async fn next(&self, max: usize, max_bytes: u64) -> Vec<StoredFrame> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .next(max, max_bytes)
        })
        .await
        .unwrap_or_default()
    }

    /// Records that every frame up to `seq` is confirmed: moves the cursor (durably when
    /// `sync`) and deletes the segments that hold nothing after it.
    pub async fn confirm(&self, seq: u64, sync: bool) -> std::io::Result<()> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || {
            state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .confirm(seq, sync)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

impl ReadState {
    fn next(&mut self, max: usize, max_bytes: u64) -> Vec<StoredFrame> {
        let mut out = Vec::new();
        let mut size = 0u64;
        let written = self.shared.last_seq();
        while out.len() < max && size < max_bytes && self.sent < written {
            if self.cur.is_none() && !self.open_for(self.sent + 1) {
                break;
            }
            let Some(cur) = self.cur.as_mut() else { break };
            let at = match frame_at(&cur.file, cur.offset) {
                Ok(at) => at,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the spool");
                    break;
                }
            };
            match at {
                // written after `written` was read: left for the next call, unread
                At::Frame(f) if f.seq > written => break,
                At::Frame(f) => {
                    cur.offset += f.len;
                    if std::mem::take(&mut self.skipped) && f.seq > self.sent + 1 {
                        self.shared.metrics.corrupt.increment(f.seq - self.sent - 1);
                    }
                    if f.seq > self.sent {
                        self.sent = f.seq;
                        size += f.len;
                        out.push(f);
                    }
                }
                // the end of what this segment holds (a frame cut short ends it too)
                At::End | At::Bad { partial: true, .. } => {
                    if !self.next_segment() {
                        break;
                    }
                }
                At::Bad { why, .. } => match resync(&cur.file, cur.offset) {
                    Ok(Some(next)) => {
                        let place = (cur.first, cur.offset);
                        if self.reported != Some(place) {
                            self.reported = Some(place);
                            self.skipped = true;
                            self.shared
                                .metrics
                                .corrupt_bytes
                                .increment(next - cur.offset);
                            tracing::error!(
                                segment = cur.first,
                                at = cur.offset,
                                bytes = next - cur.offset,
                                reason = why,
                                "damage inside the spool: skipped to the next frame that checks out"
                            );
                        }
                        cur.offset = next;
                    }
                    // nothing valid after it, yet: wait (the writer may append), unless a
                    // later segment shows this one is done
                    Ok(None) => {
                        let (first, offset) = (cur.first, cur.offset);
                        let len = cur.file.metadata().map(|m| m.len()).unwrap_or(offset);
                        if !self.next_segment() {
                            break;
                        }
                        if self.reported != Some((first, offset)) {
                            self.reported = Some((first, offset));
                            self.skipped = true;
                            self.shared.metrics.corrupt_bytes.increment(len - offset);
                            tracing::error!(
                                segment = first,
                                at = offset,
                                bytes = len - offset,
                                reason = why,
                                "damage at the end of a spool segment: skipped"
                            );
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the spool");
                        break;
                    }
                },
            }
        }
        out
    }

    /// Opens the segment holding `want` (or, when it is gone, the oldest one left). Rare (at
    /// start, after a rewind): the directory is listed afresh.
    fn open_for(&mut self, want: u64) -> bool {
        if !self.relist() {
            return false;
        }
        match self.segs.iter().rposition(|(first, _)| *first <= want) {
            Some(i) => self.open(i),
            // its segment is gone (confirmed, deleted): go on with the oldest left
            None => match self.segs.first() {
                Some((first, _)) if *first > want => {
                    self.sent = first - 1;
                    self.open(0)
                }
                _ => false,
            },
        }
    }

    fn open(&mut self, i: usize) -> bool {
        let (first, path) = self.segs[i].clone();
        match File::open(&path) {
            Ok(file) => {
                self.cur = Some(Open {
                    first,
                    file,
                    offset: 0,
                });
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, segment = %path.display(), "cannot open a spool segment");
                self.segs.clear();
                false
            }
        }
    }

    /// Moves to the segment after the current one, if there is one.
    fn next_segment(&mut self) -> bool {
        let Some(first) = self.cur.as_ref().map(|c| c.first) else {
            return false;
        };
        let mut next = self.segs.iter().position(|(f, _)| *f > first);
        if next.is_none() {
            if !self.relist() {
                return false;
            }
            next = self.segs.iter().position(|(f, _)| *f > first);
        }
        let Some(i) = next else { return false };
        self.open(i)
    }

    fn relist(&mut self) -> bool {
        match list(&self.shared.dir) {
            Ok(s) => {
                self.segs = s;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot list the spool");
                false
            }
        }
    }

    fn confirm(&mut self, seq: u64, sync: bool) -> std::io::Result<()> {
        write_cursor(&self.shared.dir, seq, sync)?;
        self.confirmed = seq;
        let segs = list(&self.shared.dir)?;
        for w in segs.windows(2) {
            let ((_, path), (next_first, _)) = (&w[0], &w[1]);
            if *next_first <= seq + 1 {
                let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(path)?;
                self.shared.freed(len);
            }
        }
        self.segs.clear();
        Ok(())
    }
}
