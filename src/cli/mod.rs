//! The command line: `imaged [--config FILE] [--cloudx-config PATH] [serve|migrate|check-config|thumbnail|dlq]`.

mod dlq;
mod thumbnail;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::{DatabaseUrl, Settings},
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
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref(), cli.cloudx_config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => {
            report(&err);
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(settings),
        Command::CheckConfig => {
            println!("configuration is valid: {}", serde_json::to_string(&summary(&settings)).unwrap_or_default());
            Ok(())
        }
        Command::Thumbnail(args) => thumbnail::run(&settings, args),
        Command::Dlq(args) => dlq::run(&settings, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&format!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        crate::shutdown::cancel_on_signals(app.shutdown_token())?;
        app.run_until_stopped().await
    })
}

fn migrate(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(Backends::migrate(&settings))?;
    println!("database is up to date");
    Ok(())
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
