//! The command line around `serve`: add, remove, servers, tools, call, and
//! config errors.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Finished, Home, Server, quote, server_row};

fn json_of(done: &Finished) -> Value {
    serde_json::from_str(&done.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", done.describe()))
}

#[test]
fn add_and_remove_keep_comments_and_layout() {
    let home = Home::new();
    let original = "# My toolgate config: keep this comment.\n\
                    [serve]\n\
                    list_wait = \"30s\" # trailing comment stays too\n";
    home.write_raw_config(original);

    let done = home.run_toolgate(&["add", "time", "--", home.tb.time()]);
    assert!(done.status.success(), "{}", done.describe());
    let done = home.run_toolgate(&[
        "add",
        "ev",
        "--prefix",
        "",
        "--timeout",
        "30s",
        "--env",
        "A=1",
        "--",
        home.tb.everything(),
        "--some-arg",
    ]);
    assert!(done.status.success(), "{}", done.describe());
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(
        text.starts_with(original),
        "the head of the file changed:\n{text}"
    );
    assert!(text.contains("[servers.time]"), "{text}");
    assert!(
        text.contains(&format!("command = {}", quote(home.tb.time()))),
        "{text}"
    );
    assert!(
        text.contains("[servers.ev]") && text.contains("\"--some-arg\""),
        "{text}"
    );

    // Adding a name twice is refused (usage error), the file untouched.
    let done = home.run_toolgate(&["add", "time", "--", "other"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(done.stderr.contains("--force"), "{}", done.describe());
    assert_eq!(std::fs::read_to_string(home.config_file()).unwrap(), text);

    let done = home.run_toolgate(&["remove", "time"]);
    assert!(done.status.success(), "{}", done.describe());
    let after = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(after.starts_with(original), "{after}");
    assert!(
        !after.contains("[servers.time]") && after.contains("[servers.ev]"),
        "{after}"
    );

    let done = home.run_toolgate(&["remove", "time"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(done.stderr.contains("time"), "{}", done.describe());
}

#[test]
fn servers_json_has_the_version_1_shape() {
    let home = Home::new();
    home.config(&[
        Server::time(&home.tb),
        Server::fixture(&home.tb, "paged").set("enabled", "false"),
    ]);
    let done = home.run_toolgate(&["servers", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let report = json_of(&done);
    assert_eq!(report["version"], 1, "{report}");
    assert_eq!(
        report["config"],
        home.config_file().display().to_string(),
        "{report}"
    );
    let time = server_row(&report, "time");
    for key in [
        "name",
        "transport",
        "enabled",
        "state",
        "tools",
        "protocol_version",
        "startup_ms",
        "target",
        "error",
    ] {
        assert!(time.get(key).is_some(), "{key} missing: {time}");
    }
    assert_eq!(time["transport"], "stdio");
    assert_eq!(time["state"], "ready");
    assert_eq!(time["tools"], 2);
    assert_eq!(time["enabled"], true);
    assert_eq!(time["error"], Value::Null);
    assert!(time["protocol_version"].is_string(), "{time}");
    assert_eq!(time["target"], home.tb.time());
    let paged = server_row(&report, "paged");
    assert_eq!(paged["state"], "disabled", "{paged}");
    assert_eq!(paged["enabled"], false, "{paged}");
}

#[test]
fn tools_json_lists_every_exposed_tool_and_where_it_leads() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb), Server::fixture(&home.tb, "paged")]);
    let done = home.run_toolgate(&["tools", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let report = json_of(&done);
    assert_eq!(report["version"], 1, "{report}");
    assert_eq!(report["unavailable"], Value::Array(vec![]), "{report}");
    let tools = report["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2 + 25, "every page of paged.py: {report}");
    let t = tools
        .iter()
        .find(|t| t["name"] == "time__get_current_time")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(t["server"], "time");
    assert_eq!(t["original"], "get_current_time");
    assert!(t["description"].is_string(), "{t}");
    assert!(t.get("title").is_some(), "{t}");
}

#[test]
fn call_prints_the_result_and_exits_0() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb)]);
    let done = home.run_toolgate(&[
        "call",
        "time__get_current_time",
        "--args",
        r#"{"timezone":"UTC"}"#,
    ]);
    assert!(done.status.success(), "{}", done.describe());
    let body = json_of(&done);
    assert_eq!(body["timezone"], "UTC", "{body}");
    assert!(body["datetime"].is_string(), "{body}");

    let done = home.run_toolgate(&["call", "time__nope"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(done.stderr.contains("time__nope"), "{}", done.describe());
    let done = home.run_toolgate(&["call", "time__get_current_time", "--args", "not json"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
}

#[test]
fn call_prints_text_content_as_text() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    let done = home.run_toolgate(&["call", "everything__echo", "--args", r#"{"message":"hi"}"#]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(done.stdout.trim_end(), "Echo: hi", "{}", done.describe());
}

/// `call` starts only the server the tool name points at; it must not then
/// wait for the others it did not start.
#[test]
fn call_does_not_wait_for_servers_it_did_not_start() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb), Server::everything(&home.tb)]);
    let done = home.run_toolgate(&[
        "call",
        "time__get_current_time",
        "--args",
        r#"{"timezone":"UTC"}"#,
    ]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(json_of(&done)["timezone"], "UTC");
    assert!(done.took < Duration::from_secs(20), "took {:?}", done.took);
    let done = home.run_toolgate(&["tools", "--json", "--server", "time"]);
    assert!(done.status.success(), "{}", done.describe());
    assert!(
        done.took < Duration::from_secs(20),
        "tools --server took {:?}",
        done.took
    );
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key_and_line() {
    let home = Home::new();
    home.write_raw_config(&format!(
        "[servers.time]\ncommand = {}\ncomand = \"typo\"\n",
        quote(home.tb.time())
    ));
    for args in [&["servers"][..], &["tools"][..], &["serve"][..]] {
        let done = home.run_toolgate(args);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.describe());
        assert!(
            done.stderr.contains("comand") && done.stderr.contains("line 3"),
            "{args:?}: {}",
            done.describe()
        );
        assert!(done.stdout.is_empty(), "{args:?}: {}", done.describe());
    }
}

/// The committed completions and man pages are what this build generates
/// (regenerate with `bash packaging/regen.sh`).
#[test]
fn completions_and_man_pages_are_fresh() {
    let home = Home::new();
    let repo = crate::support::repo();
    let stale = "stale: run `bash packaging/regen.sh` and commit the result";
    for (shell, file) in [
        ("bash", "toolgate.bash"),
        ("zsh", "_toolgate"),
        ("fish", "toolgate.fish"),
        ("powershell", "_toolgate.ps1"),
        ("elvish", "toolgate.elv"),
    ] {
        let done = home.run_toolgate(&["completions", shell]);
        assert_eq!(done.status.code(), Some(0), "{}", done.describe());
        assert!(done.stdout.contains("toolgate"), "{shell}");
        let committed = std::fs::read_to_string(repo.join("completions").join(file))
            .unwrap_or_else(|e| panic!("completions/{file}: {e}"));
        assert!(done.stdout == committed, "completions/{file} is {stale}");
    }
    // Bash completes subcommands and flags.
    let bash = std::fs::read_to_string(repo.join("completions/toolgate.bash")).unwrap();
    for word in ["serve", "audit", "--json", "--strict"] {
        assert!(bash.contains(word), "{word} missing from bash completions");
    }
    // And a real bash completes with it.
    let script = format!(
        "source {}; COMP_WORDS=(toolgate audit ver); COMP_CWORD=2; COMP_LINE='toolgate audit ver'; COMP_POINT=${{#COMP_LINE}}; _toolgate toolgate ver audit; echo \"${{COMPREPLY[@]}}\"",
        quote(repo.join("completions/toolgate.bash").to_str().unwrap())
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "verify");
    let bad = home.run_toolgate(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.describe());

    let out = tempfile::tempdir().unwrap();
    let done = home.run_toolgate(&["man", "--out", out.path().to_str().unwrap()]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let committed_dir = repo.join("packaging/man");
    assert_eq!(
        names(out.path()),
        names(&committed_dir),
        "packaging/man is {stale}"
    );
    for name in names(out.path()) {
        let fresh = std::fs::read(out.path().join(&name)).unwrap();
        let committed = std::fs::read(committed_dir.join(&name)).unwrap();
        assert!(fresh == committed, "packaging/man/{name} is {stale}");
    }
    assert!(names(out.path()).contains(&"toolgate-audit-verify.1".to_string()));
}

fn doctor(home: &Home) -> (Option<i32>, Value) {
    let done = home.run_toolgate(&["doctor", "--json"]);
    let v: Value =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    (done.status.code(), v)
}

fn check<'a>(report: &'a Value, area: &str, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["area"] == area && c["name"] == name)
        .unwrap_or_else(|| panic!("no {area}/{name} check in {report:#}"))
}

#[test]
fn doctor_passes_a_healthy_setup_and_names_what_is_broken() {
    let home = Home::new();
    // Nothing set up: nothing broken, and it says what is not configured.
    let (code, r) = doctor(&home);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(r["version"], 1);
    assert_eq!(
        check(&r, "config", "config.toml")["status"],
        "not configured"
    );
    assert_eq!(
        check(&r, "profile", "org profile")["status"],
        "not configured"
    );

    // A healthy setup: a real upstream, the audit trail on.
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n[audit]\nenabled = true\n"));
    let (code, r) = doctor(&home);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(r["ok"], true);
    let up = check(&r, "upstreams", "faulty");
    assert_eq!(up["status"], "ok", "{r:#}");
    assert!(up["detail"].as_str().unwrap().contains("tool(s)"), "{up}");
    assert_eq!(check(&r, "audit", "audit trail")["status"], "ok");
    assert_eq!(check(&r, "audit", "upload")["status"], "not configured");
    let human = home.run_toolgate(&["doctor"]);
    assert!(
        human.stdout.contains("Everything configured works."),
        "{}",
        human.describe()
    );

    // A server that cannot start: named, with a hint, exit 1.
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[servers.gone]\ncommand = \"/nonexistent/toolgate-test-server\"\n"
    ));
    let (code, r) = doctor(&home);
    assert_eq!(code, Some(1), "{r:#}");
    let gone = check(&r, "upstreams", "gone");
    assert_eq!(gone["status"], "fail");
    assert!(
        gone["hint"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/toolgate-test-server")
    );
    assert_eq!(check(&r, "upstreams", "faulty")["status"], "ok");
    let human = home.run_toolgate(&["doctor"]);
    assert!(
        human.stdout.contains("hint: run it by hand"),
        "{}",
        human.describe()
    );

    // A config with a mistake: the config check fails and says where.
    home.write_raw_config("[serve]\nmax_name_lenght = 40\n");
    let (code, r) = doctor(&home);
    assert_eq!(code, Some(1), "{r:#}");
    let c = check(&r, "config", "config.toml");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"].as_str().unwrap().contains("max_name_lenght"),
        "{c}"
    );
}
