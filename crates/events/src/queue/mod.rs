//! The queue between the spool and the consumer, as both sides see it: a `Sink` the forwarder
//! publishes frames to, whose confirmation means the frame is taken for good, and a `Source`
//! the consumer receives them from and acknowledges them to after committing.
//!
//! `inproc` is the embedded default (a channel; "taken for good" is the consumer's commit, and
//! the spool makes it crash-safe); `amqp` is RabbitMQ (a durable quorum queue, publisher
//! confirms, a dead-letter queue for what cannot be processed).
//! Must not: acknowledge before the consumer committed, or know what a frame holds.

pub mod amqp;
pub mod inproc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::time::Duration;
use uuid::Uuid;

/// Spool frames as one message: their spool, and each frame's number there and events. The
/// forwarder puts consecutive frames in a message (up to `MESSAGE_FRAMES` or `MESSAGE_BYTES`),
/// so the queue carries few large messages however small the writer's frames are; each frame
/// keeps its identity, so a frame sent again in another message is still recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub source: Uuid,
    pub frames: Vec<FrameData>,
}

/// One frame in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameData {
    pub seq: u64,
    /// Events (records) in `events`.
    pub count: u32,
    pub events: Bytes,
}

/// Frames in one message at most.
pub const MESSAGE_FRAMES: usize = 512;
/// Bytes of events in one message at most (about; one frame may pass it).
pub const MESSAGE_BYTES: u64 = 1 << 20;
const MAGIC: &[u8; 4] = b"LLM2";

impl Message {
    /// `"LLM2" | source (16) | frames (u32 LE) | per frame: seq (u64 LE), count (u32 LE),
    /// length (u32 LE), events`.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.frames.iter().map(|f| 16 + f.events.len()).sum();
        let mut out = Vec::with_capacity(24 + size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(&(self.frames.len() as u32).to_le_bytes());
        for f in &self.frames {
            out.extend_from_slice(&f.seq.to_le_bytes());
            out.extend_from_slice(&f.count.to_le_bytes());
            out.extend_from_slice(&(f.events.len() as u32).to_le_bytes());
            out.extend_from_slice(&f.events);
        }
        out
    }

    /// Reads a message, checking every length against what is there. A message of the first
    /// format (one frame: `source | seq | count | events`) still reads.
    pub fn decode(b: Bytes) -> Result<Self, String> {
        if !b.starts_with(MAGIC) {
            if b.len() < 28 {
                return Err("a message too short to be a frame".into());
            }
            return Ok(Self {
                source: Uuid::from_slice(&b[..16]).map_err(|e| e.to_string())?,
                frames: vec![FrameData {
                    seq: u64::from_le_bytes(b[16..24].try_into().map_err(|_| "seq")?),
                    count: u32::from_le_bytes(b[24..28].try_into().map_err(|_| "count")?),
                    events: b.slice(28..),
                }],
            });
        }
        let short = || "a message cut short".to_string();
        let u32_at = |at: usize| -> Result<u32, String> {
            Ok(u32::from_le_bytes(
                b.get(at..at + 4)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| "u32")?,
            ))
        };
        let source =
            Uuid::from_slice(b.get(4..20).ok_or_else(short)?).map_err(|e| e.to_string())?;
        let n = u32_at(20)? as usize;
        if n == 0 || n > MESSAGE_FRAMES * 16 {
            return Err(format!("a message of {n} frames"));
        }
        let mut frames = Vec::with_capacity(n);
        let mut at = 24;
        for _ in 0..n {
            let seq = u64::from_le_bytes(
                b.get(at..at + 8)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| "seq")?,
            );
            let count = u32_at(at + 8)?;
            let len = u32_at(at + 12)? as usize;
            at += 16;
            if at + len > b.len() {
                return Err(short());
            }
            if frames.last().is_some_and(|p: &FrameData| p.seq >= seq) {
                return Err("frames out of order".into());
            }
            frames.push(FrameData {
                seq,
                count,
                events: b.slice(at..at + len),
            });
            at += len;
        }
        if at != b.len() {
            return Err("bytes after the last frame".into());
        }
        Ok(Self { source, frames })
    }

    /// The message id the broker and logs know it by: its spool and the frames it holds.
    pub fn id(&self) -> String {
        let first = self.frames.first().map_or(0, |f| f.seq);
        let last = self.frames.last().map_or(0, |f| f.seq);
        format!("{}:{first}-{last}", self.source)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the queue refused the message: {0}")]
    Refused(String),
}

/// Resolves when a published message is taken for good.
pub type Confirm = BoxFuture<'static, Result<(), QueueError>>;

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Publishes `m`; the returned confirmation resolves once it is taken for good.
    async fn publish(&self, m: Message) -> Result<Confirm, QueueError>;
}

/// A message received, to acknowledge (or reject) once.
pub struct Delivery {
    pub body: Bytes,
    pub(crate) handle: Handle,
}

pub(crate) enum Handle {
    InProc(Option<tokio::sync::oneshot::Sender<()>>),
    Amqp(lapin::Acker),
}

#[async_trait]
pub trait Source: Send + 'static {
    /// Up to `max` messages, waiting at most `wait` for the first.
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError>;
    /// Done with these: they are committed (or were counted before).
    async fn ack(&mut self, deliveries: Vec<Delivery>) -> Result<(), QueueError>;
    /// This one cannot be processed (it does not decode, or the database refuses its events:
    /// neither changes on a retry): RabbitMQ dead-letters it at once; in process it is set
    /// aside in the spool's `dead-letter`.
    async fn reject(&mut self, delivery: Delivery) -> Result<(), QueueError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_short_ones_are_refused() {
        let frame = |seq| FrameData {
            seq,
            count: 3,
            events: Bytes::from_static(b"xyz"),
        };
        let m = Message {
            source: Uuid::now_v7(),
            frames: vec![frame(42), frame(43), frame(50)],
        };
        let bytes = m.encode();
        assert_eq!(Message::decode(Bytes::from(bytes.clone())).unwrap(), m);
        assert!(m.id().ends_with(":42-50"));
        for cut in 0..bytes.len() {
            assert!(
                Message::decode(Bytes::copy_from_slice(&bytes[..cut])).is_err(),
                "{cut}"
            );
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(
            Message::decode(Bytes::from(more)).is_err(),
            "trailing bytes"
        );
        let backwards = Message {
            source: m.source,
            frames: vec![frame(9), frame(8)],
        };
        assert!(Message::decode(Bytes::from(backwards.encode())).is_err());
        assert!(Message::decode(Bytes::from_static(b"short")).is_err());
        // the first format: one frame
        let mut old = m.source.as_bytes().to_vec();
        old.extend_from_slice(&7u64.to_le_bytes());
        old.extend_from_slice(&2u32.to_le_bytes());
        old.extend_from_slice(b"ev");
        let d = Message::decode(Bytes::from(old)).unwrap();
        assert_eq!(
            (d.frames.len(), d.frames[0].seq, d.frames[0].count),
            (1, 7, 2)
        );
    }
}
