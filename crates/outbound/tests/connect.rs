//! The outbound connector against a real listener on loopback, with an injected resolver (no
//! public DNS needed): URLs users supply reach no internal address, by literal or by name,
//! whatever a name answers between the check and the connection; an operator's allowed network
//! is reached.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use async_trait::async_trait;
use bytes::Bytes;
use hyper::Method;
use linkleaf_outbound::{AddressPolicy, Client, Destinations, Resolve};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Names answered from a table; a name with several answers gives them one call after another
/// (the last one from then on).
#[derive(Default)]
struct Table {
    answers: HashMap<String, Vec<Vec<IpAddr>>>,
    calls: std::sync::Mutex<HashMap<String, usize>>,
    slow: Option<Duration>,
}

#[async_trait]
impl Resolve for Table {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        if let Some(d) = self.slow {
            tokio::time::sleep(d).await;
        }
        let n = {
            let mut c = self.calls.lock().unwrap();
            let n = c.entry(host.to_owned()).or_default();
            *n += 1;
            *n - 1
        };
        let answers = self
            .answers
            .get(host)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))?;
        Ok(answers[n.min(answers.len() - 1)].clone())
    }
}

fn table(entries: &[(&str, &[&[&str]])]) -> Arc<Table> {
    Arc::new(Table {
        answers: entries
            .iter()
            .map(|(name, answers)| {
                (
                    (*name).to_owned(),
                    answers
                        .iter()
                        .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                        .collect(),
                )
            })
            .collect(),
        ..Table::default()
    })
}

/// A receiver on 127.0.0.1 that answers 200 and counts the connections it accepted.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, accepted)
}

async fn post(client: &Client, url: &str) -> Result<u16, String> {
    client
        .send(Method::POST, url, &[], Bytes::new(), Duration::from_secs(5))
        .await
        .map(|a| a.status.as_u16())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn internal_addresses_are_refused_by_literal_by_name_and_by_rebinding() {
    let (port, accepted) = receiver().await;
    let names = table(&[
        ("loopback.test", &[&["127.0.0.1"]]),
        ("mixed.test", &[&["8.8.8.8", "127.0.0.1"]]),
        ("metadata.google.internal", &[&["169.254.169.254"]]),
        // public for the check, loopback for the connection
        ("rebind.test", &[&["8.8.8.8"], &["127.0.0.1"]]),
    ]);
    let d = Destinations::checked(AddressPolicy::default(), names);
    let client = Client::to(d.clone(), Duration::from_secs(1), 1024).unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/metrics"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://loopback.test:{port}/"),
        format!("http://mixed.test:{port}/"),
        format!("https://metadata.google.internal:{port}/computeMetadata/v1/"),
    ] {
        let e = post(&client, &url).await.unwrap_err();
        assert!(e.contains("refused"), "{url}: {e}");
        assert!(
            d.check_url(&url).await.is_err(),
            "{url} is refused when given"
        );
    }
    // rebinding: the name checked public as it was given, then answers loopback
    let url = format!("http://rebind.test:{port}/");
    assert_eq!(d.check_url(&url).await, Ok(()));
    let e = post(&client, &url).await.unwrap_err();
    assert!(e.contains("127.0.0.1 is loopback"), "{e}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    // the refusal names the rule
    let r = d
        .check_url("http://169.254.169.254/latest/meta-data/")
        .await
        .unwrap_err();
    assert_eq!(r.rule, "link-local (cloud metadata)");
}

#[tokio::test]
async fn an_allowed_network_is_reached_and_trusted_destinations_are_not_checked() {
    let (port, accepted) = receiver().await;
    let names = table(&[("receiver.test", &[&["127.0.0.1"]])]);
    let d = Destinations::checked(
        AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]),
        names,
    );
    let client = Client::to(d.clone(), Duration::from_secs(1), 1024).unwrap();
    assert_eq!(
        post(&client, &format!("http://receiver.test:{port}/")).await,
        Ok(200)
    );
    assert_eq!(
        post(&client, &format!("http://127.0.0.1:{port}/")).await,
        Ok(200)
    );
    assert!(
        post(&client, &format!("http://10.0.0.1:{port}/"))
            .await
            .is_err()
    );
    let trusted = Client::new(Duration::from_secs(1), 1024).unwrap();
    assert_eq!(
        post(&trusted, &format!("http://127.0.0.1:{port}/")).await,
        Ok(200)
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_name_that_does_not_resolve_in_time_is_accepted_and_checked_at_each_send() {
    let d = Destinations::checked(AddressPolicy::default(), table(&[]));
    assert_eq!(d.check_url("https://not-yet.example/hook").await, Ok(()));
    let slow = Arc::new(Table {
        answers: [(
            "slow.test".to_owned(),
            vec![vec!["127.0.0.1".parse().unwrap()]],
        )]
        .into(),
        slow: Some(Duration::from_secs(5)),
        ..Table::default()
    });
    let d = Destinations::checked(AddressPolicy::default(), slow);
    // the check gives up after a second: accepted
    assert_eq!(d.check_url("http://slow.test/").await, Ok(()));
    // the send waits for the answer, and refuses it
    let e = d.addresses("slow.test").await.unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
}
