//! `trent serve` configuration: every flag also from `TRENT_*` and from a
//! `--config` TOML file, a flag winning over the environment, which wins
//! over the file, which wins over the default; `--print-config` shows it.
//! Also the start-up promises: `--listen` with a host name, a port in use
//! named (and no data directory made), the listening line first.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Trent, REGION};

fn trent(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        // Only what the test sets: no TRENT_* of the caller's.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("running trent")
}

fn print_config(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["serve", "--print-config"];
    all.extend_from_slice(args);
    let out = trent(&all, env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("text")
}

/// The line for `key`, without its comment, and where it came from.
fn setting(config: &str, key: &str) -> (String, String) {
    let line = config.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_else(|| panic!("no {key} in\n{config}"));
    let (value, from) = line.split_once("  # ").expect("a source comment");
    (value.trim_start_matches(&format!("{key} = ")).to_owned(), from.to_owned())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the config file");
    path.to_str().expect("path").to_owned()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "trent.toml", "idle-timeout-secs = 11\nmax-connections = 12\nbody-timeout-secs = 13\nregions = [\"eu-west-1\", \"us-east-1\"]\n");
    let env = [("TRENT_IDLE_TIMEOUT_SECS", "21"), ("TRENT_MAX_CONNECTIONS", "22")];
    let config = print_config(&["--config", &file, "--idle-timeout-secs", "31"], &env);
    assert_eq!(setting(&config, "idle-timeout-secs"), ("31".into(), "--idle-timeout-secs".into()));
    assert_eq!(setting(&config, "max-connections"), ("22".into(), "TRENT_MAX_CONNECTIONS".into()));
    assert_eq!(setting(&config, "body-timeout-secs"), ("13".into(), "config file".into()));
    assert_eq!(setting(&config, "header-timeout-secs"), ("10".into(), "default".into()));
    assert_eq!(setting(&config, "regions"), (r#"["eu-west-1", "us-east-1"]"#.into(), "config file".into()));
    // An on/off flag's variable says it as a shell would.
    for (text, value) in [("1", "true"), ("yes", "true"), ("off", "false")] {
        assert_eq!(setting(&print_config(&[], &[("TRENT_DEV", text)]), "dev"), (value.into(), "TRENT_DEV".into()));
    }
    // Flags that always had a variable keep its name.
    let config = print_config(&["--config", &file], &[("TRENT_LISTEN", "127.0.0.1:4999")]);
    assert_eq!(setting(&config, "listen"), (r#""127.0.0.1:4999""#.into(), "TRENT_LISTEN".into()));
}

#[test]
fn the_printed_configuration_reads_back_as_a_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = print_config(&["--listen", "localhost:4700", "--dev", "--dev-account-id", "012345678901", "--audit-sink", "stdout"], &[]);
    let file = write(dir.path(), "printed.toml", &first);
    let again = print_config(&[], &[("TRENT_CONFIG", &file)]);
    for key in ["listen", "dev", "dev-account-id", "audit-sink", "max-connections"] {
        assert_eq!(setting(&first, key).0, setting(&again, key).0, "{key}");
    }
    assert_eq!(setting(&again, "dev-account-id").0, r#""012345678901""#);
}

#[test]
fn print_config_redacts_passwords_and_touches_no_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = print_config(&["--store", "postgres://trent:hunter2@db:5432/kms", "--data-dir", data.to_str().expect("path")], &[]);
    assert!(!config.contains("hunter2"), "{config}");
    assert_eq!(setting(&config, "store").0, r#""postgres://trent:(redacted)@db:5432/kms""#);
    assert!(!data.exists());
}

#[test]
fn an_unknown_key_or_a_bad_value_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "typo.toml", "lisen = \"127.0.0.1:1\"\n");
    let out = trent(&["serve", "--config", &file], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&file) && stderr.contains("unknown key `lisen`"), "{stderr}");

    let file = write(dir.path(), "bad.toml", "max-connections = \"many\"\n");
    let out = trent(&["serve", "--print-config", "--config", &file], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("many"), "{}", String::from_utf8_lossy(&out.stderr));

    let missing = dir.path().join("missing.toml");
    let out = trent(&["serve", "--config", missing.to_str().expect("path")], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.matches(missing.to_str().expect("path")).count(), 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_file_and_the_environment_configure_a_real_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "dev.toml", "dev = true\n");
    // The file turns dev mode on: any key is accepted.
    let dev = Trent::start(&["--config", &file]);
    dev.client_with(REGION, "test", "test").list_keys().send().await.expect("dev mode from the config file");
    // The environment wins over the file: signatures are checked again.
    let secure = Trent::start_with_env(&["--config", &file], &[("TRENT_DEV", "false")]);
    let refused = secure.client_with(REGION, "test", "test").list_keys().send().await.expect_err("TRENT_DEV=false must win over the file");
    assert!(refused.as_service_error().is_some(), "{refused:?}");
    secure.client(REGION).list_keys().send().await.expect("the admin is served");
}

/// Starts `trent serve ARGS` with stderr merged into stdout, and returns
/// the first line and the process.
fn first_line(args: &str, data: &Path) -> (String, std::process::Child) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec \"$0\" serve --data-dir \"$1\" {args} 2>&1"))
        .arg(env!("CARGO_BIN_EXE_trent"))
        .arg(data)
        .env_remove("TRENT_LISTEN")
        .env_remove("TRENT_DATA_DIR")
        .env("TRENT_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning trent");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("reading");
    (line, child)
}

#[test]
fn a_host_name_listens_and_the_listening_line_comes_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (line, mut child) = first_line("--listen localhost:0 --dev", &dir.path().join("data"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("Trent listening on http://127.0.0.1:"), "the first line printed: {line:?}");
}

#[test]
fn a_port_in_use_is_named_and_leaves_no_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("address").to_string();
    let data = dir.path().join("data");
    let out = trent(&["serve", "--listen", &addr, "--data-dir", data.to_str().expect("path")], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("cannot listen on {addr}: ")), "{stderr}");
    assert!(!data.exists(), "a failed start made the data directory");
}
