//! Opening the root key at start, by the store's seal configuration: the
//! key file, a passphrase, or nothing yet (Shamir: the server starts
//! sealed and waits for shares).

use std::path::{Path, PathBuf};

use trent_crypto::seal::{self, Argon2Cost};
use trent_crypto::{RootKey, SecretBytes};
use trent_store::Store;

use super::config::{self, SealConfig};

/// Where a passphrase comes from, in this order: `--passphrase-file`,
/// `TRENT_PASSPHRASE`, a prompt when standard input is a terminal.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PassphraseSource {
    /// A file holding the passphrase (passphrase mode); its first line,
    /// without the line ending. Else `TRENT_PASSPHRASE`, else a prompt.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
}

/// Environment variable holding the passphrase (passphrase mode).
pub const PASSPHRASE_ENV: &str = "TRENT_PASSPHRASE";

impl PassphraseSource {
    /// Reads the passphrase; `confirm` asks twice at a prompt (at `init`).
    pub fn read(&self, confirm: bool) -> Result<SecretBytes, String> {
        read_passphrase(self.passphrase_file.as_deref(), PASSPHRASE_ENV, "Trent passphrase: ", confirm)
    }
}

/// A passphrase from `file` (its first line), else the environment
/// variable `env`, else a prompt when standard input is a terminal.
pub fn read_passphrase(file: Option<&Path>, env: &str, prompt_text: &str, confirm: bool) -> Result<SecretBytes, String> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?);
        let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return non_empty(SecretBytes::new(line.to_vec()));
    }
    if let Some(value) = std::env::var_os(env) {
        return non_empty(SecretBytes::new(value.into_encoded_bytes()));
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(format!("passphrase mode needs a passphrase: a passphrase file, {env}, or a terminal to ask on"));
    }
    let first = prompt(prompt_text)?;
    if confirm {
        let again = prompt("Again: ")?;
        if first.as_bytes() != again.as_bytes() {
            return Err("the two passphrases differ".to_owned());
        }
    }
    non_empty(first)
}

fn prompt(text: &str) -> Result<SecretBytes, String> {
    let typed = zeroize::Zeroizing::new(rpassword::prompt_password(text).map_err(|e| format!("reading the passphrase: {e}"))?);
    Ok(SecretBytes::new(typed.as_bytes().to_vec()))
}

fn non_empty(passphrase: SecretBytes) -> Result<SecretBytes, String> {
    if passphrase.is_empty() {
        return Err("the passphrase is empty".to_owned());
    }
    Ok(passphrase)
}

/// TEST ONLY: `MEMORY_KIB,ITERATIONS,PARALLELISM` replaces the Argon2id
/// cost `trent init` tunes to ~0.5 s, so tests stay fast. Weak costs make
/// a stolen database's passphrase cheap to guess: never set it elsewhere.
pub const TEST_ARGON2_COST_ENV: &str = "TRENT_TEST_ARGON2_COST";

/// The cost `init` stores: tuned to about half a second, unless a test set
/// [`TEST_ARGON2_COST_ENV`].
pub fn init_cost() -> Result<Argon2Cost, String> {
    if let Ok(text) = std::env::var(TEST_ARGON2_COST_ENV) {
        let n: Vec<u32> = text.split(',').map(|p| p.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|e| format!("{TEST_ARGON2_COST_ENV}: {e}"))?;
        if let [memory_kib, iterations, parallelism] = n[..] {
            tracing::warn!("{TEST_ARGON2_COST_ENV} is set: a test-only Argon2id cost, too cheap for a real passphrase");
            return Ok(Argon2Cost { memory_kib, iterations, parallelism });
        }
        return Err(format!("{TEST_ARGON2_COST_ENV} must be MEMORY_KIB,ITERATIONS,PARALLELISM"));
    }
    seal::tune(std::time::Duration::from_millis(500)).map_err(|e| format!("tuning Argon2id: {e}"))
}

/// The root key for `config` (passphrase mode), from `passphrase`.
pub fn open_with_passphrase(config: &SealConfig, passphrase: &SecretBytes) -> Result<RootKey, String> {
    let SealConfig::Passphrase { wrapped_root, salt, memory_kib, iterations, parallelism } = config else {
        return Err("not a passphrase deployment".to_owned());
    };
    let cost = Argon2Cost { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism };
    let kek = seal::derive_kek(passphrase.as_bytes(), &config::decode(salt)?, cost).map_err(|e| e.to_string())?;
    seal::unwrap(&config::decode(wrapped_root)?, &kek, seal::PASSPHRASE_AAD).map_err(|_| "wrong passphrase: it does not open this deployment's root key".to_owned())
}

/// What start-up found.
pub enum Opened {
    /// The root key, open.
    Ready(RootKey, SealConfig),
    /// Shamir: the server starts sealed.
    Sealed(SealConfig),
}

/// Opens the root key by the store's configuration. A store with none is
/// a `file` deployment: `root.key` is loaded, or made (and the mode
/// recorded) when `create` and the store is new.
pub async fn open_root(store: &dyn Store, dir: &Path, passphrase: &PassphraseSource, pin: &super::pkcs11::PinSource, create: bool) -> Result<Opened, String> {
    let key_file = dir.join("root.key");
    let config = config::load(store).await?;
    if config.as_ref().is_some_and(|c| !matches!(c, SealConfig::File)) && key_file.exists() {
        // Left by a rekey out of file mode that stopped before removing it.
        tracing::warn!(file = %key_file.display(), "a root key file this seal mode does not use is on disk: remove it (docs/root-of-trust.md)");
    }
    match config {
        None if create => {
            // `trent serve` says it made one, after its listening line.
            let (root, _made) = RootKey::load_or_create(&key_file).map_err(|e| e.to_string())?;
            config::record(store, &SealConfig::File).await?;
            Ok(Opened::Ready(root, SealConfig::File))
        }
        None | Some(SealConfig::File) => Ok(Opened::Ready(RootKey::load(&key_file).map_err(|e| e.to_string())?, SealConfig::File)),
        Some(c @ SealConfig::Passphrase { .. }) => {
            let passphrase = passphrase.read(false)?;
            let root = tokio::task::spawn_blocking({
                let c = c.clone();
                move || open_with_passphrase(&c, &passphrase)
            })
            .await
            .map_err(|e| format!("deriving the passphrase key: {e}"))??;
            Ok(Opened::Ready(root, c))
        }
        Some(c @ SealConfig::Shamir { .. }) => Ok(Opened::Sealed(c)),
        Some(c @ SealConfig::Pkcs11 { .. }) => {
            let (config, pin) = (c.clone(), pin.clone());
            let root = tokio::task::spawn_blocking(move || super::pkcs11::open(&config, &pin)).await.map_err(|e| format!("opening the token: {e}"))??;
            Ok(Opened::Ready(root, c))
        }
        Some(c @ SealConfig::Kms { .. }) => Ok(Opened::Ready(super::kms::open(&c).await?, c)),
    }
}

/// For operator commands that need the root key (account create,
/// explain): they cannot take Shamir shares, so a Shamir deployment is
/// refused with a pointer to the running server.
pub async fn open_for_operator(store: &dyn Store, dir: &Path, create: bool) -> Result<RootKey, String> {
    match open_root(store, dir, &PassphraseSource::default(), &Default::default(), create).await? {
        Opened::Ready(root, _) => Ok(root),
        Opened::Sealed(_) => Err("this deployment's root key is split into Shamir shares: run this through an unsealed server instead".to_owned()),
    }
}
