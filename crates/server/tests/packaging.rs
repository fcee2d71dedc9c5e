//! Packaging: `trent man` renders a page for every command and subcommand,
//! `trent completions` knows the commands, and the systemd unit passes
//! `systemd-analyze verify` (skipped, saying so, where systemd-analyze is
//! missing). The Dockerfile is not built here (too slow for the suite).

use std::path::Path;
use std::process::Command;

fn trent(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trent")).args(args).output().expect("running trent");
    assert!(out.status.success(), "trent {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Every (sub)command path `trent --help` and its subcommands' help list.
fn command_paths(path: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let help = trent(&args);
    let mut out = vec![path.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let Some(commands) = help.split("Commands:\n").nth(1) else { return out };
    for line in commands.lines().take_while(|l| l.starts_with("  ")) {
        let name = line.split_whitespace().next().unwrap_or_default();
        // A continuation line of a long description is indented further.
        if name.is_empty() || name == "help" || line.starts_with("   ") {
            continue;
        }
        let mut sub: Vec<&str> = path.to_vec();
        sub.push(name);
        out.extend(command_paths(&sub));
    }
    out
}

#[test]
fn every_command_has_a_man_page_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let listed = trent(&["man", "--out", dir.path().to_str().unwrap()]);
    let paths = command_paths(&[]);
    assert!(paths.len() > 10, "{paths:?}");
    for path in paths {
        let file = std::iter::once("trent".to_owned()).chain(path.iter().cloned()).collect::<Vec<_>>().join("-") + ".1";
        assert!(listed.lines().any(|l| l == file), "{file} not written: {listed}");
        let page = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        assert!(page.contains(".TH") && page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"), "{file}:\n{page}");
        let words = std::iter::once("trent".to_owned()).chain(path.iter().cloned()).collect::<Vec<_>>().join(" ");
        assert!(page.contains(&words.replace('-', "\\-")), "{file} does not show `{words}`:\n{page}");
    }
    // man(1) itself renders it, where it is installed.
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let out = Command::new("man").arg("-l").arg(dir.path().join("trent-serve.1")).env("MANWIDTH", "80").output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("--seed"));
    }
    assert!(trent(&["man"]).contains(".TH trent 1"));
}

#[test]
fn completions_know_the_commands_and_flags() {
    let bash = trent(&["completions", "bash"]);
    for word in ["serve", "audit", "xks-proxy", "--data-dir", "--seed"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish"] {
        assert!(trent(&["completions", shell]).contains("serve"), "{shell}");
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/trent.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for option in ["NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=trent", "CapabilityBoundingSet=\n", "MemoryDenyWriteExecute=yes", "DynamicUser=yes"] {
        assert!(text.contains(option), "the unit lacks {option:?}");
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("SKIPPED: systemd-analyze is not installed; the unit was not verified");
        return;
    }
    // verify checks that ExecStart's binary exists: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("trent.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/trent", env!("CARGO_BIN_EXE_trent"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unknown or misspelt option is only a warning: refuse any output.
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}
