//! `trent init --seal MODE`: makes a deployment's root key and records how
//! it is sealed, before the first `trent serve` (which, on an empty data
//! directory, still does `file` mode by itself).

use trent_crypto::seal;
use trent_crypto::{RootKey, SecretBytes};

use super::config::{self, SealConfig};
use super::open::PassphraseSource;
use crate::serve::ServeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// DATA_DIR/root.key, mode 0600 (the default of `trent serve`).
    File,
    /// Wrapped under a key derived from a passphrase (Argon2id).
    Passphrase,
    /// Wrapped under a key split into Shamir shares.
    Shamir,
    /// Wrapped by a non-extractable key of a PKCS#11 token.
    Pkcs11,
    /// Wrapped by a key of another AWS-KMS-compatible service.
    Kms,
}

#[derive(clap::Args, Debug)]
pub struct InitOptions {
    #[command(flatten)]
    pub location: crate::serve::store_location::StoreLocation,
    #[command(flatten)]
    pub target: SealTarget,
    #[command(flatten)]
    pub passphrase: PassphraseSource,
    #[command(flatten)]
    pub pin: super::pkcs11::PinSource,
}

/// The seal mode to set up and its parameters (`trent init` and
/// `trent operator rekey`).
#[derive(clap::Args, Debug)]
pub struct SealTarget {
    /// How the root key is sealed (docs/root-of-trust.md).
    #[arg(long, value_enum)]
    pub seal: Mode,
    /// Shamir: how many shares to make.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=255))]
    pub shares: u8,
    /// Shamir: how many shares unseal.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=255))]
    pub threshold: u8,
    /// Shamir: encrypt each share to its holder's public key: an age key
    /// (`age1...`, or a file holding it) or a file holding an armored
    /// OpenPGP public key (`gpg --export --armor`); once per share, in order.
    // Hyphen values too: key text pasted here by mistake reaches our
    // parser, which refuses it without echoing it (clap would echo it).
    #[arg(long = "share-recipient", value_name = "FILE_OR_KEY", allow_hyphen_values = true)]
    pub share_recipients: Vec<String>,
    /// pkcs11: the module (shared library).
    #[arg(long, required_if_eq("seal", "pkcs11"))]
    pub pkcs11_module: Option<String>,
    /// pkcs11: the token's label.
    #[arg(long, required_if_eq("seal", "pkcs11"))]
    pub pkcs11_token_label: Option<String>,
    /// pkcs11: the label of the wrapping key made in the token (a new one).
    #[arg(long, default_value = "trent-root-wrapping-key")]
    pub pkcs11_key_label: String,
    /// kms: the other service's endpoint, `https://kms.REGION.amazonaws.com`
    /// or another Trent's URL.
    #[arg(long, required_if_eq("seal", "kms"))]
    pub kms_endpoint: Option<String>,
    /// kms: the Region to sign for.
    #[arg(long, default_value = "us-east-1")]
    pub kms_region: String,
    /// kms: the key (id, ARN or alias) that wraps the root key.
    #[arg(long, required_if_eq("seal", "kms"))]
    pub kms_key_id: Option<String>,
}

impl SealTarget {
    pub fn check(&self) -> Result<(), String> {
        if self.seal == Mode::Shamir && self.threshold > self.shares {
            return Err(format!("--threshold {} is more than --shares {}", self.threshold, self.shares));
        }
        if self.seal != Mode::Shamir && !self.share_recipients.is_empty() {
            return Err("--share-recipient is for --seal shamir".to_owned());
        }
        self.recipients().map(drop)
    }

    /// The holders' keys (`--share-recipient`), none if not given.
    pub fn recipients(&self) -> Result<Vec<super::recipients::ShareRecipient>, String> {
        super::recipients::parse_all(&self.share_recipients, self.shares)
    }
}

