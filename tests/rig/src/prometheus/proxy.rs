//! A recording, fault-injecting HTTP proxy in front of a real Prometheus.
//!
//! Every request is recorded (method, path, headers, body) so tests can check credentials and count queries.
//! Without a fault the request is forwarded to the real server and its answer relayed unchanged; faults replace or
//! delay that answer. Thread per connection, HTTP/1.1 keep-alive.

use super::Prometheus;
use anyhow::Context;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does to a request instead of (or before) forwarding it.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Read the request, never answer (until the proxy is dropped).
    Hang,
    /// Wait, then forward.
    Latency(Duration),
    /// Answer this status with a Prometheus-style JSON error body (`errorType`, `error`).
    Status(u16),
    /// Answer 429 with `Retry-After` in whole seconds, as a query frontend that is rate-limiting does.
    Throttle(u64),
    /// Answer 200 with an HTML page, as a misconfigured ingress or auth proxy does.
    Garbage,
    /// Answer 200 with a syntactically valid JSON body of about this many bytes.
    HugeBody(usize),
    /// Read the request, then close the connection without a word.
    Drop,
    /// Forward the real answer but close the connection after this many bytes of its body (a network cut, a
    /// proxy restart): the answer's own framing says it is incomplete.
    CutAfter(usize),
}

/// One request as the proxy received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path with query string, as sent (e.g. `/prom/api/v1/query`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A field of an `application/x-www-form-urlencoded` body (decoded), e.g. `query` or `timeout`.
    pub fn form_field(&self, name: &str) -> Option<String> {
        String::from_utf8_lossy(&self.body)
            .split('&')
            .find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (percent_decode(key) == name).then(|| percent_decode(value))
            })
    }
}

#[derive(Default)]
struct State {
    queued: VecDeque<Fault>,
    sticky: Option<Fault>,
    /// Requests whose body contains the text get the fault, whatever their place in the order.
    matching: Vec<(String, Fault)>,
    refusing: bool,
    /// Whether the accept thread holds a listening socket (it follows `refusing`).
    listening: bool,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    upstream: SocketAddr,
    state: Mutex<State>,
    shutdown: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }
}

/// The proxy. Dropping it stops accepting, releases hung requests and joins the accept thread.
pub struct FaultProxy {
    addr: SocketAddr,
    route_prefix: String,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

const POLL: Duration = Duration::from_millis(10);
const MAX_HEADERS: usize = 64;

impl FaultProxy {
    /// A proxy in front of `server` (plain HTTP only: the proxy does not speak TLS).
    pub fn start(server: &Prometheus) -> anyhow::Result<Self> {
        anyhow::ensure!(
            server.tls().is_none(),
            "FaultProxy forwards plain HTTP; start Prometheus without TLS"
        );
        Self::start_for(server.addr(), server.route_prefix())
    }

