//! `trent operator rotate-root`: replaces the root key with a new one
//! (the next *generation*) and reseals every value sealed under it, in
//! batches, resumably (docs/root-of-trust.md).
//!
//! Offline (this module's [`run`]), on the data directory and the store,
//! with the server stopped (it takes the data directory's lock, which
//! `trent serve` holds); or online, by the running server itself
//! ([`super::online`], `--endpoint`), which uses the steps below.
//!
//! The steps, each durable before the next, so a crash anywhere leaves a
//! deployment that starts and reads everything, and a rerun resumes:
//!
//! 1. The imported-material-id key is stored (sealed under the old key) if
//!    it is not yet: material ids must not change with the root key.
//! 2. The new key is made and recorded sealed under the old one (the
//!    `root_rotation` setting, [`super::generation`]). From here, whoever
//!    opens the old key (`trent serve`, this command rerun) holds both,
//!    seals with the new one and reads either.
//! 3. Every sealed value is resealed under the new key: key material,
//!    access key secrets, key store passwords (one transaction per batch,
//!    each row compare-and-set on its old value), the root key check and
//!    the material-id key (compare-and-set settings), the audit signing key
//!    file (written beside, fsynced, renamed). Then a second pass checks
//!    that nothing is left under the old key.
//! 4. The seal configuration gets the new key, wrapped as the mode does
//!    (compare-and-set on the exact stored configuration; in `file` mode
//!    `root.key` is replaced by a rename). This is the one moment the
//!    deployment's root key changes; after it the old key opens nothing
//!    stored and the rotation record, which the new key cannot open, is
//!    ignored.
//! 5. The rotation record is removed.
//!
//! Offline, the command cannot append to the audit log (its one writer is
//! the server): it signs a `TrentRootRotationFinished` event with the audit
//! key, staged before step 4 and published after step 5, for the server to
//! write at its next open ([`crate::audit::pending`]). A rerun that finds
//! only the record left (stopped between 4 and 5) publishes it instead.
//!
//! Passphrase and Shamir deployments keep their passphrase and shares:
//! the new key is wrapped under the same key-encryption key. A `pkcs11`
//! deployment wraps it with the same token key, a `kms` one with the same
//! outer key.

use std::path::Path;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use trent_crypto::seal::{self, Argon2Cost, Kek};
use trent_crypto::{CryptoError, LiveRootKey, RootKey, SoftwareProvider};
use trent_crypto::SecretBytes;
use trent_store::{SealedColumn, SealedValue, Store, StoreError};

use super::config::{self, SealConfig};
use super::generation::{self, Rotation, DIGEST_AAD, DIGEST_SETTING, ROTATION_AAD, ROTATION_SETTING};
use super::open::PassphraseSource;
use super::pkcs11::PinSource;

/// TEST ONLY: the step after which the command kills itself (kill -9),
/// to test that a rerun resumes: `started`, `batch` (the
/// first batch written), `resealed` or `committed`; for `trent xks-proxy
/// rotate-root`, `xks-first-file` (the first file resealed).
pub const TEST_CRASH_ENV: &str = "TRENT_TEST_ROTATE_ROOT_CRASH_AT";

#[derive(clap::Args, Debug)]
pub struct RotateOptions {
    #[command(flatten)]
    pub location: crate::serve::store_location::StoreLocation,
    /// The passphrase (passphrase mode), as `trent serve` takes it.
    #[command(flatten)]
    pub passphrase: PassphraseSource,
    /// The token's PIN (pkcs11 mode).
    #[command(flatten)]
    pub pin: PinSource,
    /// Values resealed per transaction.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    #[command(flatten)]
    pub online: OnlineOptions,
}

/// Online: a running server rotates its own root key while serving.
#[derive(clap::Args, Debug)]
pub struct OnlineOptions {
    /// The running server, `https://HOST:PORT`: rotate online, signed as
    /// the operator (credentials as `trent operator seal` takes them). The
    /// passphrase or shares go in the body: plain `http://` is refused for
    /// them unless the host is loopback or `--allow-plain-http` is given.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The shared credentials file's profile.
    #[arg(long, env = "AWS_PROFILE", default_value = "default")]
    pub profile: String,
    #[command(flatten)]
    pub plain_http: super::plain_http::PlainHttp,
}

