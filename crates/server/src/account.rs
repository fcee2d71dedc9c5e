//! `trent account create`: the operator's command that adds an account to a
//! deployment and prints its admin's credentials (shown this once), in the
//! AWS shared credentials file format. It works on the same data directory
//! and store as `trent serve`, running or not.

use std::path::PathBuf;


use crate::clock::{Clock, SystemClock};
use crate::serve::{ServeError, DEFAULT_DATA_DIR};

#[derive(clap::Args, Debug)]
pub struct CreateOptions {
    /// The data directory `trent serve` uses (its root key seals the new secret).
    #[arg(long, env = "TRENT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The store `trent serve` uses: `sqlite` or a PostgreSQL URL.
    #[arg(long, env = "TRENT_STORE", default_value = "sqlite")]
    pub store: String,
    /// The new account's 12-digit id (random if not given).
    #[arg(long)]
    pub account_id: Option<String>,
    /// The profile name to print the credentials under.
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// Also print an access key of the account's root (profile `PROFILE-root`),
    /// which may do everything in the account.
    #[arg(long)]
    pub with_root_key: bool,
}

pub async fn create(options: CreateOptions) -> Result<(), ServeError> {
    let setup = |what: &'static str| move |e: String| ServeError::Setup(format!("{what}: {e}"));
    let dir = &options.data_dir;
    crate::serve::create_private_dir(dir).map_err(|e| ServeError::Setup(format!("cannot create the data directory {}: {e}", dir.display())))?;
    let store = crate::serve::open_store(&options.store, dir).await?;
    let root_key = crate::seal::open::open_for_operator(store.as_ref(), dir, true).await.map_err(ServeError::Setup)?;
    let root_key = crate::seal::generation::adopt(store.as_ref(), root_key).await.map_err(setup("root key"))?;
    let now = SystemClock { offset_millis: 0 }.now_millis();
    let made = crate::auth::accounts::create(store.as_ref(), &root_key, options.account_id.as_deref(), options.with_root_key, now).await.map_err(|e| setup("creating the account")(e.to_string()))?;
    println!("# Trent account {}: its admin is {}", made.account_id, made.admin_arn);
    println!("[{}]", options.profile);
    println!("aws_access_key_id = {}", made.access_key_id);
    // The secret is ASCII by construction; printing it once is the point of this command.
    println!("aws_secret_access_key = {}", String::from_utf8_lossy(made.secret.as_bytes()));
    if let Some((id, secret)) = &made.root_key {
        println!("# the root of account {}: arn:aws:iam::{}:root", made.account_id, made.account_id);
        println!("[{}-root]", options.profile);
        println!("aws_access_key_id = {id}");
        println!("aws_secret_access_key = {}", String::from_utf8_lossy(secret.as_bytes()));
    }
    Ok(())
}
