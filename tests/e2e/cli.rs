//! The command line around `serve`: add, remove, servers, tools, call, and
//! config errors.

use std::time::Duration;

use serde_json::Value;

use crate::support::registry::{Org, Registry};
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

/// The names listed under "Commands:" in a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        // Entries are indented by two spaces; their wrapped descriptions
        // by more; the section ends at the first line that is not indented.
        if !line.starts_with(' ') {
            break;
        }
        if let Some(rest) = line.strip_prefix("  ")
            && !rest.starts_with(' ')
            && let Some(name) = rest.split_whitespace().next()
            && name != "help"
        {
            names.push(name.to_string());
        }
    }
    names
}

/// `toolgate --help`, and the help of every command and subcommand it
/// lists (walked from the help itself, so that a new command is covered
/// too), carries examples.
#[test]
fn every_command_and_subcommand_help_has_examples() {
    let home = Home::new();
    let top = home.run_toolgate(&["--help"]);
    assert!(top.status.success(), "{}", top.describe());
    assert!(top.stdout.contains("Examples:"), "{}", top.describe());
    let commands = subcommands(&top.stdout);
    for expected in ["serve", "profile", "audit", "secret", "doctor", "import"] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected} not found in {commands:?}:\n{}",
            top.stdout
        );
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for command in &commands {
        let done = home.run_toolgate(&[command, "--help"]);
        assert!(done.status.success(), "{command}: {}", done.describe());
        checked += 1;
        if !done.stdout.contains("Examples:\n  ") {
            missing.push(command.clone());
        }
        for sub in subcommands(&done.stdout) {
            let done = home.run_toolgate(&[command, &sub, "--help"]);
            assert!(
                done.status.success(),
                "{command} {sub}: {}",
                done.describe()
            );
            checked += 1;
            if !done.stdout.contains("Examples:\n  ") {
                missing.push(format!("{command} {sub}"));
            }
        }
    }
    assert!(checked >= 40, "only {checked} help texts found");
    assert!(
        missing.is_empty(),
        "no examples in the help of: {missing:?}"
    );
}

/// Every error ends with a `hint:` line: its own where it has one, else a
/// generic one.
#[test]
fn every_error_ends_with_a_hint_line() {
    let home = Home::new();
    let last_line = |done: &Finished| -> String {
        done.stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .to_string()
    };
    // An error with no hint of its own (the message says it all).
    let done = home.run_toolgate(&["audit", "search", "--decision", "maybe"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("error: --decision maybe"),
        "{}",
        done.describe()
    );
    assert!(
        last_line(&done).starts_with("hint: ") && last_line(&done).contains("toolgate"),
        "{}",
        done.describe()
    );
    assert_eq!(
        done.stderr.matches("hint:").count(),
        1,
        "{}",
        done.describe()
    );
    // Errors with a hint of their own keep it.
    let done = home.run_toolgate(&["remove", "nope"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        last_line(&done).starts_with("hint: ") && last_line(&done).contains("toolgate servers"),
        "{}",
        done.describe()
    );
    home.write_raw_config("[serve]\nmax_name_length = 3\n");
    let done = home.run_toolgate(&["servers"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        last_line(&done).starts_with("hint: fix it in "),
        "{}",
        done.describe()
    );
}

/// A TCP port that accepts connections and answers nothing for `hold`,
/// then closes them: a registry that is slow to fail.
fn slow_port(hold: Duration) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                std::thread::sleep(hold);
                drop(conn);
            });
        }
    });
    port
}

