//! `[database]`: where the metadata lives, and how far a MySQL server is
//! trusted. On an RDS host imaged checks the server as the CloudX app did:
//! TLS, verified against RDS's CA bundle.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::DatabaseUrl;

/// Amazon RDS's global CA bundle, as `certs/README.md` records it. Built
/// in, so a host needs no download to verify RDS; the package also
/// installs it, as `/usr/share/imaged/rds-global-bundle.pem`, for the
/// operator's own clients.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../../certs/rds-global-bundle.pem");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// "" → SQLite in `data_dir`; `sqlite:…` or `mysql://…`.
    pub url: DatabaseUrl,
    pub password: SecretString,
    /// Secrets Manager id of a JSON secret whose `password` key holds it.
    pub password_secret: String,
    /// MySQL: the schema of imaged's own tables, beside the CloudX one.
    pub schema: String,
    /// MySQL: how the server is checked; see [`DatabaseTls`].
    pub tls: DatabaseTls,
    /// PEM bundle the MySQL server's certificate is verified against; ""
    /// → RDS's bundle for an RDS host, else the public CAs.
    pub ca_file: String,
    pub max_connections: u32,
}

/// `database.tls`, with MySQL's names for the modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseTls {
    /// "": `verify-identity` for an RDS host or with a `ca_file`, else
    /// `preferred`.
    Auto,
    Disabled,
    /// TLS when the server offers it, its certificate not checked.
    Preferred,
    /// TLS always, its certificate not checked.
    Required,
    /// TLS, the certificate signed by the CA; any name.
    VerifyCa,
    /// TLS, the certificate signed by the CA and naming the host.
    VerifyIdentity,
}

impl<'de> Deserialize<'de> for DatabaseTls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const MODES: [DatabaseTls; 6] = [
            DatabaseTls::Auto,
            DatabaseTls::Disabled,
            DatabaseTls::Preferred,
            DatabaseTls::Required,
            DatabaseTls::VerifyCa,
            DatabaseTls::VerifyIdentity,
        ];
        let text = String::deserialize(deserializer)?;
        MODES.into_iter().find(|mode| mode.as_str() == text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?}: expected disabled, preferred, required, verify-ca, verify-identity, or \"\" (chosen by the host)"
            ))
        })
    }
}

impl DatabaseTls {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "",
            Self::Disabled => "disabled",
            Self::Preferred => "preferred",
            Self::Required => "required",
            Self::VerifyCa => "verify-ca",
            Self::VerifyIdentity => "verify-identity",
        }
    }

    /// Whether the server's certificate is checked.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

/// What a verified server's certificate must chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaBundle {
    File(PathBuf),
    /// [`RDS_CA_BUNDLE`].
    Rds,
    /// The public web CAs.
    Public,
}

impl DatabaseSettings {
    /// Whether the URL names an Amazon RDS endpoint.
    pub fn is_rds(&self) -> bool {
        self.url.host().is_some_and(|host| host.to_ascii_lowercase().ends_with(".rds.amazonaws.com"))
    }

    /// The mode in force: the setting, or what "" stands for here (a CA
    /// given is a CA to verify against).
    pub fn tls(&self) -> DatabaseTls {
        match self.tls {
            DatabaseTls::Auto if self.is_rds() || !self.ca_file.is_empty() => DatabaseTls::VerifyIdentity,
            DatabaseTls::Auto => DatabaseTls::Preferred,
            mode => mode,
        }
    }

    /// The CA a verified server is checked against.
    pub fn ca(&self) -> CaBundle {
        match (self.ca_file.as_str(), self.is_rds()) {
            ("", true) => CaBundle::Rds,
            ("", false) => CaBundle::Public,
            (file, _) => CaBundle::File(file.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::config::Settings;

    fn database(vars: &[(&str, &str)]) -> DatabaseSettings {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load_from(None, env).unwrap().database
    }

    #[test]
    fn an_rds_host_is_verified_against_the_rds_bundle_by_default() {
        let rds = database(&[("IMAGED__DATABASE__URL", "mysql://admin@db.abc.eu-central-1.rds.amazonaws.com/cx")]);
        assert_eq!((rds.tls(), rds.ca()), (DatabaseTls::VerifyIdentity, CaBundle::Rds));
        let other = database(&[("IMAGED__DATABASE__URL", "mysql://admin@db.internal:3306/cx")]);
        assert_eq!((other.tls(), other.ca()), (DatabaseTls::Preferred, CaBundle::Public));
        let chosen = database(&[
            ("IMAGED__DATABASE__URL", "mysql://admin@db.abc.eu-central-1.rds.amazonaws.com/cx"),
            ("IMAGED__DATABASE__TLS", "required"),
        ]);
        assert_eq!(chosen.tls(), DatabaseTls::Required, "a setting wins");
    }

    #[test]
    fn every_mode_has_mysqls_name() {
        for mode in ["disabled", "preferred", "required", "verify-ca", "verify-identity"] {
            assert_eq!(database(&[("IMAGED__DATABASE__TLS", mode)]).tls.as_str(), mode);
        }
        let env = [("IMAGED__DATABASE__TLS".to_string(), "verify".to_string())].into();
        let err = Settings::load_from(None, env).unwrap_err().to_string();
        assert!(err.contains("verify-identity"), "{err}");
    }

    /// The bundle is the file `certs/README.md` describes, and every
    /// certificate in it is one rustls takes as a trust anchor (sqlx
    /// refuses the whole bundle over one it cannot).
    #[test]
    fn the_built_in_rds_bundle_is_the_recorded_one() {
        let readme = include_str!("../../certs/README.md");
        let digest: String = Sha256::digest(RDS_CA_BUNDLE).iter().map(|byte| format!("{byte:02x}")).collect();
        assert!(readme.contains(&digest), "certs/README.md does not record sha256 {digest}");
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(RDS_CA_BUNDLE) {
            roots.add(cert.unwrap()).unwrap();
        }
        assert_eq!(roots.len(), 115);
    }
}
