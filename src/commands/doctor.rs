//! `toolgate doctor [--json]`: is everything healthy, and what to fix.
//!
//! A checklist: the binary, the config, the org profile, the keychain, each
//! upstream (started the way `serve` starts it), the approval sockets and
//! the audit trail. Each check is `ok`, `fail` (with a `hint`), `warn`, or
//! `not configured` (what the user has not set up is not a failure). Exit 1
//! only when something configured is broken.
//!
//! JSON shape (version 1): `{"version":1,"ok","checks":[{"area","name",
//! "status","detail","hint"}]}`.
//!
//! Not checked yet: the IDE clients' own configs (that comes with `toolgate
//! install`); the check says so.

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use crate::cli::DoctorArgs;
use crate::config::{Config, Paths};
use crate::error::exit;

#[derive(Debug, Serialize)]
struct Check {
    area: &'static str,
    name: String,
    status: &'static str,
    detail: String,
    hint: Option<String>,
}

impl Check {
    fn new(
        area: &'static str,
        name: impl Into<String>,
        status: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            area,
            name: name.into(),
            status,
            detail: detail.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

const OK: &str = "ok";
const FAIL: &str = "fail";
const WARN: &str = "warn";
const UNSET: &str = "not configured";

pub fn run(paths: &Paths, args: DoctorArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "error");
    let mut checks = vec![Check::new(
        "toolgate",
        "binary",
        OK,
        format!(
            "toolgate {} at {}",
            env!("CARGO_PKG_VERSION"),
            std::env::current_exe().map_or_else(|_| "?".into(), |p| p.display().to_string())
        ),
    )];
    match Config::load(paths) {
        Err(e) => checks.push(
            Check::new("config", "config.toml", FAIL, format!("{e:#}"))
                .hint("fix the line named above in config.toml"),
        ),
        Ok(loaded) => {
            checks.push(match &loaded.source {
                crate::config::Source::File(p) => Check::new(
                    "config",
                    "config.toml",
                    OK,
                    format!(
                        "{} ({} server(s))",
                        p.display(),
                        loaded.config.servers.len()
                    ),
                ),
                crate::config::Source::Embedded => Check::new(
                    "config",
                    "config.toml",
                    UNSET,
                    format!(
                        "{} does not exist: serve runs the embedded default",
                        paths.config_file.display()
                    ),
                )
                .hint("add a server: toolgate add NAME -- COMMAND [ARGS...]"),
            });
            check_rest(paths, &loaded.config, &mut checks)?;
        }
    }
    checks.push(Check::new(
        "clients",
        "IDE configurations",
        "skipped",
        "not checked yet: toolgate install, which writes them, is not built",
    ));
    let ok = !checks.iter().any(|c| c.status == FAIL);
    if args.json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "ok": ok,
            "checks": checks,
        }))?);
    } else {
        let mut text = String::new();
        for c in &checks {
            let mark = match c.status {
                OK => "ok  ",
                FAIL => "FAIL",
                WARN => "warn",
                _ => "--  ",
            };
            text.push_str(&format!("{mark}  {}: {}: {}\n", c.area, c.name, c.detail));
            if let Some(h) = &c.hint
                && c.status != OK
            {
                text.push_str(&format!("      hint: {h}\n"));
            }
        }
        text.push_str(if ok {
            "\nEverything configured works."
        } else {
            "\nSomething configured is broken: see FAIL above."
        });
        super::out(&text);
    }
    Ok(if ok { exit::OK } else { exit::PROBLEM })
}

