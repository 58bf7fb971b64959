//! `verify`: every webhook a run had accepted is stored, exactly once.

use serde_json::json;

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// The run's MessageSid prefix.
    #[arg(long, default_value = "SMbench")]
    pub run_id: String,
    /// Webhooks the run reported accepted (200).
    #[arg(long)]
    pub accepted: u64,
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

pub async fn run(args: VerifyArgs) -> anyhow::Result<bool> {
    let (db, connection) =
        tokio_postgres::connect(&args.database_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT (company_id, whatsapp_message_id)) \
             FROM ticket_messages WHERE whatsapp_message_id LIKE $1 || '%'",
            &[&args.run_id],
        )
        .await?;
    let (rows, distinct): (i64, i64) = (row.get(0), row.get(1));
    let stored = u64::try_from(distinct)?;
    let lost = args.accepted.saturating_sub(stored);
    let doubled = u64::try_from(rows - distinct)?;
    let ok = lost == 0 && doubled == 0;
    let verdict = json!({"run_id": args.run_id, "accepted": args.accepted, "stored": stored,
                         "lost": lost, "doubled": doubled, "ok": ok});
    println!("verify: {verdict}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&verdict)?)?;
    }
    Ok(ok)
}