/// How to wrap a new root key as the current configuration wraps the old.
pub(super) enum Rewrap {
    File,
    Passphrase { kek: Kek, salt: Vec<u8>, cost: Argon2Cost },
    Shamir { kek: Kek, shares: u8, threshold: u8 },
    Pkcs11(SealConfig, PinSource),
    Kms { endpoint: String, region: String, key_id: String },
}

pub async fn run(options: RotateOptions) -> Result<(), String> {
    if let Some(endpoint) = &options.online.endpoint {
        return super::online::client::run(endpoint, &options).await;
    }
    let dir = &options.location.data_dir;
    if !dir.is_dir() {
        return Err(format!("{} is not a data directory", dir.display()));
    }
    if options.location.store != "sqlite" {
        return Err("rotate-root works on SQLite deployments only for now: on PostgreSQL each node's data directory holds its own audit signing key sealed under the root key, which one command cannot reach".to_owned());
    }
    // Refuses while `trent serve` runs on this directory.
    let lock = crate::serve::data_dir_lock::DataDirLock::acquire(dir)?;
    let _change = super::change_lock::acquire(dir, "trent operator rotate-root")?;
    let store = options.location.open_store().await.map_err(|e| e.to_string())?;
    let store = store.as_ref();
    let key_file = dir.join("root.key");
    let current = config::load_exact(store).await?;
    let current_config = current.as_ref().map_or(SealConfig::File, |(c, _)| c.clone());
    let secret = Secret::read(&current_config, &options.passphrase)?;
    let (opened, rewrap) = open_current(&current_config, &key_file, secret, &options.pin).await?;
    let root = generation::adopt(store, opened).await?;
    // Opened now, with the key that opens its file: step 3 reseals that file.
    let audit_key = crate::audit::pending::signing_key_locked(dir, &root, &lock)?;

    let root = match (root.previous_generation(), generation::load_rotation(store).await?) {
        (Some(_), _) => {
            println!("Resuming the rotation to root key generation {}.", root.generation());
            root
        }
        (None, Some((stale, bytes))) => {
            // Stopped between steps 4 and 5: only the record is left.
            finish(store, &bytes).await?;
            // The run that got this far stopped before its event was published.
            stage_event(dir, &audit_key, stale.to, 0)?.publish()?;
            println!("Finished the rotation to root key generation {} (only its record was left).", stale.to);
            return Ok(());
        }
        (None, None) => {
            let root = start(store, &root).await?;
            println!("Started the rotation to root key generation {}.", root.generation());
            root
        }
    };
    crash_point("started");
    let live = Arc::new(LiveRootKey::new(root));
    // Nothing else writes (the lock): one pass must leave nothing behind.
    let moved = reseal_all(store, dir, &live, options.batch_size as usize, 1).await?;
    crash_point("resealed");
    let root = live.load().duplicate().map_err(|e| e.to_string())?;
    drop(live);
    // Staged before the change, published once it is complete (as rekey's).
    let staged = stage_event(dir, &audit_key, root.generation(), moved)?;
    let root = commit(store, &key_file, root, rewrap, current.as_ref().map(|(_, b)| b.as_slice())).await?;
    crash_point("committed");
    if let Some((_, bytes)) = generation::load_rotation(store).await? {
        finish(store, &bytes).await?;
    }
    staged.publish().map_err(|e| format!("the root key is rotated, but its audit event is not recorded: {e}"))?;
    let generation = root.generation();
    // The old generation goes (zeroized) with it.
    drop(root);
    tracing::info!(generation, resealed = moved, "rotated the root key");
    println!("Rotated the root key of {}: generation {generation}, {moved} values resealed. The old root key opens nothing stored now.", dir.display());
    Ok(())
}

