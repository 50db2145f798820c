//! Where imaged listens, and the address its clients reach it at: bound
//! first at start, so a taken port or an unknown public address stops the
//! start before anything is made.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

use crate::{
    aws,
    config::{NotifyBackend, Settings, StorageBackend},
};

/// The API's and the metrics' sockets, and where clients reach the API.
pub(super) struct Listeners {
    pub api: TcpListener,
    pub metrics: Option<TcpListener>,
    /// The base of the links imaged hands out (see [`public_base`]).
    pub public_base: String,
}

impl Listeners {
    /// Binds both, or says which listener could not have which address;
    /// then finds the API's public address, or says how to give it.
    pub async fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let bind = |what: &str, key: &str, addr: SocketAddr, off: &str| {
            TcpListener::bind(addr).with_context(|| {
                format!("the {what} listener cannot take {addr}, the {key} setting{off}: set {key} to a free address")
            })
        };
        let api = bind("API", "http.bind", settings.http.bind, "")?;
        let metrics = match settings.metrics.bind {
            Some(addr) => Some(bind("metrics", "metrics.bind", addr, " (\"\" turns the metrics off)")?),
            None => None,
        };
        let public_base = public_base(settings, api.local_addr()?).await?;
        Ok(Self { api, metrics, public_base })
    }
}

/// The base of the links imaged hands out (download links in notices,
/// direct-upload URLs): configured, else the address imaged listens on.
/// On 0.0.0.0 that is no address a client reaches: then the EC2
/// instance's public hostname (as CloudX links) with the port, and off EC2
/// a refusal where the links leave the host (notices by e-mail, uploads to
/// imaged's own store). Never a client's Host or forwarding headers.
async fn public_base(settings: &Settings, local: SocketAddr) -> anyhow::Result<String> {
    let configured = &settings.http.public_url;
    if !configured.is_empty() {
        return Ok(configured.trim_end_matches('/').to_owned());
    }
    let port = match local.port() {
        80 => String::new(),
        port => format!(":{port}"),
    };
    let base = match local {
        SocketAddr::V4(v4) => format!("http://{}{port}", v4.ip()),
        SocketAddr::V6(v6) => format!("http://[{}]{port}", v6.ip()),
    };
    if !local.ip().is_unspecified() {
        return Ok(base);
    }
    if let Some(host) = aws::ec2_public_host(&settings.aws.metadata_url).await? {
        return Ok(format!("http://{host}{port}"));
    }
    let mailed = settings.notify.backend == NotifyBackend::Sns;
    let uploads_here = settings.storage.backend == StorageBackend::Fs;
    if mailed || uploads_here {
        let leaving = if mailed { "download links in e-mailed notices" } else { "direct-upload URLs" };
        anyhow::bail!(
            "imaged listens on {local} and this is no EC2 instance with a public hostname, so its {leaving} \
             would name {base}, which no client reaches: set http.public_url (e.g. http://images.example.com:{})",
            local.port()
        );
    }
    tracing::warn!(%local, "no public hostname: set http.public_url, or download links name an address no client can reach");
    Ok(base)
}
