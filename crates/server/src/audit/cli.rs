//! `trent audit`: verify, query, export-public-key. Scripts outside the
//! repository rely on these names, flags and exit codes: keep them stable.
//!
//! `verify` exits 0 when the log is intact, 1 naming the first bad record
//! when it is not, 2 when it cannot check (no log, no key, I/O), and 3 when
//! it is intact but for a torn last line: a write a crash cut short, which
//! the next `trent serve` cuts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::query::{self, Filter};
use super::signing::{self, SigningKey};
use super::verify;

/// `trent audit verify`'s exit codes.
const INTACT: u8 = 0;
/// A bad record (tampering), or with --require-signed an unsigned tail.
const FAILED: u8 = 1;
const CANNOT_CHECK: u8 = 2;
const TORN_BY_A_CRASH: u8 = 3;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Check that the audit log is intact; name the first bad record if not.
    ///
    /// Exits 0 when intact, 1 naming the first bad record (or an unsigned
    /// tail with --require-signed), 2 when it cannot check, 3 when intact but
    /// for a torn last line: a write a crash cut short, which the next start cuts.
    Verify(VerifyArgs),
    /// Print the events that match filters.
    Query(QueryArgs),
    /// Print the audit public key (PEM), for `verify --public-key` elsewhere.
    ExportPublicKey(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct Source {
    /// The data directory whose log (DATA_DIR/audit) to read; without
    /// --log, TRENT_DATA_DIR or ./trent-data, as for `trent serve`.
    #[arg(long, conflicts_with = "log")]
    pub data_dir: Option<PathBuf>,
    /// A log file, e.g. a copy; repeat for several files of one chain, oldest first.
    #[arg(long = "log")]
    pub log: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: Source,
    /// The audit public key (from `trent audit export-public-key`); needed with --log.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Also fail if the last records are not yet covered by a signed digest.
    #[arg(long)]
    pub require_signed: bool,
}

#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub source: Source,
    /// Events at or after this UTC time: 2026-11-30T13:00:00Z, or a prefix such as 2026-11-30.
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this UTC time (same forms).
    #[arg(long)]
    pub until: Option<String>,
    /// A key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    pub key: Option<String>,
    /// A principal ARN, user name or access key id.
    #[arg(long)]
    pub principal: Option<String>,
    /// An operation name, e.g. Decrypt.
    #[arg(long)]
    pub event_name: Option<String>,
    /// An exception name, or `none` for the requests that succeeded.
    #[arg(long)]
    pub error_code: Option<String>,
    /// `json` (one event per line) or `table`.
    #[arg(long, default_value = "json", value_parser = ["json", "table"])]
    pub output: String,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::serve::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Write the key to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(command: AuditCommand) -> ExitCode {
    let result = match command {
        AuditCommand::Verify(args) => return verify_command(args),
        AuditCommand::Query(args) => query_command(args),
        AuditCommand::ExportPublicKey(args) => export(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent audit: {e}");
            ExitCode::from(2)
        }
    }
}

fn data_dir_key(data_dir: &Path) -> Result<Vec<u8>, String> {
    // A sealed mode keeps no root.key: the public key the server wrote.
    if !data_dir.join("root.key").exists() {
        let path = super::public_key_path(data_dir);
        let pem = std::fs::read_to_string(&path).map_err(|e| format!("{} has no root.key and {}: {e}", data_dir.display(), path.display()))?;
        return signing::parse_public_key_pem(&pem);
    }
    // The error names the file.
    let root = trent_crypto::RootKey::load(&data_dir.join("root.key")).map_err(|e| e.to_string())?;
    // After `rotate-root` the file is sealed under a later generation of the key: its header says which.
    let path = super::signing_key_path(data_dir);
    let sealed = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let root = root.with_generation(trent_crypto::root_key::blob_generation(&sealed).map_err(|e| format!("{}: {e}", path.display()))?);
    Ok(SigningKey::load(&path, &root)?.public_key().to_vec())
}

impl Source {
    /// The data directory to read, defaulted as every subcommand does
    /// (not with --log, which names the files itself).
    fn dir(&self) -> Option<PathBuf> {
        if self.data_dir.is_some() || !self.log.is_empty() {
            return self.data_dir.clone();
        }
        Some(std::env::var_os("TRENT_DATA_DIR").map_or_else(|| PathBuf::from(crate::serve::DEFAULT_DATA_DIR), PathBuf::from))
    }
}

fn files_of(source: &Source) -> Result<(Vec<PathBuf>, bool), String> {
    match source.dir() {
        Some(dir) => Ok((verify::data_dir_files(&dir)?, true)),
        None => Ok((source.log.clone(), false)),
    }
}

fn verify_command(args: VerifyArgs) -> ExitCode {
    let checked = (|| -> Result<Result<verify::Report, verify::Bad>, String> {
        let (files, from_genesis) = files_of(&args.source)?;
        if files.is_empty() {
            return Err("there is no audit log to verify".into());
        }
        let public_key = match (&args.public_key, args.source.dir()) {
            (Some(path), _) => signing::parse_public_key_pem(&std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            (None, Some(dir)) => data_dir_key(&dir)?,
            (None, None) => return Err("--log needs --public-key FILE (from `trent audit export-public-key`)".into()),
        };
        verify::verify_files(&files, &public_key, from_genesis)
    })();
    match checked {
        Ok(Ok(report)) => {
            let range = match (report.first_seq, report.last_seq) {
                (Some(a), Some(b)) => format!("seq {a}..{b}"),
                _ => "no records".into(),
            };
            let records = format!("{} records ({range}; {} events, {} signed digests) in {} files", report.records, report.events, report.digests, report.files);
            match &report.torn {
                // The verdict first, as with OK and FAILED; `OK:` starts no line of a torn log.
                Some(torn) => {
                    println!("TORN: {torn}");
                    println!("the rest is intact: {records}: the chain is intact and every digest's signature verifies");
                }
                None => println!("OK: {records}: the chain is intact and every digest's signature verifies"),
            }
            if report.unsigned_tail > 0 {
                let message = format!("{} records after the last signed digest are chained but not yet signed", report.unsigned_tail);
                if args.require_signed {
                    println!("FAILED: {message} (--require-signed)");
                    return ExitCode::from(FAILED);
                }
                println!("note: {message}");
            }
            ExitCode::from(if report.torn.is_some() { TORN_BY_A_CRASH } else { INTACT })
        }
        Ok(Err(bad)) => {
            println!("FAILED: {bad}");
            ExitCode::from(FAILED)
        }
        Err(e) => {
            eprintln!("trent audit verify: {e}");
            ExitCode::from(CANNOT_CHECK)
        }
    }
}

fn query_command(args: QueryArgs) -> Result<(), String> {
    let (files, _) = files_of(&args.source)?;
    let filter = Filter { since: args.since, until: args.until, key: args.key, principal: args.principal, event_name: args.event_name, error_code: args.error_code, aliased: Vec::new() };
    let events = query::run(&files, &filter)?;
    if args.output == "table" {
        print!("{}", query::table(&events));
    } else {
        for e in events {
            println!("{e}");
        }
    }
    Ok(())
}

fn export(args: ExportArgs) -> Result<(), String> {
    let pem = signing::public_key_pem(&data_dir_key(&args.data_dir)?);
    match args.out {
        Some(path) => std::fs::write(&path, pem).map_err(|e| format!("writing {}: {e}", path.display())),
        None => {
            print!("{pem}");
            Ok(())
        }
    }
}
