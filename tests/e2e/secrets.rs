//! Secrets in the real OS keychain: the Secret Service (gnome-keyring under
//! dbus-run-session, started by tests/run.sh) and the kernel keyutils store;
//! `${secret:NAME}` references reaching an upstream; plain secrets refused;
//! the clear error without a session bus; and a canary that must never be
//! written anywhere.

use std::process::Command;

use serde_json::Value;

use crate::support::{Finished, Home, Server, quote, run_bounded, server_row, sha256_hex};

/// Fails with a clear message when the test runs without the keychain that
/// tests/run.sh provides.
fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests need the Secret Service: run them through `bash tests/run.sh`, which starts gnome-keyring under dbus-run-session"
    );
}

fn json_of(done: &Finished) -> Value {
    serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", done.describe()))
}

fn secret_set(home: &Home, scope: &str, name: &str, value: &str) {
    let done = home.run_toolgate_input(&["secret", "set", scope, name], value);
    assert!(done.status.success(), "{}", done.describe());
    assert!(
        !done.stderr.contains(value.trim_end()),
        "{}",
        done.describe()
    );
}

#[test]
fn set_list_rm_round_trip_names_only() {
    require_secret_service();
    let home = Home::new();
    let canary = "canary-roundtrip-7f3a9c";
    secret_set(&home, "brave", "BRAVE_API_KEY", &format!("{canary}\n"));
    secret_set(&home, "audit", "TOKEN", canary);

    let done = home.run_toolgate(&["secret", "list", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let doc = json_of(&done);
    assert_eq!(doc["version"], 1);
    let names: Vec<String> = doc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["scope"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["audit/TOKEN", "brave/BRAVE_API_KEY"]);
    assert!(!done.stdout.contains(canary));

    // The value really is in the Secret Service, under this home's namespace.
    let service = doc["keychain"].as_str().unwrap().to_string();
    let mut lookup = Command::new("secret-tool");
    lookup.args([
        "lookup",
        "service",
        &service,
        "username",
        "secret:brave/BRAVE_API_KEY",
    ]);
    let found = run_bounded(lookup, std::time::Duration::from_secs(20));
    if found.status.success() {
        // (secret-tool's attribute names depend on the store's schema: only
        // check when the lookup matched.)
        assert_eq!(found.stdout, canary, "the trailing newline is dropped");
    }

    let done = home.run_toolgate(&["secret", "rm", "brave", "BRAVE_API_KEY"]);
    assert!(done.status.success(), "{}", done.describe());
    let done = home.run_toolgate(&["secret", "rm", "brave", "BRAVE_API_KEY"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr
            .contains("there is no secret brave/BRAVE_API_KEY"),
        "{}",
        done.describe()
    );
    let done = home.run_toolgate(&["secret", "list"]);
    assert!(
        done.stdout.contains("audit/TOKEN") && !done.stdout.contains("BRAVE"),
        "{}",
        done.describe()
    );
    home.assert_nowhere(canary);
}

#[test]
fn empty_values_and_bad_names_are_refused() {
    require_secret_service();
    let home = Home::new();
    let done = home.run_toolgate_input(&["secret", "set", "brave", "KEY"], "\n");
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("the value is empty"),
        "{}",
        done.describe()
    );
    let done = home.run_toolgate_input(&["secret", "set", "brave", "a b"], "x");
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("not a valid secret name"),
        "{}",
        done.describe()
    );
}

/// The canary secret reaches a stdio upstream's environment through
/// `${secret:NAME}`, and appears in nothing toolgate writes: not stdout, not
/// stderr, not the debug log (the upstream prints it on its stderr, which
/// toolgate logs with the value blanked out), not the store.
#[test]
fn secret_reaches_the_upstream_and_leaks_nowhere() {
    require_secret_service();
    let home = Home::new();
    let canary = "canary-env-5d2e81b4c0";
    secret_set(&home, "faulty", "API_TOKEN", canary);
    let proof = home.path().join("proof.txt");
    home.config(&[Server::faulty(&home.tb, &home)
        .env("MY_API_TOKEN", "${secret:API_TOKEN}")
        .env("FAULTY_SECRET_VAR", "MY_API_TOKEN")
        .env("FAULTY_PROOF_FILE", &proof.display().to_string())]);

    let done = home.run_toolgate(&["call", "faulty__ok", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let got = std::fs::read_to_string(&proof).expect("the upstream wrote its proof");
    assert_eq!(
        got,
        sha256_hex(canary.as_bytes()),
        "the upstream got the secret's value"
    );
    let done2 = home.run_toolgate(&["servers", "--json"]);
    assert!(done2.status.success(), "{}", done2.describe());
    for d in [&done, &done2] {
        assert!(
            !d.stdout.contains(canary) && !d.stderr.contains(canary),
            "{}",
            d.describe()
        );
    }
    // The upstream's stderr line was logged, blanked.
    let logs: String = home
        .all_files()
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains("/logs/"))
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert!(
        logs.contains("MY_API_TOKEN=<redacted>") || done.stderr.contains("MY_API_TOKEN=<redacted>"),
        "the upstream's stderr is logged with the secret blanked\n{}",
        done.describe()
    );
    std::fs::remove_file(&proof).unwrap();
    home.assert_nowhere(canary);
}

#[test]
fn a_missing_secret_says_what_to_run() {
    require_secret_service();
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home).env("MY_API_TOKEN", "${secret:NOPE}")]);
    let done = home.run_toolgate(&["servers", "--json"]);
    let report = json_of(&done);
    let row = server_row(&report, "faulty");
    let error = row["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the secret faulty/NOPE is not in the keychain")
            && error.contains("run: toolgate secret set faulty NOPE"),
        "{}",
        done.describe()
    );
    let done = home.run_toolgate(&["secret", "list", "--json"]);
    let doc = json_of(&done);
    assert_eq!(doc["missing"][0]["name"], "NOPE", "{}", done.describe());
    assert_eq!(
        doc["missing"][0]["used_by"][0],
        "servers.faulty.env.MY_API_TOKEN"
    );
}

