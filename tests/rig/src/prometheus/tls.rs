//! Test certificates (rcgen): a CA and the server and client certificates it issues.

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A throw-away certificate authority. Two instances never trust each other's certificates.
pub struct CertificateAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertificateAuthority {
    pub fn new(common_name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().context("generating the test CA key")?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).context("self-signing the test CA")?;
        Ok(Self { issuer })
    }

    /// The CA certificate (PEM): what clients trust.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for these names (IP addresses become IP SANs).
    pub fn issue_server(&self, names: &[&str]) -> anyhow::Result<IssuedCert> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate (for mutual TLS).
    pub fn issue_client(&self, common_name: &str) -> anyhow::Result<IssuedCert> {
        self.issue_client_cert(common_name, None)
    }

    /// A client certificate whose subject's organization is `group`: kube-apiserver's x509 authenticator takes the
    /// common name as the user and each organization as a group (`system:masters` is cluster-admin). rcgen keeps
    /// one value per attribute type, hence one group.
    pub fn issue_client_in_group(
        &self,
        common_name: &str,
        group: &str,
    ) -> anyhow::Result<IssuedCert> {
        self.issue_client_cert(common_name, Some(group))
    }

    fn issue_client_cert(
        &self,
        common_name: &str,
        group: Option<&str>,
    ) -> anyhow::Result<IssuedCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        if let Some(group) = group {
            params
                .distinguished_name
                .push(DnType::OrganizationName, group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> anyhow::Result<IssuedCert> {
        let key = KeyPair::generate().context("generating a test key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing a test certificate")?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
