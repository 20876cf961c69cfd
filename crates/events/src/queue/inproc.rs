//! The in-process queue (the embedded default, `queue.url` empty): a bounded channel from the
//! forwarder to the consumer. A message is "taken for good" when the consumer has committed it,
//! so the spool's cursor never passes an event the database does not have: a crash anywhere
//! loses nothing, and what is sent again is recognised by the store and counted once.

use super::{Confirm, Delivery, Handle, Message, QueueError, Sink, Source};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::FutureExt;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub struct InProcSink(mpsc::Sender<(Bytes, oneshot::Sender<()>)>);

pub struct InProcSource {
    rx: mpsc::Receiver<(Bytes, oneshot::Sender<()>)>,
    /// Where frames that cannot be decoded are set aside.
    dead_letter: PathBuf,
}

/// A queue holding at most `capacity` messages not yet received.
pub fn queue(capacity: usize, dead_letter: PathBuf) -> (InProcSink, InProcSource) {
    let (tx, rx) = mpsc::channel(capacity);
    (InProcSink(tx), InProcSource { rx, dead_letter })
}

#[async_trait]
impl Sink for InProcSink {
    async fn publish(&self, m: Message) -> Result<Confirm, QueueError> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send((Bytes::from(m.encode()), tx))
            .await
            .map_err(|_| QueueError::Unavailable("the consumer has stopped".into()))?;
        Ok(async move {
            rx.await
                .map_err(|_| QueueError::Unavailable("not committed".into()))
        }
        .boxed())
    }
}

#[async_trait]
impl Source for InProcSource {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let mut out = Vec::new();
        let first = match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(QueueError::Unavailable("the forwarder has stopped".into())),
            Err(_) => return Ok(Vec::new()),
        };
        out.push(first);
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        Ok(out
            .into_iter()
            .map(|(body, ack)| Delivery {
                body,
                handle: Handle::InProc(Some(ack)),
            })
            .collect())
    }

    async fn ack(&mut self, deliveries: Vec<Delivery>) -> Result<(), QueueError> {
        for d in deliveries {
            if let Handle::InProc(Some(ack)) = d.handle {
                let _ = ack.send(());
            }
        }
        Ok(())
    }

    async fn reject(&mut self, d: Delivery) -> Result<(), QueueError> {
        let _ = std::fs::create_dir_all(&self.dead_letter);
        let name = format!("{}.frame", uuid::Uuid::now_v7());
        std::fs::write(self.dead_letter.join(&name), &d.body)
            .map_err(|e| QueueError::Unavailable(format!("dead-letter {name}: {e}")))?;
        tracing::error!(
            file = name,
            "a frame that does not decode was set aside in the spool's dead-letter directory"
        );
        // set aside for good: the spool may move past it
        self.ack(vec![d]).await
    }
}