/// The offline rotation's `TrentRootRotationFinished` event, signed with
/// the audit key and staged for the server to write
/// ([`crate::audit::pending`]): the log's one writer is the server.
fn stage_event(dir: &Path, audit_key: &crate::audit::signing::SigningKey, generation: u32, resealed: usize) -> Result<crate::audit::pending::Staged, String> {
    let at = crate::clock::Clock::now_millis(&crate::clock::SystemClock { offset_millis: 0 });
    crate::audit::pending::stage(dir, audit_key, &super::events::rotated_offline(generation, resealed, at), at)
}

/// Steps 1 and 2: the material-id key kept, the new key made and recorded.
/// Returns the new key holding (a copy of) `old` to read with.
pub(super) async fn start(store: &dyn Store, old: &RootKey) -> Result<RootKey, String> {
    let e = |e: CryptoError| e.to_string();
    if store.get_setting(DIGEST_SETTING).await.map_err(|e| e.to_string())?.is_none() {
        let sealed = old.seal_material_digest_key(DIGEST_AAD).map_err(e)?;
        insert_once(store, DIGEST_SETTING, &sealed).await?;
    }
    let to = old.generation().checked_add(1).ok_or("no root key generation is left")?;
    let new = RootKey::generate().map_err(e)?.with_generation(to);
    let sealed = new.seal_under(old, ROTATION_AAD).map_err(e)?;
    let rotation = Rotation { from: old.generation(), to, root: B64.encode(sealed) };
    let json = serde_json::to_vec(&rotation).map_err(|e| e.to_string())?;
    insert_once(store, ROTATION_SETTING, &json).await?;
    // Read back as every other opener will: the key the record holds.
    generation::adopt(store, old.duplicate().map_err(e)?).await
}

async fn insert_once(store: &dyn Store, name: &str, value: &[u8]) -> Result<(), String> {
    match store.insert_setting(name, value).await {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists) => Err("another rotate-root changed the store meanwhile: run it again".to_owned()),
        Err(e) => Err(format!("recording {name}: {e}")),
    }
}

