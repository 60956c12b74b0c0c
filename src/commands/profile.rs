//! `toolgate profile keygen|pin|lint|sign|pull|status|show|verify`.
//!
//! `status --json` shape (version 1): `{"version":1,"state":"active"|
//! "missing"|"unmanaged","reason","org","serial","issued","expires",
//! "key_id","source","managed","last_pull_at","last_pull_result","warning"}`
//! (`managed`: the org-managed settings file in effect, or null).
//!
//! `pull --json` (version 1): `{"version":1,"ok","result":"updated"|
//! "unchanged"|"failed","serial","key_id","error","status":STATUS}`, where
//! `serial` is the profile's serial after the pull (null when none),
//! `key_id` the key that signed it where the pull verified a new one,
//! `error` why a failed pull failed, and `status` is what `status --json`
//! prints after the pull. Exit 1 when it failed (the error, with its hint,
//! on stderr too).
//!
//! `show --json` (version 1): `{"version":1,"state","reason","key_id",
//! "source","profile":OBJECT|null,"text":TOML|null}`: `state` and `reason`
//! as in `status --json`, `profile` the verified profile in force as JSON
//! (its TOML keys), `text` its exact signed text. Exit 1 when `state` is
//! `missing`.
//!
//! `lint --json` (version 1): `{"version":1,"file","ok","errors":[TEXT],
//! "warnings":[TEXT]}`. Errors stop signing, warnings do not; exit 1 on
//! an error.
//!
//! `verify --json` (version 1): `{"version":1,"file","signature","ok",
//! "error","key_id","org","serial","issued","expires","expired"}`: `ok` is
//! a good signature by a trusted key on a valid profile that has not
//! expired; otherwise `error` says why (fields it could not learn are
//! null) and the exit status is 1.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::cli::{
    ProfileCommand, ProfileFileArgs, ProfileKeygenArgs, ProfileLintArgs, ProfileSignArgs,
    ProfileStatusArgs, ProfileVerifyArgs,
};
use crate::config::Paths;
use crate::error::{UserError, exit};
use crate::profile::registry::{self, Cache, State};
use crate::profile::sign::{self, TrustedKey};
use crate::profile::{PersonalServers, Profile, UnpinnedTools};
use crate::progress::Spinner;

pub fn run(paths: &Paths, cmd: ProfileCommand) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    match cmd {
        ProfileCommand::Keygen(a) => keygen(a),
        ProfileCommand::Pin(a) => pin(paths, a),
        ProfileCommand::Lint(a) => lint(a),
        ProfileCommand::Sign(a) => sign_file(a),
        ProfileCommand::Pull(a) => pull(paths, a.json),
        ProfileCommand::Status(a) => status(paths, a),
        ProfileCommand::Show(a) => show(paths, a.json),
        ProfileCommand::Verify(a) => verify(paths, a),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| unreadable(path, e).into())
}

fn unreadable(path: &Path, e: std::io::Error) -> UserError {
    UserError::new(format!("could not read {}: {e}", path.display()))
        .hint("check the path, and that you may read the file")
}

/// A password: TOOLGATE_KEY_PASSWORD, else asked on the terminal.
fn password(prompt: &str, twice: bool) -> Result<String> {
    if let Ok(p) = std::env::var("TOOLGATE_KEY_PASSWORD") {
        return Ok(p);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(UserError::new(
            "the key needs a password, and there is no terminal to ask it on",
        )
        .hint("set TOOLGATE_KEY_PASSWORD, or make a key with --unencrypted for unattended signing")
        .into());
    }
    let first = super::secret::ask_hidden(prompt)?;
    if twice {
        let second = super::secret::ask_hidden("The same password again: ")?;
        if first != second {
            return Err(UserError::new("the passwords differ; nothing was written")
                .hint("run it again and type the same password twice")
                .into());
        }
    }
    if first.is_empty() {
        return Err(UserError::new("an empty password protects nothing")
            .hint("use --unencrypted if you mean it")
            .into());
    }
    Ok(first)
}

