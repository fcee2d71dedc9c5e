//! Faults of a token under a logged-in `Token`, on real SoftHSM2 tokens:
//! the token's directory taken away and restored, the PIN changed by
//! another process, repeated wrong PINs; what each call answers, what the
//! key store reports (AWS `ConnectionErrorCode`), and what reconnecting
//! takes (docs/custom-key-stores.md, "Faults").

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{copy_dir, have_pkcs11_tool, pin, SoftToken, USER_PIN};
use trent_crypto::{CryptoError, Header, KeyStoreFault, SymmetricKey};
use trent_hsm::{HsmError, Pkcs11Module, Pkcs11SymmetricKey, Token};
use uuid::Uuid;

const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/0f0f0f0f-12ab-34cd-56ef-1234567890ab";

fn header() -> Header {
    Header { key_id: Uuid::new_v4(), material_id: [9; 32] }
}

fn no_context() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn is_token_gone(e: &HsmError) -> bool {
    matches!(e, HsmError::TokenNotPresent) && e.fault().map(|f| f.connection_error_code()) == Some("NETWORK_ERRORS")
}

const GONE: CryptoError = CryptoError::KeyStore(KeyStoreFault::TokenNotPresent);

#[test]
fn token_moved_away_is_token_gone_and_back_after_a_reload() {
    let Some(mut soft) = SoftToken::new("moved-away") else { return };
    let token = soft.open(2);
    let key = token.generate_aes_key(ARN).unwrap();
    let header = header();
    let handle = Pkcs11SymmetricKey::new(token.clone(), key, header);
    let blob = handle.encrypt(&no_context(), b"made before").unwrap();
    token.check().unwrap();
    // The caller's bad ciphertext is not a key store fault.
    let mut bad = blob.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(handle.decrypt(&bad, &no_context()).unwrap_err(), CryptoError::Decrypt);
    token.check().unwrap();

    let dir = soft.token_dir();
    std::fs::rename(&dir, soft.aside("away")).unwrap();
    // SoftHSM2 answers CKR_OBJECT_HANDLE_INVALID here: not KeyNotFound.
    assert_eq!(handle.encrypt(&no_context(), b"x").unwrap_err(), GONE);
    let stats = token.pool_stats();
    assert_eq!((stats.open, stats.idle), (0, 0), "the pool closed its sessions: {stats:?}");
    // No session is handed out or opened again, whatever the call.
    for e in [
        handle.decrypt(&blob, &no_context()).map(|_| ()).unwrap_err(),
        token.find_aes_key(ARN).map(|_| ()).unwrap_err().into(),
        token.generate_aes_key("arn:new").map(|_| ()).unwrap_err().into(),
    ] {
        assert_eq!(e, GONE);
    }
    assert_eq!(token.pool_stats().opened_total, stats.opened_total, "no new session");
    let err = token.check().unwrap_err();
    assert!(is_token_gone(&err), "{err:?}");
    // The same module cannot open it either, even once it is back.
    let err = Token::open(&soft.module, &soft.label, pin(USER_PIN), 2).unwrap_err();
    assert!(is_token_gone(&err), "{err:?}");
    std::fs::rename(soft.aside("away"), &dir).unwrap();
    assert!(is_token_gone(&token.check().unwrap_err()));
    let err = Token::open(&soft.module, &soft.label, pin(USER_PIN), 2).unwrap_err();
    assert!(is_token_gone(&err), "SoftHSM2 keeps the vanished token until C_Finalize: {err:?}");

    // Reconnecting: every Token of the module dropped, then a reload.
    let err = Pkcs11Module::reload(&mut soft.module).unwrap_err();
    assert!(matches!(err, HsmError::ModuleInUse { users: 2 }), "{err:?}");
    drop((handle, token));
    Pkcs11Module::reload(&mut soft.module).unwrap();
    let token = soft.open(2);
    token.check().unwrap();
    // The same key object, found by label, opens the blob made before.
    let handle = Pkcs11SymmetricKey::new(token.clone(), token.find_aes_key(ARN).unwrap(), header);
    assert_eq!(handle.decrypt(&blob, &no_context()).unwrap().as_bytes(), b"made before");
}

