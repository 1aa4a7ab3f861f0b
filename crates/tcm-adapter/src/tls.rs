//! rustls client configuration (ring provider, webpki roots plus an optional private CA).

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tcm_proto::Endpoint;

use crate::error::TransportError;
use crate::options::ClientOptions;

/// Builds the TLS client configuration: host names are always verified against the roots.
pub fn client_config(options: &ClientOptions) -> Result<Arc<ClientConfig>, TransportError> {
    let mut roots = RootCertStore::empty();
    if options.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(pem) = &options.ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| TransportError::TlsConfig(format!("CA PEM: {e}")))?;
            roots.add(cert)?;
            added += 1;
        }
        if added == 0 {
            return Err(TransportError::TlsConfig(
                "CA PEM holds no certificate".to_owned(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS client configuration for `endpoint`: built from `options` for `wss://`, `None` for
/// `ws://`.
pub fn for_endpoint(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Option<Arc<ClientConfig>>, TransportError> {
    if endpoint.tls {
        client_config(options).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webpki_roots_build_a_config() {
        assert!(client_config(&ClientOptions::default()).is_ok());
    }

    #[test]
    fn a_pem_without_certificates_is_a_typed_error() {
        let options = ClientOptions::default().with_ca_pem(b"not a pem".to_vec());
        assert!(matches!(
            client_config(&options),
            Err(TransportError::TlsConfig(_))
        ));
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec();
        let options = ClientOptions::default().with_ca_pem(garbage);
        assert!(client_config(&options).is_err());
    }
}
