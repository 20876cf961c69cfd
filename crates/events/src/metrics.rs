//! The journey's counters, registered once: `linkleaf_events_accepted_total{kind}`,
//! `linkleaf_events_spooled_total`, `linkleaf_events_dropped_total{reason}`,
//! `linkleaf_spool_bytes`, `linkleaf_spool_frames_total`, `linkleaf_spool_corrupt_frames_total`
//! and `linkleaf_spool_corrupt_bytes_total` (frames lost to damage on disk, and the bytes
//! skipped), `linkleaf_spool_write_errors_total` (writes the disk refused),
//! `linkleaf_spool_fsyncs_total` (what `clicks.fsync` costs: per batch, per interval, or none),
//! `linkleaf_spool_backlog_frames` (written, not yet taken for good by the queue),
//! `linkleaf_frames_forwarded_total`, `linkleaf_frames_confirmed_total`,
//! `linkleaf_events_consumed_total`, `linkleaf_events_committed_total`,
//! `linkleaf_events_duplicate_total` (skipped: counted before), `linkleaf_frames_rejected_total`
//! (deliveries that could not be processed; RabbitMQ dead-letters each at once),
//! `linkleaf_window_commit_seconds`, `linkleaf_consumer_pending_events`,
//! `linkleaf_consumer_held_messages` (received and not yet acknowledged or rejected, those being
//! rolled up included: what the queue no longer shows as ready), `linkleaf_dlq_depth`
//! (messages in the dead-letter queue).
//! Must not: label a series with a profile, a link or a client (every label is from a closed set).

use metrics::{Counter, Gauge, Histogram};

#[derive(Clone)]
pub struct EventMetrics {
    pub accepted_clicks: Counter,
    pub accepted_views: Counter,
    pub spooled: Counter,
    pub dropped_full: Counter,
    pub dropped_busy: Counter,
    pub dropped_disk: Counter,
    pub write_errors: Counter,
    pub corrupt_bytes: Counter,
    pub spool_bytes: Gauge,
    pub backlog: Gauge,
    pub frames_written: Counter,
    pub fsyncs: Counter,
    pub corrupt: Counter,
    pub forwarded: Counter,
    pub confirmed: Counter,
    pub consumed: Counter,
    pub committed: Counter,
    pub duplicates: Counter,
    pub rejected: Counter,
    pub commit_seconds: Histogram,
    pub pending: Gauge,
    pub held: Gauge,
    pub dlq_depth: Gauge,
}

impl EventMetrics {
    pub fn register(recorder: &dyn metrics::Recorder) -> Self {
        metrics::with_local_recorder(recorder, || Self {
            accepted_clicks: metrics::counter!("linkleaf_events_accepted_total", "kind" => "click"),
            accepted_views: metrics::counter!("linkleaf_events_accepted_total", "kind" => "view"),
            spooled: metrics::counter!("linkleaf_events_spooled_total"),
            dropped_full: metrics::counter!("linkleaf_events_dropped_total", "reason" => "spool_full"),
            dropped_busy: metrics::counter!("linkleaf_events_dropped_total", "reason" => "writer_busy"),
            dropped_disk: metrics::counter!("linkleaf_events_dropped_total", "reason" => "disk_error"),
            write_errors: metrics::counter!("linkleaf_spool_write_errors_total"),
            corrupt_bytes: metrics::counter!("linkleaf_spool_corrupt_bytes_total"),
            spool_bytes: metrics::gauge!("linkleaf_spool_bytes"),
            backlog: metrics::gauge!("linkleaf_spool_backlog_frames"),
            frames_written: metrics::counter!("linkleaf_spool_frames_total"),
            fsyncs: metrics::counter!("linkleaf_spool_fsyncs_total"),
            corrupt: metrics::counter!("linkleaf_spool_corrupt_frames_total"),
            forwarded: metrics::counter!("linkleaf_frames_forwarded_total"),
            confirmed: metrics::counter!("linkleaf_frames_confirmed_total"),
            consumed: metrics::counter!("linkleaf_events_consumed_total"),
            committed: metrics::counter!("linkleaf_events_committed_total"),
            duplicates: metrics::counter!("linkleaf_events_duplicate_total"),
            rejected: metrics::counter!("linkleaf_frames_rejected_total"),
            commit_seconds: metrics::histogram!("linkleaf_window_commit_seconds"),
            pending: metrics::gauge!("linkleaf_consumer_pending_events"),
            held: metrics::gauge!("linkleaf_consumer_held_messages"),
            dlq_depth: metrics::gauge!("linkleaf_dlq_depth"),
        })
    }

    /// Metrics that go nowhere (tests of the parts).
    pub fn noop() -> Self {
        Self::register(&metrics::NoopRecorder)
    }
}