fn check_rest(paths: &Paths, user: &Config, checks: &mut Vec<Check>) -> Result<()> {
    // The org profile.
    let state = crate::profile::registry::load(paths, user);
    checks.push(match &state {
        crate::profile::registry::State::Unmanaged => {
            Check::new("profile", "org profile", UNSET, "no registry is configured")
        }
        crate::profile::registry::State::Active(a) => Check::new(
            "profile",
            "org profile",
            OK,
            format!(
                "{} serial {}, expires {}",
                a.profile.org, a.profile.serial, a.profile.expires
            ),
        ),
        crate::profile::registry::State::Missing(why) => {
            Check::new("profile", "org profile", FAIL, why.clone())
                .hint("run `toolgate profile pull`; `toolgate profile status` says more")
        }
    });
    // The config in effect (the org's servers, where a profile is in force).
    let loaded = super::load(paths)?;
    let config = loaded.config;

    // The keychain.
    let needs_keychain = config.servers.values().any(|s| {
        s.oauth.is_some()
            || s.env
                .values()
                .chain(s.headers.values())
                .any(|v| v.contains("${secret:"))
    });
    let vault = crate::secrets::Vault::new(paths.clone(), config.keychain);
    checks.push(match vault.keychain() {
        Ok(kc) => Check::new("keychain", "OS keychain", OK, kc.describe()),
        Err(e) => {
            let c = Check::new(
                "keychain",
                "OS keychain",
                if needs_keychain { FAIL } else { WARN },
                e.message.clone(),
            );
            match e.hint {
                Some(h) => c.hint(h),
                None => c,
            }
        }
    });

    // Each upstream, started as serve starts it.
    if config.servers.is_empty() {
        checks.push(Check::new(
            "upstreams",
            "servers",
            UNSET,
            "no servers configured",
        ));
    }
    for row in super::servers::rows(paths, &config)? {
        let name = row["name"].as_str().unwrap_or("").to_owned();
        let target = row["target"].as_str().unwrap_or("").to_owned();
        checks.push(match row["state"].as_str() {
            Some("ready") => Check::new(
                "upstreams",
                name,
                OK,
                format!(
                    "{} tool(s), initialize in {} ms, protocol {}",
                    row["tools"].as_u64().unwrap_or(0),
                    row["startup_ms"].as_u64().unwrap_or(0),
                    row["protocol_version"].as_str().unwrap_or("?")
                ),
            ),
            Some("disabled") => Check::new("upstreams", name, UNSET, "disabled in config.toml"),
            Some("needs_login") => Check::new(
                "upstreams",
                name.clone(),
                FAIL,
                row["error"].as_str().unwrap_or("needs a login").to_owned(),
            )
            .hint(format!("run `toolgate login {name}`")),
            _ => Check::new(
                "upstreams",
                name,
                FAIL,
                row["error"].as_str().unwrap_or("did not start").to_owned(),
            )
            .hint(format!("run it by hand to see why: {target}")),
        });
    }

    // The approval sockets of running serve processes.
    let live = crate::approve::client::sockets(&super::approve::socket_dir(paths))
        .iter()
        .filter(|(_, path)| std::os::unix::net::UnixStream::connect(path).is_ok())
        .count();
    checks.push(Check::new(
        "approvals",
        "approval sockets",
        OK,
        if live == 0 {
            "no serve is running; `toolgate approve` will find each one that starts".to_string()
        } else {
            format!("{live} serve process(es) offer held calls to `toolgate approve`")
        },
    ));

    // The audit trail.
    if !config.audit.enabled {
        checks.push(Check::new(
            "audit",
            "audit trail",
            UNSET,
            "off ([audit] enabled = false)",
        ));
        return Ok(());
    }
    let db = paths.state_dir.join("audit.db");
    match crate::audit::writer::open_db(&db, false) {
        Err(e) => checks.push(
            Check::new("audit", "audit trail", FAIL, format!("{e:#}"))
                .hint("free disk space or repair toolgate's state folder: calls are denied while it cannot be written"),
        ),
        Ok(conn) => {
            let records: i64 = conn
                .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
                .unwrap_or(0);
            checks.push(Check::new(
                "audit",
                "audit trail",
                OK,
                format!("{} ({records} record(s) kept)", db.display()),
            ));
            let states = crate::audit::upload::states(&conn).unwrap_or_default();
            if config.audit.sinks.is_empty() {
                checks.push(Check::new(
                    "audit",
                    "upload",
                    UNSET,
                    "no sink: records stay on this machine, rotated by size and age",
                ));
            }
            for name in config.audit.sinks.keys() {
                let st = states.iter().find(|s| &s.sink == name);
                checks.push(match st.and_then(|s| s.last_error.clone()) {
                    Some(e) => Check::new("audit", format!("sink {name}"), FAIL, e)
                        .hint("see `toolgate audit status`; `toolgate audit flush` tries again now"),
                    None => Check::new(
                        "audit",
                        format!("sink {name}"),
                        OK,
                        match st.and_then(|s| s.last_ok_ms) {
                            Some(ms) => format!("last upload {}", crate::audit::rfc3339_micros(ms * 1000)),
                            None => "nothing uploaded yet".to_string(),
                        },
                    ),
                });
            }
        }
    }
    Ok(())
}
