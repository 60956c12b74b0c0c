//! OAuth 2.1 against a real authorization server and protected MCP server
//! (npm oidc-provider + the MCP TypeScript SDK: tests/testbed/auth_server.mjs)
//! on loopback, with the real Secret Service holding the tokens. Logins
//! complete without a human: TOOLGATE_BROWSER is tests/fixtures/browser.sh,
//! which follows the authorization URL with curl and a cookie jar. Expiry is
//! driven by TOOLGATE_TEST_CLOCK_FILE, never by waiting.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::serve::Serve;
use crate::support::{Finished, Home, repo, run_bounded};

/// The test authorization server and MCP server, stopped on drop.
struct AuthServer {
    child: Child,
    issuer: String,
    mcp_url: String,
    admin: String,
}

impl AuthServer {
    fn start(home: &Home, knobs: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(home.tb.get("TESTBED_NODE22"));
        cmd.arg(repo().join("tests/testbed/auth_server.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in home.tb.vars() {
            cmd.env(k, v);
        }
        for (k, v) in knobs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start auth_server.mjs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("auth_server.mjs prints its addresses");
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("auth_server.mjs printed {line:?}: {e}"));
        Self {
            child,
            issuer: info["issuer"].as_str().unwrap().into(),
            mcp_url: info["mcp_url"].as_str().unwrap().into(),
            admin: info["admin"].as_str().unwrap().into(),
        }
    }

    fn stats(&self) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", &format!("{}/stats", self.admin)]);
        let done = run_bounded(cmd, Duration::from_secs(30));
        serde_json::from_str(&done.stdout).expect("stats JSON")
    }

    fn admin(&self, what: &str) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-f", "-X", "POST", &format!("{}/{what}", self.admin)]);
        let done = run_bounded(cmd, Duration::from_secs(30));
        assert!(done.status.success(), "{}", done.describe());
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A home whose config has the protected server as `prot`, with the
/// headless browser and the test clock.
struct Setup {
    home: Home,
    auth: AuthServer,
    clock: PathBuf,
    browser_log: PathBuf,
}

impl Setup {
    fn new(knobs: &[(&str, &str)], oauth_toml: &str) -> Self {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "OAuth tests keep tokens in the Secret Service: run them through `bash tests/run.sh`"
        );
        let home = Home::new();
        let auth = AuthServer::start(&home, knobs);
        home.write_raw_config(&format!(
            "[serve]\nlist_wait = \"30s\"\n\n[servers.prot]\nurl = \"{}\"\n{oauth_toml}",
            auth.mcp_url
        ));
        let clock = home.path().join("clock");
        std::fs::write(&clock, "0").unwrap();
        let browser_log = home.path().join("browser.log");
        Self {
            home,
            auth,
            clock,
            browser_log,
        }
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env(
            "TOOLGATE_BROWSER",
            format!(
                "bash {}",
                repo().join("tests/fixtures/browser.sh").display()
            ),
        )
        .env("BROWSER_LOG", &self.browser_log)
        .env("TOOLGATE_TEST_CLOCK_FILE", &self.clock)
        .env_remove("TOOLGATE_KEYCHAIN");
    }

    fn run(&self, args: &[&str]) -> Finished {
        let mut cmd = self.home.toolgate(args);
        self.env(&mut cmd);
        run_bounded(cmd, Duration::from_secs(120))
    }

    fn serve(&self) -> Serve {
        let mut cmd = self.home.toolgate(&["serve"]);
        self.env(&mut cmd);
        Serve::spawn(cmd)
    }

    fn status(&self) -> Value {
        let done = self.run(&["auth", "status", "--json"]);
        assert!(done.status.success(), "{}", done.describe());
        serde_json::from_str(&done.stdout).unwrap()
    }

    /// The token set in the Secret Service, read with secret-tool.
    fn stored_tokens(&self) -> Value {
        let status = self.status();
        let row = &status["servers"][0];
        let issuer = row["issuer"].as_str().unwrap();
        let client_id = row["client_id"].as_str().unwrap();
        let account = {
            use sha2::Digest;
            let h: String =
                sha2::Sha256::digest(format!("{issuer}\0{}\0{client_id}", self.auth.mcp_url))
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
            format!("oauth:{}", &h[..32])
        };
        let done = self.run(&["secret", "list", "--json"]);
        let service = serde_json::from_str::<Value>(&done.stdout).unwrap()["keychain"]
            .as_str()
            .unwrap()
            .to_string();
        let mut cmd = Command::new("secret-tool");
        cmd.args(["lookup", "service", &service, "username", &account]);
        let done = run_bounded(cmd, Duration::from_secs(30));
        assert!(
            done.status.success(),
            "the token set is in the Secret Service\n{}",
            done.describe()
        );
        serde_json::from_str(&done.stdout).expect("the keychain entry is a JSON token set")
    }

    fn logins(&self) -> usize {
        std::fs::read_to_string(&self.browser_log)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

fn call_text(done: &Finished) -> String {
    assert!(done.status.success(), "{}", done.describe());
    done.stdout.clone()
}

fn whoami(s: &Setup) -> Value {
    let out = call_text(&s.run(&["call", "prot__whoami"]));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("whoami printed {out:?}: {e}"))
}

