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
//! Clients: each IDE or agent whose configuration is found here (user
//! level, and the current folder's project-level files) is checked: does it
//! run this toolgate, and which of its servers bypass it.

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
    check_clients(&mut checks);
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
        crate::profile::registry::State::Active(a) => {
            let meta = crate::profile::registry::Cache::new(paths).meta();
            Check::new(
                "profile",
                "org profile",
                OK,
                format!(
                    "{} serial {}, signature by key {} verified, expires {}, last pull {} ({})",
                    a.profile.org,
                    a.profile.serial,
                    a.key_id,
                    a.profile.expires,
                    meta.last_pull_at.as_deref().unwrap_or("never"),
                    meta.last_pull_result.as_deref().unwrap_or("-"),
                ),
            )
        }
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
    // The slow part (each server starting): a spinner, on a terminal.
    let spinner = crate::progress::Spinner::start(format!(
        "Starting {} server(s) to check them",
        config.servers.len()
    ));
    let rows = super::servers::rows(paths, &config);
    spinner.finish();
    for row in rows? {
        let name = row["name"].as_str().unwrap_or("").to_owned();
        let target = row["target"].as_str().unwrap_or("").to_owned();
        checks.push(match row["state"].as_str() {
            Some("ready") => {
                let mut detail = format!(
                    "{} tool(s), initialize in {} ms, protocol {}",
                    row["tools"].as_u64().unwrap_or(0),
                    row["startup_ms"].as_u64().unwrap_or(0),
                    row["protocol_version"].as_str().unwrap_or("?")
                );
                let drifted: Vec<&str> = row["pins"]["drifted"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                if row["pins"].is_object() {
                    detail.push_str(&format!(
                        ", {} pinned tool(s) match",
                        row["pins"]["pinned"].as_u64().unwrap_or(0)
                    ));
                }
                if drifted.is_empty() {
                    Check::new("upstreams", name, OK, detail)
                } else {
                    detail.push_str(&format!(", drifted from their pins: {}", drifted.join(", ")));
                    Check::new("upstreams", name, WARN, detail).hint(
                        "drifted tools are hidden and refused; the org's admin re-pins them (toolgate profile pin) once the change is reviewed",
                    )
                }
            }
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

/// One check per client found: does its configuration run this toolgate,
/// and which servers bypass it.
fn check_clients(checks: &mut Vec<Check>) {
    use super::install::{found, is_toolgate, read_optional};
    use crate::clients::Client;
    let me = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let cwd = std::env::current_dir().ok();
    let mut files = Vec::new();
    for client in Client::ALL {
        if found(client, None)
            && let Ok(path) = client.config_path(None)
        {
            files.push((client, path));
        }
        if let (true, Some(dir)) = (client.has_project_scope(), &cwd)
            && let Ok(path) = client.config_path(Some(dir))
            && path.is_file()
            && !files.iter().any(|(_, p)| p == &path)
        {
            files.push((client, path));
        }
    }
    if files.is_empty() {
        checks.push(Check::new(
            "clients",
            "IDE configurations",
            UNSET,
            "no MCP client's configuration found on this machine",
        ).hint("toolgate install CLIENT writes toolgate into one (cursor, claude-code, vscode, ...)"));
        return;
    }
    for (client, path) in files {
        let name = format!("{} ({})", client.display_name(), path.display());
        let text = match read_optional(&path) {
            Ok(Some(t)) => t,
            Ok(None) => {
                checks.push(
                    Check::new("clients", name, UNSET, "no MCP configuration yet")
                        .hint(format!("toolgate install {}", client.name())),
                );
                continue;
            }
            Err(e) => {
                checks.push(Check::new("clients", name, FAIL, format!("{e:#}")));
                continue;
            }
        };
        let servers = match crate::clients::read_servers(client, &text) {
            Ok(s) => s,
            Err(e) => {
                checks.push(
                    Check::new("clients", name, FAIL, format!("{e:#}"))
                        .hint("fix the file: the client cannot read it either"),
                );
                continue;
            }
        };
        let (ours, others): (Vec<_>, Vec<_>) = servers.iter().partition(|(_, e)| is_toolgate(e));
        let bypass: Vec<&str> = others
            .iter()
            .filter(|(_, e)| !e.disabled)
            .map(|(n, _)| n.as_str())
            .collect();
        let mut check = match ours.first() {
            None => Check::new("clients", name, UNSET, "toolgate is not installed here")
                .hint(format!("toolgate install {}", client.name())),
            Some((entry_name, entry)) => {
                let cmd = entry.command.clone().unwrap_or_default();
                let target = std::path::Path::new(&cmd).canonicalize().ok();
                if target.is_none() {
                    Check::new(
                        "clients",
                        name,
                        FAIL,
                        format!("entry \"{entry_name}\" runs {cmd}, which does not exist"),
                    )
                    .hint(format!(
                        "toolgate install {} points it at this toolgate",
                        client.name()
                    ))
                } else if target != me {
                    Check::new(
                        "clients",
                        name,
                        WARN,
                        format!("entry \"{entry_name}\" runs another toolgate: {cmd}"),
                    )
                    .hint(format!(
                        "toolgate install {} points it at this one",
                        client.name()
                    ))
                } else {
                    Check::new(
                        "clients",
                        name,
                        OK,
                        format!("entry \"{entry_name}\" runs this toolgate"),
                    )
                }
            }
        };
        if !bypass.is_empty() && check.status != FAIL {
            check.detail.push_str(&format!(
                "; {} server(s) bypass toolgate: {}",
                bypass.len(),
                bypass.join(", ")
            ));
            if check.status == OK {
                check.status = WARN;
            }
            if check.hint.is_none() {
                check.hint = Some(format!(
                    "toolgate import {} --replace puts them behind toolgate",
                    client.name()
                ));
            }
        }
        checks.push(check);
    }
}
