//! Access keys: made here, their secrets sealed under the root key before
//! they reach the store, and the first admin's written to the data
//! directory in the AWS shared credentials file format.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use trent_crypto::{RootKey, SecretBytes};
use trent_store::{AccessKeyRecord, PrincipalRecord, Store};

use crate::protocol::error::KmsError;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A new access key: `AKIA` + 16 base32 characters, and a 40-character secret, as AWS's.
pub fn new_access_key() -> Result<(String, SecretBytes), KmsError> {
    let id_bytes = trent_crypto::random_bytes(16)?;
    let id: String = id_bytes.iter().map(|b| BASE32[(b % 32) as usize] as char).collect();
    let secret_bytes = trent_crypto::random_secret(40)?;
    let secret: Vec<u8> = secret_bytes.as_bytes().iter().map(|b| SECRET_ALPHABET[(b % 64) as usize]).collect();
    Ok((format!("AKIA{id}"), SecretBytes::new(secret)))
}

pub(crate) fn aad(access_key_id: &str) -> Vec<u8> {
    [b"trent/access-key/v1:".as_slice(), access_key_id.as_bytes()].concat()
}

pub fn seal_secret(root: &RootKey, access_key_id: &str, secret: &SecretBytes) -> Result<Vec<u8>, KmsError> {
    Ok(root.seal(secret.as_bytes(), &aad(access_key_id))?)
}

pub fn unseal_secret(root: &RootKey, key: &AccessKeyRecord) -> Result<SecretBytes, KmsError> {
    Ok(root.unseal(&key.sealed_secret, &aad(&key.access_key_id))?)
}

/// A random 12-digit account id.
pub fn new_account_id() -> Result<String, KmsError> {
    let bytes = trent_crypto::random_bytes(12)?;
    let mut id: String = bytes.iter().map(|b| char::from(b'0' + b % 10)).collect();
    // Account ids never start with 0 in practice; keep them looking real.
    id.replace_range(0..1, "1");
    Ok(id)
}

/// On an empty store: creates the admin user of a new account and writes
/// its keys to `credentials_path` (mode 0600). Returns the admin's ARN if
/// it made one. Of several nodes starting on one empty database, exactly
/// one makes the admin and writes the file.
pub async fn bootstrap_admin(store: &dyn Store, root: &RootKey, credentials_path: &Path, account_id: Option<&str>, now: i64) -> Result<Option<String>, KmsError> {
    if store.count_principals().await? > 0 {
        return Ok(None);
    }
    let account_id = match account_id {
        Some(id) => id.to_owned(),
        None => new_account_id()?,
    };
    let arn = format!("arn:aws:iam::{account_id}:user/admin");
    let (access_key_id, secret) = new_access_key()?;
    let io = |e: std::io::Error| KmsError::internal(format!("writing {}: {e}", credentials_path.display()));
    // The keys reach the disk before the store: a crash in between leaves
    // them in `credentials.new` rather than an admin whose secret nobody has.
    let pending = credentials_path.with_extension("new");
    write_credentials_file(&pending, &access_key_id, &secret).map_err(io)?;
    let principal = PrincipalRecord { arn: arn.clone(), account_id, created_at: now };
    let key = AccessKeyRecord { access_key_id: access_key_id.clone(), principal_arn: arn.clone(), sealed_secret: seal_secret(root, &access_key_id, &secret)?, created_at: now, active: true };
    if !store.insert_first_principal(&principal, &key).await? {
        // Another node made the admin first; these keys were never valid.
        let _ = std::fs::remove_file(&pending);
        return Ok(None);
    }
    // The admin as an IAM user with an AdministratorAccess policy. Should
    // this fail, the principal alone still acts as its account's root.
    // The first admin's account is the operator's: its admin and root may seal (crate::seal::http).
    match store.insert_setting(crate::seal::http::OPERATOR_ACCOUNT, principal.account_id.as_bytes()).await {
        Ok(()) | Err(trent_store::StoreError::AlreadyExists) => {}
        Err(e) => tracing::warn!(error = %e, "the operator account was not recorded; `trent operator seal` will be refused"),
    }
    let user = super::accounts::admin_user(&principal.account_id, now)?;
    if let Err(e) = store.insert_entity(&user, None).await {
        tracing::warn!(error = %e, "the first admin was made, but not its IAM user; it acts as the account root");
    }
    std::fs::rename(&pending, credentials_path).map_err(io)?;
    sync_parent(credentials_path).map_err(io)?;
    Ok(Some(arn))
}

fn write_credentials_file(path: &Path, access_key_id: &str, secret: &SecretBytes) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(format!("[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = ").as_bytes())?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_look_like_aws_ones() {
        let (id, secret) = new_access_key().unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA") && id[4..].bytes().all(|b| BASE32.contains(&b)));
        assert_eq!(secret.len(), 40);
        let (other, _) = new_access_key().unwrap();
        assert_ne!(id, other);
    }

    #[test]
    fn account_ids_have_twelve_digits() {
        let id = new_account_id().unwrap();
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn sealed_secret_opens_only_for_its_own_key_id() {
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let (id, secret) = new_access_key().unwrap();
        let sealed = seal_secret(&root, &id, &secret).unwrap();
        let record = AccessKeyRecord { access_key_id: id.clone(), principal_arn: "p".into(), sealed_secret: sealed.clone(), created_at: 0, active: true };
        assert_eq!(unseal_secret(&root, &record).unwrap().as_bytes(), secret.as_bytes());
        let moved = AccessKeyRecord { access_key_id: "AKIAOTHER".into(), ..record };
        assert!(unseal_secret(&root, &moved).is_err());
    }
}
