//! Mutual TLS for the RFC 8705 tests: a private CA made at test time (rcgen), a server
//! certificate for 127.0.0.1 (Envoy's), client certificates it signs, and an HTTPS request
//! that presents one of them (or none) through rustls.

use super::http::{Response, exchange};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A certificate and its key.
pub struct Identity {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Identity {
    /// The RFC 8705 thumbprint a token bound to this certificate carries.
    pub fn x5t(&self) -> String {
        envoy_jwt_authz::certificate::Thumbprint::of_der(&self.cert_der).to_base64url()
    }
}

/// A fresh private CA named `common_name` (for the HTTPS IdP too).
pub fn ca(common_name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    rcgen::CertifiedIssuer::self_signed(params, key).expect("CA cert")
}

/// A CA with a server certificate (127.0.0.1) and two client certificates, A and B.
pub struct Pki {
    pub ca_pem: String,
    ca_der: Vec<u8>,
    pub server: Identity,
    pub a: Identity,
    pub b: Identity,
}

impl Pki {
    pub fn new() -> Pki {
        let ca = ca("envoy-jwt-authz mTLS test CA");
        let issue = |names: Vec<String>, cn: &str, usage: rcgen::ExtendedKeyUsagePurpose| {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = rcgen::CertificateParams::new(names).expect("params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca).expect("cert");
            Identity {
                cert_pem: cert.pem(),
                cert_der: cert.der().to_vec(),
                key_der: key.serialize_der(),
            }
        };
        use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            server: issue(vec!["127.0.0.1".into()], "envoy.test", ServerAuth),
            a: issue(Vec::new(), "client-a.test", ClientAuth),
            b: issue(Vec::new(), "client-b.test", ClientAuth),
        }
    }

    /// Writes what `envoy/envoy-mtls.yaml` reads from `/etc/envoy/tls/` into `dir`.
    pub fn write_envoy_files(&self, dir: &Path) {
        let pem = |der: &[u8]| rcgen::KeyPair::try_from(der).expect("key").serialize_pem();
        std::fs::write(dir.join("server.pem"), &self.server.cert_pem).expect("write");
        std::fs::write(dir.join("server-key.pem"), pem(&self.server.key_der)).expect("write");
        std::fs::write(dir.join("client-ca.pem"), &self.ca_pem).expect("write");
    }

    /// `GET path` over TLS to `addr` (trusting only our CA), presenting `client`'s
    /// certificate when given, with `headers`.
    pub fn get(
        &self,
        addr: SocketAddr,
        client: Option<&Identity>,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .expect("CA");
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match client {
            Some(id) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(id.cert_der.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::IpAddress(addr.ip().into());
        let conn =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut stream, "GET", path, headers, "")
    }
}
