//! The `trent` command. Scripts outside the repository rely on these names
//! and flags: keep them stable.

#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: under load, glibc's allocator took
/// a fifth of the server's time (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "trent", version, about = "A self-hosted key management service that speaks the AWS KMS API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(trent::serve::ServeOptions),
    /// The audit log: verify it, query it, export its public key.
    #[command(subcommand)]
    Audit(trent::audit::cli::AuditCommand),
    /// Manage the accounts of a deployment.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Explain an authorization decision: would PRINCIPAL be allowed ACTION
    /// on a key, and which statement or grant decides.
    Explain(trent::authz::explain::ExplainOptions),
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and its admin user; prints the admin's credentials.
    Create(trent::account::CreateOptions),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person watching, not in files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let command = match cli.command {
        // Operator commands on files: no server, no runtime.
        Command::Audit(command) => return trent::audit::cli::run(command),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trent: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve(options) => runtime.block_on(trent::serve::run(options)),
        Command::Account(AccountCommand::Create(options)) => runtime.block_on(trent::account::create(options)),
        // Answered above, before the runtime.
        Command::Audit(_) => Ok(()),
        Command::Explain(options) => runtime.block_on(trent::authz::explain::run(options)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
