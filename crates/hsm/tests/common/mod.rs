//! Test tokens: each test makes its own SoftHSM2 token in its own temporary
//! directory (its own SOFTHSM2_CONF and token directory), never a shared one.
//!
//! SoftHSM2 reads SOFTHSM2_CONF when the module is initialized, and a
//! module is initialized once per process at a time, so tests that use a
//! token hold a process-wide lock from making it until the module is
//! finalized (they run one after another; software tests run alongside).
//!
//! Without SoftHSM2 the PKCS#11 tests skip with a message, unless
//! TRENT_REQUIRE_SOFTHSM=1 (scripts/test sets it), where they fail.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard};

use trent_hsm::{AuthPin, Pkcs11Module, Token};

pub const USER_PIN: &str = "2468-user";
pub const SO_PIN: &str = "1357-so";

static TOKEN_LOCK: Mutex<()> = Mutex::new(());

const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

fn module_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TRENT_SOFTHSM_MODULE") {
        if Path::new(&p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    MODULE_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn tool_present(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

fn skip_or_fail<T>(test: &str, missing: &str) -> Option<T> {
    if std::env::var("TRENT_REQUIRE_SOFTHSM").as_deref() == Ok("1") {
        panic!("{test}: {missing} is required (TRENT_REQUIRE_SOFTHSM=1) but missing; scripts/lib/softhsm.sh installs it");
    }
    eprintln!("skipping {test}: {missing} is not installed (apt-get install softhsm2 opensc, or run scripts/test)");
    None
}

/// A fresh SoftHSM2 token, initialized with [`USER_PIN`], and the module
/// loaded with it. Dropping it finalizes the module and deletes the token.
pub struct SoftToken {
    pub module: Arc<Pkcs11Module>,
    pub label: String,
    dir: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

impl SoftToken {
    /// A new token, or `None` (with a message) when SoftHSM2 is not
    /// installed and TRENT_REQUIRE_SOFTHSM is not 1.
    pub fn new(test: &str) -> Option<SoftToken> {
        Self::new_with(test, None)
    }

    /// A new token holding, besides, an AES-256 key of known `value`
    /// labelled `label`, written with pkcs11-tool (opensc) before the
    /// module is loaded; a test key only, to check the token's AES-GCM
    /// against aws-lc's.
    pub fn with_known_key(test: &str, label: &str, value: &[u8; 32]) -> Option<SoftToken> {
        if !tool_present("pkcs11-tool") {
            return skip_or_fail(test, "pkcs11-tool (Debian's opensc)");
        }
        Self::new_with(test, Some((label, value)))
    }

    fn new_with(test: &str, known_key: Option<(&str, &[u8; 32])>) -> Option<SoftToken> {
        let (Some(module_path), true) = (module_path(), tool_present("softhsm2-util")) else {
            return skip_or_fail(test, "SoftHSM2 (Debian's softhsm2)");
        };
        let lock = TOKEN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::env::temp_dir().join(format!("trent-softhsm-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", dir.join("tokens").display()),
        )
        .unwrap();
        let label = format!("trent-{test}");
        let label = &label[..label.len().min(32)];
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN])
            .output()
            .unwrap();
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        if let Some((key_label, value)) = known_key {
            let file = dir.join("known-key");
            std::fs::write(&file, value).unwrap();
            let out = Command::new("pkcs11-tool")
                .env("SOFTHSM2_CONF", &conf)
                .arg("--module")
                .arg(&module_path)
                .args(["--token-label", label, "--login", "--pin", USER_PIN, "--write-object"])
                .arg(&file)
                .args(["--type", "secrkey", "--key-type", "AES:32", "--usage-decrypt", "--label", key_label])
                .output()
                .unwrap();
            assert!(out.status.success(), "pkcs11-tool --write-object: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::remove_file(&file).unwrap();
        }
        // Only tests holding TOKEN_LOCK read it (when the module initializes).
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let module = Pkcs11Module::open(&module_path).unwrap();
        Some(SoftToken { module, label: label.to_string(), dir, _lock: lock })
    }

    /// The token, logged in with the right PIN, with at most `max_sessions`.
    pub fn open(&self, max_sessions: usize) -> Arc<Token> {
        Token::open(&self.module, &self.label, pin(USER_PIN), max_sessions).unwrap()
    }

    /// The token's own directory (SoftHSM2's file backend keeps a token
    /// in one directory, named by a UUID, under the token directory).
    pub fn token_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.dir.join("tokens")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(dirs.len(), 1, "one token directory: {dirs:?}");
        dirs.remove(0)
    }

    /// A path beside the token directory, for moving it away or copying it.
    pub fn aside(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Changes the user PIN from another process (pkcs11-tool), as an
    /// administrator would (see [`have_pkcs11_tool`]).
    pub fn change_pin_elsewhere(&self, old: &str, new: &str) {
        let out = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", self.dir.join("softhsm2.conf"))
            .arg("--module")
            .arg(self.module.path())
            .args(["--token-label", &self.label, "--login", "--pin", old, "--change-pin", "--new-pin", new])
            .output()
            .unwrap();
        assert!(out.status.success(), "pkcs11-tool --change-pin: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Copies a directory's files (a token directory has no subdirectories).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Whether pkcs11-tool is here; skips (or fails when SoftHSM2 is required)
/// otherwise.
pub fn have_pkcs11_tool(test: &str) -> bool {
    tool_present("pkcs11-tool") || skip_or_fail::<()>(test, "pkcs11-tool (Debian's opensc)").is_some()
}

impl Drop for SoftToken {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn pin(p: &str) -> AuthPin {
    AuthPin::from(p.to_string())
}
