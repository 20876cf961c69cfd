//! RabbitMQ (`queue.url = amqp://...`), with lapin.
//!
//! Topology (declared by both sides, idempotently): a durable quorum queue `{name}` with
//! `x-delivery-limit = 20` and a dead-letter exchange `{name}.dlx` (fanout) into the durable
//! queue `{name}.dlq`; dead-lettering `at-least-once` (which RabbitMQ allows with
//! `x-overflow = reject-publish`). A message the consumer cannot process (it does not decode,
//! or the database refuses its events: neither changes on a retry) is rejected without requeue,
//! so it is dead-lettered at once. The delivery limit is for the rest: every return counts
//! toward it (RabbitMQ 3.10+), and a consumer that stops, crashes or loses its connection
//! returns whatever it held, so a small limit would dead-letter good messages held across a few
//! restarts (a limit of 2 did, in a test that stopped its consumer three times); 20 returns
//! catch only a message that keeps killing its consumer. (A queue declared by an older build
//! with another limit is refused by RabbitMQ's declare: delete it once it is empty.)
//!
//! The forwarder publishes each frame with `mandatory` (an unroutable message comes back
//! instead of being silently dropped) on a channel with publisher confirms: a frame is taken for
//! good when the broker acks it, and only then may the spool's cursor pass it. The consumer
//! acknowledges after its commit; what it had not acknowledged when its connection dropped is
//! delivered again, and recognised.
//! Each connection's watcher and the closing of a connection given up are tasks of the
//! process's lifecycle; a watcher ends with its connection or with the process.
//! Must not: acknowledge before the commit, or treat an unroutable publish as confirmed.

use super::{Confirm, Delivery, Handle, Message, QueueError, Sink, Source};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use linkleaf_lifecycle::Lifecycle;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// `x-delivery-limit`: RabbitMQ dead-letters a message returned more often than this (returns
/// by consumers that stopped or lost their connection included).
pub const DELIVERY_LIMIT: i32 = 20;

/// How to reach RabbitMQ and which queue to use.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// `amqp://USER:PASSWORD@HOST/VHOST`: a secret until it is connected to.
    pub url: linkleaf_domain::Secret,
    pub queue: String,
    /// Messages the consumer may hold unacknowledged (quorum queues cap this at 2,000).
    pub prefetch: u16,
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

impl From<lapin::Error> for QueueError {
    fn from(e: lapin::Error) -> Self {
        unavailable(e)
    }
}

async fn connect(cfg: &AmqpConfig) -> Result<Connection, QueueError> {
    within(
        CALL_TIMEOUT,
        "connecting",
        Connection::connect(cfg.url.expose(), ConnectionProperties::default()),
    )
    .await
}

/// Declares the queue, its dead-letter exchange and its dead-letter queue.
pub async fn declare(ch: &Channel, queue: &str) -> Result<(), QueueError> {
    let dlx = format!("{queue}.dlx");
    let dlq = format!("{queue}.dlq");
    ch.exchange_declare(
        dlx.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(unavailable)?;
    ch.queue_declare(
        dlq.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .map_err(unavailable)?;
    ch.queue_bind(
        dlq.as_str().into(),
        dlx.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .map_err(unavailable)?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(DELIVERY_LIMIT),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(dlx.as_str().into()),
    );
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        args,
    )
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// How long a broker call (connecting, opening a channel, declaring, publishing) may take.
/// lapin does not promise to settle every future of a connection that dies under it: a publish
/// or a channel opened while the broker is closing the connection was seen to wait forever, and
/// the forwarder with it (no click lost, but none forwarded either). Each call has this deadline,
/// and a call that misses it gives the connection up.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a published message may wait for the broker's confirm before its connection is
/// given up and the message sent again on a new one.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// `fut` within `limit`, a broker call named `what`.
async fn within<T, E: Into<QueueError>>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(unavailable(format!("{what}: no answer within {limit:?}"))),
    }
}

