//! `trent operator rekey`: changes how the root key is sealed (new Shamir
//! shares, a new passphrase, another mode) without touching key material.
//! The root key stays the same; only its wrapped form in the store's
//! `seal_config` (and, into or out of `file` mode, `root.key`) changes.
//!
//! Offline, on the data directory and store, as `trent account create`:
//! it works beside a running server. A running server keeps serving (its
//! root key, in memory, is unchanged) and reads the new configuration the
//! next time it is unsealed, so the old passphrase or shares no longer
//! open it. The log has one writer, the server, so the `TrentRekey` event
//! is signed here with the audit key and left for the server, which
//! writes it at its next start or unseal (`crate::audit::pending`).
//!
//! Crash safety: the store's compare-and-set is the one moment the
//! deployment changes mode. Into `file`, `root.key` is written and fsynced
//! (with its directory) *before* the new configuration is recorded: a
//! crash before the record leaves the old mode in force and a spare copy
//! of the same root key on disk (which a retried rekey into `file` keeps);
//! after it, the file is already there. Out of `file`, `root.key` is
//! removed only *after* the new configuration is durably recorded
//! (SQLite's synchronous=FULL commit, PostgreSQL's commit): a crash before
//! the record leaves `file` mode with its key; a crash between the record
//! and the removal leaves a root key the new mode does not need on disk,
//! which `trent serve` warns about until it is removed. At no point is the
//! recorded mode unable to open the root key. The event is staged before
//! the record and published after it: a crash between the two loses it.

use std::io::BufRead;
use std::path::PathBuf;

use trent_crypto::{root_key, seal, RootKey, SecretBytes};

use super::config::{self, SealConfig};
use super::init::{Mode, SealTarget};
use super::open::PassphraseSource;
use super::pkcs11::PinSource;

/// The environment variable holding the new passphrase.
pub const NEW_PASSPHRASE_ENV: &str = "TRENT_NEW_PASSPHRASE";

/// TEST ONLY: the step after which the command kills itself (kill -9), to
/// test the crash safety above: `staged` (the event staged and, into
/// `file`, the key file written; the configuration not yet recorded) or
/// `recorded` (the configuration recorded; out of `file`, the key file not
/// yet removed, and the event not published).
pub const TEST_CRASH_ENV: &str = "TRENT_TEST_REKEY_CRASH_AT";

#[derive(clap::Args, Debug)]
pub struct RekeyOptions {
    #[command(flatten)]
    pub location: crate::serve::store_location::StoreLocation,
    /// The new seal mode and its parameters, as `trent init` takes them.
    #[command(flatten)]
    pub target: SealTarget,
    /// The current passphrase (passphrase mode): `--passphrase-file`,
    /// `TRENT_PASSPHRASE` or a prompt, as `trent serve`.
    #[command(flatten)]
    pub current: PassphraseSource,
    /// The new passphrase (`--seal passphrase`): its first line. Else
    /// `TRENT_NEW_PASSPHRASE`, else a prompt (asked twice).
    #[arg(long)]
    pub new_passphrase_file: Option<PathBuf>,
    /// The token's PIN, for the current and the new pkcs11 configuration.
    #[command(flatten)]
    pub pin: PinSource,
}