/// The spinner draws on a terminal only: with stderr a pipe, slow commands
/// (longer than the spinner's delay) write no carriage return and no escape
/// sequence, whatever TERM and NO_COLOR say.
#[test]
fn the_spinner_writes_nothing_when_stderr_is_not_a_terminal() {
    let home = Home::new();
    let port = slow_port(Duration::from_millis(1500));
    home.write_config(
        &format!(
            "list_wait = \"30s\"\n\n[registry]\nurl = \"http://127.0.0.1:{port}/profile.toml\"\nkeys = []"
        ),
        &[Server::time(&home.tb)],
    );
    let quiet = |args: &[&str]| {
        let mut cmd = home.toolgate(args);
        cmd.env("TERM", "xterm-256color")
            .env("TOOLGATE_LOG", "warn")
            .env_remove("NO_COLOR");
        crate::support::run_bounded(cmd, Duration::from_secs(120))
    };
    for args in [&["profile", "pull"][..], &["doctor"][..]] {
        let done = quiet(args);
        assert!(
            done.took > Duration::from_millis(500),
            "{args:?} was too quick to show a spinner: {}",
            done.describe()
        );
        assert!(
            !done.stderr.contains('\r') && !done.stderr.contains('\x1b'),
            "{args:?}: {:?}",
            done.stderr
        );
    }
}

/// On a terminal (a pseudo-terminal made by util-linux `script`), the
/// spinner draws on stderr and clears its line at the end; NO_COLOR leaves
/// it, and turns every colour off.
#[test]
fn the_spinner_draws_on_a_terminal_and_clears_its_line() {
    let home = Home::new();
    home.config(&[Server::time(&home.tb)]);
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!(
            "{} doctor >/dev/null",
            crate::support::quote(crate::support::toolgate_bin())
        ),
        "/dev/null",
    ]);
    home.apply_env(&mut cmd);
    cmd.env("TERM", "xterm-256color").env("NO_COLOR", "1");
    let done = crate::support::run_bounded(cmd, Duration::from_secs(120));
    assert!(done.status.success(), "{}", done.describe());
    let tty = &done.stdout;
    assert!(
        tty.contains("\r\x1b[2K") && tty.contains("Starting 1 server(s) to check them"),
        "{tty:?}"
    );
    let last = tty.rfind("Starting 1 server(s)").unwrap();
    assert!(
        tty[last..].contains("\r\x1b[2K"),
        "the line is cleared at the end: {tty:?}"
    );
    // No colour (SGR, ESC [ ... m) anywhere, the debug log included.
    for (i, _) in tty.match_indices("\x1b[") {
        let end = tty[i + 2..]
            .find(|c: char| c.is_ascii_alphabetic())
            .map(|j| &tty[i + 2 + j..i + 3 + j]);
        assert_ne!(end, Some("m"), "a colour under NO_COLOR: {tty:?}");
    }
}

