//! Values that arrive as text (from a file or the environment) parsed into
//! their types once, at load: an address, a list, a database URL. A value
//! that does not parse is refused with what was expected.

use std::{fmt, net::SocketAddr, str::FromStr};

use serde::{Deserialize, Deserializer, de::Error};

use super::LogFormat;
use crate::imaging::Format;

/// `http.bind`: an address to listen on.
pub fn address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| D::Error::custom(format!("{text:?}: expected an address like 127.0.0.1:8080")))
}

/// `metrics.bind`: an address, or "" for none.
pub fn optional_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    let address = text
        .parse()
        .map_err(|_| D::Error::custom(format!("{text:?}: expected an address like 127.0.0.1:9464, or \"\"")))?;
    Ok(Some(address))
}

/// `http.cors_origins`: comma-separated origins, or "*".
pub fn origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let origins: Vec<String> = text.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
    match origins.iter().find(|origin| !valid_origin(origin)) {
        Some(bad) => Err(D::Error::custom(format!(
            "{bad:?}: expected origins like https://app.example.com, comma-separated, or \"*\""
        ))),
        None => Ok(origins),
    }
}

/// Whether `origin` is one a browser sends: `*`, or a scheme and host with
/// an optional port and nothing after.
fn valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some((scheme, host)) = origin.split_once("://") else { return false };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    matches!(scheme, "http" | "https") && host_ok
}

/// `log.format`: "text" or "json".
pub fn log_format<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LogFormat, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(D::Error::custom(format!("{other:?}: expected \"text\" or \"json\""))),
    }
}

/// `processing.sizes`: a list in a file, `128,256` in the environment.
pub fn sizes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u32>, D::Error> {
    list(deserializer, "a size in pixels")
}

/// `processing.formats`: a list in a file, `jpeg,webp` in the environment.
pub fn formats<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Format>, D::Error> {
    list(deserializer, "a thumbnail format (jpeg, webp, avif)")
}

/// A list of `T`, as a list in a file or as `a,b` in the environment;
/// an item that does not parse is refused as not `what`.
fn list<'de, D: Deserializer<'de>, T: FromStr>(deserializer: D, what: &str) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Number(u64),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Items(Vec<Item>),
        Text(String),
    }
    let items: Vec<String> = match List::deserialize(deserializer)? {
        List::Items(items) => items
            .into_iter()
            .map(|item| match item {
                Item::Number(n) => n.to_string(),
                Item::Text(text) => text,
            })
            .collect(),
        List::Text(text) => text.split(',').map(|item| item.trim().to_owned()).collect(),
    };
    items.iter().map(|item| item.parse().map_err(|_| D::Error::custom(format!("{item:?} is not {what}")))).collect()
}

/// `database.url`, with the database it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// "": SQLite in `data_dir`.
    Local,
    /// A `sqlite:` URL.
    Sqlite(String),
    /// A `mysql://` (or `mariadb://`) URL.
    Mysql(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        if url.is_empty() {
            Ok(Self::Local)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let parsed = url::Url::parse(url).map_err(|err| format!("{url:?}: {err}"))?;
            if parsed.path().trim_matches('/').is_empty() {
                return Err(format!(
                    "{url:?} names no database: expected the CloudX one, as in mysql://admin@host:3306/cloudximages"
                ));
            }
            Ok(Self::Mysql(url.to_owned()))
        } else {
            Err(format!("{url:?}: expected \"\" (SQLite in data_dir), a sqlite: URL or a mysql:// URL"))
        }
    }
}

impl DatabaseUrl {
    /// A MySQL server's host name.
    pub fn host(&self) -> Option<String> {
        match self {
            Self::Mysql(url) => url::Url::parse(url).ok()?.host_str().map(str::to_owned),
            Self::Local | Self::Sqlite(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(D::Error::custom)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => Ok(()),
            Self::Sqlite(url) | Self::Mysql(url) => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host_only() {
        for good in ["*", "https://app.example.com", "http://127.0.0.1:3000", "http://[::1]:8080"] {
            assert!(valid_origin(good), "{good}");
        }
        for bad in ["", "app.example.com", "https://app.example.com/", "ftp://x", "https://", "https://a b"] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }

    #[test]
    fn a_database_url_names_its_database() {
        assert_eq!("".parse(), Ok(DatabaseUrl::Local));
        assert_eq!("sqlite:x.db".parse(), Ok(DatabaseUrl::Sqlite("sqlite:x.db".into())));
        assert_eq!("mariadb://h/d".parse(), Ok(DatabaseUrl::Mysql("mariadb://h/d".into())));
        assert!("postgres://h/d".parse::<DatabaseUrl>().unwrap_err().contains("mysql://"));
        assert!("mysql://u@h:3306/".parse::<DatabaseUrl>().unwrap_err().contains("cloudximages"));
        assert_eq!("mysql://u@db.x:3307/d".parse::<DatabaseUrl>().unwrap().host().as_deref(), Some("db.x"));
    }
}
