//! `toolgate login NAME`, `toolgate logout NAME`, `toolgate auth status`.
//!
//! `auth status --json` shape (version 1):
//! `{"version":1,"servers":[{"name","url","logged_in","issuer","client_id",
//! "scopes":[...],"expires_at":RFC3339|null,"expired":bool,"refreshable":bool,
//! "error":null|TEXT}]}`, one entry per remote server in config.toml. Never
//! a token.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::auth::flow::Browser;
use crate::auth::{FlowLock, LoginRequest, Logins, now_secs};
use crate::cli::{AuthStatusArgs, LoginArgs, LogoutArgs};
use crate::config::{Config, Paths, ServerConfig};
use crate::error::{UserError, exit};
use crate::progress::Spinner;
use crate::secrets::Vault;

fn remote<'a>(config: &'a Config, name: &str) -> Result<(&'a ServerConfig, reqwest::Url)> {
    let Some(server) = config.servers.get(name) else {
        return Err(
            UserError::new(format!("no server named \"{name}\" in config.toml"))
                .hint("`toolgate servers` lists the configured servers")
                .into(),
        );
    };
    let Some(url) = &server.url else {
        return Err(UserError::new(format!(
            "\"{name}\" is a stdio server; logins are for remote (url) servers"
        ))
        .hint(format!(
            "give it its keys with `toolgate secret set {name} NAME`"
        ))
        .into());
    };
    let url = reqwest::Url::parse(url).map_err(|e| {
        UserError::new(format!("servers.{name}.url is invalid: {e}"))
            .hint(format!("fix servers.{name}.url in config.toml: the server's MCP endpoint, such as https://example.com/mcp"))
    })?;
    Ok((server, url))
}

fn vault(paths: &Paths, config: &Config) -> Vault {
    Vault::new(paths.clone(), config.keychain)
}

pub fn login(paths: &Paths, args: LoginArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    let (server, url) = remote(&config, &args.name)?;
    let timeout = crate::util::parse_duration(&args.timeout)
        .map_err(|e| UserError::new(format!("--timeout: {e}")).hint("such as --timeout 10m"))?;
    let vault = vault(paths, &config);
    vault.keychain()?;
    let logins = Logins {
        paths,
        vault: &vault,
    };
    let mut oauth = server.oauth.clone().unwrap_or_default();
    if !args.scopes.is_empty() {
        oauth
            .scopes
            .get_or_insert_with(Vec::new)
            .extend(args.scopes.iter().cloned());
    }
    // One login per server across processes: wait for a flow another
    // process runs, then use what it got if it is fresh.
    // (Compared by the token itself: a clock second is too coarse.)
    let before = logins
        .load(&args.name)
        .ok()
        .flatten()
        .map(|(_, t)| t.access_token);
    let waiting = Spinner::start(format!(
        "Waiting for another toolgate's login to \"{}\" to finish",
        args.name
    ));
    let _lock = FlowLock::acquire(paths, &args.name).map_err(UserError::problem)?;
    waiting.finish();
    if let Ok(Some((rec, tokens))) = logins.load(&args.name)
        && before.as_ref() != Some(&tokens.access_token)
        && !tokens.expiring()
    {
        super::say(&format!(
            "Logged in to \"{}\" by another toolgate process meanwhile (issuer {}).",
            args.name, rec.issuer
        ));
        return Ok(exit::OK);
    }
    let previous = logins
        .record(&args.name)
        .ok()
        .flatten()
        .and_then(|r| r.scope);
    let rt = super::runtime()?;
    let spinner = Spinner::start(format!("Asking \"{}\" how to log in", args.name));
    let tell = |text: &str| spinner.say(text);
    let on_url = |_: &str| {
        spinner.set_message(if args.no_browser {
            "Waiting for the login at the URL above"
        } else {
            "Waiting for the login in the browser"
        })
    };
    let tokens = rt
        .block_on(crate::auth::login(
            &logins,
            LoginRequest {
                server: &args.name,
                url: &url,
                config: Some(&oauth),
                challenge: None,
                browser: if args.no_browser {
                    Browser::PrintOnly
                } else {
                    Browser::Open
                },
                timeout: if timeout.is_zero() {
                    Duration::from_secs(300)
                } else {
                    timeout
                },
                tell: &tell,
                on_url: Some(&on_url),
            },
            previous.as_deref(),
        ))
        .map_err(|e| {
            UserError::problem(format!("could not log in to \"{}\": {e}", args.name)).hint(format!(
                "run `toolgate login {}` again (--timeout 10m gives more time, --no-browser prints the URL to open yourself); TOOLGATE_LOG=debug shows each step",
                args.name
            ))
        });
    spinner.finish();
    let tokens = tokens?;
    super::say(&format!(
        "Logged in to \"{}\" (issuer {}, scopes: {}). The tokens are in {}.",
        args.name,
        tokens.issuer,
        tokens.scope.as_deref().unwrap_or("none named"),
        vault.keychain()?.describe()
    ));
    crate::audit::record_from_command(
        paths,
        &config.audit,
        "login",
        Some(&args.name),
        tokens.subject.clone(),
        serde_json::json!({"issuer": tokens.issuer, "scope": tokens.scope}),
    );
    Ok(exit::OK)
}