fn keygen(a: ProfileKeygenArgs) -> Result<u8> {
    let pub_path = a.out.with_extension("pub");
    for p in [&a.out, &pub_path] {
        if p.exists() && !a.force {
            return Err(UserError::new(format!("{} exists; not replacing a key", p.display()))
                .hint("pass --force to replace it (signatures made with the old key stop verifying)")
                .into());
        }
    }
    let pw = if a.unencrypted {
        None
    } else {
        Some(password("Password for the new secret key: ", true)?)
    };
    let (pk, sk, id) = sign::keygen(pw).map_err(UserError::problem)?;
    crate::config::paths::write_private_file(&a.out, sk.as_bytes())?;
    std::fs::write(&pub_path, pk.as_bytes())
        .map_err(|e| UserError::problem(format!("could not write {}: {e}", pub_path.display())))?;
    let line = sign::public_line(&pk).map_err(UserError::problem)?;
    super::say(&format!(
        "Wrote the secret key {} ({}) and the public key {} (key id {id}).\nDevelopers trust it with, in config.toml or the org-managed file:\n  [registry]\n  keys = [\"{line}\"]",
        a.out.display(),
        if a.unencrypted {
            "not encrypted"
        } else {
            "password-protected"
        },
        pub_path.display()
    ));
    super::out(&line);
    Ok(exit::OK)
}

fn sign_file(a: ProfileSignArgs) -> Result<u8> {
    let text = read(&a.file)?;
    let profile = Profile::parse(&text).map_err(|e| {
        UserError::new(format!("{}: {e}", a.file.display()))
            .hint("fix it (toolgate profile lint shows every problem); nothing was signed")
    })?;
    let sk = read(&a.key)?;
    let encrypted = sign::secret_key_encrypted(&sk).map_err(|e| {
        UserError::new(format!("{}: {e}", a.key.display())).hint(
            "--key takes the secret key made by `toolgate profile keygen` or `minisign -G`, not the .pub file",
        )
    })?;
    let pw = if encrypted {
        Some(password("Password of the secret key: ", false)?)
    } else {
        None
    };
    let comment = format!(
        "toolgate profile org={} serial={}",
        profile.org, profile.serial
    );
    let sig = sign::sign(text.as_bytes(), &sk, pw, &comment).map_err(UserError::problem)?;
    let sig_path = sig_path(&a.file);
    std::fs::write(&sig_path, sig.as_bytes())
        .map_err(|e| UserError::problem(format!("could not write {}: {e}", sig_path.display())))?;
    super::say(&format!(
        "Signed {} (org {}, serial {}): {}",
        a.file.display(),
        profile.org,
        profile.serial,
        sig_path.display()
    ));
    Ok(exit::OK)
}

fn sig_path(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".minisig");
    PathBuf::from(s)
}

/// Problems `lint` finds: errors stop signing, warnings do not.
fn lint_text(text: &str) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let profile = match Profile::parse(text) {
        Ok(p) => p,
        Err(e) => {
            errors.push(e);
            return (errors, warnings);
        }
    };
    let now = crate::auth::now_secs();
    if !profile.in_force(now) {
        errors.push(format!("it expired at {}", profile.expires));
    } else if profile
        .time_left(now)
        .is_some_and(|d| d.as_secs() < 14 * 86_400)
    {
        warnings.push(format!("it expires soon, at {}", profile.expires));
    }
    if profile.settings.personal_servers == PersonalServers::Allow {
        warnings.push(
            "settings.personal_servers = \"allow\": users may run servers nobody approved".into(),
        );
    }
    if profile.settings.unpinned_tools == UnpinnedTools::Allow {
        warnings.push(
            "settings.unpinned_tools = \"allow\": tools nobody reviewed reach the agent".into(),
        );
    }
    if profile.servers.is_empty() {
        warnings.push("no servers: nothing may run".into());
    }
    for (name, s) in &profile.servers {
        if s.tools.is_empty() {
            errors.push(format!(
                "servers.{name} has no pinned tools: run toolgate profile pin"
            ));
        }
        if s.trusted && s.owner.is_none() {
            warnings.push(format!("servers.{name} is trusted but names no owner"));
        }
        if let Some(cmd) = &s.command {
            let base = Path::new(cmd)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(cmd);
            if matches!(base, "npx" | "bunx" | "pnpx" | "uvx" | "pipx") {
                let pinned = s.args.iter().any(|a| {
                    !a.starts_with('-')
                        && (a.contains("==")
                            || a.rfind('@').is_some_and(|i| {
                                i > 0
                                    && a[i + 1..]
                                        .chars()
                                        .next()
                                        .is_some_and(|c| c.is_ascii_digit())
                            }))
                });
                if !pinned {
                    warnings.push(format!(
                        "servers.{name} runs a package with {base} without a pinned version (such as pkg@1.2.3 or pkg==1.2.3): a new release could change its tools"
                    ));
                }
            }
        }
        for (k, v) in s.env.iter().chain(s.headers.iter()) {
            if crate::secrets::refs::env_is_plain_secret(k, v)
                || crate::secrets::refs::looks_like_token(v)
            {
                errors.push(format!("servers.{name}: {k} holds what looks like a secret; profiles are public, use ${{secret:NAME}}"));
            }
        }
    }
    (errors, warnings)
}