#[test]
fn login_call_status_logout_and_no_token_leaks() {
    let s = Setup::new(&[], "");
    // With the audit trail on: no token may reach it either.
    let config = std::fs::read_to_string(s.home.config_file()).unwrap();
    s.home
        .write_raw_config(&format!("{config}\n[audit]\nenabled = true\n"));
    let done = s.run(&["auth", "status"]);
    assert!(
        done.stdout.contains("prot  not logged in"),
        "{}",
        done.describe()
    );

    let done = s.run(&["login", "prot"]);
    assert!(done.status.success(), "{}", done.describe());
    assert!(
        done.stderr.contains("Logged in to \"prot\""),
        "{}",
        done.describe()
    );
    assert!(
        done.stderr.contains("/authorize?"),
        "the URL is always printed\n{}",
        done.describe()
    );
    assert_eq!(s.logins(), 1);

    let status = s.status();
    let row = &status["servers"][0];
    assert_eq!(row["logged_in"], true, "{status}");
    assert_eq!(row["issuer"], s.auth.issuer.as_str());
    assert_eq!(row["scopes"], json!(["mcp:read"]));
    assert_eq!(row["refreshable"], true);

    let me = whoami(&s);
    assert_eq!(me["sub"], "alice");
    assert_eq!(
        me["aud"],
        s.auth.mcp_url.as_str(),
        "RFC 8707: the token is for this resource"
    );
    let stats = s.auth.stats();
    assert_eq!(stats["authorize"], 1, "{stats}");
    assert_eq!(stats["registrations"], 1, "{stats}");

    // Through serve, as an IDE would.
    let mut serve = s.serve();
    serve.initialize();
    assert!(serve.tool_names().contains(&"prot__whoami".to_string()));
    for _ in 0..5 {
        let r = serve.result(
            "tools/call",
            json!({"name": "prot__whoami", "arguments": {}}),
        );
        assert!(
            r["content"][0]["text"].as_str().unwrap().contains("alice"),
            "{r}"
        );
    }
    let serve_stderr = serve.stderr();
    // The keychain is read for the tokens when the upstream connects, not
    // per call.
    assert_eq!(
        serve_stderr.matches("keychain read kind=\"oauth\"").count(),
        1,
        "{serve_stderr}"
    );
    serve.finish();

    // The canary: the real tokens appear nowhere toolgate writes.
    let tokens = s.stored_tokens();
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let status_text = serde_json::to_string(&s.status()).unwrap();
    for t in [&access, &refresh] {
        assert!(!status_text.contains(t.as_str()));
        assert!(!serve_stderr.contains(t.as_str()));
        s.home.assert_nowhere(t);
    }

    let done = s.run(&["logout", "prot"]);
    assert!(done.status.success(), "{}", done.describe());
    assert!(
        done.stderr.contains("Revoked the refresh token"),
        "{}",
        done.describe()
    );
    assert_eq!(s.status()["servers"][0]["logged_in"], false);
    assert!(s.auth.stats()["revocations"].as_u64().unwrap() >= 1);
    s.home.assert_nowhere(&refresh);
    // Login and logout are in the audit trail, with the calls between.
    let trail = s.run(&["audit", "export"]).stdout;
    let events: Vec<String> = trail
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["server"] == "prot")
        .map(|r| {
            r["event"]
                .as_str()
                .map_or_else(|| r["kind"].as_str().unwrap().to_owned(), str::to_owned)
        })
        .collect();
    assert_eq!(
        events.first().map(String::as_str),
        Some("login"),
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("logout"),
        "{events:?}"
    );
    // Five through serve, one by `toolgate call`.
    assert_eq!(
        events.iter().filter(|e| *e == "call").count(),
        6,
        "{events:?}"
    );
    // Each call's record says on whose behalf it ran: the IdP's subject of
    // the login (oidc-provider logs in "alice").
    for line in trail.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["server"] == "prot" {
            // Calls, and the login and logout events.
            assert_eq!(r["subject"], "alice", "{r}");
        }
    }
}

