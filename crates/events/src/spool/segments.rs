//! The spool directory: `spool.id`, `lock`, `cursor` (the last frame the queue confirmed), the
//! segments `segment-{first seq}.spool`, and `damaged/` (segments kept aside for inspection).
//! Recovery at start reads every segment frame by frame and keeps every frame that checks out:
//! after damage it resynchronises at the next valid frame (magic, length, checksum), so one bad
//! block costs the frames in it and no more. Only a partial frame at the end of the last
//! segment with nothing valid after it is a torn tail (a write a crash cut short: its clicks
//! were never answered) and is cut off; any other skipped range is damage, counted in bytes and
//! in frames lost (`linkleaf_spool_corrupt_{bytes,frames}_total`), logged with where and how
//! much, and its segment is kept aside whole under `damaged/` before being rewritten with its
//! intact frames. Must not: touch a segment the writer has open (recovery runs before it
//! starts).

use super::frame::Scan;
use crate::metrics::EventMetrics;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.spool")
}

/// The segments in `dir`, by first sequence number.
pub(crate) fn list(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix("segment-"))
            .and_then(|n| n.strip_suffix(".spool"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, e.path()));
    }
    out.sort();
    Ok(out)
}

/// A file only this user may read, opened for appending or for reading and writing.
pub(crate) fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .read(true)
        .write(!append)
        .append(append)
        .mode(0o600)
        .open(path)
}

/// The last confirmed frame (0: none).
pub(crate) fn read_cursor(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("cursor"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Moves the cursor, atomically (a temporary file renamed over it).
pub(crate) fn write_cursor(dir: &Path, seq: u64, sync: bool) -> std::io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    let mut f = private_file(&tmp, false)?;
    f.set_len(0)?;
    f.write_all(seq.to_string().as_bytes())?;
    if sync {
        f.sync_data()?;
    }
    std::fs::rename(&tmp, dir.join("cursor"))
}

/// Where the spool stands after recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// The sequence number the next frame gets.
    pub next_seq: u64,
    /// Bytes of segments on disk.
    pub bytes: u64,
}

/// Reads every segment, keeps every frame that checks out, cuts a torn tail, and sets damaged
/// segments aside (see the module's header).
pub(crate) fn recover(
    dir: &Path,
    cursor: u64,
    metrics: &EventMetrics,
) -> std::io::Result<Recovered> {
    let segs = list(dir)?;
    let mut next_seq = cursor + 1;
    let mut bytes = 0u64;
    // the sequence numbers kept after the cursor, to count the frames damage took
    let mut last_kept = cursor;
    let mut lost_frames = 0u64;
    for (i, (_, path)) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let f = private_file(path, false)?;
        let scan = Scan::of(&f)?;
        for &(_, _, seq) in &scan.frames {
            next_seq = next_seq.max(seq + 1);
            if seq > last_kept {
                lost_frames += seq - last_kept - 1;
                last_kept = seq;
            }
        }
        let mut damaged = scan.skipped.clone();
        match scan.tail {
            Some((at, why, true)) if last => {
                tracing::warn!(segment = %path.display(), at, bytes = scan.len - at, reason = why,
                    "a frame cut short at the end of the spool is cut off (a write torn by a crash: its clicks were never answered)");
            }
            Some((at, why, _)) => damaged.push((at, scan.len - at, why)),
            None => {}
        }
        if !damaged.is_empty() {
            let skipped: u64 = damaged.iter().map(|d| d.1).sum();
            metrics.corrupt_bytes.increment(skipped);
            for (at, len, why) in &damaged {
                tracing::error!(segment = %path.display(), at, bytes = len, reason = why,
                    "damage inside the spool: these bytes do not hold valid frames and are skipped; reading goes on at the next frame that checks out");
            }
            let aside = keep_aside(dir, path)?;
            rewrite(path, &f, &scan.frames)?;
            tracing::error!(segment = %path.display(), ranges = damaged.len(), bytes = skipped,
                kept_frames = scan.frames.len(), damaged_copy = %aside.display(),
                "a damaged spool segment was rewritten with its intact frames; the damaged one is kept for inspection");
        } else if let Some((at, _, _)) = scan.tail {
            f.set_len(at)?;
        }
        bytes += std::fs::metadata(path)?.len();
    }
    if lost_frames > 0 {
        metrics.corrupt.increment(lost_frames);
        tracing::error!(
            frames = lost_frames,
            "frames of the spool were lost to damage on disk (their clicks were answered and will not be counted)"
        );
    }
    Ok(Recovered { next_seq, bytes })
}

/// Copies a segment whole into `dir/damaged/`; returns where.
fn keep_aside(dir: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let aside = dir.join("damaged");
    std::fs::create_dir_all(&aside)?;
    let stamp = linkleaf_domain::unix_millis(linkleaf_domain::now_millis());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = aside.join(format!("{name}.{stamp}"));
    std::fs::copy(path, &to)?;
    Ok(to)
}

/// Replaces a segment with just the frames at `frames` (offset, length) of its file `f`.
fn rewrite(path: &Path, f: &File, frames: &[(u64, u64, u64)]) -> std::io::Result<()> {
    let tmp = path.with_extension("spool.tmp");
    let mut out = private_file(&tmp, false)?;
    out.set_len(0)?;
    for &(at, len, _) in frames {
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, at)?;
        out.write_all(&buf)?;
    }
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}
