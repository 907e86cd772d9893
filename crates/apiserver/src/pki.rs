//! The cluster's certificate authority and serving certificate, made by `knet up` and kept in the state directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// Errors while making or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file did not hold what was expected.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
}

/// PEM material for the API server and its clients.
#[derive(Clone, Debug)]
pub struct Pki {
    /// CA certificate (PEM): clients trust it.
    pub ca_cert: String,
    /// Serving certificate (PEM), signed by the CA.
    pub server_cert: String,
    /// Serving key (PEM).
    pub server_key: String,
    /// Bearer token accepted for the cluster admin.
    pub token: String,
}

const FILES: [&str; 5] = [
    "ca.crt",
    "ca.key",
    "apiserver.crt",
    "apiserver.key",
    "token",
];

impl Pki {
    /// Loads the material from `dir`, or makes it (and writes it there, mode 0600) when absent.
    /// `extra_sans` are added to the serving certificate (IP addresses or DNS names).
    pub fn load_or_create(dir: &Path, extra_sans: &[String]) -> Result<Pki, PkiError> {
        if FILES.iter().all(|f| dir.join(f).exists()) {
            let read = |f: &str| {
                let path = dir.join(f);
                std::fs::read_to_string(&path).map_err(|source| PkiError::Io { path, source })
            };
            return Ok(Pki {
                ca_cert: read("ca.crt")?,
                server_cert: read("apiserver.crt")?,
                server_key: read("apiserver.key")?,
                token: read("token")?.trim().to_string(),
            });
        }
        let (pki, ca_key) = Pki::generate(extra_sans)?;
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for (name, content) in [
            ("ca.crt", pki.ca_cert.as_str()),
            ("ca.key", ca_key.as_str()),
            ("apiserver.crt", pki.server_cert.as_str()),
            ("apiserver.key", pki.server_key.as_str()),
            ("token", pki.token.as_str()),
        ] {
            write_private(&dir.join(name), content)?;
        }
        Ok(pki)
    }

    /// Makes a new CA, serving certificate and token. Returns the CA key too.
    pub fn generate(extra_sans: &[String]) -> Result<(Pki, String), PkiError> {
        let year = jiff::Zoned::now().year();
        let not_before = rcgen::date_time_ymd(i32::from(year) - 1, 1, 1);
        let not_after = rcgen::date_time_ymd(i32::from(year) + 10, 1, 1);

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "knet-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        // The names kube-apiserver's serving certificate carries, plus loopback.
        let mut names: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "10.96.0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.extend(extra_sans.iter().cloned());
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        for name in names {
            let san = match name.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into()?),
            };
            params.subject_alt_names.push(san);
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        let server_key = KeyPair::generate()?;
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let token = {
            use rand::RngCore;
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        Ok((
            Pki {
                ca_cert: ca_cert.pem(),
                server_cert: server_cert.pem(),
                server_key: server_key.serialize_pem(),
                token,
            },
            ca_key_pem,
        ))
    }

    /// A rustls server configuration serving h2 and http/1.1.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let pem_err = |reason: String| PkiError::Pem {
            path: PathBuf::from("apiserver.crt"),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.server_cert.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| pem_err(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes())
            .map_err(|e| pem_err(e.to_string()))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| pem_err(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| pem_err(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn write_private(path: &Path, content: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(content.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_made_once_and_loaded_again() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), &["172.18.0.2".into()]).unwrap();
        let second = Pki::load_or_create(dir.path(), &[]).unwrap();
        assert_eq!(first.ca_cert, second.ca_cert);
        assert_eq!(first.token, second.token);
        assert_eq!(first.token.len(), 48);
        first.server_config().unwrap();
    }
}