    /// A proxy forwarding to any plain HTTP server; `route_prefix` only shapes [`FaultProxy::url`].
    pub fn start_for(upstream: SocketAddr, route_prefix: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the fault proxy")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            state: Mutex::new(State {
                listening: true,
                ..State::default()
            }),
            shutdown: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = std::thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(listener, addr, &accept_shared))?;
        Ok(Self {
            addr,
            route_prefix: route_prefix.to_owned(),
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The proxy's base URL, with the upstream's route prefix: use it as the client's Prometheus URL.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.route_prefix)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next request gets `fault`; later ones are forwarded (queued faults are used in order).
    pub fn fail_next(&self, fault: Fault) {
        self.shared.state().queued.push_back(fault);
    }

    /// The next `n` requests get `fault`.
    pub fn fail_next_n(&self, n: usize, fault: Fault) {
        let mut state = self.shared.state();
        state.queued.extend(std::iter::repeat_n(fault, n));
    }

    /// Every request whose form body contains `text` (URL-encoded, as sent) gets `fault` until
    /// [`FaultProxy::heal`]: one query of a tick failed, the others answered.
    pub fn fail_matching(&self, text: &str, fault: Fault) {
        self.shared.state().matching.push((text.to_string(), fault));
    }

    /// Every request gets `fault` (after any queued ones) until [`FaultProxy::heal`].
    pub fn fail_all(&self, fault: Fault) {
        self.shared.state().sticky = Some(fault);
    }

    /// Close the listening socket (new connections are refused) and drop idle keep-alive connections.
    pub fn refuse_connections(&self) {
        self.shared.state().refusing = true;
        self.wait_listening(false);
    }

    /// Waits until the accept thread has closed or reopened its socket, so the caller sees the new state.
    fn wait_listening(&self, listening: bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while self.shared.state().listening != listening && Instant::now() < until {
            std::thread::sleep(POLL);
        }
    }

    /// Back to forwarding everything: clears faults and listens again on the same port.
    pub fn heal(&self) {
        let mut state = self.shared.state();
        state.queued.clear();
        state.sticky = None;
        state.matching.clear();
        state.refusing = false;
        drop(state);
        self.wait_listening(true);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Requests whose path ends with `suffix` (e.g. `/api/v1/query`).
    pub fn requests_to(&self, suffix: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.split('?').next().unwrap_or("").ends_with(suffix))
            .collect()
    }

    /// Queries received, instant and range (attempts, including retries and failed ones).
    pub fn query_count(&self) -> usize {
        self.requests_to("/api/v1/query").len() + self.requests_to("/api/v1/query_range").len()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: &Arc<Shared>) {
    let mut listener = Some(listener);
    while !shared.stopping() {
        let refusing = shared.state().refusing;
        if refusing && listener.is_some() {
            listener = None;
            shared.state().listening = false;
        }
        if !refusing && listener.is_none() {
            // std sets SO_REUSEADDR on Unix, so the port can be taken again at once.
            listener = TcpListener::bind(addr).ok();
            shared.state().listening = listener.is_some();
        }
        let Some(active) = &listener else {
            std::thread::sleep(POLL);
            continue;
        };
        if active.set_nonblocking(true).is_err() {
            std::thread::sleep(POLL);
            continue;
        }
        match active.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                let _ = std::thread::Builder::new()
                    .name("fault-proxy-conn".into())
                    .spawn(move || serve_connection(stream, &shared));
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Outcome of reading one request from a keep-alive connection.
enum Incoming {
    Request(RecordedRequest),
    Closed,
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL * 5));
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buffer, shared) {
            Incoming::Request(request) => request,
            Incoming::Closed => return,
        };
        let fault = {
            let mut state = shared.state();
            state.requests.push(request.clone());
            let body = String::from_utf8_lossy(&request.body);
            let matched = state
                .matching
                .iter()
                .find(|(text, _)| body.contains(text.as_str()))
                .map(|(_, fault)| fault.clone());
            matched
                .or_else(|| state.queued.pop_front())
                .or_else(|| state.sticky.clone())
        };
        let keep_alive = match fault {
            None => forward(&mut stream, &request, shared.upstream, None),
            Some(Fault::CutAfter(bytes)) => {
                forward(&mut stream, &request, shared.upstream, Some(bytes))
            }
            Some(Fault::Latency(delay)) => {
                sleep_unless_stopping(delay, shared);
                forward(&mut stream, &request, shared.upstream, None)
            }
            Some(Fault::Hang) => {
                while !shared.stopping() {
                    std::thread::sleep(POLL);
                }
                false
            }
            Some(Fault::Drop) => false,
            Some(Fault::Status(status)) => {
                respond(&mut stream, status, "application/json", &error_body(status))
            }
            Some(Fault::Throttle(seconds)) => respond_with(
                &mut stream,
                429,
                &[("Retry-After", &seconds.to_string())],
                "application/json",
                &error_body(429),
            ),
            Some(Fault::Garbage) => respond(
                &mut stream,
                200,
                "text/html",
                b"<html><body><h1>Sign in</h1><form>...</form></body></html>",
            ),
            Some(Fault::HugeBody(size)) => {
                // An empty result of the type the endpoint answers, padded.
                let range = request
                    .path
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .ends_with("query_range");
                respond_huge(&mut stream, size, if range { "matrix" } else { "vector" })
            }
        };
        if !keep_alive {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

fn sleep_unless_stopping(delay: Duration, shared: &Shared) {
    let until = Instant::now() + delay;
    while Instant::now() < until && !shared.stopping() {
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
}

/// Reads one request (headers, then a `Content-Length` body). Returns `Closed` on EOF, error, shutdown, or
/// when the proxy refuses connections while this one is idle.
fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>, shared: &Shared) -> Incoming {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buffer) {
            Ok(httparse::Status::Complete(header_len)) => {
                let method = parsed.method.unwrap_or("").to_owned();
                let path = parsed.path.unwrap_or("").to_owned();
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let body_len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse().ok())
                    .unwrap_or(0);
                while buffer.len() < header_len + body_len {
                    if !fill(stream, buffer, &mut chunk, shared) {
                        return Incoming::Closed;
                    }
                }
                let body = buffer[header_len..header_len + body_len].to_vec();
                buffer.drain(..header_len + body_len);
                return Incoming::Request(RecordedRequest {
                    method,
                    path,
                    headers,
                    body,
                });
            }
            Ok(httparse::Status::Partial) => {
                if buffer.is_empty() && shared.state().refusing {
                    return Incoming::Closed;
                }
                if !fill(stream, buffer, &mut chunk, shared) {
                    return Incoming::Closed;
                }
            }
            Err(_) => {
                let _ = respond(stream, 400, "text/plain", b"malformed request");
                return Incoming::Closed;
            }
        }
    }
}

