//! Omni's actix-web application: configuration, routes, the problem+json error mapping,
//! and the commands of the `omni-server` binary.

pub mod app;
pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod error;
pub mod extract;
pub mod hub;
pub mod limits;
pub mod listener;
pub mod openapi;
pub mod routes;
pub mod schemas;
pub mod simulate;
pub mod span;
pub mod state;
pub mod strict_json;
pub mod telemetry;
pub mod validate;
pub mod worker;

use omni_core::DisplayName;
use omni_identity::{Email, Password};
use omni_store_postgres::run_migrations;

use crate::app::Application;
use crate::cli::Command;
use crate::config::Config;
use crate::state::AppState;

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
                metrics_port = app.metrics_port(),
                bind = %config.http.bind,
                public_base_url = %config.http.public_base_url,
                profile = ?config.profile,
                "omni is serving"
            );
            app.run_until_stopped().await?;
            tracing::info!("omni stopped");
        }
        Command::CreateSuperadmin { email, name } => {
            migrate(&config).await?;
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let name = DisplayName::parse(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            let password = read_superadmin_password()?;
            let state = AppState::new(config)?;
            let user = state
                .identity
                .create_superadmin(email, name, password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(id = user.id.get(), email = %user.email, "created superadmin");
        }
        Command::RecountReports { company } => {
            migrate(&config).await?;
            let state = AppState::new(config)?;
            let started = std::time::Instant::now();
            state
                .reports
                .recount(omni_core::CompanyId::new(company))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(
                company,
                seconds = started.elapsed().as_secs_f64(),
                "counted the company's reports again"
            );
        }
        Command::SimulateInbound {
            to,
            from,
            text,
            name,
            server,
        } => {
            let state = AppState::new(config)?;
            let sid = simulate::simulate_inbound(
                &state,
                simulate::SimulatedMessage {
                    to,
                    from,
                    text,
                    name,
                    server,
                },
            )
            .await?;
            println!("delivered {sid}: open the console to see it");
        }
    }
    Ok(())
}

/// The new superadmin's password: `OMNI_SUPERADMIN_PASSWORD`, else a line of standard input.
fn read_superadmin_password() -> anyhow::Result<Password> {
    let raw = match std::env::var("OMNI_SUPERADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    Password::parse(&raw).map_err(|e| anyhow::anyhow!("password: {e}"))
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