/// Whichever call is the first to meet the vanished token answers "gone",
/// though SoftHSM2 answers each differently (docs/custom-key-stores.md).
#[test]
fn each_call_first_to_meet_the_vanished_token_says_gone() {
    type Call = fn(&Token, &trent_hsm::TokenKey) -> Result<(), HsmError>;
    let calls: [(&str, Call); 6] = [
        ("encrypt_gcm", |t, k| t.encrypt_gcm(k, &[0; 12], b"", b"x").map(|_| ())),
        ("decrypt_gcm", |t, k| t.decrypt_gcm(k, &[0; 12], b"", &[0; 32]).map(|_| ())),
        ("find_aes_key", |t, k| t.find_aes_key(k.label()).map(|_| ())),
        ("generate_aes_key", |t, _| t.generate_aes_key("arn:other").map(|_| ())),
        ("key_attributes", |t, k| t.key_attributes(k).map(|_| ())),
        ("check", |t, _| t.check()),
    ];
    for (name, call) in calls {
        let Some(soft) = SoftToken::new(&format!("first-{name}")) else { return };
        let token = soft.open(1);
        let key = token.generate_aes_key(ARN).unwrap();
        std::fs::remove_dir_all(soft.token_dir()).unwrap();
        let err = call(&token, &key).unwrap_err();
        assert!(is_token_gone(&err), "{name}: {err:?}");
        assert_eq!(token.pool_stats().open, 0, "{name}");
    }
}

