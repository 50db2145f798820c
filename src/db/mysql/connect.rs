//! Opening the pool: the server checked as `database.tls` says, imaged's
//! schema laid out beside the CloudX database, its tables migrated.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Connection, Executor, MySqlConnection, MySqlPool,
    mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode},
};

use super::layout;
use crate::config::{CaBundle, DatabaseSettings, DatabaseTls, RDS_CA_BUNDLE};
use crate::db::{Migrated, migrations};

/// Connects to the CloudX database, lays out imaged's schema, and opens
/// the pool on that schema with its tables up to date.
pub async fn connect(
    settings: &DatabaseSettings,
    password: Option<&SecretString>,
) -> anyhow::Result<(MySqlPool, Migrated)> {
    let options = options(settings, password)?;
    let cloudx = options.get_database().context("database.url names no database")?.to_owned();
    let mut conn = MySqlConnection::connect_with(&options).await.map_err(|err| refused(settings, err))?;
    layout::prepare(&mut conn, &cloudx, &settings.schema).await?;
    conn.close().await?;

    // READ COMMITTED: no gap locks, so writers of different rows do not
    // deadlock over the empty index ranges between them.
    let pool = MySqlPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED").await?;
                Ok(())
            })
        })
        .connect_with(options.database(&settings.schema))
        .await?;
    let migrated = migrate(&pool).await?;
    let tls = settings.tls();
    if password.is_some() && !tls.verifies() {
        tracing::warn!(
            database.tls = tls.as_str(),
            "the database password goes to a server whose certificate is not checked: \
             set database.tls = \"verify-identity\" (and database.ca_file to the CA that signed it)"
        );
    }
    Ok((pool, migrated))
}

/// The URL's options, with the password and the TLS mode and CA in force.
fn options(settings: &DatabaseSettings, password: Option<&SecretString>) -> anyhow::Result<MySqlConnectOptions> {
    let url = settings.url.to_string().replacen("mariadb://", "mysql://", 1);
    let mut options = MySqlConnectOptions::from_str(&url)?;
    if let Some(password) = password {
        options = options.password(password.expose_secret());
    }
    let tls = settings.tls();
    options = options.ssl_mode(match tls {
        DatabaseTls::Disabled => MySqlSslMode::Disabled,
        DatabaseTls::Auto | DatabaseTls::Preferred => MySqlSslMode::Preferred,
        DatabaseTls::Required => MySqlSslMode::Required,
        DatabaseTls::VerifyCa => MySqlSslMode::VerifyCa,
        DatabaseTls::VerifyIdentity => MySqlSslMode::VerifyIdentity,
    });
    if tls.verifies() {
        options = match settings.ca() {
            CaBundle::File(path) => options.ssl_ca(path),
            CaBundle::Rds => options.ssl_ca_from_pem(RDS_CA_BUNDLE.to_vec()),
            CaBundle::Public => options,
        };
    }
    Ok(options)
}

/// A server that failed verification is named so, with the settings that
/// decide it; any other error is passed on.
fn refused(settings: &DatabaseSettings, err: sqlx::Error) -> anyhow::Error {
    if !failed_verification(&err) {
        return err.into();
    }
    let ca = match settings.ca() {
        CaBundle::File(path) => path.display().to_string(),
        CaBundle::Rds => "RDS's global CA bundle (built in)".into(),
        CaBundle::Public => "the public CAs".into(),
    };
    anyhow::anyhow!(
        "the MySQL server's certificate failed verification against {ca} under database.tls = \"{}\" ({err}): \
         set database.ca_file to the CA that signed it, or database.tls = \"preferred\" to connect without checking who answers",
        settings.tls().as_str()
    )
}

/// Whether rustls refused the server's certificate. sqlx passes the
/// handshake's error on as an I/O error, or as a TLS one.
fn failed_verification(err: &sqlx::Error) -> bool {
    let rustls_error = match err {
        sqlx::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        sqlx::Error::Tls(tls) => tls.downcast_ref::<rustls::Error>(),
        _ => None,
    };
    matches!(rustls_error, Some(rustls::Error::InvalidCertificate(_)))
}

/// Brings imaged's tables in its schema up to date.
async fn migrate(pool: &MySqlPool) -> Result<Migrated, sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations/mysql");
    migrator.dangerous_set_table_name("imaged_migrations");
    migrations::run(&migrator, pool).await
}
