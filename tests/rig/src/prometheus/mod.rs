//! A real Prometheus per test scenario, fed deterministic history by remote write.
//!
//! [`Prometheus::start`] launches `/usr/bin/prometheus` (Debian's package) on 127.0.0.1 with a port the kernel picks,
//! an empty scrape config and a private TSDB directory; dropping it kills the process and removes the directory, also
//! when a test panics. [`PrometheusBuilder`] adds what real deployments put in front of the API: a route prefix,
//! basic auth, TLS (optionally requiring a client certificate). [`FaultProxy`] sits between a client and the server to
//! record requests and inject failures; normal answers still come from the real server.

mod history;
mod openmetrics;
mod proxy;
mod remote_write;
mod tls;

pub use history::{ContainerLoad, NodeHistory, PodHistory, Profile, Timeline, node_load};
pub use openmetrics::{MetricType, OpenMetricsWriter};
pub use proxy::{Fault, FaultProxy, RecordedRequest};
pub use remote_write::Series;
pub use tls::{CertificateAuthority, IssuedCert};

use anyhow::{Context, bail};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// User name accepted by a server started with [`PrometheusBuilder::basic_auth`].
pub const BASIC_AUTH_USER: &str = "thermostat";
/// Password accepted by a server started with [`PrometheusBuilder::basic_auth`].
pub const BASIC_AUTH_PASSWORD: &str = "thermostat-test-password";
/// bcrypt of [`BASIC_AUTH_PASSWORD`] (Prometheus' web config only takes bcrypt). Generated once with
/// `python3 -c "import crypt; print(crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"`;
/// cost 4 (the minimum) so that each authenticated request stays fast.
const BASIC_AUTH_BCRYPT: &str = "$2b$04$5YXW2bJbnCR6O1z6ecYTU.a2dz6HKdfyGBeuKl8J9eZSWfoqsPIji";

/// Binary to run; `PROMETHEUS_BIN` overrides it (e.g. a newer upstream release).
fn prometheus_binary() -> String {
    std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".to_owned())
}