#[test]
fn token_deleted_then_restored_from_a_copy() {
    let Some(mut soft) = SoftToken::new("deleted") else { return };
    let header = header();
    let dir = soft.token_dir();
    let blob = {
        let token = soft.open(1);
        let handle = Pkcs11SymmetricKey::new(token.clone(), token.generate_aes_key(ARN).unwrap(), header);
        let blob = handle.encrypt(&no_context(), b"kept in the copy").unwrap();
        copy_dir(&dir, &soft.aside("copy"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(handle.decrypt(&blob, &no_context()).unwrap_err(), GONE);
        assert!(is_token_gone(&token.check().unwrap_err()));
        blob
    };
    // Reloaded while the token is missing: a module that starts without
    // it has no such token at all.
    Pkcs11Module::reload(&mut soft.module).unwrap();
    let err = Token::open(&soft.module, &soft.label, pin(USER_PIN), 1).unwrap_err();
    assert!(matches!(&err, HsmError::TokenNotFound(_)), "{err:?}");
    assert_eq!(err.fault().unwrap().connection_error_code(), "CLUSTER_NOT_FOUND");
    // Restored: SoftHSM2 finds tokens only when initialized, so not yet...
    copy_dir(&soft.aside("copy"), &dir);
    assert!(matches!(Token::open(&soft.module, &soft.label, pin(USER_PIN), 1), Err(HsmError::TokenNotFound(_))));
    // ...but after a reload, with the same key object.
    Pkcs11Module::reload(&mut soft.module).unwrap();
    let token = soft.open(1);
    let handle = Pkcs11SymmetricKey::new(token.clone(), token.find_aes_key(ARN).unwrap(), header);
    assert_eq!(handle.decrypt(&blob, &no_context()).unwrap().as_bytes(), b"kept in the copy");
}

/// SoftHSM2 reads the PIN only when the module is initialized: a PIN
/// changed elsewhere leaves the running login (and new sessions) working,
/// and shows as INVALID_CREDENTIALS at the next connect, after a reload.
#[test]
fn pin_changed_elsewhere_is_invalid_credentials_at_reconnect() {
    if !have_pkcs11_tool("pin-changed") {
        return;
    }
    let Some(mut soft) = SoftToken::new("pin-changed") else { return };
    let header = header();
    let token = soft.open(2);
    let handle = Pkcs11SymmetricKey::new(token.clone(), token.generate_aes_key(ARN).unwrap(), header);
    let blob = handle.encrypt(&no_context(), b"before the change").unwrap();
    soft.change_pin_elsewhere(USER_PIN, "8642-new");
    // The running Token goes on, and so does a second one (its own new
    // session, already logged in: the login is per process).
    handle.encrypt(&no_context(), b"after the change").unwrap();
    token.check().unwrap();
    let second = soft.open(1);
    second.find_aes_key(ARN).unwrap();
    drop((second, handle, token));
    // Every session closed (logged out): a real C_Login with the old PIN
    // still succeeds, as the module read the PIN when initialized.
    let token = soft.open(1);
    let handle = Pkcs11SymmetricKey::new(token.clone(), token.find_aes_key(ARN).unwrap(), header);
    assert_eq!(handle.decrypt(&blob, &no_context()).unwrap().as_bytes(), b"before the change");
    drop((handle, token));
    Pkcs11Module::reload(&mut soft.module).unwrap();
    let err = Token::open(&soft.module, &soft.label, pin(USER_PIN), 2).unwrap_err();
    assert!(matches!(err, HsmError::PinIncorrect), "{err:?}");
    assert_eq!(err.fault().unwrap().connection_error_code(), "INVALID_CREDENTIALS");
    let token = Token::open(&soft.module, &soft.label, pin("8642-new"), 2).unwrap();
    let handle = Pkcs11SymmetricKey::new(token.clone(), token.find_aes_key(ARN).unwrap(), header);
    assert_eq!(handle.decrypt(&blob, &no_context()).unwrap().as_bytes(), b"before the change");
}

/// SoftHSM2 2.6 never locks the user PIN: it sets CKF_USER_PIN_COUNT_LOW
/// after a failure and clears it at the next good login, but never
/// CKF_USER_PIN_LOCKED, and never answers CKR_PIN_LOCKED. So Trent's
/// USER_LOCKED_OUT (CKR_PIN_LOCKED, or the flag in `check`) cannot be
/// shown on it; this pins down that it does not happen.
#[test]
fn softhsm2_never_locks_the_user_pin() {
    const TRIES: usize = 25;
    let Some(soft) = SoftToken::new("no-lockout") else { return };
    for i in 0..TRIES {
        let err = Token::open(&soft.module, &soft.label, pin("not-the-pin"), 1).unwrap_err();
        assert!(matches!(err, HsmError::PinIncorrect), "try {i}: {err:?}");
    }
    let token = soft.open(1);
    token.check().unwrap();
}

/// The probe is cheap and keeps to the pool: on a pool of one it reuses
/// the one session, which stays available to calls.
#[test]
fn check_reuses_the_pool_and_is_cheap() {
    const CHECKS: u32 = 1000;
    let Some(soft) = SoftToken::new("check") else { return };
    let token = soft.open(1);
    let key = token.generate_aes_key(ARN).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..CHECKS {
        token.check().unwrap();
    }
    let per_check = start.elapsed() / CHECKS;
    eprintln!("Token::check: {per_check:?} a call");
    let stats = token.pool_stats();
    assert_eq!((stats.open, stats.idle, stats.opened_total), (1, 1, 1), "{stats:?}");
    token.encrypt_gcm(&key, &[1; 12], b"", b"still usable").unwrap();
    // With the one session busy in another thread, check does not wait.
    let busy = Arc::new(std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        let t = token.clone();
        let (k, b) = (key.clone(), busy.clone());
        s.spawn(move || {
            b.wait();
            for _ in 0..200 {
                t.encrypt_gcm(&k, &[2; 12], b"", &[0; 4096]).unwrap();
            }
        });
        busy.wait();
        for _ in 0..200 {
            token.check().unwrap();
        }
    });
    assert_eq!(token.pool_stats().opened_total, 1);
}
