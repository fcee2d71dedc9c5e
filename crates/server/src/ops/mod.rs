//! One file per KMS operation, named after it. Each takes its typed input
//! (`trent_model::input`, generated from the model and read from the
//! validated body by the HTTP layer), gets what it acts on from `authz`,
//! does its work and returns the JSON answer.
//!
//! A handler gets a [`crate::keys::OpCtx`], never the request's
//! `crate::state::Ctx`: it has no path to `AppState`, so none to the store,
//! the key provider or the root key. What it does with them goes through
//! `crate::keys` functions that take the `crate::authz::Authorized` key,
//! alias, grant or account it acts on, and only `crate::authz` makes those.
//! So a handler cannot act on anything authorization did not hand it, and
//! the compiler says so. Do not give handlers a `&Ctx` or an `Arc<AppState>`
//! (the test below looks for that); add the `crate::keys` function instead.

pub mod cancel_key_deletion;
pub mod update_custom_key_store;
pub mod disconnect_custom_key_store;
pub mod describe_custom_key_stores;
pub mod delete_custom_key_store;
pub mod create_custom_key_store;
pub mod connect_custom_key_store;
pub mod create_alias;
pub mod create_grant;
pub mod create_key;
pub mod decapsulate;
pub mod decrypt;
pub mod delete_alias;
pub mod delete_imported_key_material;
pub mod derive_shared_secret;
pub mod describe_key;
pub mod disable_key;
pub mod disable_key_rotation;
pub mod enable_key;
pub mod enable_key_rotation;
pub mod encapsulate;
pub mod encrypt;
pub mod generate_data_key;
pub mod generate_data_key_pair;
pub mod generate_data_key_pair_without_plaintext;
pub mod generate_data_key_without_plaintext;
pub mod generate_mac;
pub mod generate_random;
pub mod get_key_last_usage;
pub mod get_key_policy;
pub mod get_key_rotation_status;
pub mod get_parameters_for_import;
pub mod get_public_key;
pub mod import_key_material;
pub mod list_aliases;
pub mod list_grants;
pub mod list_key_policies;
pub mod list_key_rotations;
pub mod list_keys;
pub mod list_resource_tags;
pub mod list_retirable_grants;
pub mod put_key_policy;
pub mod re_encrypt;
pub mod replicate_key;
pub mod retire_grant;
pub mod revoke_grant;
pub mod rotate_key_on_demand;
pub mod schedule_key_deletion;
pub mod sign;
pub mod tag_resource;
pub mod untag_resource;
pub mod update_alias;
pub mod update_key_description;
pub mod update_primary_region;
pub mod verify;
pub mod verify_mac;

mod common;
pub use common::*;

#[cfg(test)]
mod tests {
    /// What no handler may name: the request context or what it would lead
    /// to. The compiler keeps an `OpCtx` from leading there; this keeps a
    /// handler from being written to take the way around it.
    #[test]
    fn handlers_name_neither_the_request_context_nor_the_store() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ops");
        let forbidden = ["state::Ctx", "&Ctx", "AppState", "dyn Store", "RootKey", "KeyProvider", ".root_key", ".provider", ".store"];
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // This file only declares the handlers (and says the words above).
            if path.file_name().is_some_and(|name| name == "mod.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for word in forbidden {
                assert!(!code.contains(word), "{} names {word}: handlers reach the store only through crate::keys", path.display());
            }
            files += 1;
        }
        assert!(files > 40, "found only {files} handler files in {}", dir.display());
    }
}