/// Step 3: everything resealed under `root`'s current generation, then
/// checked, up to `passes` times (a running server's requests in flight
/// may still write a value sealed under the old key); an error if anything
/// is left. Returns how many values were resealed.
pub(super) async fn reseal_all(store: &dyn Store, dir: &Path, root: &Arc<LiveRootKey>, batch: usize, passes: u32) -> Result<usize, String> {
    let mut moved = 0;
    for pass in 1..=passes {
        moved += reseal_store(store, root, batch).await?;
        reseal_audit_key(dir, &root.load())?;
        let left = count_old(store, &root.load()).await?;
        if left == 0 {
            return Ok(moved);
        }
        if pass == passes {
            return Err(format!("{left} values changed while resealing (is another process writing to this store?): nothing is lost; run rotate-root again"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(moved)
}

/// Step 3 for the store: every column, batch by batch, then the settings.
async fn reseal_store(store: &dyn Store, root: &Arc<LiveRootKey>, batch: usize) -> Result<usize, String> {
    let provider = SoftwareProvider::new(root.clone());
    let mut moved = 0;
    for column in SealedColumn::ALL {
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store.list_sealed(column, after.as_ref(), batch).await.map_err(|e| format!("reading {column:?}: {e}"))?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let mut changes = Vec::new();
            let key = root.load();
            for value in &page {
                if let Some(new) = reseal_value(column, &key, &provider, value).map_err(|e| format!("{column:?} {:?}: {e}", value.id))? {
                    changes.push((value.clone(), new));
                }
            }
            if !changes.is_empty() {
                moved += store.replace_sealed(column, &changes).await.map_err(|e| format!("writing {column:?}: {e}"))?;
                crash_point("batch");
            }
        }
    }
    for (name, aad) in [(crate::auth::root_check::SETTING, crate::auth::root_check::AAD), (DIGEST_SETTING, DIGEST_AAD)] {
        let Some(old) = store.get_setting(name).await.map_err(|e| e.to_string())? else { continue };
        if let Some(new) = root.load().reseal(&old, aad).map_err(|e| format!("{name}: {e}"))? {
            if !store.replace_setting(name, &old, &new).await.map_err(|e| e.to_string())? {
                return Err(format!("{name} changed while resealing: run rotate-root again"));
            }
            moved += 1;
        }
    }
    Ok(moved)
}

/// One value sealed again under the new key (`None`: it already is).
fn reseal_value(column: SealedColumn, root: &RootKey, provider: &SoftwareProvider, value: &SealedValue) -> Result<Option<Vec<u8>>, CryptoError> {
    let (id, second) = (&value.id.0, &value.id.1);
    match column {
        SealedColumn::KeyMaterial => {
            let key_id = uuid::Uuid::parse_str(id).map_err(|_| CryptoError::Malformed("a key id that is not a UUID"))?;
            let material_id = hex::decode(second).ok().and_then(|b| b.try_into().ok()).ok_or(CryptoError::Malformed("a material id that is not hex"))?;
            provider.reseal(key_id, &material_id, &value.sealed)
        }
        SealedColumn::AccessKeySecret => root.reseal(&value.sealed, &crate::auth::credentials::aad(id)),
        // A CloudHSM store's password or an external store's proxy secret.
        SealedColumn::KeyStorePassword => match root.reseal(&value.sealed, &crate::keys::key_stores::password_aad(id)) {
            Err(CryptoError::Decrypt) => root.reseal(&value.sealed, &[crate::keys::xks_stores::SECRET_AAD, id.as_bytes()].concat()),
            other => other,
        },
    }
}

/// Values of the store still sealed under another generation.
async fn count_old(store: &dyn Store, root: &RootKey) -> Result<usize, String> {
    let mut left = 0;
    for column in SealedColumn::ALL {
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store.list_sealed(column, after.as_ref(), 1000).await.map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            left += page.iter().filter(|v| !root.sealed_by_this(&v.sealed)).count();
        }
    }
    for name in [crate::auth::root_check::SETTING, DIGEST_SETTING] {
        if let Some(value) = store.get_setting(name).await.map_err(|e| e.to_string())? {
            left += usize::from(!root.sealed_by_this(&value));
        }
    }
    Ok(left)
}

/// Step 3 for the data directory: the audit signing key file.
pub(super) fn reseal_audit_key(dir: &Path, root: &RootKey) -> Result<(), String> {
    let path = crate::audit::signing_key_path(dir);
    let sealed = match std::fs::read(&path) {
        Ok(sealed) => sealed,
        // A deployment that never served has none yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let Some(new) = root.reseal(&sealed, crate::audit::signing::AAD).map_err(|e| format!("{}: {e}", path.display()))? else {
        return Ok(());
    };
    write_atomically(&path, &new).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `bytes` to `path` (mode 0600) by a fsynced file beside it renamed over
/// it, the directory fsynced: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fresh = path.with_extension("resealed");
    let _ = std::fs::remove_file(&fresh);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&fresh)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&fresh, path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Step 4: the configuration records the new key.
pub(super) async fn commit(store: &dyn Store, key_file: &Path, mut root: RootKey, rewrap: Rewrap, old: Option<&[u8]>) -> Result<RootKey, String> {
    let e = |e: CryptoError| e.to_string();
    let new_config = match rewrap {
        Rewrap::File => return root.replace_key_file(key_file).map(|()| root).map_err(e),
        Rewrap::Passphrase { kek, salt, cost } => SealConfig::passphrase(&seal::wrap(&root, &kek, seal::PASSPHRASE_AAD).map_err(e)?, &salt, cost),
        Rewrap::Shamir { kek, shares, threshold } => SealConfig::shamir(&seal::wrap(&root, &kek, seal::SHAMIR_AAD).map_err(e)?, shares, threshold),
        Rewrap::Pkcs11(current, pin) => {
            // The token's work runs on a blocking thread, which needs the key owned.
            let (back, config) = tokio::task::spawn_blocking(move || super::pkcs11::rewrap(&root, &current, &pin).map(|c| (root, c)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("pkcs11: {e}"))?;
            root = back;
            config
        }
        Rewrap::Kms { endpoint, region, key_id } => super::kms::init(&root, &endpoint, &region, &key_id).await.map_err(|e| format!("kms: {e}"))?,
    };
    if !config::replace(store, old, &new_config).await? {
        return Err("the seal configuration changed while rotating (a rekey?): nothing is lost; run rotate-root again".to_owned());
    }
    Ok(root)
}

/// Step 5.
pub(super) async fn finish(store: &dyn Store, record: &[u8]) -> Result<(), String> {
    store.delete_setting(ROTATION_SETTING, record).await.map_err(|e| format!("removing the rotation record: {e}"))?;
    Ok(())
}

/// What the operator gives to open the current root key: the passphrase
/// or K Shamir shares (nothing in the other modes).
pub(super) enum Secret {
    None,
    Passphrase(SecretBytes),
    Shares(Vec<SecretBytes>),
}

impl Secret {
    /// As `trent serve` takes them: the passphrase (file, environment or
    /// prompt), K shares on standard input.
    pub(super) fn read(config: &SealConfig, passphrase: &PassphraseSource) -> Result<Secret, String> {
        Ok(match config {
            SealConfig::Passphrase { .. } => Secret::Passphrase(passphrase.read(false)?),
            SealConfig::Shamir { threshold, .. } => Secret::Shares(super::rekey::read_shares(*threshold)?),
            _ => Secret::None,
        })
    }
}

/// Opens the current root key as `trent serve` would, with `secret`,
/// keeping what wraps a new key the same way.
pub(super) async fn open_current(config: &SealConfig, key_file: &Path, secret: Secret, pin: &PinSource) -> Result<(RootKey, Rewrap), String> {
    match config {
        SealConfig::File => Ok((RootKey::load(key_file).map_err(|e| e.to_string())?, Rewrap::File)),
        SealConfig::Passphrase { wrapped_root, salt, memory_kib, iterations, parallelism } => {
            let Secret::Passphrase(passphrase) = secret else { return Err("a passphrase deployment: give its passphrase".to_owned()) };
            let cost = Argon2Cost { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism };
            let salt = config::decode(salt)?;
            let wrapped = config::decode(wrapped_root)?;
            let salt_for_kek = salt.clone();
            let kek = tokio::task::spawn_blocking(move || seal::derive_kek(passphrase.as_bytes(), &salt_for_kek, cost)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
            let root = seal::unwrap(&wrapped, &kek, seal::PASSPHRASE_AAD).map_err(|_| "wrong passphrase: it does not open this deployment's root key".to_owned())?;
            Ok((root, Rewrap::Passphrase { kek, salt, cost }))
        }
        SealConfig::Shamir { wrapped_root, shares, threshold } => {
            let Secret::Shares(given) = secret else { return Err(format!("a shamir deployment: give {threshold} of its shares")) };
            let wrapped = config::decode(wrapped_root)?;
            let kek = seal::combine(&given, *threshold).map_err(|e| e.to_string())?;
            let root = seal::unwrap(&wrapped, &kek, seal::SHAMIR_AAD).map_err(|_| "these shares do not open this deployment's root key".to_owned())?;
            Ok((root, Rewrap::Shamir { kek, shares: *shares, threshold: *threshold }))
        }
        c @ SealConfig::Pkcs11 { .. } => {
            let (c2, pin2) = (c.clone(), pin.clone());
            let root = tokio::task::spawn_blocking(move || super::pkcs11::open(&c2, &pin2)).await.map_err(|e| e.to_string())??;
            Ok((root, Rewrap::Pkcs11(c.clone(), pin.clone())))
        }
        c @ SealConfig::Kms { endpoint, region, key_id, .. } => Ok((super::kms::open(c).await?, Rewrap::Kms { endpoint: endpoint.clone(), region: region.clone(), key_id: key_id.clone() })),
    }
}

pub(crate) fn crash_point(step: &str) {
    crash_if(TEST_CRASH_ENV, step);
}

/// TEST ONLY: kills this process (kill -9) when the variable `env` names `step`.
pub(super) fn crash_if(env: &str, step: &str) {
    if std::env::var(env).is_ok_and(|at| at == step) {
        eprintln!("{env}={step}: stopping here");
        // kill -9 itself: nothing after this point runs, nothing is flushed.
        let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
        std::process::abort();
    }
}
