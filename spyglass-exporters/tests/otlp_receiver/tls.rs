//! The receivers of `mod.rs` behind TLS, with a certificate authority made at test time: a CA,
//! a server certificate for `localhost` and `127.0.0.1`, and a client certificate for mutual TLS.
//! gRPC uses tonic's own server TLS; HTTP/protobuf a tokio-rustls acceptor in front of axum.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::otlp_receiver::{grpc_services, http_app, Receiver, Transport};

/// PEM certificates and keys of a throwaway CA and what it signed.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "spyglass test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

        let mut server =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server.signed_by(&server_key, &ca).unwrap();

        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client
            .distinguished_name
            .push(DnType::CommonName, "spyglass test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client_cert = client.signed_by(&client_key, &ca).unwrap();

        Pki {
            ca_pem: ca.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }
}

/// Whether the receiver asks the exporter for a certificate signed by the test CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Required,
}

/// Starts a receiver on a free loopback port serving TLS with `pki`'s server certificate.
pub fn start_tls(transport: Transport, pki: &Pki, auth: ClientAuth) -> Receiver {
    match transport {
        Transport::Grpc => {
            let identity =
                tonic::transport::Identity::from_pem(&pki.server_cert_pem, &pki.server_key_pem);
            let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
            if auth == ClientAuth::Required {
                tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(&pki.ca_pem));
            }
            Receiver::start_serving(transport, "https", None, 0, move |listener, store| {
                let (traces, metrics) = grpc_services(store);
                Box::pin(async move {
                    let _ = tonic::transport::Server::builder()
                        .tls_config(tls)
                        .expect("server TLS config")
                        .add_service(traces)
                        .add_service(metrics)
                        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                        .await;
                })
            })
        }
        Transport::Http => {
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(pki, auth)));
            Receiver::start_serving(transport, "https", None, 0, move |listener, store| {
                let app = http_app(store);
                Box::pin(async move {
                    let _ = axum::serve(TlsListener { listener, acceptor }, app).await;
                })
            })
        }
    }
}

fn server_config(pki: &Pki, auth: ClientAuth) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder.with_single_cert(chain, key).unwrap()
}

/// Accepts TCP connections and completes their TLS handshake; connections whose handshake fails
/// (a client that does not trust the server, or has no certificate to show) are dropped.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
