//! The spool's tests: clicks written before they are answered and read back once, views
//! counted once across flushes, closing, a reader racing the writer, a torn tail, a failed
//! write taken back, a full spool, a full disk, and damage on disk recovered around.
//! Must not: sleep to wait for the writer (each test drives a step or waits on a condition).

use super::frame::frame_bytes;
use super::segments::list as segments;
use super::*;
use crate::event::{Event, Kind};
use std::fs::OpenOptions;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn hit(kind: Kind) -> Hit {
    Hit {
        kind,
        profile: Uuid::nil(),
        link: (kind == Kind::Click).then(Uuid::nil),
        at_ms: 1_795_600_000_000,
        client: "203.0.113.9".parse::<IpAddr>().unwrap(),
        user_agent: Some(http::HeaderValue::from_static("Mozilla/5.0")),
        referer: Some(http::HeaderValue::from_static("https://news.example/a")),
        geo: None,
        head: false,
    }
}

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        fsync: Fsync::Never,
        segment_bytes: 4096,
        max_bytes: 1 << 30,
        keep_referrer: true,
    }
}

/// The sequence numbers of every frame a new reader reads.
async fn read(shared: Arc<Shared>) -> Vec<u64> {
    SpoolReader::new(shared)
        .next(100_000, u64::MAX)
        .await
        .iter()
        .map(|f| f.seq)
        .collect()
}

fn start(c: SpoolConfig) -> (Spool, Lifecycle) {
    open_with(c, EventMetrics::noop())
}

/// The spool in `c`, under a lifecycle of its own.
fn open_with(c: SpoolConfig, metrics: EventMetrics) -> (Spool, Lifecycle) {
    let life = Lifecycle::new(Duration::from_secs(10));
    let spool = open(
        c,
        Arc::new(Salts::default()),
        Arc::new(Geo::default()),
        metrics,
        &life,
    )
    .unwrap();
    (spool, life)
}

