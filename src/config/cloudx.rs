//! The CloudX app's own environment variables, read so that a CloudX host's
//! existing configuration runs imaged unchanged. Each is turned into the
//! `IMAGED__…` setting it means; real `IMAGED__…` variables come later and
//! win where both are set.

use std::{collections::HashMap, path::Path};

use config::{Config, File, FileFormat};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::ConfigError;

/// CloudX's `DB_PORT` default.
const DEFAULT_DB_PORT: &str = "3306";
/// Where the CloudX app listens.
pub const CLOUDX_BIND: &str = "0.0.0.0:80";

/// Whether the settings `environment` made select an AWS backend.
pub fn selects_aws(imaged: &HashMap<String, String>) -> bool {
    ["IMAGED__STORAGE__BACKEND", "IMAGED__QUEUE__BACKEND", "IMAGED__NOTIFY__BACKEND", "IMAGED__DATABASE__URL"]
        .iter()
        .any(|key| imaged.contains_key(*key))
}

/// Adds the keys of CloudX's `config.yaml` (a flat map) to `env` as
/// variables, each where no variable of its name is set: the app's rule.
/// Says which it read and which the environment kept.
pub fn read_config_file(path: &Path, env: &mut HashMap<String, String>) -> Result<String, ConfigError> {
    let invalid = |err: config::ConfigError| ConfigError::Invalid { key: "cloudx_config", reason: err.to_string() };
    let yaml = File::from(path).format(FileFormat::Yaml).required(true);
    let keys: HashMap<String, String> =
        Config::builder().add_source(yaml).build().and_then(Config::try_deserialize).map_err(invalid)?;
    let (mut read, mut kept) = (Vec::new(), Vec::new());
    for (key, value) in keys {
        match env.contains_key(&key) {
            true => kept.push(key),
            false => {
                read.push(key.clone());
                env.insert(key, value);
            }
        }
    }
    read.sort();
    kept.sort();
    Ok(format!("{}: CloudX's settings {read:?} read; {kept:?} set in the environment, which wins", path.display()))
}