fn lint(a: ProfileLintArgs) -> Result<u8> {
    let text = read(&a.file)?;
    let (errors, warnings) = lint_text(&text);
    let code = if errors.is_empty() {
        exit::OK
    } else {
        exit::PROBLEM
    };
    if a.json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "file": a.file.display().to_string(),
            "ok": errors.is_empty(),
            "errors": errors,
            "warnings": warnings,
        }))?);
        return Ok(code);
    }
    let mut out = String::new();
    for e in &errors {
        out.push_str(&format!("error: {e}\n"));
    }
    for w in &warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    if errors.is_empty() && warnings.is_empty() {
        out.push_str("ok\n");
    }
    super::out(&out);
    Ok(code)
}

fn pin(paths: &Paths, a: ProfileFileArgs) -> Result<u8> {
    let text = read(&a.file)?;
    let loose: Profile = toml::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "{} is not a valid profile: {}",
            a.file.display(),
            e.to_string().trim_end()
        ))
        .hint("fix the line shown above (toolgate profile lint shows every problem); nothing was pinned")
    })?;
    // The admin's own secrets (for servers that need keys to start).
    let _ = super::load_user(paths);
    let mut config = crate::config::Config::default();
    for (name, s) in &loose.servers {
        config.servers.insert(name.clone(), s.server_config());
    }
    config.serve.list_wait = crate::util::ConfigDuration(std::time::Duration::from_secs(60));
    let rt = super::runtime()?;
    let spinner = Spinner::start(format!(
        "Starting {} server(s) to pin their tools",
        config.servers.len()
    ));
    let found = rt.block_on(async {
        let manager = super::connect(&config, |_| true).await;
        let found: Vec<_> = manager
            .upstreams()
            .iter()
            .map(|u| {
                let live = u.live();
                (
                    u.name.to_string(),
                    live.as_ref().map(|l| l.init.instructions.clone()),
                    u.tools(),
                    u.unavailable_reason(),
                )
            })
            .collect();
        manager.shutdown().await;
        found
    });
    spinner.finish();
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| UserError::new(format!("{}: {e}", a.file.display())))?;
    let mut failed = Vec::new();
    for (name, instructions, tools, reason) in found {
        let Some(instructions) = instructions else {
            failed.push(format!("{name}: {reason}"));
            continue;
        };
        let server = doc["servers"][name.as_str()]
            .as_table_mut()
            .ok_or_else(|| UserError::new(format!("servers.{name} is not a table")))?;
        match &instructions {
            Some(text) => {
                let p = crate::profile::pin::pin(&serde_json::to_string(text)?)
                    .map_err(UserError::problem)?;
                server["instructions"] = toml_edit::value(p);
            }
            None => {
                server.remove("instructions");
            }
        }
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        for tool in tools.iter() {
            let definition = tool.raw.get();
            let p = crate::profile::pin::pin(definition).map_err(UserError::problem)?;
            let mut t = toml_edit::Table::new();
            t["pin"] = toml_edit::value(p);
            t["definition"] = toml_edit::value(definition);
            table.insert(&tool.name, toml_edit::Item::Table(t));
        }
        server.insert("tools", toml_edit::Item::Table(table));
        super::say(&format!("{name}: pinned {} tools", tools.len()));
    }
    crate::config::paths::write_private_file(&a.file, doc.to_string().as_bytes())?;
    if !failed.is_empty() {
        for f in &failed {
            super::say(&format!("error: could not pin {f}"));
        }
        return Ok(exit::PROBLEM);
    }
    Ok(exit::OK)
}

