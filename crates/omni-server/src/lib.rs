//! Omni's actix-web application: configuration, routes, the problem+json error mapping,
//! and the commands of the `omni-server` binary.

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod routes;
pub mod state;
pub mod telemetry;

use omni_store_postgres::run_migrations;

use crate::app::Application;
use crate::cli::Command;
use crate::config::Config;

/// Runs one command of the binary to completion.
pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    for notice in &config.notices {
        tracing::warn!("{notice}");
    }
    match command {
        Command::Migrate => {
            migrate(&config).await?;
        }
        Command::Serve => {
            migrate(&config).await?;
            let app = Application::build(config.clone())?;
            tracing::info!(
                port = app.port(),
                bind = %config.http.bind,
                public_base_url = %config.http.public_base_url,
                profile = ?config.profile,
                "omni is serving"
            );
            app.run_until_stopped().await?;
            tracing::info!("omni stopped");
        }
    }
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let applied = run_migrations(&config.database).await?;
    if applied.is_empty() {
        tracing::info!(
            database = config.database.database_name(),
            "schema is up to date"
        );
    } else {
        tracing::info!(
            database = config.database.database_name(),
            ?applied,
            "applied migrations"
        );
    }
    Ok(())
}
