//! The command line: `imaged [--config FILE] [--cloudx-config PATH] [serve|migrate|check-config|thumbnail|dlq]`.

mod dlq;
mod installed;
mod thumbnail;

use std::{path::PathBuf, process::ExitCode};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{
    config::{DatabaseUrl, QueueBackend, Settings},
    db::Migrated,
    imaging::{self, jpeg},
    startup::{Application, Backends},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(name = "imaged", version, about = "Image thumbnail daemon with the CloudX image API")]
pub struct Cli {
    /// A TOML file layered over config/default.toml (environment IMAGED__SECTION__KEY wins over both).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The CloudX app's config.yaml: its keys count as environment variables, and one set in the environment wins.
    #[arg(long, global = true, value_name = "PATH")]
    pub cloudx_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and process the queue (the default).
    Serve,
    /// Create or upgrade the database tables, then exit.
    Migrate,
    /// Load and validate the configuration, then exit.
    CheckConfig,
    /// Make thumbnails of local files with the daemon's resize core.
    Thumbnail(thumbnail::Args),
    /// List the dead letters, or send them back to the queue.
    Dlq(dlq::Args),
}

pub fn main() -> ExitCode {
    let cli = parse();
    let loaded = installed::sources(cli.config.clone()).and_then(|sources| {
        let settings = Settings::load(sources.config.as_deref(), cli.cloudx_config.as_deref(), sources.env)?;
        Ok((settings, sources.read))
    });
    let (settings, read) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            report(&format!("{err:#}"));
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log);
    let command = cli.command.unwrap_or(Command::Serve);
    // What a command run by hand looked at, on stderr (stdout is its output).
    if !matches!(command, Command::Serve | Command::Thumbnail(_)) {
        let files: Vec<String> = read.iter().map(|path| path.display().to_string()).collect();
        let files =
            if files.is_empty() { "the built-in defaults and the environment".into() } else { files.join(", ") };
        report(&format!("settings from {files}"));
    }
    let result = match command {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(settings),
        Command::CheckConfig => {
            println!("configuration is valid: {}", serde_json::to_string(&summary(&settings)).unwrap_or_default());
            Ok(())
        }
        Command::Thumbnail(args) => thumbnail::run(&settings, args),
        Command::Dlq(args) => {
            report(&format!("queue: {}", queue(&settings)));
            dlq::run(&settings, args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// The arguments; `--version` also says whether libjpeg-turbo's SIMD code
/// is in this build, and which libheif reads HEIC and AVIF here.
fn parse() -> Cli {
    let simd = if jpeg::simd() { "yes" } else { "no: built without nasm" };
    let heif = imaging::heif_library().map_or_else(|why| format!("no: {why}"), |version| format!("libheif {version}"));
    let version = format!("{} (libjpeg-turbo SIMD: {simd}; HEIC/AVIF: {heif})", env!("CARGO_PKG_VERSION"));
    let matches = Cli::command().version(version.leak() as &'static str).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        crate::shutdown::cancel_on_signals(app.shutdown_token())?;
        app.run_until_stopped().await
    })
}

fn migrate(settings: Settings) -> anyhow::Result<()> {
    let database = database(&settings);
    let runtime = tokio::runtime::Runtime::new()?;
    let Migrated { found, applied } = runtime.block_on(Backends::migrate(&settings))?;
    match (found, applied) {
        (_, 0) => println!("{database}: up to date"),
        (0, _) => println!("{database}: created, with every table"),
        _ => println!("{database}: {applied} migrations applied, now up to date"),
    }
    Ok(())
}

/// The database the settings name, for the operator.
fn database(s: &Settings) -> String {
    match &s.database.url {
        DatabaseUrl::Local => format!("SQLite database {}", s.local_database().display()),
        DatabaseUrl::Sqlite(url) => format!("SQLite database {url}"),
        DatabaseUrl::Mysql(_) => format!(
            "MySQL database on {} (imaged's schema `{}`)",
            s.database.url.host().unwrap_or_default(),
            s.database.schema
        ),
    }
}

/// The queue the settings name, for the operator.
fn queue(s: &Settings) -> String {
    match s.queue.backend {
        QueueBackend::Embedded => format!("the embedded queue in {}", s.local_database().display()),
        QueueBackend::Sqs => format!("SQS queue {}", s.queue.url),
    }
}

/// What check-config reports: the chosen backends, never secrets.
fn summary(s: &Settings) -> serde_json::Value {
    serde_json::json!({
        "http": s.http.bind, "metrics": s.metrics.bind, "data_dir": s.data_dir,
        "storage": format!("{:?}", s.storage.backend).to_lowercase(),
        "queue": format!("{:?}", s.queue.backend).to_lowercase(),
        "notify": format!("{:?}", s.notify.backend).to_lowercase(),
        "database": match s.database.url {
            DatabaseUrl::Mysql(_) => serde_json::json!({
                "kind": "mysql", "host": s.database.url.host(), "schema": s.database.schema, "tls": s.database.tls().as_str(),
            }),
            _ => "sqlite".into(),
        },
        "sizes": s.processing.sizes, "quality": s.processing.quality,
        "decided": s.decided,
    })
}

/// An error for the operator; a stderr that is gone must not turn it into a panic.
fn report(err: &dyn std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "imaged: {err}");
}
