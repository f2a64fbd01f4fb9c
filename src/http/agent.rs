//! One ureq agent from explicit options: timeouts, TLS from PEM (CA bundle, client certificate and key,
//! insecure-skip-verify), an optional proxy. Redirects are never followed and error statuses are answers, not
//! errors: both APIs explain a failure in the body, and a redirect must never carry a credential elsewhere.

use std::fmt;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// How to build an agent. Each request may shorten the timeouts further (the tick's deadline).
#[derive(Debug)]
pub struct AgentOptions<'a> {
    /// TCP + TLS set-up.
    pub connect_timeout: Duration,
    /// One request, body included.
    pub request_timeout: Duration,
    pub tls: TlsPem<'a>,
    pub proxy: ProxyChoice,
    /// The `Accept` header; `None` leaves ureq's.
    pub accept: Option<&'static str>,
}

/// Which proxy requests go through.
#[derive(Debug)]
pub enum ProxyChoice {
    /// ureq's default: the proxy environment variables (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`...).
    Environment,
    /// This proxy, or none; the environment is ignored.
    Exactly(Option<ureq::Proxy>),
}

/// PEM bytes and what they are, for messages (`certificate authority`, `Prometheus CA file /etc/ca.pem`).
#[derive(Debug, Clone, Copy)]
pub struct Pem<'a> {
    pub bytes: &'a [u8],
    pub what: &'a str,
}

/// A client certificate chain and its private key, for mutual TLS.
#[derive(Debug, Clone, Copy)]
pub struct ClientPem<'a> {
    pub chain: Pem<'a>,
    pub key: Pem<'a>,
}

/// TLS settings as PEM. All empty: the bundled web roots, verification on, no client certificate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsPem<'a> {
    /// Roots to trust instead of the bundled web roots.
    pub ca: Option<Pem<'a>>,
    pub client: Option<ClientPem<'a>>,
    /// Accept any server certificate: only ever set on purpose, never a fallback.
    pub insecure_skip_verify: bool,
    pub malformed: MalformedPem,
}

/// What a malformed PEM block among certificates means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MalformedPem {
    /// Skipped, as client-go's `AppendCertsFromPEM` skips blocks it cannot parse (kubeconfig CA bundles).
    #[default]
    Skip,
    /// Refused with its parse error.
    Refuse,
}

/// Why the TLS settings are unusable. Never quotes key material.
#[derive(Debug)]
pub enum TlsError {
    /// No certificate at all in what should hold some.
    NoCertificate { what: String },
    /// A block that does not parse, with [`MalformedPem::Refuse`].
    Malformed { what: String, source: ureq::Error },
    /// The client key is not a PEM private key.
    BadKey { what: String, source: ureq::Error },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoCertificate { what } => write!(f, "the {what} holds no PEM certificate"),
            TlsError::Malformed { what, .. } => write!(f, "the {what} is not valid PEM"),
            TlsError::BadKey { what, .. } => write!(f, "the {what} has no usable private key"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::NoCertificate { .. } => None,
            TlsError::Malformed { source, .. } | TlsError::BadKey { source, .. } => Some(source),
        }
    }
}

/// The agent both clients send with: error statuses are read as answers, no redirect is followed.
pub fn build_agent(options: AgentOptions<'_>) -> Result<ureq::Agent, TlsError> {
    let tls = tls_config(&options.tls)?;
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(super::USER_AGENT)
        .timeout_connect(Some(options.connect_timeout))
        .timeout_global(Some(options.request_timeout))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .tls_config(tls);
    if let ProxyChoice::Exactly(proxy) = options.proxy {
        config = config.proxy(proxy);
    }
    if let Some(accept) = options.accept {
        config = config.accept(accept);
    }
    Ok(ureq::Agent::new_with_config(config.build()))
}

fn tls_config(tls: &TlsPem<'_>) -> Result<TlsConfig, TlsError> {
    let mut config = TlsConfig::builder().disable_verification(tls.insecure_skip_verify);
    if let Some(ca) = tls.ca {
        let roots = certificates(ca, tls.malformed)?;
        config = config.root_certs(RootCerts::new_with_certs(&roots));
    }
    if let Some(client) = tls.client {
        let chain = certificates(client.chain, tls.malformed)?;
        let key = PrivateKey::from_pem(client.key.bytes).map_err(|source| TlsError::BadKey {
            what: client.key.what.to_owned(),
            source,
        })?;
        config = config.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(config.build())
}

fn certificates(
    pem: Pem<'_>,
    malformed: MalformedPem,
) -> Result<Vec<Certificate<'static>>, TlsError> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem.bytes) {
        match item {
            Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => {}
            Err(source) if malformed == MalformedPem::Refuse => {
                return Err(TlsError::Malformed {
                    what: pem.what.to_owned(),
                    source,
                });
            }
            Err(_) => {}
        }
    }
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            what: pem.what.to_owned(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(tls: TlsPem<'_>) -> AgentOptions<'_> {
        AgentOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            tls,
            proxy: ProxyChoice::Exactly(None),
            accept: None,
        }
    }

    #[test]
    fn pem_without_a_certificate_is_named() {
        let tls = TlsPem {
            ca: Some(Pem {
                bytes: b"not a pem",
                what: "certificate authority",
            }),
            ..TlsPem::default()
        };
        let message = build_agent(options(tls)).err().unwrap().to_string();
        assert_eq!(
            message,
            "the certificate authority holds no PEM certificate"
        );
    }

    #[test]
    fn a_malformed_block_is_skipped_or_refused_as_asked() {
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
        let ca = Pem {
            bytes: broken,
            what: "Prometheus CA file /ca.pem",
        };
        let skip = TlsPem {
            ca: Some(ca),
            ..TlsPem::default()
        };
        let skipped = build_agent(options(skip)).err().unwrap();
        assert!(
            matches!(skipped, TlsError::NoCertificate { .. }),
            "{skipped:?}"
        );
        let refuse = TlsPem {
            malformed: MalformedPem::Refuse,
            ..skip
        };
        let refused = build_agent(options(refuse)).err().unwrap();
        assert_eq!(
            refused.to_string(),
            "the Prometheus CA file /ca.pem is not valid PEM"
        );
        assert!(std::error::Error::source(&refused).is_some());
    }
}
