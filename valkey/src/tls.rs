//! TLS with rustls (ring provider): the client configuration built from [`TlsOptions`] — trusted
//! CAs (a PEM file, else the system bundle), an optional client certificate, or no verification
//! at all when explicitly asked for tests — and the error of a handshake whose server
//! certificate was refused, which says why (for a name mismatch: the name checked and the names
//! the certificate has).

use crate::config::{Addr, TlsOptions};
use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: impl std::fmt::Display) -> Error {
    Error::invalid_config(format!("TLS: {what}"))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(format!("cannot read {}: {e}", path.display())))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(format!("bad certificate in {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

/// The rustls client configuration for `opts`.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        let (added, source) = match &opts.ca_file {
            Some(path) => {
                let (added, _ignored) = roots.add_parsable_certificates(load_certs(path)?);
                (added, path.display().to_string())
            }
            None => {
                // The platform's trust store, found the way the platform documents it
                // (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), by rustls's own crate.
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    let why = found.errors.first().map(ToString::to_string);
                    return Err(tls_error(format!(
                        "no system CA certificate found{}; set tls_ca to a PEM file of \
                         trusted CAs",
                        why.map_or(String::new(), |w| format!(" ({w})"))
                    )));
                }
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                (added, "the system trust store".to_owned())
            }
        };
        if added == 0 {
            return Err(tls_error(format!("no usable CA certificate in {source}")));
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_error(format!("cannot read the key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(load_certs(cert)?, key)
                .map_err(tls_error)?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(tls_error("tls_cert and tls_key go together")),
    };
    Ok(Arc::new(config))
}

/// The name the server's certificate must carry.
pub(crate) fn server_name(host: &str, opts: &TlsOptions) -> Result<ServerName<'static>> {
    let name = opts.server_name.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string())
        .map_err(|e| tls_error(format!("{name:?} is not a valid server name: {e}")))
}

/// The error of a TLS handshake with `addr` that failed with `err`: when the client refused
/// the server's certificate, an [`ErrorKind::Tls`] error saying why; otherwise `otherwise(err)`
/// (a socket failure or timeout, an alert from the server).
pub(crate) fn handshake_error(
    addr: &Addr,
    err: std::io::Error,
    otherwise: impl FnOnce(std::io::Error) -> Error,
) -> Error {
    let refused = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|e| match e {
            rustls::Error::InvalidCertificate(why) => Some(why),
            _ => None,
        });
    let Some(why) = refused else {
        return otherwise(err);
    };
    let reason = match why {
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "the server's certificate is not valid for {}, the name checked (the host \
             connected to, or tls_server_name); it names {}",
            expected.to_str(),
            if presented.is_empty() {
                "nothing".to_owned()
            } else {
                presented.join(", ")
            }
        ),
        CertificateError::NotValidForName => {
            "the server's certificate is not valid for the name checked (the host connected \
             to, or tls_server_name)"
                .to_owned()
        }
        CertificateError::UnknownIssuer => {
            "the server's certificate is not signed by a trusted CA (set tls_ca to the CA's PEM \
             file)"
                .to_owned()
        }
        other => format!("the server's certificate was refused: {other}"),
    };
    Error::with_source(
        ErrorKind::Tls,
        format!("TLS handshake with {} failed: {reason}", addr.endpoint()),
        err,
    )
}

/// Accepts any certificate (`tls_insecure=true`); signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
