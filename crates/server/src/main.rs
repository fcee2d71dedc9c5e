//! The `trent` command. Scripts outside the repository rely on these names
//! and flags: keep them stable.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use trent::keystores::clusters;

/// mimalloc rather than glibc's malloc: under load, glibc's allocator took
/// a fifth of the server's time (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "trent", version, about = "A self-hosted key management service that speaks the AWS KMS API")]
struct Cli {
    /// The operational log's format on stderr: `text`, or `json` (one
    /// object per line, for log collectors). The audit log is separate.
    #[arg(long, global = true, env = "TRENT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<trent::serve::ServeOptions>),
    /// Initialise a data directory (and its store) with a seal mode:
    /// `file`, `passphrase` or `shamir` (docs/root-of-trust.md).
    Init(trent::seal::init::InitOptions),
    /// Unseal, seal or ask a running server's seal status; rekey the
    /// root of trust (new shares, passphrase or mode) offline.
    #[command(subcommand)]
    Operator(trent::seal::operator::OperatorCommand),
    /// The audit log: verify it, query it, export its public key.
    #[command(subcommand)]
    Audit(trent::audit::cli::AuditCommand),
    /// Manage the accounts of a deployment.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Explain an authorization decision: would PRINCIPAL be allowed ACTION
    /// on a key, and which statement or grant decides.
    Explain(trent::authz::explain::ExplainOptions),
    /// CloudHSM clusters: the PKCS#11 tokens custom key stores may use.
    #[command(subcommand)]
    Hsm(HsmCommand),
    /// Run Trent as an AWS KMS external key store (XKS) proxy, or manage
    /// its keys and credentials.
    XksProxy(trent::xks::cli::XksProxyCommand),
    /// Back a data directory up into one file, while its server runs.
    Backup(trent::backup::BackupOptions),
    /// Make a new data directory from a backup file.
    Restore(trent::backup::RestoreOptions),
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// elvish, powershell).
    Completions {
        shell: clap_complete::Shell,
    },
    /// Print the man page (trent.1), or with --out DIR write one page per
    /// command and subcommand into DIR.
    Man {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum HsmCommand {
    /// Register a PKCS#11 token as a CloudHSM cluster and make its trust
    /// anchor certificate (DATA_DIR/hsm/CLUSTER_ID/customerCA.crt).
    Register(HsmRegisterOptions),
    /// List the registered clusters.
    List(HsmListOptions),
}

#[derive(clap::Args)]
struct HsmRegisterOptions {
    /// Trent's data directory (as `trent serve`'s); clusters go in DIR/hsm.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = trent::serve::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// The id to register it under, as AWS writes one: cluster-234567abcde.
    #[arg(long)]
    cluster_id: String,
    /// The PKCS#11 module (shared library).
    #[arg(long)]
    module: PathBuf,
    /// The token's label (no PIN: only its serial number is read).
    #[arg(long)]
    token_label: String,
}

#[derive(clap::Args)]
struct HsmListOptions {
    /// Trent's data directory (as `trent serve`'s); clusters go in DIR/hsm.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = trent::serve::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account and its admin user; prints the admin's credentials.
    Create(trent::account::CreateOptions),
}

fn main() -> std::process::ExitCode {
    // As Cli::parse(), with serve's flags also from TRENT_* and --config FILE.
    let cli: Cli = trent::config::parse(std::env::args_os().collect());
    let log = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TRENT_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is
        // dropped; reporting it would `eprintln!`, which panics the
        // thread that logged, and the server must go on answering (503s).
        .log_internal_errors(false);
    match cli.log_format {
        // Colour codes only for a person watching, not in files and pipes.
        LogFormat::Text => log.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        // Fields at the top level, beside `timestamp`, `level` and `message`.
        LogFormat::Json => log.json().flatten_event(true).with_current_span(false).init(),
    }
    let command = match cli.command {
        // Operator commands on files: no server, no runtime.
        Command::Audit(command) => return trent::audit::cli::run(command),
        Command::Hsm(command) => return hsm(command),
        Command::XksProxy(command) => return xks_proxy(command),
        Command::Backup(options) => return backup(&options),
        Command::Restore(options) => return restore(&options),
        Command::Completions { shell } => {
            trent::cli_docs::completions(<Cli as clap::CommandFactory>::command(), shell, &mut std::io::stdout());
            return std::process::ExitCode::SUCCESS;
        }
        Command::Man { out } => return man(out),
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
        Command::Serve(options) => runtime.block_on(trent::serve::run(*options)),
        Command::Init(options) => runtime.block_on(trent::seal::init::run(options)),
        Command::Operator(command) => runtime.block_on(trent::seal::operator::run(command)).map_err(trent::serve::ServeError::Setup),
        Command::Account(AccountCommand::Create(options)) => runtime.block_on(trent::account::create(options)),
        // Answered above, before the runtime.
        Command::Audit(_) | Command::Hsm(_) | Command::XksProxy(_) | Command::Backup(_) | Command::Restore(_) | Command::Completions { .. } | Command::Man { .. } => Ok(()),
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

fn man(out: Option<PathBuf>) -> std::process::ExitCode {
    match trent::cli_docs::man_pages(<Cli as clap::CommandFactory>::command(), out.as_deref(), &mut std::io::stdout()) {
        Ok(written) => {
            for file in written {
                println!("{file}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trent man: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn hsm(command: HsmCommand) -> std::process::ExitCode {
    let result = match command {
        HsmCommand::Register(o) => clusters::register(&o.data_dir, &o.cluster_id, &o.module, &o.token_label).map(|c| {
            println!("Registered {} (token {:?}, serial {})", c.cluster_id, c.token_label, c.token_serial);
            println!("Trust anchor: {}", clusters::cluster_dir(&o.data_dir, &c.cluster_id).join(clusters::TRUST_ANCHOR_FILE).display());
        }),
        HsmCommand::List(o) => clusters::list(&o.data_dir).map(|all| {
            for c in all {
                println!("{}\t{}\t{}\t{}", c.cluster_id, c.token_label, c.token_serial, c.module.display());
            }
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent hsm: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn backup(options: &trent::backup::BackupOptions) -> std::process::ExitCode {
    match trent::backup::backup(options) {
        Ok(summary) => {
            println!("Backed up {} files ({} bytes) of {} into {}", summary.files, summary.bytes, options.data_dir.display(), options.out.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trent backup: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn restore(options: &trent::backup::RestoreOptions) -> std::process::ExitCode {
    match trent::backup::restore::restore(options) {
        Ok(files) => {
            println!("Restored {files} files into {}; start it with trent serve --data-dir {}", options.data_dir.display(), options.data_dir.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trent restore: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn xks_proxy(command: trent::xks::cli::XksProxyCommand) -> std::process::ExitCode {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
    };
    match trent::xks::cli::run(command, runtime) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent xks-proxy: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