/// The `IMAGED__…` variables that `env`'s CloudX variables stand for.
pub fn environment(env: &HashMap<String, String>) -> HashMap<String, String> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut out = HashMap::new();
    let mut set = |key: &str, value: &str| {
        out.insert(format!("IMAGED__{key}"), value.to_owned());
    };
    if let Some(region) = get("AWS_REGION") {
        set("AWS__REGION", region);
    }
    if let Some(endpoint) = get("AWS_ENDPOINT_URL") {
        set("AWS__ENDPOINT_URL", endpoint);
    }
    if let Some(bucket) = get("S3_BUCKET") {
        set("STORAGE__BACKEND", "s3");
        set("STORAGE__BUCKET", bucket);
    }
    if let Some(url) = get("QUEUE_URL") {
        set("QUEUE__BACKEND", "sqs");
        set("QUEUE__URL", url);
    }
    if let Some(arn) = get("TOPIC_ARN") {
        set("NOTIFY__BACKEND", "sns");
        set("NOTIFY__TOPIC_ARN", arn);
    }
    if let Some(host) = get("DB_HOST") {
        let port = get("DB_PORT").unwrap_or(DEFAULT_DB_PORT);
        let user = get("DB_USERNAME").map(|u| format!("{}@", utf8_percent_encode(u, NON_ALPHANUMERIC)));
        let name = get("DB_NAME").unwrap_or_default();
        set("DATABASE__URL", &format!("mysql://{}{host}:{port}/{name}", user.unwrap_or_default()));
    }
    if let Some(secret) = get("DB_PASSWORD_SECRET_NAME") {
        set("DATABASE__PASSWORD_SECRET", secret);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{NotifyBackend, QueueBackend, Settings, StorageBackend};

    fn env(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const CLOUDX_HOST: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-central-1"),
        ("S3_BUCKET", "cloudximage-imagestorebucket-abc"),
        ("QUEUE_URL", "https://sqs.eu-central-1.amazonaws.com/123456789012/cloudximage-QueueSQSQueue-x"),
        ("TOPIC_ARN", "arn:aws:sns:eu-central-1:123456789012:cloudximage-TopicSNSTopic-y"),
        ("DB_HOST", "db.example.rds.amazonaws.com"),
        ("DB_NAME", "cloudximages"),
        ("DB_USERNAME", "admin"),
        ("DB_PASSWORD_SECRET_NAME", "DatabaseSecret-z"),
    ];

    #[test]
    fn a_cloudx_hosts_variables_select_the_aws_backends() {
        let s = Settings::load_from(None, env(CLOUDX_HOST)).unwrap();
        assert_eq!(s.aws.region, "eu-central-1");
        assert_eq!(
            (s.storage.backend, s.storage.bucket.as_str()),
            (StorageBackend::S3, "cloudximage-imagestorebucket-abc")
        );
        assert_eq!(s.queue.backend, QueueBackend::Sqs);
        assert!(s.queue.url.ends_with("/cloudximage-QueueSQSQueue-x"));
        assert_eq!(s.notify.backend, NotifyBackend::Sns);
        assert_eq!(s.database.url.to_string(), "mysql://admin@db.example.rds.amazonaws.com:3306/cloudximages");
        assert_eq!(s.database.password_secret, "DatabaseSecret-z");
        assert!(s.uses_aws());
    }

    #[test]
    fn a_cloudx_host_is_answered_on_cloudxs_port_unless_a_bind_is_set() {
        let s = Settings::load_from(None, env(CLOUDX_HOST)).unwrap();
        assert_eq!(s.http.bind.to_string(), "0.0.0.0:80");
        assert!(s.decided.iter().any(|why| why.starts_with("http.bind = 0.0.0.0:80")), "{:?}", s.decided);

        let mut vars = CLOUDX_HOST.to_vec();
        vars.push(("IMAGED__HTTP__BIND", "127.0.0.1:9000"));
        let s = Settings::load_from(None, env(&vars)).unwrap();
        assert_eq!((s.http.bind.to_string(), s.decided.len()), ("127.0.0.1:9000".into(), 0));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("imaged.toml");
        std::fs::write(&file, "[http]\nbind = \"0.0.0.0:8080\"\n").unwrap();
        let s = Settings::load_from(Some(&file), env(CLOUDX_HOST)).unwrap();
        assert_eq!(s.http.bind.to_string(), "0.0.0.0:8080", "the file's bind wins");

        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!((s.http.bind.to_string(), s.decided.len()), ("127.0.0.1:8080".into(), 0), "not a CloudX host");
    }

    #[test]
    fn cloudxs_config_yaml_is_read_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("config.yaml");
        let mut text = String::new();
        for (key, value) in CLOUDX_HOST {
            text += &format!("{key}: {value}\n");
        }
        std::fs::write(&yaml, text + "DB_PORT: 3307\n").unwrap();
        let path = yaml.to_str().unwrap();

        let s = Settings::load_from(None, env(&[("IMAGED__CLOUDX_CONFIG", path)])).unwrap();
        assert_eq!(s.storage.bucket, "cloudximage-imagestorebucket-abc");
        assert_eq!(s.database.url.to_string(), "mysql://admin@db.example.rds.amazonaws.com:3307/cloudximages");
        assert_eq!(s.http.bind.to_string(), "0.0.0.0:80", "as with the variables");
        assert!(s.decided.iter().any(|why| why.starts_with(path)), "{:?}", s.decided);

        let s = Settings::load_from(None, env(&[("IMAGED__CLOUDX_CONFIG", path), ("S3_BUCKET", "from-env")])).unwrap();
        assert_eq!(s.storage.bucket, "from-env", "a variable set in the environment wins, as in CloudX");

        let file = dir.path().join("imaged.toml");
        std::fs::write(&file, format!("cloudx_config = {path:?}\n")).unwrap();
        assert_eq!(Settings::load_from(Some(&file), env(&[])).unwrap().queue.backend, QueueBackend::Sqs);

        let missing = dir.path().join("nope.yaml");
        let err = Settings::load_from(None, env(&[("IMAGED__CLOUDX_CONFIG", missing.to_str().unwrap())])).unwrap_err();
        assert!(err.to_string().contains("cloudx_config") && err.to_string().contains("nope.yaml"), "{err}");
    }

    #[test]
    fn imaged_variables_win_over_cloudx_ones() {
        let mut vars = env(CLOUDX_HOST);
        vars.insert("IMAGED__STORAGE__BUCKET".into(), "mine".into());
        vars.insert("IMAGED__QUEUE__BACKEND".into(), "embedded".into());
        vars.insert("DB_PORT".into(), "3307".into());
        let s = Settings::load_from(None, vars).unwrap();
        assert_eq!((s.storage.backend, s.storage.bucket.as_str()), (StorageBackend::S3, "mine"));
        assert_eq!(s.queue.backend, QueueBackend::Embedded);
        assert_eq!(s.database.url.to_string(), "mysql://admin@db.example.rds.amazonaws.com:3307/cloudximages");
    }

    #[test]
    fn imaged_settings_win_without_tripping_over_cloudx_ones() {
        let mut vars = env(CLOUDX_HOST);
        vars.insert("IMAGED__DATABASE__URL".into(), "".into());
        let s = Settings::load_from(None, vars.clone()).expect("SQLite with a CloudX secret name set");
        assert_eq!(s.database.url, super::super::DatabaseUrl::Local);
        vars.remove("IMAGED__DATABASE__URL");
        vars.insert("IMAGED__DATABASE__PASSWORD".into(), "pw".into());
        Settings::load_from(None, vars).expect("a password beside the CloudX secret name");
    }
}