/// Drains `life`: the writer and the threads around it have ended.
async fn stopped(life: &Lifecycle) {
    let left = life.drain_within_grace().await;
    assert!(left.complete(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_are_written_before_they_are_answered_and_read_back_once() {
    // the runtime's thread writes (never, interval), or the writer thread (always)
    for fsync in [
        Fsync::Never,
        Fsync::Interval(Duration::from_millis(1)),
        Fsync::Always,
    ] {
        written_and_read_back(fsync).await;
    }
}

async fn written_and_read_back(fsync: Fsync) {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(SpoolConfig {
        fsync,
        ..cfg(dir.path())
    });
    let shared = spool.shared().clone();
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let s = spool.clone();
            tokio::spawn(async move { s.click(hit(Kind::Click)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    spool.view(
        Uuid::nil(),
        "203.0.113.9".parse().unwrap(),
        b"Mozilla/5.0",
        "",
    );
    drop(spool);
    stopped(&life).await;
    let r = SpoolReader::new(shared.clone());
    let mut events = 0;
    loop {
        let frames = r.next(7, u64::MAX).await;
        if frames.is_empty() {
            break;
        }
        for f in &frames {
            let es = crate::event::decode_all(&f.events).unwrap();
            assert_eq!(es.len(), f.count as usize);
            assert!(
                es.iter()
                    .filter(|e| e.kind == Kind::Click)
                    .all(|e| e.referrer == "news.example"),
                "host only"
            );
            events += es.len();
        }
    }
    assert_eq!(events, 501, "every event once, across segments ({fsync:?})");
    assert!(segments(dir.path()).unwrap().len() > 1, "segments rotated");
    // confirming deletes what is behind the cursor, and a new reader starts after it
    let last = shared.last_seq();
    let before = shared.bytes();
    r.confirm(last, false).await.unwrap();
    assert!(shared.bytes() < before);
    assert_eq!(
        segments(dir.path()).unwrap().len(),
        1,
        "the current segment stays"
    );
    assert!(
        SpoolReader::new(shared)
            .next(100, u64::MAX)
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_from_many_threads_are_each_counted_once_across_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(cfg(dir.path()));
    let shared = spool.shared().clone();
    let pages = [Uuid::from_u128(1), Uuid::from_u128(2)];
    // four connections, each viewing until the writer has taken their groups several times;
    // one switches page and user agent often
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let (spool, shared) = (spool.clone(), shared.clone());
            std::thread::spawn(move || {
                let mut sent = std::collections::HashMap::<(Uuid, Vec<u8>), u32>::new();
                let client: IpAddr = [203, 0, 113, t].into();
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut i = 0u32;
                while shared.last_seq() < 4 {
                    assert!(Instant::now() < deadline, "the views were never written");
                    let (page, ua) = if t == 3 {
                        (pages[(i / 7 % 2) as usize], format!("ua-{t}-{}", i / 3 % 2))
                    } else {
                        (pages[t as usize % 2], format!("Mozilla/5.0 ({t})"))
                    };
                    spool.view(page, client, ua.as_bytes(), "");
                    *sent.entry((page, ua.into_bytes())).or_default() += 1;
                    i += 1;
                }
                (client, sent)
            })
        })
        .collect();
    let sent: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    spool.close().await;
    stopped(&life).await;
    let events: Vec<Event> = SpoolReader::new(shared)
        .next(10_000, u64::MAX)
        .await
        .iter()
        .flat_map(|f| crate::event::decode_all(&f.events).unwrap())
        .collect();
    // each connection's user agents are its own
    for (client, groups) in sent {
        for ((page, ua), n) in groups {
            let written: u64 = events
                .iter()
                .filter(|e| e.profile == page && e.user_agent.as_bytes() == ua)
                .map(|e| u64::from(e.count))
                .sum();
            assert_eq!(
                written,
                u64::from(n),
                "{client} {page} {}",
                String::from_utf8_lossy(&ua)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_writes_what_was_sent_and_refuses_the_rest_and_one_process_owns_a_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(cfg(dir.path()));
    let err = open(
        cfg(dir.path()),
        Arc::new(Salts::default()),
        Arc::new(Geo::default()),
        EventMetrics::noop(),
        &Lifecycle::new(Duration::from_secs(1)),
    )
    .err()
    .expect("a second open of a spool in use fails");
    assert!(err.to_string().contains("in use"), "{err}");
    for _ in 0..100 {
        spool.view(
            Uuid::nil(),
            "203.0.113.9".parse().unwrap(),
            b"Mozilla/5.0",
            "",
        );
    }
    spool.close().await;
    let shared = spool.shared().clone();
    // the writer stops with every handle still alive: close does not wait for drops
    stopped(&life).await;
    assert_eq!(spool.click(hit(Kind::Click)).await, Err(Refused::Closed));
    let r = SpoolReader::new(shared);
    let frames = r.next(1000, u64::MAX).await;
    let events: Vec<Event> = frames
        .iter()
        .flat_map(|f| crate::event::decode_all(&f.events).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "alike views are one event");
    assert_eq!(
        events[0].count, 100,
        "views sent before the close are written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_racing_the_writer_gets_every_frame_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(cfg(dir.path()));
    let shared = spool.shared().clone();
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let s = spool.clone();
            tokio::spawn(async move {
                for _ in 0..500 {
                    s.click(hit(Kind::Click)).await.unwrap();
                }
            })
        })
        .collect();
    // read while they write: small reads, often at the tail and across rotations
    let reader = tokio::spawn({
        let shared = shared.clone();
        async move {
            let r = SpoolReader::new(shared.clone());
            let (mut last, mut events) = (0u64, 0u32);
            let deadline = Instant::now() + Duration::from_secs(30);
            while events < 4000 {
                assert!(Instant::now() < deadline, "read {events} of 4000 events");
                for f in r.next(3, u64::MAX).await {
                    assert_eq!(f.seq, last + 1, "frames in order, none skipped");
                    last = f.seq;
                    events += f.count;
                }
            }
            events
        }
    });
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), 4000);
    drop(spool);
    stopped(&life).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_cut_off_and_numbering_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(cfg(dir.path()));
    for _ in 0..3 {
        spool.click(hit(Kind::Click)).await.unwrap();
    }
    let last = spool.shared().last_seq();
    drop(spool);
    stopped(&life).await;
    // a crash in the middle of a write leaves half a frame
    let (_, seg) = segments(dir.path()).unwrap().pop().unwrap();
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&frame_bytes(last + 1, &[])[..9]).unwrap();
    drop(f);
    let (spool, life) = start(cfg(dir.path()));
    spool.click(hit(Kind::Click)).await.unwrap();
    assert_eq!(spool.shared().last_seq(), last + 1);
    let shared = spool.shared().clone();
    drop(spool);
    stopped(&life).await;
    let frames = SpoolReader::new(shared).next(100, u64::MAX).await;
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, (1..=last + 1).collect::<Vec<_>>());
}

/// A write that fails half-way (a full disk) leaves nothing behind that could hide the
/// frames written after it: every click answered before and after is read back in order,
/// and kept by the next start, whether the torn bytes could be cut off or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_taken_back_and_hides_no_later_click() {
    for cut_fails in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (spool, life) = start(cfg(dir.path()));
        spool.click(hit(Kind::Click)).await.unwrap();
        spool
            .shared()
            .faults
            .fail_cut
            .store(cut_fails, Ordering::SeqCst);
        spool
            .shared()
            .faults
            .tear_next_write
            .store(true, Ordering::SeqCst);
        assert_eq!(
            spool.click(hit(Kind::Click)).await,
            Err(Refused::Failed),
            "the click of the torn write is refused"
        );
        for _ in 0..3 {
            spool.click(hit(Kind::Click)).await.unwrap();
        }
        let shared = spool.shared().clone();
        assert_eq!(shared.last_seq(), 4, "the refused frame took no number");
        assert_eq!(
            read(shared.clone()).await,
            vec![1, 2, 3, 4],
            "cut fails: {cut_fails}"
        );
        drop((spool, shared));
        stopped(&life).await;
        // a restart keeps every answered click
        let (spool, life) = start(cfg(dir.path()));
        assert_eq!(read(spool.shared().clone()).await, vec![1, 2, 3, 4]);
        drop(spool);
        stopped(&life).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_refuses_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.max_bytes = 300;
    let (spool, _life) = start(c);
    let mut refused = 0;
    for _ in 0..10 {
        if spool.click(hit(Kind::Click)).await == Err(Refused::Full) {
            refused += 1;
        }
    }
    assert!(refused >= 7, "{refused}");
}

/// Metrics that can be read back: the handle renders them.
fn counted() -> (
    EventMetrics,
    metrics_exporter_prometheus::PrometheusHandle,
    metrics_exporter_prometheus::PrometheusRecorder,
) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    (EventMetrics::register(&recorder), handle, recorder)
}

fn metric(handle: &metrics_exporter_prometheus::PrometheusHandle, series: &str) -> u64 {
    handle
        .render()
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Damage in several places of the active segment and of older ones (zeroed bytes, a flipped
/// bit, a broken magic, a damaged tail): every frame the damage does not touch is read back
/// once after a restart, the skipped bytes and the frames lost are counted, and each damaged
/// segment is kept aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_costs_only_the_frames_it_touches_in_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, life) = start(cfg(dir.path()));
    // one frame per click: each is awaited before the next
    for _ in 0..200 {
        spool.click(hit(Kind::Click)).await.unwrap();
    }
    drop(spool);
    stopped(&life).await;
    let segs = segments(dir.path()).unwrap();
    assert!(segs.len() >= 5, "{} segments", segs.len());
    // where each frame lies
    // each segment's path and its frames (offset, length, seq)
    type Layout = Vec<(PathBuf, Vec<(u64, u64, u64)>)>;
    let layout: Layout = segs
        .iter()
        .map(|(_, p)| {
            let f = std::fs::File::open(p).unwrap();
            (p.clone(), super::frame::Scan::of(&f).unwrap().frames)
        })
        .collect();
    let all: Vec<u64> = layout
        .iter()
        .flat_map(|(_, fs)| fs.iter().map(|f| f.2))
        .collect();
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    let damage = |seg: usize, at: u64, bytes: &[u8]| {
        let f = OpenOptions::new().write(true).open(&layout[seg].0).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, bytes, at).unwrap();
        (seg, at, bytes.len() as u64)
    };
    let last = layout.len() - 1;
    let mid = |seg: usize| {
        let fs = &layout[seg].1;
        fs[fs.len() / 2]
    };
    let tail = |seg: usize| layout[seg].1.last().map(|f| f.0 + f.1).unwrap();
    let hits = [
        // 64 zeroed bytes in the middle of the active segment
        damage(last, mid(last).0 + 5, &[0u8; 64]),
        // one flipped byte in a frame of the first segment
        damage(0, mid(0).0 + mid(0).1 - 3, &[0xAA]),
        // a broken magic in the second segment
        damage(1, mid(1).0, b"XXXX"),
        // the last 10 bytes of the third segment overwritten
        damage(2, tail(2) - 10, &[0xA5u8; 10]),
    ];
    let touched = |seg: usize, f: &(u64, u64, u64)| {
        hits.iter()
            .any(|&(s, at, len)| s == seg && at < f.0 + f.1 && f.0 < at + len)
    };
    let expected: Vec<u64> = layout
        .iter()
        .enumerate()
        .flat_map(|(i, (_, fs))| fs.iter().filter(move |f| !touched(i, f)).map(|f| f.2))
        .collect();
    let lost = 200 - expected.len() as u64;
    assert!(lost >= 4, "each hit took a frame: {lost}");
    let (metrics, handle, _recorder) = counted();
    let (spool, life) = open_with(cfg(dir.path()), metrics);
    assert_eq!(
        read(spool.shared().clone()).await,
        expected,
        "every intact frame, once, in order"
    );
    // the spool goes on after its last frame, and a new click is read after the rest
    spool.click(hit(Kind::Click)).await.unwrap();
    let mut with_new = expected.clone();
    with_new.push(201);
    assert_eq!(read(spool.shared().clone()).await, with_new);
    assert_eq!(metric(&handle, "linkleaf_spool_corrupt_frames_total"), lost);
    let skipped = metric(&handle, "linkleaf_spool_corrupt_bytes_total");
    assert!(skipped >= 64 + 10, "{skipped} bytes counted as skipped");
    let aside = std::fs::read_dir(dir.path().join("damaged"))
        .unwrap()
        .count();
    assert_eq!(aside, 4, "each damaged segment is kept for inspection");
    drop(spool);
    stopped(&life).await;
    // a second start finds nothing more to repair
    let (metrics, handle, _recorder) = counted();
    let (spool, life) = open_with(cfg(dir.path()), metrics);
    assert_eq!(read(spool.shared().clone()).await, with_new);
    assert_eq!(metric(&handle, "linkleaf_spool_corrupt_bytes_total"), 0);
    drop(spool);
    stopped(&life).await;
}

/// A disk that refuses writes: the clicks are refused as a disk error (not as a full spool),
/// counted, and the spool says why until a write succeeds again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_disk_error_shown_until_writes_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let (metrics, handle, _recorder) = counted();
    let (spool, life) = open_with(cfg(dir.path()), metrics);
    spool.click(hit(Kind::Click)).await.unwrap();
    assert_eq!(spool.shared().write_failure(), None);
    spool
        .shared()
        .faults
        .disk_full
        .store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(spool.click(hit(Kind::Click)).await, Err(Refused::Failed));
    }
    let why = spool
        .shared()
        .write_failure()
        .expect("the failure is shown");
    assert!(why.contains("No space left"), "{why}");
    assert_eq!(metric(&handle, "linkleaf_spool_write_errors_total"), 3);
    assert_eq!(
        metric(
            &handle,
            "linkleaf_events_dropped_total{reason=\"disk_error\"}"
        ),
        3
    );
    assert_eq!(
        metric(
            &handle,
            "linkleaf_events_dropped_total{reason=\"spool_full\"}"
        ),
        0
    );
    spool
        .shared()
        .faults
        .disk_full
        .store(false, Ordering::SeqCst);
    spool.click(hit(Kind::Click)).await.unwrap();
    assert_eq!(spool.shared().write_failure(), None);
    assert_eq!(read(spool.shared().clone()).await, vec![1, 2]);
    drop(spool);
    stopped(&life).await;
}