fn pull(paths: &Paths, as_json: bool) -> Result<u8> {
    let config = super::load_user(paths)?.config;
    let rt = super::runtime()?;
    let spinner = Spinner::start(match &config.registry.url {
        Some(url) => format!("Pulling the profile from {url}"),
        None => "Pulling the profile".to_string(),
    });
    let pulled = rt.block_on(registry::pull(paths, &config));
    spinner.finish();
    let failed = |e: &str| -> anyhow::Error {
        UserError::problem(format!("the profile was not updated: {e}"))
            .hint(if config.registry.url.is_none() {
                "your org's toolgate admins give the [registry] url and keys to put in config.toml"
            } else {
                "the profile in force stays as it was (toolgate profile status)"
            })
            .into()
    };
    if as_json {
        let (status, _) = status_doc(paths, &config);
        let (result, serial, key_id, error) = match &pulled {
            Ok(registry::Pulled::Updated { serial, key_id }) => {
                ("updated", Some(*serial), Some(key_id.clone()), None)
            }
            Ok(registry::Pulled::Unchanged { serial }) => ("unchanged", *serial, None, None),
            Err(e) => ("failed", status["serial"].as_u64(), None, Some(e.clone())),
        };
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "ok": error.is_none(),
            "result": result,
            "serial": serial,
            "key_id": key_id,
            "error": error,
            "status": status,
        }))?);
        return match pulled {
            Ok(_) => Ok(exit::OK),
            Err(e) => Err(failed(&e)),
        };
    }
    match pulled {
        Ok(registry::Pulled::Updated { serial, key_id }) => {
            super::say(&format!(
                "Pulled and verified the profile: serial {serial}, signed by key {key_id}."
            ));
            Ok(exit::OK)
        }
        Ok(registry::Pulled::Unchanged { serial }) => {
            super::say(&format!(
                "The profile is unchanged{}.",
                serial.map(|s| format!(" (serial {s})")).unwrap_or_default()
            ));
            Ok(exit::OK)
        }
        Err(e) => Err(failed(&e)),
    }
}

/// What `status --json` prints, and the state it describes.
fn status_doc(paths: &Paths, config: &crate::config::Config) -> (serde_json::Value, State) {
    let state = registry::load(paths, config);
    let meta = Cache::new(paths).meta();
    let now = crate::auth::now_secs();
    let warn_before = config
        .registry
        .warn_before
        .map_or(7 * 86_400, |d| d.0.as_secs() as i64);
    let mut doc = json!({
        "version": 1,
        "managed": config.registry.managed.as_ref().map(|p| p.display().to_string()),
        "source": meta.source,
        "last_pull_at": meta.last_pull_at,
        "last_pull_result": meta.last_pull_result,
        "key_id": null, "org": null, "serial": null, "issued": null, "expires": null,
        "reason": null, "warning": null,
    });
    match &state {
        State::Unmanaged => doc["state"] = "unmanaged".into(),
        State::Missing(why) => {
            doc["state"] = "missing".into();
            doc["reason"] = why.clone().into();
        }
        State::Active(a) => {
            doc["state"] = "active".into();
            doc["org"] = a.profile.org.clone().into();
            doc["serial"] = a.profile.serial.into();
            doc["issued"] = a.profile.issued.clone().into();
            doc["expires"] = a.profile.expires.clone().into();
            doc["key_id"] = a.key_id.clone().into();
            let expires = crate::profile::parse_time(&a.profile.expires).unwrap_or(0);
            if expires <= now {
                doc["warning"] = format!(
                    "expired at {}; in force for its grace period only",
                    a.profile.expires
                )
                .into();
            } else if expires - now < warn_before {
                let left = expires - now;
                let when = match (left / 86_400, left / 3_600) {
                    (0, 0) => "under an hour".to_owned(),
                    (0, 1) => "1 hour".to_owned(),
                    (0, h) => format!("{h} hours"),
                    (1, _) => "1 day".to_owned(),
                    (d, _) => format!("{d} days"),
                };
                doc["warning"] = format!("expires in {when}, at {}", a.profile.expires).into();
            }
        }
    }
    (doc, state)
}