pub fn logout(paths: &Paths, args: LogoutArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    remote(&config, &args.name)?;
    let vault = vault(paths, &config);
    vault.keychain()?;
    let logins = Logins {
        paths,
        vault: &vault,
    };
    let _lock = FlowLock::acquire(paths, &args.name).map_err(UserError::problem)?;
    let Some(rec) = logins.record(&args.name).map_err(UserError::problem)? else {
        super::say(&format!(
            "Not logged in to \"{}\"; nothing to forget.",
            args.name
        ));
        return Ok(exit::OK);
    };
    let loaded = logins.load(&args.name).ok().flatten();
    if let (Some(endpoint), Some((_, tokens))) = (&rec.revocation_endpoint, &loaded) {
        let client = logins.client_of(&rec).map_err(UserError::problem)?;
        let rt = super::runtime()?;
        rt.block_on(async {
            if let Some(rt) = &tokens.refresh_token {
                match crate::auth::flow::revoke(endpoint, &client, rt, "refresh_token").await {
                    Ok(()) => super::say("Revoked the refresh token."),
                    Err(e) => super::say(&format!(
                        "Could not revoke the refresh token ({e}); forgetting it anyway."
                    )),
                }
            }
            if let Err(e) =
                crate::auth::flow::revoke(endpoint, &client, &tokens.access_token, "access_token")
                    .await
            {
                tracing::info!("the access token was not revoked: {e}");
            }
        });
    }
    logins.forget(&rec).map_err(UserError::problem)?;
    super::say(&format!(
        "Logged out of \"{}\": its tokens are gone from the keychain.",
        args.name
    ));
    crate::audit::record_from_command(
        paths,
        &config.audit,
        "logout",
        Some(&args.name),
        loaded.and_then(|(_, t)| t.subject),
        serde_json::json!({}),
    );
    Ok(exit::OK)
}

pub fn status(paths: &Paths, args: AuthStatusArgs) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    let config = super::load(paths)?.config;
    let vault = vault(paths, &config);
    let logins = Logins {
        paths,
        vault: &vault,
    };
    let mut rows = Vec::new();
    for (name, server) in &config.servers {
        let Some(url) = &server.url else { continue };
        let rec = logins.record(name).map_err(UserError::problem)?;
        let (logged_in, error) = match &rec {
            None => (false, None),
            Some(_) => match logins.load(name) {
                Ok(Some(_)) => (true, None),
                Ok(None) => (
                    false,
                    Some(
                        "the tokens are missing from the keychain; run toolgate login again"
                            .to_string(),
                    ),
                ),
                Err(e) => (false, Some(e)),
            },
        };
        let expires_at = rec.as_ref().and_then(|r| r.expires_at);
        rows.push(json!({
            "name": name,
            "url": url,
            "logged_in": logged_in,
            "issuer": rec.as_ref().map(|r| r.issuer.clone()),
            "client_id": rec.as_ref().map(|r| r.client_id.clone()),
            "scopes": rec.as_ref().and_then(|r| r.scope.clone()).map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()).unwrap_or_default(),
            "expires_at": expires_at.map(crate::util::rfc3339),
            "expired": expires_at.is_some_and(|at| at <= now_secs()),
            "refreshable": rec.as_ref().is_some_and(|r| r.refreshable),
            "error": error,
        }));
    }
    if args.json {
        super::out(&serde_json::to_string_pretty(
            &json!({"version": 1, "servers": rows}),
        )?);
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        super::say("No remote servers in config.toml.");
        return Ok(exit::OK);
    }
    let mut text = String::new();
    for r in &rows {
        let name = r["name"].as_str().unwrap_or_default();
        if r["logged_in"] == true {
            let expiry = match (
                r["expires_at"].as_str(),
                r["expired"] == true,
                r["refreshable"] == true,
            ) {
                (Some(at), true, true) => format!("expired {at}, refreshes on next use"),
                (Some(at), true, false) => format!("expired {at}: run toolgate login {name}"),
                (Some(at), false, _) => format!("expires {at}"),
                (None, _, _) => "no expiry".to_string(),
            };
            let scopes: Vec<&str> = r["scopes"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            text.push_str(&format!(
                "{name}  logged in  issuer {}  scopes [{}]  {expiry}\n",
                r["issuer"].as_str().unwrap_or_default(),
                scopes.join(" ")
            ));
        } else {
            let why = r["error"]
                .as_str()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            text.push_str(&format!("{name}  not logged in{why}\n"));
        }
    }
    super::out(&text);
    Ok(exit::OK)
}
