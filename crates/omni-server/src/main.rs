use std::process::ExitCode;

use clap::Parser as _;
use omni_server::cli::{Cli, Command};
use omni_server::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A configuration mistake is one line on stderr and exit code 2, never a backtrace.
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("omni-server: {e}");
            return ExitCode::from(2);
        }
    };
    omni_server::telemetry::init(&config.log, std::io::stdout);
    let command = cli.command.unwrap_or(Command::Serve);
    let result = actix_web::rt::System::new().block_on(omni_server::run(command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("omni-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
