//! `imaged dlq list|redrive`: the dead letters, read and sent back.

use clap::{Args as ClapArgs, Subcommand};

use crate::{backends::Backends, config::Settings};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print the dead letters, one JSON object per line (id, body, receive_count, sent_at).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Move dead letters back to the queue, oldest first, to be tried again.
    Redrive {
        /// At most this many.
        #[arg(long, default_value_t = usize::MAX)]
        limit: usize,
    },
}

pub fn run(settings: &Settings, args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let dead_letters = Backends::build(settings).await?.dead_letters;
        match args.command {
            Action::List { limit } => {
                for letter in dead_letters.list(limit).await? {
                    println!("{}", serde_json::to_string(&letter)?);
                }
            }
            Action::Redrive { limit } => {
                let moved = dead_letters.redrive(limit).await?;
                println!("{moved} dead letters moved back to the queue");
            }
        }
        Ok(())
    })
}
