//! `TestApp::spawn()`: the real linkleaf application on 127.0.0.1:0 (and an ops listener on
//! another free port) over a fresh SQLite file in its own temporary directory, driven over HTTP.
//!
//! The profile store is wrapped in `ObservedStore`, which counts username reads (the origin
//! reads of the read path) and can be made slow or failing, so tests can prove single-flight and
//! origin-failure behaviour. Nothing else is replaced.
//!
//! For tests across processes and dependencies: `process` (a real linkleaf binary), `services`
//! (Redis servers and a Redis Cluster a test owns, a PostgreSQL database of its own) and `proxy`
//! (a TCP proxy that injects faults).

pub mod browser;
pub mod hooks;
pub mod load;
pub mod process;
pub mod proxy;
pub mod services;

use async_trait::async_trait;
use linkleaf::{Application, Config};
use linkleaf_domain::{Profile, Username};
use linkleaf_store::{
    Change, Modified, ModifyError, ProfileRef, ProfileStore, ProfileSummary, ReadFrom, Result,
    StoreError, Stores,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// A real store with a counter on its read path and two switches.
pub struct ObservedStore {
    inner: Arc<dyn ProfileStore>,
    pub username_reads: AtomicUsize,
    /// Added before each username read.
    pub delay_ms: AtomicU64,
    /// When set, username reads fail as if the database were unreachable.
    pub failing: AtomicBool,
}

#[async_trait]
impl ProfileStore for ObservedStore {
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn profile_by_username(&self, key: &str, from: ReadFrom) -> Result<Option<Profile>> {
        self.username_reads.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the test made the database fail".into(),
            ));
        }
        self.inner.profile_by_username(key, from).await
    }
    async fn profile_by_id(&self, id: Uuid) -> Result<Option<Profile>> {
        self.inner.profile_by_id(id).await
    }
    async fn list_profiles(&self, after: Option<&str>, limit: u32) -> Result<Vec<ProfileSummary>> {
        self.inner.list_profiles(after, limit).await
    }
    async fn list_profiles_of(
        &self,
        member: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProfileSummary>> {
        self.inner.list_profiles_of(member, after, limit).await
    }
    async fn create_profile(&self, p: &Profile) -> Result<Profile> {
        self.inner.create_profile(p).await
    }
    async fn create_profile_with(
        &self,
        p: &Profile,
        owner: Option<(Uuid, Option<u32>)>,
        actor: Option<&linkleaf_domain::account::Actor>,
    ) -> Result<Profile> {
        self.inner.create_profile_with(p, owner, actor).await
    }
    async fn history(&self, profile: Uuid, limit: u32) -> Result<Vec<linkleaf_store::Version>> {
        self.inner.history(profile, limit).await
    }
    async fn version(
        &self,
        profile: Uuid,
        version: i64,
    ) -> Result<Option<linkleaf_store::Version>> {
        self.inner.version(profile, version).await
    }
    async fn modify_profile_as(
        &self,
        which: ProfileRef<'_>,
        change: Change<'_>,
        actor: Option<&linkleaf_domain::account::Actor>,
        if_version: Option<i64>,
    ) -> std::result::Result<Option<Modified>, ModifyError> {
        self.inner
            .modify_profile_as(which, change, actor, if_version)
            .await
    }
    async fn link_target(&self, link: Uuid) -> Result<Option<linkleaf_store::LinkTarget>> {
        self.inner.link_target(link).await
    }
    async fn pass_boundaries(
        &self,
        after: (i64, Uuid),
        until_ms: i64,
        limit: u32,
    ) -> Result<linkleaf_store::Boundaries> {
        self.inner.pass_boundaries(after, until_ms, limit).await
    }
    async fn delete_profile_as(
        &self,
        which: ProfileRef<'_>,
        actor: Option<&linkleaf_domain::account::Actor>,
    ) -> Result<Option<(Uuid, Username)>> {
        self.inner.delete_profile_as(which, actor).await
    }
}

/// A form as a browser posts it (`application/x-www-form-urlencoded`).
pub trait FormBody {
    fn form_body<T: serde::Serialize + ?Sized>(self, form: &T) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("a form encodes"))
    }
}

