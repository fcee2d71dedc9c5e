//! Every `trent serve` flag also comes from the environment and from a
//! TOML file, with no code per flag: before parsing, each of serve's flags
//! without an `env` gets `TRENT_<FLAG>` (`--max-connections`:
//! `TRENT_MAX_CONNECTIONS`), and each key of the `--config FILE` (named as
//! the long flag: `listen = "…"`, `tls-cert = "…"`) becomes that flag's
//! default. So a flag wins over the environment, which wins over the file,
//! which wins over the built-in default (clap's own order: command line,
//! `env`, default). `--print-config` prints the result, as a file
//! `--config` reads, with where each value came from.
//!
//! Hidden flags (test knobs) take part in none of this.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::builder::Command;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

/// The subcommand whose flags a file and the environment may set.
const SUBCOMMAND: &str = "serve";
/// Flags about the configuration itself, which the file cannot set.
const OWN_FLAGS: [&str; 4] = ["config", "print-config", "help", "version"];
/// A file's values, by flag name.
type FileValues = BTreeMap<String, Vec<String>>;

/// Parses `args` into `T` as `T::parse_from` would, with the environment
/// and `--config` file applied to `serve`; answers `--print-config` (like
/// `--help`: it prints and exits). Exits 2 on a bad command line or file.
pub fn parse<T: CommandFactory + FromArgMatches>(args: Vec<OsString>) -> T {
    let file = config_path(&args).map(|path| match read_file(&path) {
        Ok(values) => (path, values),
        Err(e) => {
            eprintln!("trent: {e}");
            std::process::exit(2);
        }
    });
    let mut command = T::command().mut_subcommand(SUBCOMMAND, |serve| configure(serve, file.as_ref().map(|(_, v)| v)));
    if let Some((path, values)) = &file {
        if let Err(e) = check_keys(&command, path, values) {
            eprintln!("trent: {e}");
            std::process::exit(2);
        }
    }
    let matches = command.try_get_matches_from_mut(args).unwrap_or_else(|e| e.exit());
    if let Some((SUBCOMMAND, serve)) = matches.subcommand() {
        if serve.get_flag("print_config") {
            if let Some(serve_command) = command.find_subcommand(SUBCOMMAND) {
                print!("{}", effective(serve_command, serve, file.as_ref().map(|(_, v)| v)));
            }
            std::process::exit(0);
        }
    }
    T::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `--config FILE` (or `--config=FILE`) after `serve`, else `TRENT_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    // `trent` has no options of its own: the subcommand comes first.
    if args.get(1).is_none_or(|a| a != SUBCOMMAND) {
        return None;
    }
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("TRENT_CONFIG").map(PathBuf::from)
}

/// The file's keys and their values as text (arrays for repeatable flags).
fn read_file(path: &Path) -> Result<FileValues, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut values = FileValues::new();
    for (key, value) in table {
        let text = match value {
            toml::Value::Array(items) => items.into_iter().map(|v| scalar(path, &key, v)).collect::<Result<_, _>>()?,
            other => vec![scalar(path, &key, other)?],
        };
        values.insert(key, text);
    }
    Ok(values)
}

fn scalar(path: &Path, key: &str, value: toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!("{}: `{key}` must be a string, number, boolean or an array of them", path.display())),
    }
}

/// Whether a flag is one the environment and the file may set.
fn configurable(arg: &clap::Arg) -> bool {
    // Global flags (`--log-format`) are trent's, not serve's: they have their own variables.
    !arg.is_hide_set() && !arg.is_global_set() && arg.get_long().is_some_and(|long| !OWN_FLAGS.contains(&long))
}

fn env_name(long: &str) -> String {
    format!("TRENT_{}", long.to_uppercase().replace('-', "_"))
}

fn configure(serve: Command, file: Option<&FileValues>) -> Command {
    serve.mut_args(|mut arg| {
        if !configurable(&arg) {
            return arg;
        }
        let long = arg.get_long().unwrap_or_default().to_owned();
        if arg.get_env().is_none() {
            arg = arg.env(env_name(&long));
        }
        // An on/off flag's variable or key may say 1/0, yes/no, on/off too.
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            arg = arg.value_parser(clap::builder::BoolishValueParser::new());
        }
        match file.and_then(|f| f.get(&long)) {
            Some(values) => arg.default_values(values.clone()),
            None => arg,
        }
    })
}

/// A key that names no flag is refused, naming it and the file.
fn check_keys(command: &Command, path: &Path, values: &FileValues) -> Result<(), String> {
    let Some(serve) = command.find_subcommand(SUBCOMMAND) else { return Ok(()) };
    for key in values.keys() {
        if !serve.get_arguments().any(|a| configurable(a) && a.get_long() == Some(key.as_str())) {
            return Err(format!("{}: unknown key `{key}` (keys are the long flags of `trent serve`, e.g. `listen`)", path.display()));
        }
    }
    Ok(())
}

/// The effective values as TOML, each with where it came from.
fn effective(serve: &Command, matches: &ArgMatches, file: Option<&FileValues>) -> String {
    let mut out = String::from("# trent serve: the effective configuration (flag > TRENT_* environment > --config file > default)\n");
    for arg in serve.get_arguments().filter(|a| configurable(a)) {
        let long = arg.get_long().unwrap_or_default();
        let id = arg.get_id().as_str();
        let values: Vec<String> = match matches.try_get_one::<bool>(id) {
            // An on/off flag as a boolean, however it was said (`TRENT_DEV=1`).
            Ok(Some(on)) => vec![on.to_string()],
            _ => matches.get_raw(id).map(|raw| raw.map(|v| redact(long, &v.to_string_lossy())).collect()).unwrap_or_default(),
        };
        let from = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => format!("--{long}"),
            Some(ValueSource::EnvVariable) => arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default(),
            Some(ValueSource::DefaultValue) if file.is_some_and(|f| f.contains_key(long)) => "config file".to_owned(),
            _ => "default".to_owned(),
        };
        let repeatable = matches!(arg.get_action(), ArgAction::Append) || arg.get_value_delimiter().is_some();
        let line = match (values.as_slice(), repeatable) {
            ([], _) => format!("# {long} = (not set)"),
            (_, true) => format!("{long} = [{}]", values.iter().map(|v| toml_value(v)).collect::<Vec<_>>().join(", ")),
            ([one], false) => format!("{long} = {}", toml_value(one)),
            (_, false) => format!("{long} = [{}]", values.iter().map(|v| toml_value(v)).collect::<Vec<_>>().join(", ")),
        };
        out.push_str(&format!("{line}  # {from}\n"));
    }
    out
}

/// A number or boolean as itself, anything else as a TOML string.
fn toml_value(text: &str) -> String {
    // An account id's leading zero would not survive as a TOML integer.
    if text.parse::<i64>().is_ok_and(|n| n.to_string() == text) || text == "true" || text == "false" {
        return text.to_owned();
    }
    // A JSON string is a TOML basic string (the same escapes).
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Never a secret: a URL's password, or the value of a flag named for one.
fn redact(long: &str, value: &str) -> String {
    let secret_name = ["password", "passphrase", "secret", "pin", "token"].iter().any(|w| long.contains(w)) && !long.ends_with("-file");
    if secret_name {
        return "(redacted)".to_owned();
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                return format!("{scheme}://{}:(redacted){}", &rest[..colon], &rest[at..]);
            }
        }
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_password_is_redacted() {
        assert_eq!(redact("store", "postgres://trent:hunter2@db:5432/kms"), "postgres://trent:(redacted)@db:5432/kms");
        assert_eq!(redact("store", "postgres://trent@db/kms"), "postgres://trent@db/kms");
        assert_eq!(redact("seal-passphrase", "hunter2"), "(redacted)");
        assert_eq!(redact("seal-passphrase-file", "/etc/p"), "/etc/p");
    }

    #[test]
    fn env_names_follow_the_flag() {
        assert_eq!(env_name("max-connections"), "TRENT_MAX_CONNECTIONS");
    }

    #[test]
    fn the_config_path_is_found_after_serve() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(config_path(&args(&["trent", "serve", "--dev", "--config", "a.toml"])), Some(PathBuf::from("a.toml")));
        assert_eq!(config_path(&args(&["trent", "serve", "--config=b.toml"])), Some(PathBuf::from("b.toml")));
    }
}