/// Cancels `lost` when `conn` reports an error or goes away, so that whatever waits on the
/// connection (a publish, its confirm) fails at once instead of waiting for its deadline.
fn watch(life: &Lifecycle, conn: &Connection, lost: CancellationToken) {
    let mut events = conn.events_listener();
    // an error before the listener existed is not sent to it
    if !conn.status().connected() {
        lost.cancel();
        return;
    }
    let stop = life.stopping();
    life.spawn("rabbitmq connection watcher", async move {
        loop {
            tokio::select! {
                () = lost.cancelled() => return,
                () = stop.cancelled() => return,
                e = events.next() => match e {
                    Some(lapin::Event::Error(_)) | None => {
                        lost.cancel();
                        return;
                    }
                    Some(_) => {}
                },
            }
        }
    });
}

/// An open publishing channel and the token cancelled when its connection is lost (or given
/// up). Dropping it cancels the token, which ends its watcher, and closes the connection in the
/// background (lapin keeps a dropped connection's socket open until its heartbeat fails).
struct Live {
    life: Lifecycle,
    conn: Option<Connection>,
    ch: Channel,
    lost: CancellationToken,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.lost.cancel();
        if let Some(conn) = self.conn.take() {
            close_soon(&self.life, conn);
        }
    }
}

/// How long a connection given up may take to close once the process is stopping: the drain
/// waits for the close, and a broker that is itself closing the connection may never answer
/// it (seen: a close that waited out its whole `CALL_TIMEOUT`, as long as the grace).
const CLOSE_WHILE_STOPPING: Duration = Duration::from_secs(1);

/// Closes `conn` in the background (within [`CALL_TIMEOUT`], or [`CLOSE_WHILE_STOPPING`] once
/// the process stops) if it is still open.
fn close_soon(life: &Lifecycle, conn: Connection) {
    if tokio::runtime::Handle::try_current().is_ok() && conn.status().connected() {
        let stopping = life.stopping();
        life.tasks().spawn(async move {
            let close = conn.close(200, "given up".into());
            tokio::pin!(close);
            tokio::select! {
                _ = tokio::time::timeout(CALL_TIMEOUT, &mut close) => {}
                () = stopping.cancelled() => {
                    let _ = tokio::time::timeout(CLOSE_WHILE_STOPPING, &mut close).await;
                }
            }
        });
    }
}

/// A publishing channel with confirms, kept while its connection lives and opened again (with
/// `setup` run on the new one) after a failure. Shared by the forwarder and the changes relay.
struct Publisher {
    cfg: AmqpConfig,
    life: Lifecycle,
    live: Mutex<Option<Live>>,
}

impl Publisher {
    fn new(cfg: AmqpConfig, life: Lifecycle) -> Self {
        Self {
            cfg,
            life,
            live: Mutex::new(None),
        }
    }

    /// The open channel and its connection's token, or a new one.
    async fn channel<F, Fut>(&self, setup: F) -> Result<(Channel, CancellationToken), QueueError>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<(), QueueError>>,
    {
        let mut guard = self.live.lock().await;
        if let Some(l) = guard.as_ref()
            && !l.lost.is_cancelled()
            && l.conn.as_ref().is_some_and(|c| c.status().connected())
            && l.ch.status().connected()
        {
            return Ok((l.ch.clone(), l.lost.clone()));
        }
        *guard = None;
        let conn = connect(&self.cfg).await?;
        let lost = CancellationToken::new();
        watch(&self.life, &conn, lost.clone());
        let open = async {
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            setup(ch.clone()).await?;
            Ok::<_, QueueError>(ch)
        };
        match within(CALL_TIMEOUT, "opening a channel", open).await {
            Ok(ch) => {
                *guard = Some(Live {
                    life: self.life.clone(),
                    conn: Some(conn),
                    ch: ch.clone(),
                    lost: lost.clone(),
                });
                Ok((ch, lost))
            }
            Err(e) => {
                lost.cancel();
                close_soon(&self.life, conn);
                Err(e)
            }
        }
    }
}

