//! `omni-loadgen`: seeds a database and drives Omni with the load of real deployments —
//! Twilio webhooks, agents on WebSockets, agents reading their queues — and reports
//! throughput and latency percentiles as a table and as JSON. `make bench` runs it.

mod args;
mod conversations;
mod fake_twilio;
mod fanout;
mod fixture;
mod reads;
mod reports;
mod seed;
mod stats;
mod verify;
mod webhooks;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Companies through the API, tickets and messages by bulk SQL; writes the fixture.
    Seed(seed::SeedArgs),
    /// The whole conversation: webhooks (some opening tickets), triage and auto-replies,
    /// agents on WebSockets answering, a fake Twilio taking sends and calling back.
    Conversations(conversations::ConversationArgs),
    /// Signed inbound webhooks at a concurrency or rate.
    Webhooks(webhooks::WebhookArgs),
    /// Delivery time of `message.created` to N agents' WebSockets.
    Fanout(fanout::FanoutArgs),
    /// N idle WebSockets held open.
    Sockets(fanout::SocketArgs),
    /// `GET /tickets` first pages at a rate.
    Reads(reads::ReadArgs),
    /// Every accepted webhook of a run is stored exactly once.
    Verify(verify::VerifyArgs),
    /// One company with a year of history (a million tickets) for the reports scenario.
    SeedReports(reports::SeedReportsArgs),
    /// Managers' reports of that company at a rate: the 90-day overview and the agents'.
    Reports(reports::ReportArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // reqwest is built without a default TLS backend in this workspace; Omni uses ring too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(Cli::parse().command).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("omni-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Seed(args) => seed::run(args).await.map(|()| true),
        Command::Conversations(args) => {
            let json = args.json.clone();
            let (report, ok) = conversations::run(args).await?;
            report.publish(json.as_deref())?;
            Ok(ok)
        }
        Command::Webhooks(args) => {
            let json = args.json.clone();
            webhooks::run(args)
                .await?
                .publish(json.as_deref())
                .map(|()| true)
        }
        Command::Fanout(args) => {
            let json = args.json.clone();
            fanout::run(args)
                .await?
                .publish(json.as_deref())
                .map(|()| true)
        }
        Command::Sockets(args) => fanout::sockets(args).await.map(|()| true),
        Command::Reads(args) => {
            let json = args.json.clone();
            reads::run(args)
                .await?
                .publish(json.as_deref())
                .map(|()| true)
        }
        Command::Verify(args) => verify::run(args).await,
        Command::SeedReports(args) => reports::seed(args).await.map(|()| true),
        Command::Reports(args) => {
            let (overview, agents) = (args.json_overview.clone(), args.json_agents.clone());
            let (o, a) = reports::run(args).await?;
            o.publish(overview.as_deref())?;
            a.publish(agents.as_deref())?;
            Ok(true)
        }
    }
}
