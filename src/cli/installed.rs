//! Where the settings come from when no `--config` is given: the
//! package's `/etc/imaged/config.toml` and `/etc/imaged/env`, when there,
//! so `imaged dlq list` or `imaged migrate` typed on a host looks where
//! the service looks, not at an empty `./data`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use anyhow::Context;

/// The package's configuration folder.
const CONFIG_DIR: &str = "/etc/imaged";
/// Names another folder instead (a test's fake root, a second install).
const CONFIG_DIR_VAR: &str = "IMAGED_CONFIG_DIR";

/// The config file to read and the environment to read with it.
pub struct Sources {
    pub config: Option<PathBuf>,
    pub env: HashMap<String, String>,
    /// The files read, for the operator.
    pub read: Vec<PathBuf>,
}

/// `config` as given; else the installed `config.toml`, if there. With the
/// installed (or a given) `config.toml` comes the `env` file beside it,
/// its variables under the process's own, as the unit's
/// `EnvironmentFile=` gives them to the service.
pub fn sources(config: Option<PathBuf>) -> anyhow::Result<Sources> {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    let dir = env.get(CONFIG_DIR_VAR).cloned().unwrap_or_else(|| CONFIG_DIR.to_owned());
    let installed = Path::new(&dir).join("config.toml");
    let config = config.or_else(|| installed.exists().then(|| installed.clone()));
    let mut read = Vec::new();
    if let Some(file) = &config {
        std::fs::File::open(file).with_context(|| unreadable(file))?;
        read.push(file.clone());
        let env_file = file.with_file_name("env");
        if file.file_name().is_some_and(|name| name == "config.toml") && env_file.exists() {
            let vars = dotenvy::from_path_iter(&env_file).with_context(|| unreadable(&env_file))?;
            for var in vars {
                let (key, value) = var.with_context(|| format!("{}: not KEY=value lines", env_file.display()))?;
                env.entry(key).or_insert(value);
            }
            read.push(env_file);
        }
    }
    Ok(Sources { config, env, read })
}

fn unreadable(path: &Path) -> String {
    format!("reading {} (as the service's user: sudo -u imaged imaged …)", path.display())
}