/// Publishes with `publish` on a channel whose connection `lost` watches, within
/// [`CALL_TIMEOUT`], then waits for the broker's answer within [`CONFIRM_TIMEOUT`]; any failure
/// gives the connection up (cancels `lost`), so the next publish opens a new one.
async fn confirmed_publish(
    lost: CancellationToken,
    publish: impl std::future::Future<Output = lapin::Result<lapin::PublisherConfirm>>,
) -> Result<BoxFuture<'static, Result<lapin::Confirmation, QueueError>>, QueueError> {
    let sent = tokio::select! {
        biased;
        r = within(CALL_TIMEOUT, "publishing", publish) => r,
        () = lost.cancelled() => Err(unavailable("the connection was lost")),
    };
    let confirm = match sent {
        Ok(c) => c,
        Err(e) => {
            lost.cancel();
            return Err(e);
        }
    };
    Ok(async move {
        let r = tokio::select! {
            biased;
            r = within(CONFIRM_TIMEOUT, "the broker's confirm", confirm) => r,
            () = lost.cancelled() => Err(unavailable("the connection was lost before the confirm")),
        };
        if r.is_err() {
            lost.cancel();
        }
        r
    }
    .boxed())
}

/// The forwarder's side: a confirming channel, opened again after a failure.
pub struct AmqpSink(Publisher);

impl AmqpSink {
    pub fn new(cfg: AmqpConfig, life: &Lifecycle) -> Self {
        Self(Publisher::new(cfg, life.clone()))
    }