/// A command for `program` that the kernel kills when the process starting it dies, if util-linux's `setpriv` is
/// there: `Drop` stops Prometheus when a test or bench ends, but not when it is killed or interrupted (Ctrl-C on
/// `thermostat-bench --hold`), which left a server of several GB running. The signal follows the *thread* that
/// started it: a server shared between tests must be started by a thread that outlives them.
pub(crate) fn dies_with_parent(program: &str) -> Command {
    const SETPRIV: &str = "/usr/bin/setpriv";
    if std::path::Path::new(SETPRIV).exists() {
        let mut command = Command::new(SETPRIV);
        command.args(["--pdeathsig", "KILL", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

const START_TIMEOUT: Duration = Duration::from_secs(20);
const LOG_LINES_KEPT: usize = 200;

/// How to start a [`Prometheus`]. `Prometheus::builder().route_prefix("/prom").basic_auth().tls().start()`.
#[derive(Debug, Clone, Default)]
pub struct PrometheusBuilder {
    route_prefix: Option<String>,
    basic_auth: bool,
    tls: bool,
    require_client_cert: bool,
    retention_time: Option<String>,
    retention_size: Option<String>,
    query_max_samples: Option<u64>,
    tsdb: Option<PathBuf>,
}

impl PrometheusBuilder {
    /// Serve everything under `prefix` (e.g. `/prom`), as behind a path-routing ingress.
    pub fn route_prefix(mut self, prefix: &str) -> Self {
        self.route_prefix = Some(format!("/{}", prefix.trim_matches('/')));
        self
    }

    /// Require [`BASIC_AUTH_USER`] / [`BASIC_AUTH_PASSWORD`] on every request (Prometheus' own web config).
    pub fn basic_auth(mut self) -> Self {
        self.basic_auth = true;
        self
    }

    /// Serve HTTPS with a certificate for 127.0.0.1 and localhost issued by a fresh test CA ([`Prometheus::tls`]).
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serve HTTPS and require a client certificate issued by the test CA ([`Prometheus::tls`]).
    pub fn require_client_cert(mut self) -> Self {
        self.tls = true;
        self.require_client_cert = true;
        self
    }

    /// `--storage.tsdb.retention.time`, as Prometheus spells durations (`15d`, `1d12h`); its default is `15d`.
    pub fn retention_time(mut self, time: &str) -> Self {
        self.retention_time = Some(time.to_owned());
        self
    }

    /// `--storage.tsdb.retention.size` (`10GB`, powers of 2): alone, it leaves the server without a time limit.
    pub fn retention_size(mut self, size: &str) -> Self {
        self.retention_size = Some(size.to_owned());
        self
    }

    /// `--query.max-samples`: a query holding more samples at once is refused (HTTP 422, errorType execution).
    pub fn query_max_samples(mut self, samples: u64) -> Self {
        self.query_max_samples = Some(samples);
        self
    }

    /// Serve the TSDB already in `dir` (e.g. blocks `promtool tsdb create-blocks-from` wrote) instead of a
    /// fresh one; `dir` is kept when the server is dropped. Pair it with a long [`Self::retention_time`]: at
    /// start Prometheus deletes blocks older than its retention (15 days by default).
    pub fn existing_tsdb(mut self, dir: &Path) -> Self {
        self.tsdb = Some(dir.to_owned());
        self
    }

    pub fn start(self) -> anyhow::Result<Prometheus> {
        Prometheus::launch(self)
    }
}

/// Files of a TLS set-up, kept in the server's temp dir.
#[derive(Debug)]
pub struct TlsFiles {
    pub ca: CertificateAuthority,
    /// PEM file of the CA certificate: what a client's `ca_file` points to.
    pub ca_file: PathBuf,
    /// A client certificate issued by the same CA (accepted when a client certificate is required).
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
}

/// A running Prometheus. Dropping it kills the process and removes its data (not an
/// [`PrometheusBuilder::existing_tsdb`]).
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    route_prefix: String,
    basic_auth: bool,
    tls: Option<TlsFiles>,
    agent: ureq::Agent,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Prometheus {
    /// A plain HTTP server without auth: the common case.
    pub fn start() -> anyhow::Result<Self> {
        Self::builder().start()
    }

    pub fn builder() -> PrometheusBuilder {
        PrometheusBuilder::default()
    }

    /// Base URL, including the route prefix if any (no trailing slash), e.g. `http://127.0.0.1:41234/prom`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, self.route_prefix)
    }

    /// The socket the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The route prefix (`""` when none, else e.g. `/prom`).
    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }

    /// TLS files when started with [`PrometheusBuilder::tls`].
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server logged (for failure messages).
    pub fn log_tail(&self) -> String {
        join_log(&self.log)
    }

    fn launch(options: PrometheusBuilder) -> anyhow::Result<Self> {
        let dir = unique_temp_dir()?;
        // From here on the directory is removed on every path: by `Prometheus::drop` once it exists, else by this guard.
        let guard = DirGuard(Some(dir.clone()));
        let config_file = dir.join("prometheus.yml");
        // An empty config: no scrapes, so the only data is what a test pushes.
        std::fs::write(&config_file, "")
            .with_context(|| format!("writing {}", config_file.display()))?;

        let tls = if options.tls {
            Some(write_tls_files(&dir)?)
        } else {
            None
        };
        let web_config = web_config_yaml(&options, tls.as_ref());
        let mut command = dies_with_parent(&prometheus_binary());
        let tsdb = options.tsdb.clone().unwrap_or_else(|| dir.join("tsdb"));
        command
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--web.enable-remote-write-receiver")
            // Info level: the chosen port is only logged there ("Listening on").
            .arg("--log.level=info")
            .arg("--web.console.templates=/nonexistent")
            .arg("--web.console.libraries=/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(prefix) = &options.route_prefix {
            command.arg(format!("--web.route-prefix={prefix}"));
        }
        if let Some(time) = &options.retention_time {
            command.arg(format!("--storage.tsdb.retention.time={time}"));
        }
        if let Some(size) = &options.retention_size {
            command.arg(format!("--storage.tsdb.retention.size={size}"));
        }
        if let Some(samples) = options.query_max_samples {
            command.arg(format!("--query.max-samples={samples}"));
        }
        if let Some(yaml) = web_config {
            let path = dir.join("web.yml");
            std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            command.arg(format!("--web.config.file={}", path.display()));
        }
        let mut child = command.spawn().with_context(|| {
            format!(
                "starting {} (install it with `apt-get install prometheus`)",
                prometheus_binary()
            )
        })?;

        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let stderr = child
            .stderr
            .take()
            .context("prometheus stderr was not piped")?;
        let log_writer = Arc::clone(&log);
        std::thread::spawn(move || drain_log(stderr, &log_writer, &addr_tx));

        let agent = rig_agent(tls.as_ref(), options.require_client_cert)?;
        let mut server = Self {
            child,
            dir: guard.disarm(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            route_prefix: options.route_prefix.clone().unwrap_or_default(),
            basic_auth: options.basic_auth,
            tls,
            agent,
            log,
        };
        server.addr = match addr_rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => bail!(
                "prometheus did not log its listening address within {START_TIMEOUT:?}; log:\n{}",
                server.log_tail()
            ),
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = format!("{}/-/ready", self.url());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "prometheus exited with {status} while starting; log:\n{}",
                    self.log_tail()
                );
            }
            match self.authorize(self.agent.get(&url)).call() {
                Ok(response) if response.status() == 200 => return Ok(()),
                Ok(_) | Err(_) if started.elapsed() < START_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(response) => bail!(
                    "{url} answered {} after {START_TIMEOUT:?}; log:\n{}",
                    response.status(),
                    self.log_tail()
                ),
                Err(error) => bail!(
                    "{url} not reachable after {START_TIMEOUT:?}: {error}; log:\n{}",
                    self.log_tail()
                ),
            }
        }
    }

    /// Adds the credentials the server requires to a request from the rig itself.
    pub(crate) fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        if !self.basic_auth {
            return request;
        }
        let credentials = base64_light::encode(&format!("{BASIC_AUTH_USER}:{BASIC_AUTH_PASSWORD}"));
        request.header("Authorization", format!("Basic {credentials}"))
    }

    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// Instant query from the rig (to check what landed): the `data.result` of the answer at `at` (unix seconds).
    pub fn query_at(&self, expr: &str, at: f64) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/api/v1/query", self.url());
        let time = format!("{at:.3}");
        let mut response = self
            .authorize(self.agent.post(&url))
            .send_form([("query", expr), ("time", time.as_str())])
            .with_context(|| format!("querying {url} for {expr}"))?;
        let body = response.body_mut().read_to_string()?;
        let answer: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("{url} answered non-JSON for {expr}: {body}"))?;
        if answer["status"] != "success" {
            bail!("{url} failed {expr}: {body}");
        }
        Ok(answer["data"]["result"].clone())
    }

    /// The single value of a query that must return exactly one sample (vector of one, or scalar), at `at` (ms).
    pub fn query_single_value(&self, expr: &str, at_ms: i64) -> anyhow::Result<f64> {
        let result = self.query_at(expr, at_ms as f64 / 1000.0)?;
        let value = match &result {
            serde_json::Value::Array(items) if items.len() == 1 => &items[0]["value"][1],
            serde_json::Value::Array(items) if items.len() == 2 && items[1].is_string() => {
                &items[1]
            }
            _ => bail!("{expr} returned not exactly one sample: {result}"),
        };
        let text = value
            .as_str()
            .with_context(|| format!("{expr}: value is not a string: {value}"))?;
        text.parse()
            .with_context(|| format!("{expr}: value {text:?} is not a number"))
    }

    /// Pushes `series` by remote write (batched); fails unless every batch is accepted (HTTP 204).
    pub fn push(&self, series: &[Series]) -> anyhow::Result<()> {
        remote_write::push(self, series)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGKILL: nothing to flush, the data is thrown away anyway, and it cannot hang a test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a temp dir unless disarmed (the server owns it from then on).
struct DirGuard(Option<PathBuf>);

impl DirGuard {
    fn disarm(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn unique_temp_dir() -> anyhow::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "thermostat-prometheus-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn write_tls_files(dir: &Path) -> anyhow::Result<TlsFiles> {
    let ca = CertificateAuthority::new("thermostat test CA")?;
    let server = ca.issue_server(&["127.0.0.1", "localhost"])?;
    let client = ca.issue_client("thermostat-test-client")?;
    let write = |name: &str, content: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    write("server.crt", &server.cert_pem)?;
    write("server.key", &server.key_pem)?;
    Ok(TlsFiles {
        ca_file: write("ca.crt", &ca.cert_pem())?,
        client_cert_file: write("client.crt", &client.cert_pem)?,
        client_key_file: write("client.key", &client.key_pem)?,
        ca,
    })
}

/// Prometheus' `--web.config.file` (exporter-toolkit format), or None when neither TLS nor auth is wanted.
fn web_config_yaml(options: &PrometheusBuilder, tls: Option<&TlsFiles>) -> Option<String> {
    let mut yaml = String::new();
    if let Some(tls) = tls {
        let dir = tls.ca_file.parent().unwrap_or(Path::new("."));
        yaml.push_str("tls_server_config:\n");
        yaml.push_str(&format!(
            "  cert_file: {}\n",
            dir.join("server.crt").display()
        ));
        yaml.push_str(&format!(
            "  key_file: {}\n",
            dir.join("server.key").display()
        ));
        if options.require_client_cert {
            yaml.push_str("  client_auth_type: RequireAndVerifyClientCert\n");
            yaml.push_str(&format!("  client_ca_file: {}\n", tls.ca_file.display()));
        }
    }
    if options.basic_auth {
        yaml.push_str("basic_auth_users:\n");
        yaml.push_str(&format!("  {BASIC_AUTH_USER}: '{BASIC_AUTH_BCRYPT}'\n"));
    }
    (!yaml.is_empty()).then_some(yaml)
}

/// The rig's own HTTP client: trusts the test CA and presents the client certificate when there is TLS.
fn rig_agent(tls: Option<&TlsFiles>, client_cert: bool) -> anyhow::Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)));
    if let Some(tls) = tls {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
        let ca = Certificate::from_pem(tls.ca.cert_pem().as_bytes())?;
        let mut tls_config = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&[ca]));
        if client_cert {
            let cert_pem = std::fs::read(&tls.client_cert_file)?;
            let key_pem = std::fs::read(&tls.client_key_file)?;
            tls_config = tls_config.client_cert(Some(ClientCert::new_with_certs(
                &[Certificate::from_pem(&cert_pem)?],
                PrivateKey::from_pem(&key_pem)?,
            )));
        }
        config = config.tls_config(tls_config.build());
    }
    Ok(config.build().into())
}

