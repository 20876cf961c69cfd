//! Servers a test owns: a `redis-server` on a free port (to kill, pause and restart), a real
//! three-master Redis Cluster, a database of its own on the PostgreSQL server, a unique key
//! prefix on the shared Redis, and queues of its own on RabbitMQ (deleted after). When one cannot be had the test says so loudly and skips (it
//! fails under CI): see `linkleaf_store::testing::missing`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use linkleaf_store::testing::{TempPostgres, missing};

/// A port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends one inline command to a Redis server and returns its first reply line.
pub fn redis_command(port: u16, cmd: &str) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// A `redis-server` of one test's own.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    args: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// With extra `redis-server` arguments.
    pub fn start_with(args: &[&str]) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            missing("Redis (redis-server)", "not installed");
            return None;
        }
        let mut s = Self {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ])
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis_command(self.port, "PING")
            .map(|r| r != "+PONG")
            .unwrap_or(true)
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: gone at once, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port (empty: it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGSTOP: connections stay open and nothing answers.
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }

    pub fn command(&self, cmd: &str) -> String {
        redis_command(self.port, cmd).unwrap_or_else(|e| format!("-ERR {e}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.thaw();
        self.kill();
    }
}

/// Three `redis-server --cluster-enabled yes` joined by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Option<Self> {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&o.stdout)
            ),
            Err(e) => {
                missing("Redis Cluster (redis-cli)", e);
                return None;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            loop {
                let info = cluster_info(n.port);
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not form: {info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Self { nodes })
    }

    /// The seed nodes, as `redis.url` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn cluster_info(port: u16) -> String {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The shared Redis (`LINKLEAF_TEST_REDIS`, default `redis://127.0.0.1:6379`) and a key prefix
/// no other test uses, or `None` after `missing`.
pub fn shared_redis() -> Option<(String, String)> {
    let url =
        std::env::var("LINKLEAF_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .unwrap_or(6379);
    match redis_command(port, "PING") {
        Ok(r) if r == "+PONG" => {}
        other => {
            missing("Redis", format!("{url}: {other:?}"));
            return None;
        }
    }
    let prefix = format!("test{}", uuid::Uuid::now_v7().simple());
    Some((url, prefix))
}

/// RabbitMQ (`LINKLEAF_TEST_AMQP`, default `amqp://guest:guest@127.0.0.1:5672/%2f`) and a queue
/// name no other test uses; the queue, its dead-letter exchange and its dead-letter queue are
/// deleted when this is dropped.
pub struct TempQueue {
    pub url: String,
    pub name: String,
}

impl TempQueue {
    /// `None` (after `missing`) when RabbitMQ cannot be reached.
    pub async fn create() -> Option<Self> {
        let url = std::env::var("LINKLEAF_TEST_AMQP")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            lapin::Connection::connect(&url, lapin::ConnectionProperties::default()),
        )
        .await;
        match conn {
            Ok(Ok(c)) => {
                let _ = c.close(200, "probe".into()).await;
            }
            Ok(Err(e)) => {
                missing("RabbitMQ", format!("{url}: {e}"));
                return None;
            }
            Err(_) => {
                missing("RabbitMQ", format!("{url}: no answer in 5 s"));
                return None;
            }
        }
        Some(Self {
            url,
            name: format!("linkleaf-test-{}", uuid::Uuid::now_v7().simple()),
        })
    }

    pub fn config(&self) -> linkleaf_events::queue::amqp::AmqpConfig {
        linkleaf_events::queue::amqp::AmqpConfig {
            url: linkleaf_domain::Secret::new(self.url.clone()),
            queue: self.name.clone(),
            prefetch: 1000,
        }
    }

    /// The broker's address (for a test to put a `FaultProxy` in front of it).
    pub fn broker(&self) -> std::net::SocketAddr {
        self.url
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .expect("an amqp://user:password@ip:port/vhost URL")
    }

    /// This queue's URL with `proxy`'s address in place of the broker's.
    pub fn url_via(&self, proxy: std::net::SocketAddr) -> String {
        self.url
            .replace(&self.broker().to_string(), &proxy.to_string())
    }

    /// A channel on the broker, for a test to publish or inspect with.
    pub async fn channel(&self) -> (lapin::Connection, lapin::Channel) {
        let conn = lapin::Connection::connect(&self.url, lapin::ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
        let ch = conn.create_channel().await.expect("a channel");
        linkleaf_events::queue::amqp::declare(&ch, &self.name)
            .await
            .expect("declare the test queue");
        (conn, ch)
    }

    /// Messages ready in `queue` (the test queue, or its `.dlq`).
    pub async fn depth(&self, queue: &str) -> u32 {
        let (conn, ch) = self.channel().await;
        let q = ch
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("the queue exists");
        let _ = conn.close(200, "done".into()).await;
        q.message_count()
    }

    /// Closes every connection the broker has (`rabbitmqctl close_all_connections`): a fault
    /// for everything connected, so tests that use it run one at a time.
    pub fn close_all_connections() {
        let out = Command::new("rabbitmqctl")
            .args(["close_all_connections", "linkleaf test fault"])
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl close_all_connections: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TempQueue {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // a runtime of its own: drop may run inside (or outside) the test's runtime
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let Ok(conn) =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                else {
                    return;
                };
                if let Ok(ch) = conn.create_channel().await {
                    for q in [name.clone(), format!("{name}.dlq")] {
                        let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
                    }
                    for x in [format!("{name}.dlx"), format!("{name}.changes")] {
                        let _ = ch
                            .exchange_delete(x.as_str().into(), Default::default())
                            .await;
                    }
                }
                let _ = conn.close(200, "done".into()).await;
            });
        })
        .join();
    }
}