fn status(paths: &Paths, a: ProfileStatusArgs) -> Result<u8> {
    let config = super::load_user(paths)?.config;
    let (doc, state) = status_doc(paths, &config);
    let meta = Cache::new(paths).meta();
    if a.json {
        super::out(&serde_json::to_string_pretty(&doc)?);
        return Ok(exit::OK);
    }
    let mut text = String::new();
    match &state {
        State::Unmanaged => text.push_str("No org profile: no [registry] is configured.\n"),
        State::Missing(why) => text.push_str(&format!("No org profile in force: {why}\n")),
        State::Active(a) => text.push_str(&format!(
            "org       {}\nserial    {}\nissued    {}\nexpires   {}\nkey id    {}\n",
            a.profile.org, a.profile.serial, a.profile.issued, a.profile.expires, a.key_id
        )),
    }
    if let Some(s) = &meta.source {
        text.push_str(&format!("source    {s}\n"));
    }
    if let Some(m) = &config.registry.managed {
        text.push_str(&format!(
            "managed   {} (the org's settings; config.toml cannot override them)\n",
            m.display()
        ));
    }
    if let (Some(at), Some(r)) = (&meta.last_pull_at, &meta.last_pull_result) {
        text.push_str(&format!("last pull {at}: {r}\n"));
    }
    if let Some(w) = doc["warning"].as_str() {
        text.push_str(&format!("warning: {w}\n"));
    }
    super::out(&text);
    Ok(match state {
        State::Missing(_) => exit::PROBLEM,
        _ => exit::OK,
    })
}

fn not_in_force(why: &str) -> anyhow::Error {
    UserError::problem(format!("no org profile is in force: {why}"))
        .hint("run `toolgate profile pull`; `toolgate profile status` says more")
        .into()
}

fn show(paths: &Paths, as_json: bool) -> Result<u8> {
    let config = super::load_user(paths)?.config;
    let state = registry::load(paths, &config);
    let text = match &state {
        State::Active(_) => {
            let (data, _) = Cache::new(paths).files().ok_or_else(|| {
                UserError::problem("the cached profile is gone")
                    .hint("run `toolgate profile pull` to fetch it again")
            })?;
            Some(String::from_utf8_lossy(&data).into_owned())
        }
        _ => None,
    };
    if as_json {
        let mut doc = json!({
            "version": 1,
            "state": null, "reason": null, "key_id": null, "source": null,
            "profile": null, "text": text,
        });
        match &state {
            State::Unmanaged => doc["state"] = "unmanaged".into(),
            State::Missing(why) => {
                doc["state"] = "missing".into();
                doc["reason"] = why.clone().into();
            }
            State::Active(a) => {
                doc["state"] = "active".into();
                doc["key_id"] = a.key_id.clone().into();
                doc["source"] = a.source.clone().into();
                doc["profile"] = serde_json::to_value(&a.profile)?;
            }
        }
        super::out(&serde_json::to_string_pretty(&doc)?);
        return Ok(match state {
            State::Missing(_) => exit::PROBLEM,
            _ => exit::OK,
        });
    }
    match (state, text) {
        (State::Active(_), Some(text)) => {
            super::out(&text);
            Ok(exit::OK)
        }
        (State::Missing(why), _) => Err(not_in_force(&why)),
        _ => {
            super::say("No org profile: no [registry] is configured.");
            Ok(exit::OK)
        }
    }
}