/// Seals `root` the way `target` says: the configuration to record and,
/// for Shamir, the new shares (to print once). `passphrase` is asked only
/// in passphrase mode. `File` gives only the configuration: the caller
/// writes the key file. Returns `root` back (the token's work runs on a
/// blocking thread, which needs it owned).
pub async fn wrap_root(
    root: RootKey,
    target: &SealTarget,
    passphrase: impl FnOnce() -> Result<SecretBytes, String>,
    pin: &super::pkcs11::PinSource,
) -> Result<(RootKey, SealConfig, Vec<SecretBytes>), String> {
    let e = |e: trent_crypto::CryptoError| e.to_string();
    match target.seal {
        Mode::File => Ok((root, SealConfig::File, Vec::new())),
        Mode::Passphrase => {
            let passphrase = passphrase().map_err(|e| format!("passphrase: {e}"))?;
            let cost = super::open::init_cost().map_err(|e| format!("Argon2id: {e}"))?;
            let salt = seal::new_salt().map_err(e)?;
            let kek = tokio::task::spawn_blocking(move || seal::derive_kek(passphrase.as_bytes(), &salt, cost).map(|k| (k, salt)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(e)?;
            let wrapped = seal::wrap(&root, &kek.0, seal::PASSPHRASE_AAD).map_err(e)?;
            Ok((root, SealConfig::passphrase(&wrapped, &kek.1, cost), Vec::new()))
        }
        Mode::Shamir => {
            let kek = seal::random_kek().map_err(e)?;
            let wrapped = seal::wrap(&root, &kek, seal::SHAMIR_AAD).map_err(e)?;
            let shares = seal::split(&kek, target.shares, target.threshold).map_err(e)?;
            Ok((root, SealConfig::shamir(&wrapped, target.shares, target.threshold), shares))
        }
        Mode::Pkcs11 => {
            let (module, token) = (target.pkcs11_module.clone().unwrap_or_default(), target.pkcs11_token_label.clone().unwrap_or_default());
            let (key_label, pin) = (target.pkcs11_key_label.clone(), pin.clone());
            let (root, config) = tokio::task::spawn_blocking(move || super::pkcs11::init(&root, &module, &token, &key_label, &pin).map(|c| (root, c)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("pkcs11: {e}"))?;
            Ok((root, config, Vec::new()))
        }
        Mode::Kms => {
            let (endpoint, key_id) = (target.kms_endpoint.clone().unwrap_or_default(), target.kms_key_id.clone().unwrap_or_default());
            let config = super::kms::init(&root, &endpoint, &target.kms_region, &key_id).await.map_err(|e| format!("kms: {e}"))?;
            Ok((root, config, Vec::new()))
        }
    }
}

/// The new shares as they will be printed (encrypted to their holders
/// when `target` names recipients). Made before the new configuration is
/// recorded, so a failure here changes nothing.
pub fn render_shares(shares: &[SecretBytes], target: &SealTarget) -> Result<Vec<zeroize::Zeroizing<String>>, String> {
    super::recipients::render(shares, &target.recipients()?)
}

/// Prints Shamir shares, once.
pub fn print_shares(printed: &[zeroize::Zeroizing<String>], target: &SealTarget) {
    if printed.is_empty() {
        return;
    }
    let threshold = target.threshold;
    if target.share_recipients.is_empty() {
        println!("Unseal shares ({threshold} needed). They are printed once and never stored: give one to each key holder.");
    } else {
        println!("Unseal shares ({threshold} needed), each encrypted to its holder's age key. They are printed once and never stored: give each holder theirs; `age -d -i KEY` gives the line `trent operator unseal` takes.");
    }
    for text in printed {
        println!("{}", text.as_str());
    }
}

pub async fn run(options: InitOptions) -> Result<(), ServeError> {
    let fail = |what: &'static str| move |e: String| ServeError::Setup(format!("{what}: {e}"));
    let dir = &options.location.data_dir;
    options.target.check().map_err(ServeError::Setup)?;
    crate::serve::create_private_dir(dir).map_err(|e| ServeError::Setup(format!("creating the data directory: {e}")))?;
    let _lock = crate::serve::data_dir_lock::DataDirLock::acquire(dir).map_err(ServeError::Setup)?;
    let key_file = dir.join("root.key");
    let store = options.location.open_store().await?;
    let initialised = config::load(store.as_ref()).await.map_err(fail("seal configuration"))?.is_some()
        || store.get_setting("root_key_check").await.map_err(|e| ServeError::Setup(e.to_string()))?.is_some()
        || key_file.exists();
    if initialised {
        return Err(ServeError::Setup(format!("{} (or its store) is already initialised; `trent init` never replaces a root key", dir.display())));
    }
    let root = match options.target.seal {
        Mode::File => RootKey::load_or_create(&key_file).map(|(root, _)| root),
        _ => RootKey::generate(),
    }
    .map_err(|e| ServeError::Setup(e.to_string()))?;
    let (root, config, shares) = wrap_root(root, &options.target, || options.passphrase.read(true), &options.pin).await.map_err(ServeError::Setup)?;
    let printed = render_shares(&shares, &options.target).map_err(ServeError::Setup)?;
    if !config::record(store.as_ref(), &config).await.map_err(fail("seal configuration"))? {
        return Err(ServeError::Setup("another node initialised this store first".to_owned()));
    }
    crate::auth::root_check::verify_or_record(store.as_ref(), &root).await.map_err(|e| ServeError::Setup(format!("root key: {e}")))?;
    println!("Initialised {} with seal mode {}.", dir.display(), config.mode());
    print_shares(&printed, &options.target);
    Ok(())
}