/// Damage met while running (no restart): the reader skips to the next frame that checks out,
/// and counts what it skipped once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_reader_skips_damage_to_the_next_valid_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (metrics, handle, _recorder) = counted();
    let (spool, life) = open_with(cfg(dir.path()), metrics);
    for _ in 0..60 {
        spool.click(hit(Kind::Click)).await.unwrap();
    }
    let (_, first) = segments(dir.path()).unwrap().remove(0);
    let frames = super::frame::Scan::of(&std::fs::File::open(&first).unwrap())
        .unwrap()
        .frames;
    let (at, len, seq) = frames[3];
    let f = OpenOptions::new().write(true).open(&first).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xA5u8; 8], at + len / 2).unwrap();
    let expected: Vec<u64> = (1..=60).filter(|s| *s != seq).collect();
    let r = SpoolReader::new(spool.shared().clone());
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(r.next(7, u64::MAX).await.iter().map(|f| f.seq));
    }
    r.rewind();
    got.clear();
    loop {
        let more: Vec<u64> = r.next(7, u64::MAX).await.iter().map(|f| f.seq).collect();
        if more.is_empty() {
            break;
        }
        got.extend(more);
    }
    assert_eq!(got, expected);
    assert_eq!(metric(&handle, "linkleaf_spool_corrupt_frames_total"), 1);
    assert_eq!(metric(&handle, "linkleaf_spool_corrupt_bytes_total"), len);
    drop(spool);
    stopped(&life).await;
}