#[test]
fn expiry_refreshes_silently_and_rotation_keeps_the_newest_refresh_token() {
    let s = Setup::new(&[], "");
    assert!(s.run(&["login", "prot"]).status.success());
    let first = s.stored_tokens();
    let mut serve = s.serve();
    serve.initialize();
    let call = |serve: &mut Serve| {
        let r = serve.result(
            "tools/call",
            json!({"name": "prot__whoami", "arguments": {}}),
        );
        assert_ne!(r["isError"], true, "{r}");
    };
    call(&mut serve);
    // An hour later by toolgate's clock: the token is about to expire, so it
    // is refreshed before the call.
    std::fs::write(&s.clock, "3600").unwrap();
    call(&mut serve);
    // Again: this refresh must use the rotated refresh token (reusing the
    // first one would make oidc-provider revoke the whole grant).
    std::fs::write(&s.clock, "7200").unwrap();
    call(&mut serve);
    // The server rejecting the access token (expired on its side) is a 401:
    // refreshed and retried once.
    s.auth.admin("expire-access");
    call(&mut serve);
    serve.finish();
    let stats = s.auth.stats();
    assert_eq!(stats["token_refresh"], 3, "{stats}");
    assert_eq!(stats["token_errors"], 0, "{stats}");
    assert_eq!(stats["authorize"], 1, "no new login\n{stats}");
    let last = s.stored_tokens();
    assert_ne!(first["refresh_token"], last["refresh_token"], "rotated");
    assert_eq!(s.logins(), 1);
}