/// Reads more bytes; false on EOF, error or shutdown. Read timeouts just re-check the shutdown flag.
fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, chunk: &mut [u8], shared: &Shared) -> bool {
    loop {
        if shared.stopping() {
            return false;
        }
        match stream.read(chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if buffer.is_empty() && shared.state().refusing {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

/// Sends the request to the real server (one connection per request) and relays the answer byte for byte,
/// except the `Connection` header, up to `cut` bytes of body if given. Returns whether the client connection can
/// be kept.
fn forward(
    client: &mut TcpStream,
    request: &RecordedRequest,
    upstream: SocketAddr,
    cut: Option<usize>,
) -> bool {
    match exchange(request, upstream) {
        Ok(raw) => relay(client, &raw, cut),
        Err(error) => respond(
            client,
            502,
            "text/plain",
            format!("fault proxy: upstream {upstream}: {error}").as_bytes(),
        ),
    }
}

fn exchange(request: &RecordedRequest, upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream)?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        if !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("keep-alive") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes())?;
    server.write_all(&request.body)?;
    let mut raw = Vec::new();
    server.read_to_end(&mut raw)?;
    Ok(raw)
}

fn relay(client: &mut TcpStream, raw: &[u8], cut: Option<usize>) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(header_len)) = parsed.parse(raw) else {
        let _ = client.write_all(raw);
        return false;
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parsed.code.unwrap_or(502),
        parsed.reason.unwrap_or("")
    );
    let mut framed = false;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            continue;
        }
        framed |= header.name.eq_ignore_ascii_case("content-length")
            || header.name.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!(
            "{}: {}\r\n",
            header.name,
            String::from_utf8_lossy(header.value)
        ));
    }
    if !framed {
        // The body ends where the connection does.
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let body = &raw[header_len..];
    let sent = &body[..cut.unwrap_or(body.len()).min(body.len())];
    let ok = client.write_all(head.as_bytes()).is_ok() && client.write_all(sent).is_ok();
    ok && framed && cut.is_none()
}

fn respond(client: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) -> bool {
    respond_with(client, status, &[], content_type, body)
}

fn respond_with(
    client: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) -> bool {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    client.write_all(head.as_bytes()).is_ok() && client.write_all(body).is_ok()
}

fn respond_huge(client: &mut TcpStream, size: usize, result_type: &str) -> bool {
    let prefix = format!(
        r#"{{"status":"success","data":{{"resultType":"{result_type}","result":[]}},"padding":""#
    );
    let prefix = prefix.as_bytes();
    let suffix = br#""}"#;
    let padding = size.saturating_sub(prefix.len() + suffix.len());
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        prefix.len() + padding + suffix.len()
    );
    if client.write_all(head.as_bytes()).is_err() || client.write_all(prefix).is_err() {
        return false;
    }
    let block = vec![b'x'; 64 * 1024];
    let mut left = padding;
    while left > 0 {
        let n = left.min(block.len());
        if client.write_all(&block[..n]).is_err() {
            // The client gave up reading (its body cap): expected.
            return false;
        }
        left -= n;
    }
    client.write_all(suffix).is_ok()
}

/// Body like Prometheus' own API errors (web/api/v1: `{"status":"error","errorType":...,"error":...}`).
fn error_body(status: u16) -> Vec<u8> {
    let error_type = match status {
        400 => "bad_data",
        422 => "execution",
        503 => "unavailable",
        504 => "timeout",
        429 => "too_many_requests",
        _ => "internal",
    };
    serde_json::json!({
        "status": "error",
        "errorType": error_type,
        "error": format!("fault injected by the test proxy: HTTP {status}"),
    })
    .to_string()
    .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