    async fn channel(&self) -> Result<(Channel, CancellationToken), QueueError> {
        let queue = &self.0.cfg.queue;
        self.0
            .channel(|ch| async move {
                declare(&ch, queue).await?;
                tracing::info!(queue = %queue, "publishing to RabbitMQ");
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl Sink for AmqpSink {
    async fn publish(&self, m: Message) -> Result<Confirm, QueueError> {
        let (ch, lost) = self.channel().await?;
        let body = m.encode();
        let confirm = confirmed_publish(
            lost,
            ch.basic_publish(
                "".into(),
                self.0.cfg.queue.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_message_id(m.id().into()),
            ),
        )
        .await?;
        Ok(async move {
            let c = confirm.await?;
            if !c.is_ack() {
                return Err(QueueError::Refused(
                    "the broker did not take it (nack)".into(),
                ));
            }
            if c.take_message().is_some() {
                return Err(QueueError::Refused(
                    "the message was returned: no queue took it".into(),
                ));
            }
            Ok(())
        }
        .boxed())
    }
}

/// Profile changes (the webhook outbox, written with each change and with each incoming event
/// republished) as they go to RabbitMQ for other consumers: the durable topic exchange
/// `{queue}.changes`, each event's type (`profile.updated`...) its routing key, its id the
/// message id, published with confirms. Bind a queue to it to consume them.
pub struct AmqpChanges(Publisher);

impl AmqpChanges {
    pub fn new(cfg: AmqpConfig, life: &Lifecycle) -> Self {
        Self(Publisher::new(cfg, life.clone()))
    }

    /// The exchange's name.
    pub fn exchange(queue: &str) -> String {
        format!("{queue}.changes")
    }

    async fn channel(&self) -> Result<(Channel, CancellationToken), QueueError> {
        let exchange = Self::exchange(&self.0.cfg.queue);
        self.0
            .channel(|ch| async move {
                ch.exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)
            })
            .await
    }

    /// Publishes one event and waits for the broker to confirm it.
    pub async fn publish(&self, id: &str, kind: &str, payload: &[u8]) -> Result<(), QueueError> {
        let (ch, lost) = self.channel().await?;
        let exchange = Self::exchange(&self.0.cfg.queue);
        let confirm = confirmed_publish(
            lost,
            ch.basic_publish(
                exchange.as_str().into(),
                kind.into(),
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(id.into()),
            ),
        )
        .await?
        .await?;
        if confirm.is_ack() {
            Ok(())
        } else {
            Err(QueueError::Refused(
                "the broker did not take it (nack)".into(),
            ))
        }
    }
}

/// The consumer's side: a consumer on the queue, opened again after a failure.
pub struct AmqpSource {
    cfg: AmqpConfig,
    life: Lifecycle,
    consumer: Option<(Connection, lapin::Consumer)>,
}

impl AmqpSource {
    pub fn new(cfg: AmqpConfig, life: &Lifecycle) -> Self {
        Self {
            cfg,
            life: life.clone(),
            consumer: None,
        }
    }

    /// Drops the consumer (the next receive opens a new one) and closes its connection if it
    /// is still open: what it had not acknowledged is delivered again.
    fn give_up(&mut self) {
        if let Some((conn, _)) = self.consumer.take() {
            close_soon(&self.life, conn);
        }
    }

    async fn consumer(&mut self) -> Result<&mut lapin::Consumer, QueueError> {
        let healthy = self
            .consumer
            .as_ref()
            .is_some_and(|(c, _)| c.status().connected());
        if !healthy {
            self.give_up();
            let conn = connect(&self.cfg).await?;
            let open = async {
                let ch = conn.create_channel().await.map_err(unavailable)?;
                declare(&ch, &self.cfg.queue).await?;
                ch.basic_qos(self.cfg.prefetch, BasicQosOptions::default())
                    .await
                    .map_err(unavailable)?;
                ch.basic_consume(
                    self.cfg.queue.as_str().into(),
                    format!("linkleaf-{}", uuid::Uuid::now_v7()).into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)
            };
            let c = match within(CALL_TIMEOUT, "opening the consumer", open).await {
                Ok(c) => c,
                Err(e) => {
                    close_soon(&self.life, conn);
                    return Err(e);
                }
            };
            tracing::info!(queue = %self.cfg.queue, "consuming from RabbitMQ");
            self.consumer = Some((conn, c));
        }
        match self.consumer.as_mut() {
            Some((_, c)) => Ok(c),
            None => Err(unavailable("no consumer")),
        }
    }
}

#[async_trait]
impl Source for AmqpSource {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        let consumer = self.consumer().await?;
        while out.len() < max {
            let next = if out.is_empty() {
                match tokio::time::timeout_at(deadline, consumer.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                }
            } else {
                // what has already arrived, without waiting
                match consumer.next().now_or_never() {
                    Some(n) => n,
                    None => break,
                }
            };
            match next {
                Some(Ok(d)) => out.push(Delivery {
                    body: Bytes::from(d.data),
                    handle: Handle::Amqp(d.acker),
                }),
                Some(Err(e)) => {
                    self.give_up();
                    if out.is_empty() {
                        return Err(unavailable(e));
                    }
                    break;
                }
                None => {
                    self.give_up();
                    if out.is_empty() {
                        return Err(unavailable("the consumer was cancelled"));
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn ack(&mut self, deliveries: Vec<Delivery>) -> Result<(), QueueError> {
        // all at once: awaited one by one, each waited for lapin's I/O loop in turn, and a
        // window of a thousand messages spent most of a second acknowledging them
        let acks = deliveries.into_iter().filter_map(|d| match d.handle {
            Handle::Amqp(acker) => {
                Some(async move { acker.ack(lapin::options::BasicAckOptions::default()).await })
            }
            Handle::InProc(_) => None,
        });
        // the connection gone: the broker delivers these again, and they are recognised as
        // counted
        let all = async {
            match futures_util::future::join_all(acks)
                .await
                .into_iter()
                .find_map(Result::err)
            {
                Some(e) => Err(e),
                None => Ok(()),
            }
        };
        let r = within(CONFIRM_TIMEOUT, "acknowledging", all).await;
        if r.is_err() {
            self.give_up();
        }
        r
    }

    async fn reject(&mut self, d: Delivery) -> Result<(), QueueError> {
        if let Handle::Amqp(acker) = d.handle {
            let r = within(
                CALL_TIMEOUT,
                "rejecting",
                acker.reject(BasicRejectOptions { requeue: false }),
            )
            .await;
            if r.is_err() {
                self.give_up();
            }
            r?;
        }
        Ok(())
    }
}

/// Messages waiting in the dead-letter queue (for the metric and `/readyz`).
pub async fn dlq_depth(cfg: &AmqpConfig) -> Result<u32, QueueError> {
    let conn = connect(cfg).await?;
    let ask = async {
        let ch = conn.create_channel().await.map_err(unavailable)?;
        declare(&ch, &cfg.queue).await?;
        ch.queue_declare(
            format!("{}.dlq", cfg.queue).as_str().into(),
            QueueDeclareOptions {
                passive: true,
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)
    };
    let q = within(CALL_TIMEOUT, "reading the DLQ's depth", ask).await;
    let _ = tokio::time::timeout(CALL_TIMEOUT, conn.close(200, "done".into())).await;
    Ok(q?.message_count())
}