/// A response header as text ("" when absent or not text).
pub fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub ops_addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Arc<ObservedStore>,
    pub stores: Stores,
    pub config: Config,
    /// The database's URL (its file, for SQLite).
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::result::Result<(), String>>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The application with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// The application with settings changed by `tweak`. Ports are the kit's; the database is a
    /// fresh SQLite file unless `tweak` names one (a PostgreSQL database several instances
    /// share, say).
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_store(tweak, |_| {}).await
    }

    /// As `spawn_with`, with the store's options changed by `store` too (a SQLite page limit
    /// the test controls, say).
    pub async fn spawn_with_store(
        tweak: impl FnOnce(&mut Config),
        store: impl FnOnce(&mut linkleaf_store::StoreOptions),
    ) -> Self {
        Self::spawn_overridden(tweak, store, linkleaf::Overrides::default()).await
    }

    /// As `spawn_with_store`, with parts of the application the test supplies (a resolver).
    pub async fn spawn_overridden(
        tweak: impl FnOnce(&mut Config),
        store: impl FnOnce(&mut linkleaf_store::StoreOptions),
        mut overrides: linkleaf::Overrides,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        let default_public_url = config.server.public_url.clone();
        let own = format!("sqlite://{}", dir.path().join("linkleaf.db").display());
        let default_url = config.database.url.expose().to_owned();
        let default_spool = config.clicks.spool_dir.clone();
        tweak(&mut config);
        if config.clicks.spool_dir == default_spool {
            config.clicks.spool_dir = dir.path().join("spool");
        }
        // bound here, so the site's address is known before the application is built: pages
        // and signed-in writes name http://localhost:{port}, where a browser test opens them
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().expect("its address").port();
        config.server.listen = format!("127.0.0.1:{port}").parse().expect("addr");
        if config.server.public_url == default_public_url {
            config.server.public_url = format!("http://localhost:{port}");
        }
        overrides.listener = Some(listener);
        config.server.ops_listen = "127.0.0.1:0".parse().expect("addr");
        config.server.shutdown_grace = std::time::Duration::from_secs(2);
        let db = if config.database.url.expose() == default_url {
            own
        } else {
            config.database.url.expose().to_owned()
        };
        let mut options = config.store_options();
        store(&mut options);
        let real = linkleaf_store::open(&db, &options)
            .await
            .expect("open the test database");
        real.profiles.migrate().await.expect("migrate");
        let store = Arc::new(ObservedStore {
            inner: real.profiles,
            username_reads: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        });
        let stores = Stores {
            profiles: store.clone(),
            keys: real.keys,
            accounts: real.accounts,
            analytics: real.analytics,
            webhooks: real.webhooks,
            health: real.health,
        };
        let app = Application::build_overridden(&config, stores.clone(), overrides)
            .await
            .expect("build the application");
        let (addr, ops_addr) = (app.addr(), app.ops_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            addr,
            ops_addr,
            client,
            store,
            stores,
            config,
            database_url: db,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// A request with `Authorization: Bearer key`.
    pub fn admin(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    /// Signs in with an email and a password through the API: the session cookie, as
    /// `name=value` for a `Cookie` header.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let r = self
            .client
            .post(self.url("/api/session"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("POST /api/session");
        assert_eq!(r.status(), 200, "{email} signs in");
        header(&r, "set-cookie")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// A request carrying the session `cookie`, from the site's own pages (its `Origin`).
    pub fn as_person(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("cookie", cookie)
            .header("origin", &self.config.server.public_url)
    }

    /// A new API key with these scopes (comma-separated), as `linkleaf keys create` makes it.
    pub async fn key(&self, scopes: &str) -> String {
        let (_, token) = linkleaf::keys::create(self.stores.keys.as_ref(), "test", scopes)
            .await
            .expect("create key");
        token.expose().to_owned()
    }

    /// A key with every scope.
    pub async fn root_key(&self) -> String {
        self.key("profile:read,profile:write,links:write,cache:write,analytics:read,webhooks:write")
            .await
    }

    /// Creates a profile through the API and returns its JSON.
    pub async fn create_profile(&self, key: &str, body: serde_json::Value) -> serde_json::Value {
        let res = self
            .admin(reqwest::Method::POST, "/api/profiles", key)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = res.status();
        let json: serde_json::Value = res.json().await.expect("JSON body");
        assert_eq!(status, 201, "create failed: {json}");
        json
    }

    /// The origin reads (username lookups) made since the last reset.
    pub fn origin_reads(&self) -> usize {
        self.store.username_reads.load(Ordering::SeqCst)
    }

    pub fn reset_origin_reads(&self) {
        self.store.username_reads.store(0, Ordering::SeqCst);
    }

    /// The Prometheus text of the ops listener.
    pub async fn metrics_text(&self) -> String {
        let res = self
            .client
            .get(format!("http://{}/metrics", self.ops_addr))
            .send()
            .await
            .expect("scrape");
        assert_eq!(res.status(), 200);
        res.text().await.expect("metrics text")
    }

    /// The value of one sample, by its exact name and labels as printed
    /// (`linkleaf_cache_hits_total{cache="profile"}`); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    }

    /// `/readyz`: its status and body.
    pub async fn readyz(&self) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(format!("http://{}/readyz", self.ops_addr))
            .send()
            .await
            .expect("readyz");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    /// Asks the server to stop (like SIGTERM) without waiting for it.
    pub fn request_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Stops the server (graceful, like SIGTERM) and returns what its run ended with.
    pub async fn stop(mut self) -> std::result::Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => t.await.map_err(|e| e.to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Instances over one PostgreSQL database (a fresh one of the test's own) and one Redis:
/// `redis` gives each instance's Redis URL (by index) or `None` for the shared test server; the
/// key prefix is fresh. Fields drop in order: the instances, then the database. `None` (after
/// saying so) when a server is missing.
pub struct Deployment {
    pub apps: Vec<TestApp>,
    pub db: services::TempPostgres,
    pub prefix: String,
}

impl Deployment {
    pub async fn start(
        n: usize,
        redis: impl Fn(usize) -> Option<String>,
        tweak: impl Fn(usize, &mut Config),
    ) -> Option<Self> {
        let db = services::TempPostgres::create().await?;
        let (shared, prefix) = services::shared_redis()?;
        let mut apps = Vec::new();
        for i in 0..n {
            let url = redis(i).unwrap_or_else(|| shared.clone());
            let (db_url, prefix) = (db.url.clone(), prefix.clone());
            let tweak = &tweak;
            apps.push(
                TestApp::spawn_with(move |c| {
                    c.database.url = linkleaf::config::Secret::new(db_url);
                    c.redis.urls = linkleaf::config::redis_urls(&url);
                    c.redis.prefix = prefix;
                    tweak(i, c);
                })
                .await,
            );
        }
        for a in &apps {
            a.wait_for_bus().await;
        }
        Some(Self { apps, db, prefix })
    }
}

impl TestApp {
    /// A webhook dispatcher over this instance's outbox, with its configuration (start it with
    /// `webhooks.dispatch = false`): a test drives it a `step` at a time, so "nothing more is
    /// sent" is a step that sends nothing, not a wait.
    pub fn dispatcher(&self) -> linkleaf_webhooks::Dispatcher {
        let destinations = linkleaf_outbound::Destinations::checked(
            linkleaf_outbound::AddressPolicy::new(self.config.webhooks.allow_networks.clone()),
            std::sync::Arc::new(linkleaf_outbound::SystemResolver),
        );
        linkleaf_webhooks::Dispatcher::new(
            self.stores.webhooks.clone(),
            linkleaf_outbound::Client::to(destinations, self.config.webhooks.timeout, 64 * 1024)
                .expect("the webhook client"),
            self.config.dispatch_config(),
            linkleaf_webhooks::DispatchMetrics::noop(),
        )
    }

    /// Waits until this instance's bus subscriber is connected (ten seconds at most).
    pub async fn wait_for_bus(&self) {
        eventually(
            "the bus subscriber connects",
            Duration::from_secs(10),
            || async { self.metric("linkleaf_bus_connected").await == 1.0 },
        )
        .await;
    }
}

/// The test kit's one way to wait: asks `check` every 20 ms until it gives `Ok`, and returns
/// that; fails the test when it has not within `within`, naming `what` and the last thing
/// `check` saw instead (its `Err`). For conditions a test waits on (never a sleep hoping they
/// happened).
pub async fn until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(t) => return t,
            Err(seen) => assert!(
                std::time::Instant::now() < deadline,
                "not within {within:?}: {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `until` for a yes or no.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until(what, within, || {
        let asked = check();
        async move {
            if asked.await {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        }
    })
    .await
}

/// `until` `check` holds twice in a row, 200 ms apart: for a pipeline that is idle between two
/// looks (a frame in flight between two stages shows in neither for a moment).
pub async fn settled<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        eventually(what, left, &mut check).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        if check().await {
            return;
        }
    }
}
