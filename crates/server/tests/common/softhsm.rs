//! A SoftHSM2 token for end-to-end tests: its own directory and its own
//! SOFTHSM2_CONF, handed to the server process through its environment
//! (never set in the test process, so tests run in parallel). Without
//! SoftHSM2 a test skips with a message, unless TRENT_REQUIRE_SOFTHSM=1
//! (scripts/test sets it), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER_PIN: &str = "kmsuser-pin-1";
pub const SO_PIN: &str = "so-pin-1357";

const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// SoftHSM2's module: TRENT_SOFTHSM_MODULE (scripts/lib/softhsm.sh sets
/// it), else the first of the usual places that exists.
pub fn module_path() -> Option<PathBuf> {
    let from_env = std::env::var("TRENT_SOFTHSM_MODULE").ok().map(PathBuf::from);
    from_env.into_iter().chain(MODULE_CANDIDATES.iter().map(PathBuf::from)).find(|p| p.is_file())
}

pub struct TestToken {
    pub dir: tempfile::TempDir,
    pub module: PathBuf,
    pub label: String,
}

pub fn tool_present(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

impl TestToken {
    /// A fresh token labelled `label` with [`USER_PIN`], or `None` when
    /// SoftHSM2 (or opensc's pkcs11-tool) is missing and not required.
    pub fn new(test: &str, label: &str) -> Option<TestToken> {
        let (Some(module), true, true) = (module_path(), tool_present("softhsm2-util"), tool_present("pkcs11-tool")) else {
            if std::env::var("TRENT_REQUIRE_SOFTHSM").as_deref() == Ok("1") {
                panic!("{test}: SoftHSM2 and pkcs11-tool are required (TRENT_REQUIRE_SOFTHSM=1); scripts/lib/softhsm.sh installs them");
            }
            eprintln!("skipping {test}: SoftHSM2 or pkcs11-tool is not installed (apt-get install softhsm2 opensc)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("trent-token-").tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
        let token = TestToken { dir, module, label: label.to_owned() };
        std::fs::write(
            token.conf(),
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", token.tokens_dir().display()),
        )
        .unwrap();
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", token.conf())
            .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN])
            .output()
            .unwrap();
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        Some(token)
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    pub fn tokens_dir(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// The environment a server needs to see this token.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("SOFTHSM2_CONF", self.conf().display().to_string())]
    }

    /// `pkcs11-tool` on this token, logged in as the user with `pin`.
    pub fn tool(&self, pin: &str, args: &[&str]) -> std::process::Output {
        Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", self.conf())
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", &self.label, "--login", "--pin", pin])
            .args(args)
            .output()
            .unwrap()
    }

    /// The labels of the token's secret keys.
    pub fn secret_key_labels(&self) -> Vec<String> {
        let out = self.tool(USER_PIN, &["--list-objects", "--type", "secrkey"]);
        assert!(out.status.success(), "pkcs11-tool --list-objects: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("label:").map(|v| v.trim().to_owned()))
            .collect()
    }

    /// Changes the user PIN (as an operator rotating kmsuser's password).
    pub fn change_pin(&self, old: &str, new: &str) {
        let out = self.tool(old, &["--change-pin", "--new-pin", new]);
        assert!(out.status.success(), "pkcs11-tool --change-pin: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Moves the token's files away (the token is gone) or back.
    pub fn move_tokens(&self, away: bool) {
        let aside = self.dir.path().join("tokens-aside");
        let (from, to) = if away { (self.tokens_dir(), aside) } else { (aside, self.tokens_dir()) };
        std::fs::rename(&from, &to).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
