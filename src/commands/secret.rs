//! `toolgate secret set|list|rm`: secrets in the OS keychain.
//!
//! `set SCOPE NAME` reads the value from stdin (one trailing newline is
//! dropped, so `echo "$KEY" |` works as well as `printf %s "$KEY" |`), or asks
//! for it without echo when stdin is a terminal. The value goes to the
//! keychain only; the local store records the name, for `list`.
//!
//! `list --json` shape (version 1):
//! `{"version":1,"keychain":SERVICE,"secrets":[{"scope","name","reference",
//! "keychain","updated_at","used_by":[LOCATION...]}],
//! "missing":[{"scope","name","used_by":[...]}]}`: `missing` holds references
//! in config.toml to secrets toolgate has no record of. Values never appear.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Result;
use serde_json::json;

use crate::cli::{SecretCommand, SecretListArgs, SecretRmArgs, SecretSetArgs};
use crate::config::{Config, Paths};
use crate::error::{UserError, exit};
use crate::secrets::refs::{self, Template};
use crate::secrets::{Keychain, Secret};
use crate::store::Store;

pub fn run(paths: &Paths, cmd: SecretCommand) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    match cmd {
        SecretCommand::Set(args) => set(paths, args),
        SecretCommand::List(args) => list(paths, args),
        SecretCommand::Rm(args) => rm(paths, args),
    }
}

fn check_name(scope: &str, name: &str) -> Result<(), UserError> {
    for (what, v) in [("scope", scope), ("name", name)] {
        if !refs::valid_part(v) {
            return Err(UserError::new(format!(
                "\"{v}\" is not a valid secret {what}: use up to 64 letters, digits, '_', '-' or '.'"
            ))
            .hint("such as: toolgate secret set brave BRAVE_API_KEY"));
        }
    }
    Ok(())
}

fn keychain(paths: &Paths) -> Result<(Keychain, Config)> {
    let config = super::load(paths)?.config;
    let kc = Keychain::open(paths, config.keychain)?;
    Ok((kc, config))
}

fn set(paths: &Paths, args: SecretSetArgs) -> Result<u8> {
    check_name(&args.scope, &args.name)?;
    let (kc, config) = keychain(paths)?;
    let value = read_value(&args.scope, &args.name)?;
    kc.set(&refs::account(&args.scope, &args.name), &value)?;
    Store::open(&paths.db_file())?.record_secret(&args.scope, &args.name, kc.describe())?;
    super::say(&format!(
        "Stored the secret {}/{} in {}.",
        args.scope,
        args.name,
        kc.describe()
    ));
    let used = uses(&config);
    let key = (args.scope.clone(), args.name.clone());
    if !used.contains_key(&key) {
        let reference = if config.servers.contains_key(&args.scope) {
            format!("${{secret:{}}}", args.name)
        } else {
            format!("${{secret:{}/{}}}", args.scope, args.name)
        };
        super::say(&format!(
            "Nothing in config.toml uses it yet: reference it as \"{reference}\" in an env or headers value of [servers.{}].",
            if config.servers.contains_key(&args.scope) {
                args.scope.as_str()
            } else {
                "NAME"
            }
        ));
    }
    Ok(exit::OK)
}

/// Reads the value: hidden prompt on a terminal, else all of stdin.
fn read_value(scope: &str, name: &str) -> Result<Secret> {
    let mut text = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        text = ask_hidden(&format!("Value of {scope}/{name} (not shown): "))?;
    } else {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UserError::problem(format!("could not read the value from stdin: {e}")))?;
    }
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    let value = Secret::new(std::mem::take(&mut text));
    if value.is_empty() {
        return Err(UserError::new("the value is empty, so nothing was stored")
            .hint(format!(
                "pipe the value in: printf %s \"$VALUE\" | toolgate secret set {scope} {name}"
            ))
            .into());
    }
    Ok(value)
}

/// Asks for a line on the terminal without echo.
pub fn ask_hidden(prompt: &str) -> Result<String> {
    use std::io::Write;
    let _echo_off = EchoOff::new();
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut text = String::new();
    std::io::stdin().read_line(&mut text)?;
    let _ = writeln!(err);
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    Ok(text)
}

