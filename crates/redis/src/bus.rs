//! The invalidation bus: every write is published on `{prefix}:bus` (Redis pub/sub; in a
//! cluster, `PUBLISH` reaches every node) and every instance's subscriber drops what it names.
//!
//! An instance that was cut off cannot know what it missed, so the subscriber reports
//! `BusEvent::Connected` each time it (re)subscribes, and the application then drops every L1
//! entry (those loaded afterwards are fresh). A connection can die silently (a blackholed peer
//! never errors), so the subscriber publishes a heartbeat every `heartbeat` and, when it stops
//! hearing its own, takes the connection for dead and subscribes again.
//! Must not: block the caller of `publish` beyond the Redis timeout.

use crate::client::Redis;
use async_trait::async_trait;
use futures_util::StreamExt;
use linkleaf_cache::Invalidation;
use linkleaf_cache::tier::{Bus, TierError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What travels on the channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BusMessage {
    /// The instance that sent it (an instance ignores its own invalidations: it applied them).
    pub from: Uuid,
    /// When it was sent (ms since the epoch), for the lag metric.
    pub at_ms: u64,
    /// Username keys whose entries go.
    #[serde(default)]
    pub keys: Vec<String>,
    /// The profile whose entries go, under whatever key they are cached.
    #[serde(default)]
    pub owner: Option<Uuid>,
    /// A liveness check of the sender's own subscription, not an invalidation.
    #[serde(default)]
    pub heartbeat: bool,
}

/// What the subscriber tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// (Re)subscribed: whatever was missed meanwhile is unknown; drop what cannot be proven fresh.
    Connected,
    /// Lost: invalidations from other instances are not arriving.
    Disconnected,
    /// Another instance changed these.
    Invalidate(Invalidation),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Publishes this instance's invalidations.
pub struct RedisBus {
    redis: Redis,
    instance: Uuid,
}

impl RedisBus {
    pub fn new(redis: Redis, instance: Uuid) -> Self {
        Self { redis, instance }
    }
}

impl Redis {
    async fn publish_message(&self, msg: &BusMessage) -> Result<(), TierError> {
        let payload = serde_json::to_vec(msg).map_err(|e| TierError::Failed(e.to_string()))?;
        let channel = self.channel();
        let _receivers: i64 = self
            .call(|mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&payload)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        self.0.metrics.bus_sent.increment(1);
        Ok(())
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, inv: &Invalidation) -> Result<(), TierError> {
        self.redis
            .publish_message(&BusMessage {
                from: self.instance,
                at_ms: now_ms(),
                keys: inv.keys.clone(),
                owner: inv.owner,
                heartbeat: false,
            })
            .await
    }
}

/// Keeps a subscription to the bus until `stop`, reporting to `on`. Reconnects with backoff;
/// each (re)subscription is reported as `Connected`.
pub async fn subscribe(
    redis: Redis,
    instance: Uuid,
    on: Arc<dyn Fn(BusEvent) + Send + Sync>,
    stop: CancellationToken,
) {
    let inner = redis.0.clone();
    let m = &inner.metrics;
    let channel = redis.channel();
    let mut node = 0usize;
    let mut backoff = Duration::from_millis(50);
    let mut was_connected = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let client = &inner.nodes[node % inner.nodes.len()];
        let attempt = tokio::time::timeout(inner.connect_timeout, async {
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(ps)
        })
        .await;
        let pubsub = match attempt {
            Ok(Ok(ps)) => ps,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                tracing::debug!(error = %why, "bus: cannot subscribe");
                node += 1;
                let jitter =
                    Duration::from_millis(u64::from(uuid::Uuid::now_v7().as_bytes()[15]) % 50);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff + jitter) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if was_connected {
            m.bus_reconnects.increment(1);
            tracing::info!("bus: subscribed again; dropping what was cached meanwhile");
        }
        was_connected = true;
        inner.bus_connected.store(true, Ordering::Relaxed);
        m.bus_connected.set(1.0);
        on(BusEvent::Connected);

        let (_sink, mut stream) = pubsub.split();
        let mut heard = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(inner.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lost = loop {
            tokio::select! {
                () = stop.cancelled() => break false,
                msg = stream.next() => {
                    let Some(msg) = msg else { break true };
                    let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
                    let Ok(msg) = serde_json::from_slice::<BusMessage>(&payload) else {
                        tracing::warn!("bus: an undecodable message was ignored");
                        continue;
                    };
                    let lag = now_ms().saturating_sub(msg.at_ms);
                    if msg.from == instance {
                        if msg.heartbeat {
                            heard = tokio::time::Instant::now();
                        }
                        continue;
                    }
                    if msg.heartbeat {
                        continue;
                    }
                    m.bus_received.increment(1);
                    m.bus_lag.record(lag as f64 / 1000.0);
                    on(BusEvent::Invalidate(Invalidation { keys: msg.keys, owner: msg.owner }));
                }
                _ = tick.tick() => {
                    if heard.elapsed() > inner.heartbeat * 3 {
                        tracing::warn!("bus: own heartbeats stopped arriving; subscribing again");
                        break true;
                    }
                    let beat = BusMessage { from: instance, at_ms: now_ms(), keys: vec![], owner: None, heartbeat: true };
                    if let Err(e) = redis.publish_message(&beat).await {
                        tracing::debug!(error = %e, "bus: heartbeat not sent");
                    }
                }
            }
        };
        inner.bus_connected.store(false, Ordering::Relaxed);
        m.bus_connected.set(0.0);
        on(BusEvent::Disconnected);
        if !lost {
            return;
        }
        node += 1;
    }
}
