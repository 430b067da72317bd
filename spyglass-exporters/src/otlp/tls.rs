//! TLS for `https://` endpoints: the CAs to trust and the client identity to present, checked when
//! they are configured and turned into a tonic TLS config (gRPC) or a rustls HTTP client
//! (HTTP/protobuf) when the exporter starts.
//!
//! rustls with the *ring* provider (or the process default provider, if the application installed
//! one): no OpenSSL and no C toolchain beyond `cc`. Plain `http://` endpoints never come here.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::hyper::HyperClient;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The TLS settings of one signal (spans or metrics).
#[derive(Clone, Default)]
pub(super) struct Tls {
    /// CAs trusted instead of the system roots.
    ca: Option<Arc<RootCertStore>>,
    /// Certificate chain and key presented to servers that ask for one (mutual TLS).
    identity: Option<Arc<Identity>>,
}

pub(super) struct Identity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Tls")
            .field(
                "ca",
                &match &self.ca {
                    Some(store) => format!("{} configured certificate(s)", store.len()),
                    None => "system roots".into(),
                },
            )
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

impl Tls {
    pub(super) fn set_ca(&mut self, ca: Arc<RootCertStore>) {
        self.ca = Some(ca);
    }

    pub(super) fn set_identity(&mut self, identity: Arc<Identity>) {
        self.identity = Some(identity);
    }

    /// The configured CAs, or else the system's trusted roots.
    fn roots(&self) -> RootCertStore {
        match &self.ca {
            Some(store) => (**store).clone(),
            None => system_roots().clone(),
        }
    }

    /// The TLS config of the gRPC channel.
    pub(super) fn grpc(&self) -> tonic::transport::ClientTlsConfig {
        let config = tonic::transport::ClientTlsConfig::new().trust_anchors(self.roots().roots);
        match &self.identity {
            Some(id) => config.identity(tonic::transport::Identity::from_pem(
                &id.cert_pem,
                &id.key_pem,
            )),
            None => config,
        }
    }

    /// An HTTP/1.1 client that speaks only TLS, each request bounded by `timeout`.
    pub(super) fn http_client(
        &self,
        timeout: Duration,
    ) -> Result<HyperClient<HttpsConnector<HttpConnector>>, String> {
        let config = client_config(self.roots(), self.identity.as_deref())?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(HyperClient::new(https, timeout, None))
    }
}

/// The application's default crypto provider if it installed one, else ring.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

fn client_config(
    roots: RootCertStore,
    identity: Option<&Identity>,
) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots);
    match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| format!("the client certificate and key are not usable: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The system's trusted roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured), or Mozilla's when
/// the system has none (e.g. a `scratch` container). Loaded once per process.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if store.is_empty() {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        store
    })
}

/// Reads a PEM file.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the file ({e})"))
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// Parses a PEM bundle of CA certificates.
pub(super) fn parse_ca(pem: &[u8]) -> Result<Arc<RootCertStore>, String> {
    let mut store = RootCertStore::empty();
    for cert in certificates(pem)? {
        store
            .add(cert)
            .map_err(|e| format!("not a usable CA certificate ({e})"))?;
    }
    Ok(Arc::new(store))
}

/// Parses a PEM certificate chain and its PEM private key, and checks rustls accepts them.
pub(super) fn parse_identity(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<Identity>, String> {
    let chain = certificates(cert_pem).map_err(|e| format!("client certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "client key: no PEM PRIVATE KEY block found".to_string()
        }
        e => format!("client key: not valid PEM ({e})"),
    })?;
    let id = Identity {
        cert_pem: cert_pem.to_vec(),
        key_pem: key_pem.to_vec(),
        chain,
        key,
    };
    client_config(RootCertStore::empty(), Some(&id))?;
    Ok(Arc::new(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pem_is_a_clear_error() {
        let err = parse_ca(b"hello").unwrap_err();
        assert!(err.contains("no PEM CERTIFICATE"), "{err}");
        let err =
            parse_ca(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(err.contains("not valid PEM"), "{err}");
        let err = parse_ca(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(err.contains("not a usable CA certificate"), "{err}");
        let err = parse_identity(b"", b"").unwrap_err();
        assert!(err.contains("client certificate"), "{err}");
    }

    #[test]
    fn the_system_roots_are_never_empty() {
        assert!(!system_roots().is_empty());
        let tls = Tls::default();
        assert!(tls.http_client(Duration::from_secs(1)).is_ok());
        assert!(format!("{tls:?}").contains("system roots"));
    }
}