/// Turns the terminal's echo off until dropped.
struct EchoOff {
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new() -> Self {
        #[cfg(unix)]
        {
            // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed, then filled,
            // termios struct.
            unsafe {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut t) != 0 {
                    return Self { saved: None };
                }
                let saved = t;
                t.c_lflag &= !libc::ECHO;
                t.c_lflag |= libc::ECHONL;
                libc::tcsetattr(0, libc::TCSANOW, &t);
                Self { saved: Some(saved) }
            }
        }
        #[cfg(not(unix))]
        Self {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
            }
        }
    }
}

/// Where config.toml references each secret: (scope, name) -> locations.
fn uses(config: &Config) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (server, s) in &config.servers {
        for (kind, values) in [("env", &s.env), ("headers", &s.headers)] {
            for (key, value) in values {
                if let Ok(t) = Template::parse(value, server) {
                    for r in t.refs() {
                        out.entry((r.scope.clone(), r.name.clone()))
                            .or_default()
                            .push(format!("servers.{server}.{kind}.{key}"));
                    }
                }
            }
        }
    }
    out
}

fn list(paths: &Paths, args: SecretListArgs) -> Result<u8> {
    let config = super::load(paths)?.config;
    let names = Store::open(&paths.db_file())?.secret_names()?;
    let mut used = uses(&config);
    let service = crate::secrets::service_name(paths);
    let secrets: Vec<_> = names
        .iter()
        .map(|s| {
            let used_by = used
                .remove(&(s.scope.clone(), s.name.clone()))
                .unwrap_or_default();
            json!({
                "scope": s.scope,
                "name": s.name,
                "reference": format!("${{secret:{}/{}}}", s.scope, s.name),
                "keychain": s.keychain,
                "updated_at": s.updated_at,
                "used_by": used_by,
            })
        })
        .collect();
    let missing: Vec<_> = used
        .into_iter()
        .map(|((scope, name), used_by)| json!({"scope": scope, "name": name, "used_by": used_by}))
        .collect();
    if args.json {
        let doc =
            json!({"version": 1, "keychain": service, "secrets": secrets, "missing": missing});
        super::out(&serde_json::to_string_pretty(&doc)?);
        return Ok(exit::OK);
    }
    if secrets.is_empty() && missing.is_empty() {
        super::say(
            "No secrets set. Store one with: printf %s \"$VALUE\" | toolgate secret set SCOPE NAME",
        );
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for s in &secrets {
        let used_by = s["used_by"].as_array().map(Vec::len).unwrap_or(0);
        text.push_str(&format!(
            "{}/{}  {}  {}\n",
            s["scope"].as_str().unwrap_or_default(),
            s["name"].as_str().unwrap_or_default(),
            s["updated_at"].as_str().unwrap_or_default(),
            if used_by == 0 {
                "unused".to_string()
            } else {
                format!("used by {used_by}")
            }
        ));
    }
    for m in &missing {
        text.push_str(&format!(
            "{}/{}  MISSING (referenced by {}): run toolgate secret set {} {}\n",
            m["scope"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            m["used_by"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            m["scope"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
        ));
    }
    super::out(&text);
    Ok(exit::OK)
}

fn rm(paths: &Paths, args: SecretRmArgs) -> Result<u8> {
    check_name(&args.scope, &args.name)?;
    let (kc, _config) = keychain(paths)?;
    let existed = kc.delete(&refs::account(&args.scope, &args.name))?;
    let recorded = Store::open(&paths.db_file())?.forget_secret(&args.scope, &args.name)?;
    if !existed && !recorded {
        return Err(UserError::problem(format!(
            "there is no secret {}/{} in {}",
            args.scope,
            args.name,
            kc.describe()
        ))
        .hint("`toolgate secret list` shows the secrets set with toolgate")
        .into());
    }
    super::say(&format!(
        "Deleted the secret {}/{} from {}.",
        args.scope,
        args.name,
        kc.describe()
    ));
    Ok(exit::OK)
}
