//! A small HTTP/1.1 server on std's TcpListener: keep-alive, Content-Length and chunked bodies,
//! optional TLS (rustls) with optional client certificates, one thread per connection.

use super::Shared;
use super::handler::{self, Outcome, Request, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a blocked read wakes up to see whether the server is stopping.
const POLL: Duration = Duration::from_millis(100);
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The certificate authority of one stand-in, and the key material it issued.
pub(crate) struct Pki {
    pub ca_pem: String,
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    pub server_config: Arc<ServerConfig>,
}

impl Pki {
    pub fn new(client_ca_auth: bool) -> anyhow::Result<Pki> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "thermostat-rig-ca");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;

        let server_key = rcgen::KeyPair::generate()?;
        let mut server_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        server_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let server_cert = server_params.signed_by(&server_key, &issuer)?;

        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if client_ca_auth {
            let mut roots = RootCertStore::empty();
            roots.add(ca_cert.der().clone())?;
            // Like kube-apiserver: a client certificate is optional (token clients still work),
            // but one that does not chain to the client CA fails the handshake.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> =
            vec![server_cert.der().clone(), ca_cert.der().clone()];
        let mut config = builder.with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            ca_params,
            ca_key,
            server_config: Arc::new(config),
        })
    }

    /// A client certificate (PEM) and key (PKCS#8 PEM) for `user`, and the certificate's DER.
    pub fn client_cert(&self, user: &str) -> anyhow::Result<(String, String, Vec<u8>)> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, user);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem(), cert.der().to_vec()))
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => s
                .conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec()),
        }
    }
}

/// Accepts connections until the server stops; each gets its own thread.
pub(crate) fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<ServerConfig>>,
) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(socket) = incoming else { continue };
        workers.retain(|w| !w.is_finished());
        let shared = shared.clone();
        let tls = tls.clone();
        workers.push(std::thread::spawn(move || {
            if let Err(error) = serve_connection(socket, &shared, tls)
                && !matches!(
                    error.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                )
            {
                eprintln!("apiserver stand-in: connection error: {error}");
            }
        }));
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// Reads more bytes into `buf`; false on a clean end of stream; errors when stopping.
fn fill(stream: &mut Stream, buf: &mut Vec<u8>, shared: &Shared) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server stopping",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

fn serve_connection(
    socket: TcpStream,
    shared: &Shared,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    socket.set_read_timeout(Some(POLL))?;
    socket.set_nodelay(true)?;
    let mut stream = match tls {
        Some(config) => {
            let conn = ServerConnection::new(config).map_err(io::Error::other)?;
            Stream::Tls(Box::new(StreamOwned::new(conn, socket)))
        }
        None => Stream::Plain(socket),
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Headers.
        let (mut request, header_len, content_length, chunked, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 100];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let (path, query) = match parsed.path.unwrap_or("/").split_once('?') {
                        Some((p, q)) => (p.to_string(), q.to_string()),
                        None => (parsed.path.unwrap_or("/").to_string(), String::new()),
                    };
                    let headers: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).trim().to_string(),
                            )
                        })
                        .collect();
                    let find = |name: &str| {
                        headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.to_ascii_lowercase())
                    };
                    let content_length: usize = find("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let chunked = find("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                    let close = find("connection").is_some_and(|v| v.contains("close"))
                        || parsed.version == Some(0);
                    let request = Request {
                        method: parsed.method.unwrap_or("GET").to_string(),
                        path,
                        query,
                        headers,
                        ..Request::default()
                    };
                    break (request, len, content_length, chunked, close);
                }
                Ok(httparse::Status::Partial) => {
                    if buf.len() > MAX_HEADER_BYTES {
                        return write_plain(&mut stream, 431, "request headers too large");
                    }
                    if !fill(&mut stream, &mut buf, shared)? {
                        return Ok(());
                    }
                }
                Err(error) => {
                    return write_plain(&mut stream, 400, &format!("malformed request: {error}"));
                }
            }
        };
        // Body.
        let consumed = if chunked {
            loop {
                match decode_chunked(&buf[header_len..]) {
                    Some((body, used)) => {
                        request.body = body;
                        break header_len + used;
                    }
                    None => {
                        if !fill(&mut stream, &mut buf, shared)? {
                            return Ok(());
                        }
                    }
                }
            }
        } else {
            while buf.len() < header_len + content_length {
                if !fill(&mut stream, &mut buf, shared)? {
                    return Ok(());
                }
            }
            request.body = buf[header_len..header_len + content_length].to_vec();
            header_len + content_length
        };
        request.bytes_in = consumed;
        buf.drain(..consumed);
        request.cert_user = stream
            .peer_certificate()
            .and_then(|der| shared.cert_user(&der));

        match handler::handle(shared, &request) {
            Outcome::Drop => return Ok(()),
            Outcome::Respond(response) => write_response(&mut stream, &response, close)?,
        }
        if close {
            if let Stream::Tls(s) = &mut stream {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            return Ok(());
        }
    }
}

/// Decodes a complete chunked body; None while more bytes are needed.
fn decode_chunked(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = data[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let size_text = std::str::from_utf8(&data[pos..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = data[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some((body, pos));
                }
            }
        }
        if data.len() < pos + size + 2 {
            return None;
        }
        body.extend_from_slice(&data[pos..pos + size]);
        pos += size + 2;
    }
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn write_response(stream: &mut Stream, response: &Response, close: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache, private\r\n",
        response.code,
        reason_phrase(response.code),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    stream.write_all(&bytes)?;
    stream.flush()
}

fn write_plain(stream: &mut Stream, code: u16, text: &str) -> io::Result<()> {
    let response = Response {
        code,
        content_type: "text/plain; charset=utf-8",
        headers: Vec::new(),
        body: text.as_bytes().to_vec(),
    };
    write_response(stream, &response, true)
}

#[cfg(test)]
mod tests {
    use super::decode_chunked;

    #[test]
    fn chunked_bodies_decode_only_when_complete() {
        let data = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT";
        let (body, used) = decode_chunked(data).unwrap();
        assert_eq!(body, b"Wikipedia");
        assert_eq!(&data[used..], b"NEXT");
        assert!(decode_chunked(b"4\r\nWi").is_none());
    }
}