#[test]
fn plain_secrets_in_config_are_refused_without_echoing_them() {
    let home = Home::new();
    let canary = "ghp_canaryPlainSecret0123456789";
    for (key, value, name) in [
        (
            "env",
            format!("{{ GITHUB_TOKEN = {} }}", quote(canary)),
            "GITHUB_TOKEN",
        ),
        (
            "env",
            format!("{{ SOMETHING = {} }}", quote(canary)),
            "SOMETHING",
        ),
    ] {
        home.write_raw_config(&format!(
            "[servers.gh]\ncommand = \"gh-mcp\"\n{key} = {value}\n"
        ));
        let done = home.run_toolgate(&["servers"]);
        assert_eq!(done.status.code(), Some(2), "{}", done.describe());
        assert!(
            done.stderr.contains(&format!(
                "servers.gh.env.{name} holds what looks like a plain secret"
            )) && done
                .stderr
                .contains(&format!("toolgate secret set gh {name}")),
            "{}",
            done.describe()
        );
        assert!(!done.stderr.contains(canary), "{}", done.describe());
    }
    home.write_raw_config(&format!(
        "[servers.docs]\nurl = \"https://example.com/mcp\"\nheaders = {{ Authorization = {} }}\n",
        quote(&format!("Bearer {canary}"))
    ));
    let done = home.run_toolgate(&["tools"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("servers.docs.headers.Authorization"),
        "{}",
        done.describe()
    );
    assert!(!done.stderr.contains(canary), "{}", done.describe());
    // `add --env` goes through the same check.
    home.write_raw_config("");
    let done = home.run_toolgate(&[
        "add",
        "gh",
        "--env",
        &format!("GITHUB_TOKEN={canary}"),
        "--",
        "gh-mcp",
    ]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(!done.stderr.contains(canary), "{}", done.describe());
    // A reference is fine.
    home.write_raw_config(
        "[servers.docs]\nurl = \"https://example.com/mcp\"\nheaders = { Authorization = \"Bearer ${secret:TOKEN}\" }\n",
    );
    let done = home.run_toolgate(&["secret", "list", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    home.assert_nowhere(canary);
}

#[test]
fn without_a_session_bus_commands_say_what_to_do() {
    let home = Home::new();
    let mut cmd = home.toolgate(&["secret", "set", "brave", "KEY"]);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("TOOLGATE_KEYCHAIN");
    let done =
        crate::support::run_bounded_input(cmd, std::time::Duration::from_secs(60), Some(b"x"));
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("no keychain is available")
            && done.stderr.contains("DBUS_SESSION_BUS_ADDRESS is not set")
            && done.stderr.contains("keyutils"),
        "{}",
        done.describe()
    );
    // And a server whose config references a secret fails to start, saying so.
    home.config(&[Server::faulty(&home.tb, &home).env("MY_API_TOKEN", "${secret:X}")]);
    let mut cmd = home.toolgate(&["servers", "--json"]);
    cmd.env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR");
    let done = run_bounded(cmd, std::time::Duration::from_secs(60));
    let report = json_of(&done);
    let error = server_row(&report, "faulty")["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("no keychain is available"),
        "{}",
        done.describe()
    );
}

/// The opt-in kernel store: the user keyring, so separate processes (a
/// terminal's `secret set`, an IDE's `serve`) share entries.
#[test]
fn keyutils_store_round_trip_and_use() {
    let home = Home::new();
    let canary = "canary-keyutils-93be01";
    home.write_raw_config("[keychain]\nbackend = \"keyutils\"\n");
    let done = home.run_toolgate_input(&["secret", "set", "faulty", "API_TOKEN"], canary);
    assert!(done.status.success(), "{}", done.describe());
    assert!(
        done.stderr.contains("kernel keyutils user keyring"),
        "{}",
        done.describe()
    );
    let proof = home.path().join("proof.txt");
    let server = Server::faulty(&home.tb, &home)
        .env("MY_API_TOKEN", "${secret:API_TOKEN}")
        .env("FAULTY_PROOF_FILE", &proof.display().to_string())
        .env("FAULTY_SECRET_VAR", "MY_API_TOKEN");
    home.write_config("", &[server]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("[keychain]\nbackend = \"keyutils\"\n{text}"));
    let done = home.run_toolgate(&["call", "faulty__ok"]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(
        std::fs::read_to_string(&proof).unwrap(),
        sha256_hex(canary.as_bytes())
    );
    std::fs::remove_file(&proof).unwrap();
    let done = home.run_toolgate(&["secret", "rm", "faulty", "API_TOKEN"]);
    assert!(done.status.success(), "{}", done.describe());
    home.assert_nowhere(canary);
}
