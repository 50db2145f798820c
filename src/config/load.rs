//! Loading the layers: `config/default.toml`, the file, the CloudX app's
//! variables and config.yaml, then `IMAGED__…` variables.

use std::{collections::HashMap, path::Path};

use config::{Config, Environment, File, FileFormat};

use super::{ConfigError, Settings, cloudx};

/// The built-in layer: every key with its default.
const DEFAULTS: &str = include_str!("../../config/default.toml");

/// The variable that names CloudX's config.yaml (`cloudx_config`).
const CLOUDX_CONFIG_VAR: &str = "IMAGED__CLOUDX_CONFIG";

impl Settings {
    /// Loads the layers from `env` (and `cloudx_config`, the
    /// `--cloudx-config` flag, when given) and validates them.
    pub fn load(
        file: Option<&Path>,
        cloudx_config: Option<&Path>,
        mut env: HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        if let Some(path) = cloudx_config {
            env.insert(CLOUDX_CONFIG_VAR.into(), path.to_string_lossy().into_owned());
        }
        Self::load_from(file, env)
    }

    /// Like [`Settings::load`], without a flag.
    pub fn load_from(file: Option<&Path>, env: HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::load_as(file, env, cloudx::CLOUDX_BIND)
    }

    /// Like [`Settings::load_from`], with the address the CloudX app
    /// listened on (a test gives one on port 0).
    pub fn load_as(
        file: Option<&Path>,
        mut env: HashMap<String, String>,
        cloudx_bind: &str,
    ) -> Result<Self, ConfigError> {
        // The file, read once: its layer, and two keys wanted before the
        // layers are merged.
        let file =
            file.map(|file| Config::builder().add_source(File::from(file).required(true)).build()).transpose()?;
        let file_value = |key: &str| file.as_ref().and_then(|file| file.get_string(key).ok());
        let mut decided = Vec::new();
        // CloudX's config.yaml: more environment.
        let cloudx_config = env.get(CLOUDX_CONFIG_VAR).cloned().or_else(|| file_value("cloudx_config"));
        if let Some(path) = cloudx_config.filter(|path| !path.is_empty()) {
            decided.push(cloudx::read_config_file(Path::new(&path), &mut env)?);
        }
        let mut cloudx = cloudx::environment(&env);
        // A CloudX host answered on 0.0.0.0:80: so does imaged in its
        // place, unless a file or a variable of imaged's says otherwise.
        if cloudx::selects_aws(&cloudx) && !env.contains_key("IMAGED__HTTP__BIND") && file_value("http.bind").is_none()
        {
            cloudx.insert("IMAGED__HTTP__BIND".into(), cloudx_bind.into());
            decided.push(format!(
                "http.bind = {cloudx_bind}: the CloudX app's address, as CloudX's variables select the AWS backends and no http.bind is set"
            ));
        }
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(file);
        }
        let mut settings: Settings = builder
            .add_source(imaged_environment(cloudx))
            .add_source(imaged_environment(env))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        settings.decided = decided;
        Ok(settings)
    }
}

/// `IMAGED__SECTION__KEY` variables from `env`.
fn imaged_environment(env: HashMap<String, String>) -> Environment {
    Environment::with_prefix("IMAGED")
        .prefix_separator("__")
        .separator("__")
        // Values stay text until a typed field reads them: parsing them here
        // would turn a password or bucket name like "0123" into 123.
        .try_parsing(false)
        .source(Some(env))
}
