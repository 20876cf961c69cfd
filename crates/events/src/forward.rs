//! The forwarder: sends the spool's frames after its cursor to the queue, and moves the cursor
//! only over frames the queue confirmed, in order (a frame confirmed after one that was not does
//! not move it). When the queue fails, whatever was sent and not confirmed is sent again after a
//! pause (backoff with jitter), and the spool grows meanwhile; frames sent twice are recognised
//! by the consumer's store and counted once.
//! Must not: move the cursor over a frame the queue has not confirmed, or drop a frame.

use crate::queue::{Confirm, FrameData, MESSAGE_BYTES, MESSAGE_FRAMES, Message, Sink};
use crate::spool::{Shared, SpoolReader};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Messages in flight (sent, not yet confirmed) at most.
pub const IN_FLIGHT: usize = 64;
/// After a message of fewer than `LINGER_FRAMES` frames, the next waits this long for more
/// frames to join it. The queue's cost is per message (RabbitMQ delivered about a thousand
/// quorum-queue messages a second here, whatever their size), so under load this turns a
/// message per frame (tens of events) into one per `LINGER` (hundreds or thousands), and when
/// traffic is light a lone frame still leaves at once. The clicks are on disk meanwhile.
pub const LINGER: Duration = Duration::from_millis(10);
pub const LINGER_FRAMES: usize = 64;

/// A sent message: its last frame's sequence number, its frame count, and the queue's answer.
type InFlight =
    futures_util::future::BoxFuture<'static, (u64, u64, Result<(), crate::queue::QueueError>)>;

fn jitter(d: Duration) -> Duration {
    let r = u64::from(uuid::Uuid::new_v4().as_bytes()[0]);
    d + d * r as u32 / 512
}

/// Runs until `stop`; `sync` makes each cursor move durable (`clicks.fsync = always`).
pub async fn forward(
    shared: Arc<Shared>,
    sink: Arc<dyn Sink>,
    sync: bool,
    stop: CancellationToken,
) {
    let reader = SpoolReader::new(shared.clone());
    let mut flight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    let mut confirmed = reader.cursor();
    let mut saved = confirmed;
    let mut backoff = Duration::from_millis(100);
    let m = shared.metrics.clone();
    let mut hold_until = tokio::time::Instant::now();
    loop {
        m.backlog
            .set(shared.last_seq().saturating_sub(confirmed) as f64);
        // send what is new, while there is room in flight
        let mut failed = None;
        while flight.len() < IN_FLIGHT && tokio::time::Instant::now() >= hold_until {
            let frames = reader.next(MESSAGE_FRAMES, MESSAGE_BYTES).await;
            let Some(last) = frames.last().map(|f| f.seq) else {
                break;
            };
            let n = frames.len() as u64;
            let msg = Message {
                source: shared.id,
                frames: frames
                    .into_iter()
                    .map(|f| FrameData {
                        seq: f.seq,
                        count: f.count,
                        events: f.events,
                    })
                    .collect(),
            };
            match sink.publish(msg).await {
                Ok(c) => {
                    m.forwarded.increment(n);
                    let c: Confirm = c;
                    flight.push_back(Box::pin(async move { (last, n, c.await) }));
                    if (n as usize) < LINGER_FRAMES {
                        hold_until = tokio::time::Instant::now() + LINGER;
                        break;
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() {
            let holding = tokio::time::Instant::now() < hold_until;
            tokio::select! {
                () = stop.cancelled() => {
                    save(&reader, confirmed, &mut saved, sync).await;
                    return;
                }
                done = flight.next(), if !flight.is_empty() => {
                    if let Some((seq, n, r)) = done {
                        match r {
                            Ok(()) => {
                                m.confirmed.increment(n);
                                confirmed = seq;
                                backoff = Duration::from_millis(100);
                                if flight.is_empty() || confirmed - saved >= 256 {
                                    save(&reader, confirmed, &mut saved, sync).await;
                                }
                            }
                            Err(e) => failed = Some(e),
                        }
                    }
                }
                () = shared.written.notified(), if !holding && flight.len() < IN_FLIGHT => {}
                () = tokio::time::sleep_until(hold_until), if holding => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    save(&reader, confirmed, &mut saved, sync).await;
                }
            }
        }
        if let Some(e) = failed {
            tracing::warn!(error = %e, confirmed, "the queue did not take frames: sending again after a pause");
            flight = FuturesOrdered::new();
            save(&reader, confirmed, &mut saved, sync).await;
            reader.rewind();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(jitter(backoff)) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

async fn save(reader: &SpoolReader, confirmed: u64, saved: &mut u64, sync: bool) {
    if confirmed > *saved {
        match reader.confirm(confirmed, sync).await {
            Ok(()) => *saved = confirmed,
            Err(e) => tracing::error!(error = %e, "cannot move the spool's cursor"),
        }
    }
}