/// Keeps the last log lines and reports the address from Prometheus' "Listening on" line, e.g.
/// `... msg="Listening on" address=127.0.0.1:38967`.
fn drain_log(
    stderr: std::process::ChildStderr,
    log: &Mutex<VecDeque<String>>,
    addr_tx: &mpsc::Sender<SocketAddr>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains("msg=\"Listening on\"") {
            let addr = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("address="))
                .and_then(|text| text.parse().ok());
            if let Some(addr) = addr {
                let _ = addr_tx.send(addr);
            }
        }
        if let Ok(mut log) = log.lock() {
            if log.len() == LOG_LINES_KEPT {
                log.pop_front();
            }
            log.push_back(line);
        }
    }
}

fn join_log(log: &Mutex<VecDeque<String>>) -> String {
    log.lock()
        .map(|lines| Vec::from(lines.clone()).join("\n"))
        .unwrap_or_default()
}

/// Standard base64 for the basic-auth header (the rig has no base64 dependency and needs only this).
mod base64_light {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn encodes_like_rfc_4648() {
            assert_eq!(super::encode(""), "");
            assert_eq!(super::encode("f"), "Zg==");
            assert_eq!(super::encode("fo"), "Zm8=");
            assert_eq!(super::encode("foo"), "Zm9v");
            assert_eq!(super::encode("user:pass"), "dXNlcjpwYXNz");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_node_history_is_queryable_and_rates_to_the_busy_fraction() {
        let started = Instant::now();
        let server = Prometheus::start().unwrap();
        let ready = started.elapsed();
        let timeline = Timeline::last_40_minutes();
        let node = NodeHistory::new("node-a", Profile::Constant(0.42));
        server.push(&node.series(&timeline)).unwrap();
        eprintln!("start {ready:?}, start+push {:?}", started.elapsed());
        let busy = server
            .query_single_value(
                r#"1 - avg(rate(node_cpu_seconds_total{mode="idle",node="node-a"}[5m]))"#,
                timeline.end_ms,
            )
            .unwrap();
        assert!((busy - 0.42).abs() < 1e-9, "busy {busy}");
    }

