//! The command line: `omni-server [serve]`, `omni-server migrate`, and the operator's
//! commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Omni: WhatsApp customer service, triaged and in real time.
#[derive(Debug, Parser)]
#[command(name = "omni-server", version, about)]
pub struct Cli {
    /// Configuration file (default: `omni.toml` in the working directory, if present).
    #[arg(long, global = true, env = "OMNI_CONFIG")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands of `omni-server`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP until SIGTERM/SIGINT.
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create a platform operator (superadmin). The password is read from
    /// OMNI_SUPERADMIN_PASSWORD or, when unset, from the first line of standard input.
    CreateSuperadmin {
        /// The superadmin's e-mail, their login.
        #[arg(long)]
        email: String,
        /// The superadmin's name.
        #[arg(long)]
        name: String,
    },
    /// Count a company's reports again from its tickets' history, under its current
    /// settings, and exit. The worker does this by itself after a settings change; this is
    /// for an operator (after restoring a backup, say).
    RecountReports {
        /// The company's id.
        #[arg(long)]
        company: i64,
    },
    /// Send a running instance a customer's message as Twilio would (signed with the
    /// receiving integration's auth token, over `OMNI_HTTP__PUBLIC_BASE_URL`): try the
    /// inbound path and the console without Twilio or a phone. Uses the same configuration
    /// as the server it posts to.
    SimulateInbound {
        /// The company's number: an enabled Twilio integration's `phone_number` (E.164).
        #[arg(long)]
        to: String,
        /// The customer's number (E.164).
        #[arg(long)]
        from: String,
        /// What the customer writes.
        #[arg(long)]
        text: String,
        /// The customer's WhatsApp profile name.
        #[arg(long)]
        name: Option<String>,
        /// The instance's address (default: the configured `http.bind`).
        #[arg(long)]
        server: Option<String>,
    },
}
