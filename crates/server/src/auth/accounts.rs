//! Accounts: each has its root and, when Trent makes it, an `admin` user
//! with an `AdministratorAccess` inline policy and one access key. The
//! first start makes one (see [`super::credentials::bootstrap_admin`]);
//! `trent account create` makes more.

use trent_crypto::{RootKey, SecretBytes};
use trent_store::{AccessKeyRecord, EntityKind, EntityRecord, Millis, PrincipalRecord, Store, StoreError};

use super::credentials::{new_access_key, new_account_id, seal_secret};
use crate::iam::entity::Doc;
use crate::protocol::error::KmsError;

pub const ADMIN_USER: &str = "admin";
pub const ADMIN_POLICY_NAME: &str = "AdministratorAccess";
pub const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The `admin` user of an account, allowed everything by its inline policy.
pub fn admin_user(account_id: &str, now: Millis) -> Result<EntityRecord, KmsError> {
    let mut doc = Doc { id: crate::iam::entity::new_id("AIDA").map_err(|e| KmsError::internal(e.message))?, path: "/".into(), ..Doc::default() };
    doc.inline.insert(ADMIN_POLICY_NAME.to_owned(), ADMIN_POLICY.to_owned());
    let doc = doc.to_json().map_err(|e| KmsError::internal(e.message))?;
    Ok(EntityRecord {
        account_id: account_id.to_owned(),
        kind: EntityKind::User,
        name: ADMIN_USER.to_owned(),
        arn: format!("arn:aws:iam::{account_id}:user/{ADMIN_USER}"),
        created_at: now,
        doc,
        row_version: 1,
    })
}

/// A new account's admin and its credentials (shown once).
pub struct NewAccount {
    pub account_id: String,
    pub admin_arn: String,
    pub access_key_id: String,
    pub secret: SecretBytes,
    /// An access key of the account's root, if one was asked for.
    pub root_key: Option<(String, SecretBytes)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account {0} already exists")]
    Exists(String),
    #[error("account ids have 12 digits, not `{0}`")]
    BadId(String),
    #[error("{0}")]
    Other(String),
}

impl From<KmsError> for AccountError {
    fn from(e: KmsError) -> Self {
        AccountError::Other(e.internal.or(e.message).unwrap_or_default())
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Other(e.to_string())
    }
}

/// Creates an account (a random id unless `account_id` is given) with its
/// admin, and an access key of its root if `with_root_key`.
pub async fn create(store: &dyn Store, root: &RootKey, account_id: Option<&str>, with_root_key: bool, now: Millis) -> Result<NewAccount, AccountError> {
    let account_id = match account_id {
        Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => id.to_owned(),
        Some(id) => return Err(AccountError::BadId(id.to_owned())),
        None => new_account_id()?,
    };
    match store.insert_account(&account_id, now).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => return Err(AccountError::Exists(account_id)),
        Err(e) => return Err(e.into()),
    }
    let admin = admin_user(&account_id, now)?;
    let (access_key_id, secret) = new_access_key()?;
    let key = AccessKeyRecord { access_key_id: access_key_id.clone(), principal_arn: admin.arn.clone(), sealed_secret: seal_secret(root, &access_key_id, &secret)?, created_at: now, active: true };
    store.insert_entity(&admin, Some(&key)).await?;
    let root_key = if with_root_key {
        let root_arn = format!("arn:aws:iam::{account_id}:root");
        let (id, root_secret) = new_access_key()?;
        let key = AccessKeyRecord { access_key_id: id.clone(), principal_arn: root_arn.clone(), sealed_secret: seal_secret(root, &id, &root_secret)?, created_at: now, active: true };
        store.insert_principal(&PrincipalRecord { arn: root_arn, account_id: account_id.clone(), created_at: now }, &key).await?;
        Some((id, root_secret))
    } else {
        None
    };
    Ok(NewAccount { account_id, admin_arn: admin.arn, access_key_id, secret, root_key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn accounts_get_an_admin_with_a_working_key_and_are_made_once() {
        let store = SqliteStore::open_in_memory().unwrap();
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let made = create(&store, &root, Some("210987654321"), false, 1).await.unwrap();
        assert!(made.root_key.is_none());
        assert_eq!(made.admin_arn, "arn:aws:iam::210987654321:user/admin");
        let key = store.get_access_key(&made.access_key_id).await.unwrap().unwrap();
        assert_eq!(super::super::credentials::unseal_secret(&root, &key).unwrap().as_bytes(), made.secret.as_bytes());
        let user = store.get_entity("210987654321", EntityKind::User, "admin").await.unwrap().unwrap();
        assert!(Doc::parse(&user.doc).unwrap().inline.contains_key(ADMIN_POLICY_NAME));
        assert!(matches!(create(&store, &root, Some("210987654321"), false, 2).await, Err(AccountError::Exists(_))));
        assert!(matches!(create(&store, &root, Some("12"), false, 2).await, Err(AccountError::BadId(_))));
        let other = create(&store, &root, None, true, 3).await.unwrap();
        assert_ne!(other.account_id, made.account_id);
        let (root_id, _) = other.root_key.unwrap();
        let root_key = store.get_access_key(&root_id).await.unwrap().unwrap();
        assert_eq!(root_key.principal_arn, format!("arn:aws:iam::{}:root", other.account_id));
    }
}