    #[test]
    fn server_behind_prefix_auth_and_mutual_tls_accepts_the_rig() {
        let server = Prometheus::builder()
            .route_prefix("prom")
            .basic_auth()
            .require_client_cert()
            .start()
            .unwrap();
        assert!(server.url().starts_with("https://127.0.0.1:") && server.url().ends_with("/prom"));
        let timeline = Timeline::ending_now(Duration::from_secs(120));
        server
            .push(&[Series::new("up", &[("job", "x")])
                .with_samples(Profile::Constant(1.0).gauge(&timeline))])
            .unwrap();
        assert_eq!(
            server.query_single_value("up", timeline.end_ms).unwrap(),
            1.0
        );
    }

    #[test]
    fn a_panicking_test_still_stops_its_server() {
        let (tx, rx) = mpsc::channel();
        let outcome = std::panic::catch_unwind(move || {
            let server = Prometheus::start().unwrap();
            tx.send((server.addr(), server.dir.clone())).unwrap();
            panic!("test failure while the server runs");
        });
        assert!(outcome.is_err());
        let (addr, dir) = rx.recv().unwrap();
        assert!(!dir.exists());
        assert!(std::net::TcpStream::connect(addr).is_err());
    }

    #[test]
    #[ignore = "timing report: cargo test -p thermostat-rig -- --ignored --nocapture"]
    fn push_timing_for_a_large_cluster() {
        let started = Instant::now();
        let server = Prometheus::start().unwrap();
        let ready = started.elapsed();
        let timeline = Timeline::last_40_minutes();
        let series: Vec<Series> = (0..500)
            .flat_map(|i| {
                NodeHistory::new(&format!("node-{i}"), Profile::Constant(0.5)).series(&timeline)
            })
            .collect();
        let samples: usize = series.iter().map(|s| s.samples.len()).sum();
        let push_started = Instant::now();
        server.push(&series).unwrap();
        eprintln!(
            "ready in {ready:?}; pushed {} series / {samples} samples in {:?}",
            series.len(),
            push_started.elapsed()
        );
    }

    #[test]
    fn dropping_the_server_stops_it_and_removes_its_data() {
        let server = Prometheus::start().unwrap();
        let dir = server.dir.clone();
        let addr = server.addr();
        drop(server);
        assert!(!dir.exists());
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