#[test]
fn a_revoked_token_says_run_login_then_login_fixes_it() {
    let s = Setup::new(&[], "[servers.prot.oauth]\nauto_login = false\n");
    assert!(s.run(&["login", "prot"]).status.success());
    whoami(&s);
    s.auth.admin("revoke-all");
    let done = s.run(&["call", "prot__whoami", "--json"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stdout.contains("run: toolgate login prot")
            || done.stderr.contains("run: toolgate login prot"),
        "{}",
        done.describe()
    );
    assert_eq!(s.logins(), 1, "auto_login = false opens no browser");
    // With serve: the call is an isError result, at once, not a hang.
    let mut serve = s.serve();
    serve.initialize();
    let names = serve.tool_names();
    assert!(!names.contains(&"prot__whoami".to_string()), "{names:?}");
    serve.finish();
    let done = s.run(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    let row = crate::support::server_row(&report, "prot");
    assert_eq!(row["state"], "needs_login", "{}", done.describe());
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("run: toolgate login prot")
    );

    assert!(s.run(&["login", "prot"]).status.success());
    assert_eq!(whoami(&s)["sub"], "alice");
}

#[test]
fn serve_logs_in_again_by_itself_after_revocation() {
    let s = Setup::new(&[], "");
    assert!(s.run(&["login", "prot"]).status.success());
    let mut serve = s.serve();
    serve.initialize();
    let r = serve.result(
        "tools/call",
        json!({"name": "prot__whoami", "arguments": {}}),
    );
    assert_ne!(r["isError"], true, "{r}");
    s.auth.admin("revoke-all");
    // 401, the refresh fails (revoked grant), one browser login, one retry.
    let r = serve.result(
        "tools/call",
        json!({"name": "prot__whoami", "arguments": {}}),
    );
    assert_ne!(r["isError"], true, "{r}");
    serve.finish();
    assert_eq!(s.logins(), 2);
    assert_eq!(s.auth.stats()["authorize"], 2);
}

#[test]
fn insufficient_scope_steps_up_with_the_challenged_scopes() {
    let s = Setup::new(&[], "");
    assert!(s.run(&["login", "prot"]).status.success());
    assert_eq!(s.status()["servers"][0]["scopes"], json!(["mcp:read"]));
    let out = call_text(&s.run(&["call", "prot__admin_op"]));
    assert!(out.contains("admin_op done"), "{out}");
    let scopes = s.status()["servers"][0]["scopes"].clone();
    assert!(
        scopes.as_array().unwrap().contains(&json!("mcp:write")),
        "{scopes}"
    );
    let stats = s.auth.stats();
    assert_eq!(stats["mcp_403"], 1, "{stats}");
    assert_eq!(stats["authorize"], 2, "{stats}");
    assert_eq!(
        stats["registrations"], 1,
        "the same client steps up\n{stats}"
    );
}

#[test]
fn a_wrong_issuer_in_metadata_is_refused() {
    let s = Setup::new(&[("AUTH_WRONG_ISSUER", "1")], "");
    let done = s.run(&["login", "prot"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("names the issuer"),
        "{}",
        done.describe()
    );
    assert!(done.stderr.contains("wrong-issuer"), "{}", done.describe());
    let stats = s.auth.stats();
    assert_eq!(stats["authorize"], 0, "{stats}");
    assert_eq!(stats["registrations"], 0, "{stats}");
    assert_eq!(s.logins(), 0);
}

#[test]
fn a_server_without_pkce_is_refused() {
    let s = Setup::new(&[("AUTH_NO_PKCE", "1")], "");
    let done = s.run(&["login", "prot"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("does not advertise PKCE"),
        "{}",
        done.describe()
    );
    assert_eq!(s.auth.stats()["authorize"], 0);
}

/// Four IDE windows start at once, none logged in: each `serve` gets a 401,
/// exactly one runs the browser login, the others wait for it and use its
/// tokens.
#[test]
fn concurrent_serves_share_one_login() {
    let s = Setup::new(&[], "");
    let mut serves: Vec<Serve> = (0..4).map(|_| s.serve()).collect();
    for serve in &mut serves {
        serve.initialize();
    }
    for serve in &mut serves {
        let mut names = serve.tool_names();
        while !names.contains(&"prot__whoami".to_string()) {
            serve.until_notification("notifications/tools/list_changed");
            names = serve.tool_names();
        }
        let r = serve.result(
            "tools/call",
            json!({"name": "prot__whoami", "arguments": {}}),
        );
        assert_ne!(r["isError"], true, "{r}");
    }
    for serve in serves {
        serve.finish();
    }
    let stats = s.auth.stats();
    assert_eq!(stats["authorize"], 1, "exactly one login flow\n{stats}");
    assert_eq!(stats["registrations"], 1, "{stats}");
    assert_eq!(s.logins(), 1);
}

#[test]
fn client_secrets_must_be_references() {
    let s = Setup::new(
        &[],
        "[servers.prot.oauth]\nclient_id = \"x\"\nclient_secret = \"plain-secret-value\"\n",
    );
    let done = s.run(&["auth", "status"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("must be a ${secret:NAME} reference"),
        "{}",
        done.describe()
    );
    assert!(
        !done.stderr.contains("plain-secret-value"),
        "{}",
        done.describe()
    );
}

/// An IDE that supports URL-mode elicitation is offered the login URL that
/// `serve` opened; following it completes the login.
#[test]
fn serve_offers_the_login_url_by_url_elicitation() {
    let s = Setup::new(&[], "");
    let mut cmd = s.home.toolgate(&["serve"]);
    s.env(&mut cmd);
    // A browser that does nothing: the login waits for the IDE's user.
    cmd.env("TOOLGATE_BROWSER", "true");
    let mut serve = Serve::spawn(cmd);
    serve.result(
        "initialize",
        json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {"elicitation": {"form": {}, "url": {}}},
            "clientInfo": {"name": "e2e-ide", "version": "1.0.0"},
        }),
    );
    serve.notify("notifications/initialized", json!({}));
    let request = loop {
        let m = serve.recv();
        if m["method"] == "elicitation/create" {
            break m;
        }
    };
    let params = &request["params"];
    assert_eq!(params["mode"], "url", "{request}");
    let url = params["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/", s.auth.issuer))
            && url.contains("code_challenge_method=S256"),
        "{url}"
    );
    assert!(
        params["message"].as_str().unwrap().contains("prot"),
        "{request}"
    );
    // The user follows the link.
    let mut browser = Command::new("bash");
    browser
        .arg(repo().join("tests/fixtures/browser.sh"))
        .arg(&url);
    let done = run_bounded(browser, Duration::from_secs(60));
    assert!(done.status.success(), "{}", done.describe());
    serve.send(&json!({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "accept"}}));
    let mut names = serve.tool_names();
    while !names.contains(&"prot__whoami".to_string()) {
        serve.until_notification("notifications/tools/list_changed");
        names = serve.tool_names();
    }
    let r = serve.result(
        "tools/call",
        json!({"name": "prot__whoami", "arguments": {}}),
    );
    assert_ne!(r["isError"], true, "{r}");
    serve.finish();
    assert_eq!(s.auth.stats()["authorize"], 1);
}