pub async fn run(options: RekeyOptions) -> Result<(), String> {
    options.target.check()?;
    let dir = &options.location.data_dir;
    if !dir.is_dir() {
        return Err(format!("{} is not a data directory", dir.display()));
    }
    // Never beside a rotate-root (see change_lock), whose record is checked below.
    let _change = super::change_lock::acquire(dir, "trent operator rekey")?;
    let store = options.location.open_store().await.map_err(|e| e.to_string())?;
    let key_file = dir.join("root.key");
    let current = config::load_exact(store.as_ref()).await?;
    let current_config = current.as_ref().map_or(SealConfig::File, |(c, _)| c.clone());
    if matches!(current_config, SealConfig::File) && options.target.seal == Mode::File {
        return Err("this deployment is in file mode already".to_owned());
    }
    if super::generation::load_rotation(store.as_ref()).await?.is_some() {
        return Err("a root key rotation is in progress: run `trent operator rotate-root` again to finish it, then rekey".to_owned());
    }
    let root = open_current(&current_config, &key_file, &options).await?;
    // The wrapped key opened; this also proves it is the root key the data is sealed under.
    let root = super::generation::adopt(store.as_ref(), root).await?;

    let new_passphrase = || super::open::read_passphrase(options.new_passphrase_file.as_deref(), NEW_PASSPHRASE_ENV, "New Trent passphrase: ", true);
    let (root, new_config, shares) = super::init::wrap_root(root, &options.target, new_passphrase, &options.pin).await?;
    let printed = super::init::render_shares(&shares, &options.target)?;

    // The audit event, signed and staged before the change: published after it.
    let at = crate::clock::Clock::now_millis(&crate::clock::SystemClock { offset_millis: 0 });
    let event = super::events::rekeyed(&current_config, &new_config, root.generation(), at);
    let staged = crate::audit::pending::stage(dir, &crate::audit::pending::signing_key(dir, &root)?, &event, at)?;
    // Into file mode: the key file first (see the module's comment).
    let mut wrote_key_file = false;
    if matches!(new_config, SealConfig::File) {
        if key_file.exists() {
            let existing = RootKey::load(&key_file).map_err(|e| e.to_string())?;
            if !existing.same_as(&root) {
                return Err(format!("{} holds another key: move it away first", key_file.display()));
            }
        } else {
            root.write_new(&key_file).map_err(|e| e.to_string())?;
            wrote_key_file = true;
        }
    }
    super::rotate::crash_if(TEST_CRASH_ENV, "staged");
    let old_bytes = current.as_ref().map(|(_, bytes)| bytes.as_slice());
    if !config::replace(store.as_ref(), old_bytes, &new_config).await? {
        if wrote_key_file {
            // Best effort: the winner's mode may not want a key file.
            let _ = root_key::remove_key_file(&key_file);
        }
        return Err("the seal configuration changed while rekeying (another operator or node?): nothing was changed; run it again".to_owned());
    }
    super::rotate::crash_if(TEST_CRASH_ENV, "recorded");
    let published = staged.publish();
    // Out of file mode: the key file goes only now that the new mode is recorded.
    if matches!(current_config, SealConfig::File) && key_file.exists() {
        root_key::remove_key_file(&key_file).map_err(|e| format!("the new seal mode is recorded, but {} could not be removed: remove it by hand: {e}", key_file.display()))?;
    }
    published.map_err(|e| format!("the new seal mode is recorded, but its audit event is not: {e}"))?;
    tracing::info!(from = current_config.mode(), to = new_config.mode(), "rekeyed the root of trust");
    println!("Rekeyed {}: seal mode {} (was {}). The root key and every key are unchanged.", dir.display(), new_config.mode(), current_config.mode());
    super::init::print_shares(&printed, &options.target);
    Ok(())
}

/// Opens the current root key: as `trent serve` does, or for Shamir from
/// K shares on standard input, one a line.
async fn open_current(config: &SealConfig, key_file: &std::path::Path, options: &RekeyOptions) -> Result<RootKey, String> {
    match config {
        SealConfig::File => RootKey::load(key_file).map_err(|e| e.to_string()),
        c @ SealConfig::Passphrase { .. } => {
            let passphrase = options.current.read(false)?;
            let c = c.clone();
            tokio::task::spawn_blocking(move || super::open::open_with_passphrase(&c, &passphrase)).await.map_err(|e| e.to_string())?
        }
        SealConfig::Shamir { wrapped_root, threshold, .. } => {
            let shares = read_shares(*threshold)?;
            let wrapped = config::decode(wrapped_root)?;
            seal::combine(&shares, *threshold)
                .and_then(|kek| seal::unwrap(&wrapped, &kek, seal::SHAMIR_AAD))
                .map_err(|_| "these shares do not open this deployment's root key".to_owned())
        }
        c @ SealConfig::Pkcs11 { .. } => {
            let (c, pin) = (c.clone(), options.pin.clone());
            tokio::task::spawn_blocking(move || super::pkcs11::open(&c, &pin)).await.map_err(|e| e.to_string())?
        }
        c @ SealConfig::Kms { .. } => super::kms::open(c).await,
    }
}

/// `threshold` distinct current shares from standard input, one a line.
pub(super) fn read_shares(threshold: u8) -> Result<Vec<SecretBytes>, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("Give {threshold} of the current unseal shares, one a line:");
    }
    let mut shares: Vec<SecretBytes> = Vec::new();
    let mut stdin = std::io::stdin().lock();
    while shares.len() < usize::from(threshold) {
        let mut line = zeroize::Zeroizing::new(String::new());
        if stdin.read_line(&mut line).map_err(|e| format!("reading the shares from standard input: {e}"))? == 0 {
            return Err(format!("rekeying a shamir deployment needs {threshold} of its current shares on standard input, one a line; got {}", shares.len()));
        }
        if line.trim().is_empty() {
            continue;
        }
        let share = super::gate::parse_share(&SecretBytes::new(line.trim().as_bytes().to_vec()))?;
        if !shares.iter().any(|s| s.as_bytes().first() == share.as_bytes().first()) {
            shares.push(share);
        }
    }
    Ok(shares)
}