/// `profile pull|show|lint|verify --json`: each prints its documented
/// shape, with `version` 1, on stdout; exit codes as without --json.
#[test]
fn profile_commands_print_json_with_a_version() {
    let home = Home::new();
    let org = Org::new(&home);
    let key = &org.key;
    let public = org.public.clone();
    let file = org.dir.path().join("profile.toml");
    std::fs::write(
        &file,
        "org = \"Example Corp\"\nserial = 3\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2099-01-01T00:00:00Z\"\n",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();

    // lint: a profile without servers is a warning, not an error.
    let done = home.run_toolgate(&["profile", "lint", file_arg, "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let lint = json_of(&done);
    assert_eq!(lint["version"], 1, "{lint}");
    assert_eq!(lint["ok"], true, "{lint}");
    assert_eq!(lint["errors"], serde_json::json!([]), "{lint}");
    assert!(
        lint["warnings"][0].as_str().unwrap().contains("no servers"),
        "{lint}"
    );

    let done = home.run_toolgate(&["profile", "sign", file_arg, "--key", key.to_str().unwrap()]);
    assert!(done.status.success(), "{}", done.describe());

    // verify: good, then tampered.
    let done = home.run_toolgate(&["profile", "verify", file_arg, "--key", &public, "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let v = json_of(&done);
    assert_eq!(v["version"], 1, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["serial"], 3, "{v}");
    assert_eq!(v["org"], "Example Corp", "{v}");
    assert_eq!(v["expired"], false, "{v}");
    assert!(v["key_id"].is_string(), "{v}");
    let tampered = org.dir.path().join("tampered.toml");
    std::fs::write(
        &tampered,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("serial = 3", "serial = 4"),
    )
    .unwrap();
    let sig = format!("{file_arg}.minisig");
    let done = home.run_toolgate(&[
        "profile",
        "verify",
        tampered.to_str().unwrap(),
        "--sig",
        &sig,
        "--key",
        &public,
        "--json",
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    let v = json_of(&done);
    assert_eq!(v["version"], 1, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].is_string(), "{v}");
    assert!(done.stderr.contains("\nhint: "), "{}", done.describe());

    // show, with no registry configured.
    let done = home.run_toolgate(&["profile", "show", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let show = json_of(&done);
    assert_eq!(show["version"], 1, "{show}");
    assert_eq!(show["state"], "unmanaged", "{show}");
    assert_eq!(show["profile"], Value::Null, "{show}");

    // pull: updated, unchanged, then failed.
    let reg = Registry::start(&home);
    std::fs::copy(&file, reg.dir.path().join("profile.toml")).unwrap();
    std::fs::copy(&sig, reg.dir.path().join("profile.toml.minisig")).unwrap();
    home.write_raw_config(&format!(
        "[registry]\nurl = \"{}/profile.toml\"\nkeys = [{}]\n",
        reg.url,
        crate::support::quote(&public)
    ));
    let done = home.run_toolgate(&["profile", "pull", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let pull = json_of(&done);
    assert_eq!(pull["version"], 1, "{pull}");
    assert_eq!(pull["ok"], true, "{pull}");
    assert_eq!(pull["result"], "updated", "{pull}");
    assert_eq!(pull["serial"], 3, "{pull}");
    assert!(pull["key_id"].is_string(), "{pull}");
    assert_eq!(pull["error"], Value::Null, "{pull}");
    assert_eq!(pull["status"]["version"], 1, "{pull}");
    assert_eq!(pull["status"]["state"], "active", "{pull}");
    let done = home.run_toolgate(&["profile", "pull", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(json_of(&done)["result"], "unchanged", "{}", done.describe());

    let done = home.run_toolgate(&["profile", "show", "--json"]);
    assert!(done.status.success(), "{}", done.describe());
    let show = json_of(&done);
    assert_eq!(show["state"], "active", "{show}");
    assert_eq!(show["profile"]["org"], "Example Corp", "{show}");
    assert_eq!(show["profile"]["serial"], 3, "{show}");
    assert_eq!(
        show["text"].as_str().unwrap(),
        std::fs::read_to_string(&file).unwrap(),
        "{show}"
    );

    std::fs::remove_file(reg.dir.path().join("profile.toml.minisig")).unwrap();
    std::fs::write(
        reg.dir.path().join("profile.toml"),
        std::fs::read_to_string(&tampered).unwrap(),
    )
    .unwrap();
    let done = home.run_toolgate(&["profile", "pull", "--json"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    let pull = json_of(&done);
    assert_eq!(pull["version"], 1, "{pull}");
    assert_eq!(pull["ok"], false, "{pull}");
    assert_eq!(pull["result"], "failed", "{pull}");
    assert_eq!(pull["serial"], 3, "the profile in force: {pull}");
    assert!(
        pull["error"].as_str().unwrap().contains("unsigned"),
        "{pull}"
    );
    assert!(done.stderr.contains("\nhint: "), "{}", done.describe());
}

/// An edit (`toolgate add`) never writes a config whose `[policy]` every
/// command would then refuse; the file stays as it was.
#[test]
fn add_refuses_to_write_next_to_an_invalid_policy() {
    let home = Home::new();
    let original = "[policy]\ndefault = \"allow\"\n\n[[policy.rules]]\nid = \"bad\"\ntool = \"x\"\nwhen = [{ arg = \"path\", pattern = \"(unclosed\" }]\ndecision = \"deny\"\n";
    home.write_raw_config(original);
    let done = home.run_toolgate(&["add", "time", "--", home.tb.time()]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("[policy] is invalid"),
        "{}",
        done.describe()
    );
    assert!(done.stderr.contains("hint:"), "{}", done.describe());
    assert_eq!(
        std::fs::read_to_string(home.config_file()).unwrap(),
        original
    );
}