fn verify(paths: &Paths, a: ProfileVerifyArgs) -> Result<u8> {
    let data = std::fs::read(&a.file).map_err(|e| unreadable(&a.file, e))?;
    let sig_file = a.sig.clone().unwrap_or_else(|| sig_path(&a.file));
    let sig = read(&sig_file).map_err(|e| {
        if a.sig.is_none() && !sig_file.exists() {
            UserError::new(format!(
                "{} has no signature beside it ({} does not exist)",
                a.file.display(),
                sig_file.display()
            ))
            .hint("sign it with `toolgate profile sign`, or name the signature with --sig")
            .into()
        } else {
            e
        }
    })?;
    let keys = match &a.key {
        Some(k) => {
            let text = if Path::new(k).exists() {
                read(Path::new(k))?
            } else {
                k.clone()
            };
            vec![TrustedKey::parse(&text).map_err(|e| {
                UserError::new(e).hint(
                    "--key takes a public key: the base64 line `toolgate profile keygen` printed, or its .pub file",
                )
            })?]
        }
        None => {
            let config = super::load_user(paths)?.config;
            registry::trusted_keys(&config.registry, &Cache::new(paths).meta()).map_err(|e| {
                UserError::new(e).hint("fix [registry] keys in config.toml, or pass --key")
            })?
        }
    };
    if keys.is_empty() {
        return Err(UserError::new(
            "no trusted keys: set [registry] keys in config.toml, or pass --key",
        )
        .hint("toolgate profile verify FILE --key org.pub")
        .into());
    }
    let mut doc = json!({
        "version": 1,
        "file": a.file.display().to_string(),
        "signature": sig_file.display().to_string(),
        "ok": false, "error": null, "key_id": null, "org": null, "serial": null,
        "issued": null, "expires": null, "expired": null,
    });
    let checked = sign::verify(&data, &sig, &keys)
        .map_err(|e| {
            UserError::problem(format!("{}: {e}", a.file.display())).hint(
                "the signature must be made over exactly this file with a trusted key (toolgate profile sign); --key names another key to trust",
            )
        })
        .and_then(|verified| {
            doc["key_id"] = verified.key_id.clone().into();
            let text = std::str::from_utf8(&data).map_err(|_| {
                UserError::problem("the profile is not UTF-8")
                    .hint("the signer must save it as UTF-8 and sign it again")
            })?;
            let profile = Profile::parse(text).map_err(|e| {
                UserError::problem(format!(
                    "{}: the signature is good, but {e}",
                    a.file.display()
                ))
                .hint("the signer must fix it (toolgate profile lint) and sign it again")
            })?;
            Ok((verified, profile))
        });
    let (verified, profile) = match checked {
        Ok(v) => v,
        Err(e) => {
            if a.json {
                doc["error"] = e.message.clone().into();
                super::out(&serde_json::to_string_pretty(&doc)?);
            }
            return Err(e.into());
        }
    };
    let expired = !profile.in_force(crate::auth::now_secs());
    if a.json {
        doc["ok"] = (!expired).into();
        doc["org"] = profile.org.clone().into();
        doc["serial"] = profile.serial.into();
        doc["issued"] = profile.issued.clone().into();
        doc["expires"] = profile.expires.clone().into();
        doc["expired"] = expired.into();
        if expired {
            doc["error"] = format!("it expired at {}", profile.expires).into();
        }
        super::out(&serde_json::to_string_pretty(&doc)?);
        return Ok(if expired { exit::PROBLEM } else { exit::OK });
    }
    super::say(&format!(
        "Good signature by key {} on the profile of {} (serial {}, expires {}){}.",
        verified.key_id,
        profile.org,
        profile.serial,
        profile.expires,
        if expired { "; it has EXPIRED" } else { "" }
    ));
    Ok(if expired { exit::PROBLEM } else { exit::OK })
}
