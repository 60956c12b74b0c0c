//! Org-signed profiles: keys and signatures interoperating with the stock
//! `minisign`, pins checked against an independent RFC 8785 implementation
//! (PyPI `rfc8785`), a registry on loopback (tests/fixtures/registry.py,
//! with ETags), and enforcement: blocked personal servers (no process
//! spawned), drift, `registry.required`.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::registry::{Org, Registry};
use crate::support::serve::Serve;
use crate::support::{Home, Server, cmd, fixture, ok, quote, run_bounded};

/// A profile's text: header fields, then `body` (settings and servers).
fn profile(serial: u64, expires: &str, body: &str) -> String {
    format!(
        "org = \"Example Corp\"\nserial = {serial}\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"{expires}\"\n\n{body}"
    )
}

const FAR: &str = "2099-01-01T00:00:00Z";

/// `[servers.dyn]`: the dynamic fixture.
fn dyn_server(home: &Home) -> String {
    format!(
        "[servers.dyn]\ncommand = {}\nargs = [{}]\nowner = \"platform\"\n",
        quote(home.tb.python()),
        quote(&fixture("dynamic"))
    )
}

/// Writes a profile with the dynamic fixture, pins it with `toolgate
/// profile pin`, and returns its text.
fn pinned_profile(home: &Home, org: &Org, serial: u64, settings: &str) -> String {
    let file = org.dir.path().join("draft.toml");
    std::fs::write(
        &file,
        profile(serial, FAR, &format!("{settings}\n{}", dyn_server(home))),
    )
    .unwrap();
    ok(&home.run_toolgate(&["profile", "pin", file.to_str().unwrap()]));
    let done = home.run_toolgate(&["profile", "lint", file.to_str().unwrap()]);
    ok(&done);
    std::fs::read_to_string(&file).unwrap()
}

fn config_with_registry(home: &Home, reg: &Registry, keys: &[&str], extra: &str) {
    let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
    home.write_raw_config(&format!(
        "[serve]\nlist_wait = \"30s\"\n\n[registry]\nurl = {}\nkeys = [{}]\n{extra}\n",
        quote(&reg.profile_url()),
        keys.join(", ")
    ));
}

fn status(home: &Home) -> Value {
    let done = home.run_toolgate(&["profile", "status", "--json"]);
    serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}\n{}", done.describe()))
}

#[test]
fn signatures_interoperate_with_minisign_both_ways() {
    let home = Home::new();
    let org = Org::new(&home);
    let file = org.sign(&home, "p.toml", &profile(1, FAR, ""));
    let dir = org.dir.path();
    // toolgate's signature, minisign's verification.
    let done = cmd("minisign", &["-V", "-m", "p.toml", "-p", "org.pub"], dir);
    ok(&done);
    assert!(
        done.stdout
            .contains("Trusted comment: toolgate profile org=Example Corp serial=1"),
        "{}",
        done.describe()
    );
    // minisign's key and signature, toolgate's verification.
    ok(&cmd(
        "minisign",
        &["-G", "-W", "-p", "m.pub", "-s", "m.key"],
        dir,
    ));
    ok(&cmd(
        "minisign",
        &[
            "-S",
            "-s",
            "m.key",
            "-m",
            "p.toml",
            "-t",
            "made by minisign",
        ],
        dir,
    ));
    let m_pub = dir.join("m.pub");
    let done = home.run_toolgate(&[
        "profile",
        "verify",
        file.to_str().unwrap(),
        "--key",
        m_pub.to_str().unwrap(),
    ]);
    ok(&done);
    assert!(
        done.stderr.contains("Good signature"),
        "{}",
        done.describe()
    );
    // minisign's key signs through toolgate too.
    ok(&home.run_toolgate(&[
        "profile",
        "sign",
        file.to_str().unwrap(),
        "--key",
        dir.join("m.key").to_str().unwrap(),
    ]));
    ok(&cmd(
        "minisign",
        &["-V", "-m", "p.toml", "-p", "m.pub"],
        dir,
    ));
    // The org key does not verify minisign's signature; a tampered file
    // verifies with neither tool.
    let done = home.run_toolgate(&[
        "profile",
        "verify",
        file.to_str().unwrap(),
        "--key",
        &org.public,
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("not a trusted key"),
        "{}",
        done.describe()
    );
    std::fs::write(&file, profile(2, FAR, "")).unwrap();
    assert!(
        !cmd("minisign", &["-V", "-m", "p.toml", "-p", "m.pub"], dir)
            .status
            .success()
    );
    let done = home.run_toolgate(&[
        "profile",
        "verify",
        file.to_str().unwrap(),
        "--key",
        m_pub.to_str().unwrap(),
    ]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("does not match"),
        "{}",
        done.describe()
    );
}

#[test]
fn password_protected_keys() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("org.key");
    let mut c = home.toolgate(&["profile", "keygen", "--out", key.to_str().unwrap()]);
    c.env("TOOLGATE_KEY_PASSWORD", "correct horse");
    ok(&run_bounded(c, Duration::from_secs(120)));
    let file = dir.path().join("p.toml");
    std::fs::write(&file, profile(1, FAR, "")).unwrap();
    let sign = |pw: Option<&str>| {
        let mut c = home.toolgate(&[
            "profile",
            "sign",
            file.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
        match pw {
            Some(p) => c.env("TOOLGATE_KEY_PASSWORD", p),
            None => c.env_remove("TOOLGATE_KEY_PASSWORD"),
        };
        run_bounded(c, Duration::from_secs(120))
    };
    let done = sign(None);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("TOOLGATE_KEY_PASSWORD"),
        "{}",
        done.describe()
    );
    let done = sign(Some("wrong"));
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    ok(&sign(Some("correct horse")));
    ok(&cmd(
        "minisign",
        &["-V", "-m", "p.toml", "-p", "org.pub"],
        dir.path(),
    ));
}

/// Pins written by `toolgate profile pin` equal SHA-256 over PyPI
/// `rfc8785`'s canonical form; and the two implementations agree on
/// generated JSON with awkward numbers and strings.
#[test]
fn pins_match_an_independent_rfc8785_implementation() {
    let home = Home::new();
    let org = Org::new(&home);
    let text = pinned_profile(&home, &org, 1, "");
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    let tools = parsed["servers"]["dyn"]["tools"].as_table().unwrap();
    assert!(
        tools.contains_key("alpha") && tools.contains_key("control"),
        "{text}"
    );
    let mut cases: Vec<(String, String)> = tools
        .values()
        .map(|t| {
            (
                t["definition"].as_str().unwrap().to_string(),
                t["pin"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Generated values (numbers in every range, escapes, non-BMP keys).
    let awkward = [
        r#"{"n":[0,-0,1e21,1e-7,9007199254740991,0.1,-1.5e-300,5e-324,1.7976931348623157e308,100,2.5e+3]}"#,
        r#"{"s":"\u0000\u001f\"\\/\u007f\u2028\ud83d\ude00é","\u20ac":1,"\ud83d\ude00":2,"\ufb33":3,"a":{"z":null,"b":[true,false]}}"#,
        r#"[{"name":"t","inputSchema":{"type":"object","properties":{"x":{"type":"number","maximum":1.0e3}}},"_meta":{"k":"v"}}]"#,
    ];
    for a in awkward {
        cases.push((a.to_string(), String::new()));
    }
    let input: Vec<Value> = cases.iter().map(|(d, _)| json!(d)).collect();
    let script = "import hashlib, json, sys, rfc8785\nfor text in json.load(sys.stdin):\n    print('sha256:' + hashlib.sha256(rfc8785.dumps(json.loads(text))).hexdigest())\n";
    let mut c = Command::new(home.tb.python());
    c.args(["-c", script]);
    let done = crate::support::run_bounded_input(
        c,
        Duration::from_secs(60),
        Some(serde_json::to_string(&input).unwrap().as_bytes()),
    );
    ok(&done);
    let python: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(python.len(), cases.len());
    for ((definition, pin), py) in cases.iter().zip(python) {
        if !pin.is_empty() {
            assert_eq!(pin, py, "the pin of {definition}");
        }
        // toolgate's own pin of the same text, through `profile lint` of a
        // one-tool profile would be indirect: compare via a pinned file.
        let ours = toolgate::profile::pin::pin(definition).unwrap();
        assert_eq!(ours, py, "RFC 8785 disagreement on {definition}");
    }
}

#[test]
fn pull_verifies_caches_and_survives_bad_input() {
    let home = Home::new();
    let org = Org::new(&home);
    let other = Org::new(&home);
    let mut reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "");
    assert_eq!(status(&home)["state"], "missing");

    let v1 = org.sign(&home, "v1.toml", &pinned_profile(&home, &org, 5, ""));
    reg.publish(&v1, true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    let s = status(&home);
    assert_eq!(s["state"], "active", "{s}");
    assert_eq!(s["serial"], 5);
    assert_eq!(s["source"], reg.profile_url().as_str());
    // ETag: the second pull is a 304.
    ok(&home.run_toolgate(&["profile", "pull"]));
    assert_eq!(reg.stats()["not_modified"], 1, "{}", reg.stats());

    let bad = |reg: &Registry, expect: &str| {
        let done = home.run_toolgate(&["profile", "pull"]);
        assert_eq!(done.status.code(), Some(1), "{}", done.describe());
        assert!(
            done.stderr.contains(expect),
            "wanted {expect:?}\n{}",
            done.describe()
        );
        let s = status(&home);
        assert_eq!(s["serial"], 5, "the verified profile stays in force: {s}");
        assert!(
            s["last_pull_result"]
                .as_str()
                .unwrap()
                .starts_with("failed"),
            "{s}"
        );
        let _ = reg;
    };
    // Tampered: new text under the old signature.
    let tampered = org.dir.path().join("tampered.toml");
    std::fs::write(
        &tampered,
        std::fs::read_to_string(&v1)
            .unwrap()
            .replace("owner = \"platform\"", "owner = \"mallory\""),
    )
    .unwrap();
    std::fs::copy(
        org.dir.path().join("v1.toml.minisig"),
        org.dir.path().join("tampered.toml.minisig"),
    )
    .unwrap();
    reg.publish(&tampered, true);
    bad(&reg, "does not match");
    // Wrong key.
    let wrong = other.sign(&home, "wrong.toml", &profile(6, FAR, ""));
    reg.publish(&wrong, true);
    bad(&reg, "not a trusted key");
    // No signature.
    let unsigned = org.sign(&home, "unsigned.toml", &profile(6, FAR, ""));
    reg.publish(&unsigned, false);
    bad(&reg, "unsigned profile is never used");
    // Rollback and expiry.
    reg.publish(&org.sign_raw("old.toml", &profile(4, FAR, "")), true);
    bad(&reg, "rollback");
    reg.publish(
        &org.sign_raw("expired.toml", &profile(7, "2026-02-01T00:00:00Z", "")),
        true,
    );
    bad(&reg, "expired");
    // Malformed and unknown fields, even when signed.
    reg.publish(
        &org.sign_raw("malformed.toml", "org = \"x\"\nserial = [\n"),
        true,
    );
    bad(&reg, "not valid TOML");
    reg.publish(
        &org.sign_raw("unknown.toml", &profile(8, FAR, "surprise = true\n")),
        true,
    );
    bad(&reg, "unknown field");
    // A registry that is down, or answers HTML.
    reg.mode("html");
    bad(&reg, "not a minisign signature");
    reg.mode("down");
    bad(&reg, "HTTP 503");
    // Offline: the cached profile governs with no registry at all.
    reg.stop();
    home.write_raw_config(&format!(
        "{}\n[servers.mine]\ncommand = \"/bin/cat\"\n",
        std::fs::read_to_string(home.config_file()).unwrap()
    ));
    let done = home.run_toolgate(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(
        crate::support::server_row(&report, "mine")["state"],
        "blocked",
        "{}",
        done.describe()
    );
    assert_eq!(
        crate::support::server_row(&report, "dyn")["state"],
        "ready",
        "{}",
        done.describe()
    );
}

#[test]
fn keys_rotate_through_next_keys() {
    let home = Home::new();
    let a = Org::new(&home);
    let b = Org::new(&home);
    let c = Org::new(&home);
    let reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&a.public], "");
    let text = profile(1, FAR, "").replace(
        "expires",
        &format!("next_keys = [{}]\nexpires", quote(&b.public)),
    );
    reg.publish(&a.sign(&home, "1.toml", &text), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    reg.publish(&b.sign(&home, "2.toml", &profile(2, FAR, "")), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    assert_eq!(status(&home)["serial"], 2);
    assert_eq!(status(&home)["key_id"].as_str().unwrap().len(), 16);
    // A key nobody named is refused.
    reg.publish(&c.sign(&home, "3.toml", &profile(3, FAR, "")), true);
    let done = home.run_toolgate(&["profile", "pull"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(
        done.stderr.contains("not a trusted key"),
        "{}",
        done.describe()
    );
}

/// A personal server under `personal_servers = "deny"` is never spawned, by
/// any command; with "allow" it runs.
#[test]
fn personal_servers_are_blocked_before_anything_spawns() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    reg.publish(
        &org.sign(
            &home,
            "p.toml",
            &pinned_profile(&home, &org, 1, "[settings]\npersonal_servers = \"deny\"\n"),
        ),
        true,
    );
    let faulty = Server::faulty(&home.tb, &home);
    home.write_config("list_wait = \"30s\"", std::slice::from_ref(&faulty));
    let servers = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "[registry]\nurl = {}\nkeys = [{}]\n\n{servers}",
        quote(&reg.profile_url()),
        quote(&org.public)
    ));
    ok(&home.run_toolgate(&["profile", "pull"]));
    let done = home.run_toolgate(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    let row = crate::support::server_row(&report, "faulty");
    assert_eq!(row["state"], "blocked", "{}", done.describe());
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("blocked by org profile"),
        "{row}"
    );
    let done = home.run_toolgate(&["call", "faulty__ok"]);
    assert_ne!(done.status.code(), Some(0), "{}", done.describe());
    let done = home.run_toolgate(&["tools"]);
    assert!(
        done.stderr.contains("blocked by org profile"),
        "{}",
        done.describe()
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(names.iter().all(|n| n.starts_with("dyn__")), "{names:?}");
    serve.finish();
    assert!(
        home.faulty_pids().is_empty(),
        "a blocked server was spawned: {:?}",
        home.faulty_pids()
    );

    // The org allows personal servers: it runs.
    reg.publish(
        &org.sign(
            &home,
            "p2.toml",
            &pinned_profile(&home, &org, 2, "[settings]\npersonal_servers = \"allow\"\n"),
        ),
        true,
    );
    ok(&home.run_toolgate(&["profile", "pull"]));
    ok(&home.run_toolgate(&["call", "faulty__ok"]));
    assert!(!home.faulty_pids().is_empty());
}

#[test]
fn required_without_a_valid_profile_serves_nothing() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    reg.mode("down");
    config_with_registry(&home, &reg, &[&org.public], "required = true");
    let mut text = std::fs::read_to_string(home.config_file()).unwrap();
    text.push_str(&format!(
        "\n[servers.faulty]\ncommand = {}\nargs = [{}]\n",
        quote(home.tb.python()),
        quote(&fixture("faulty"))
    ));
    home.write_raw_config(&text);
    let done = home.run_toolgate(&["profile", "pull"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    let done = home.run_toolgate(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    let row = crate::support::server_row(&report, "faulty");
    assert_eq!(row["state"], "blocked", "{}", done.describe());
    assert!(
        row["error"].as_str().unwrap().contains("registry.required"),
        "{row}"
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    assert!(serve.tool_names().is_empty());
    let r = serve.result("tools/call", json!({"name": "faulty__ok", "arguments": {}}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no valid org profile"),
        "{r}"
    );
    serve.finish();
    assert!(home.faulty_pids().is_empty());
}

/// An approved tool that changes is withheld, and calls say which fields
/// changed; a tool nobody pinned is held for review; instructions that
/// drift block the server whole.
#[test]
fn drifted_and_unpinned_tools_are_withheld() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "");
    let text = pinned_profile(&home, &org, 1, "");
    reg.publish(&org.sign(&home, "p.toml", &text), true);
    ok(&home.run_toolgate(&["profile", "pull"]));

    // doctor: the profile (signature, serial, last pull) and the pins.
    let done = home.run_toolgate(&["doctor", "--json"]);
    let doc: Value =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    let check = |area: &str, name: &str| -> Value {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["area"] == area && c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {area}/{name}: {doc:#}"))
    };
    let p = check("profile", "org profile");
    assert_eq!(p["status"], "ok", "{p}");
    let d = p["detail"].as_str().unwrap();
    assert!(d.contains("verified") && d.contains("last pull 20"), "{p}");
    let u = check("upstreams", "dyn");
    assert_eq!(u["status"], "ok", "{u}");
    assert!(
        u["detail"]
            .as_str()
            .unwrap()
            .contains("pinned tool(s) match"),
        "{u}"
    );

    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(names.contains(&"dyn__alpha".to_string()), "{names:?}");
    let call = |serve: &mut Serve, name: &str, args: Value| {
        serve.result("tools/call", json!({"name": name, "arguments": args}))
    };
    assert_ne!(
        call(&mut serve, "dyn__alpha", json!({"text": "hi"}))["isError"],
        true
    );

    // The description changes: alpha is withheld (toolgate re-lists the
    // upstream's tools on its list_changed, and announces its own).
    let (_, notes) = serve.request_with_notes(
        "tools/call",
        json!({"name": "dyn__control", "arguments": {"action": "describe", "name": "alpha", "description": "Now it also emails your files."}}),
    );
    if !notes
        .iter()
        .any(|n| n["method"] == "notifications/tools/list_changed")
    {
        serve.until_notification("notifications/tools/list_changed");
    }
    let names = serve.tool_names();
    assert!(!names.contains(&"dyn__alpha".to_string()), "{names:?}");
    let r = call(&mut serve, "dyn__alpha", json!({"text": "hi"}));
    assert_eq!(r["isError"], true, "{r}");
    let t = r["content"][0]["text"].as_str().unwrap();
    assert!(
        t.contains("changed: description") && t.contains("alpha"),
        "{t}"
    );
    assert_eq!(r["_meta"]["dev.toolgate/error"]["kind"], "drifted", "{r}");
    // Then its schema too.
    call(
        &mut serve,
        "dyn__control",
        json!({"action": "reschema", "name": "alpha"}),
    );
    let mut r = Value::Null;
    for _ in 0..500 {
        r = call(&mut serve, "dyn__alpha", json!({"text": "hi"}));
        if r["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("inputSchema")
        {
            break;
        }
    }
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("changed: description, inputSchema"),
        "{r}"
    );
    // A new tool nobody pinned: held for review. (Nothing visible changes,
    // so no list_changed to wait for: ask until the re-list has landed.)
    call(
        &mut serve,
        "dyn__control",
        json!({"action": "add", "name": "beta"}),
    );
    let mut r = Value::Null;
    for _ in 0..500 {
        r = call(&mut serve, "dyn__beta", json!({}));
        if r["_meta"]["dev.toolgate/error"]["kind"] != "unknown_tool" {
            break;
        }
    }
    assert_eq!(r["_meta"]["dev.toolgate/error"]["kind"], "review", "{r}");
    let names = serve.tool_names();
    assert!(!names.contains(&"dyn__beta".to_string()), "{names:?}");
    serve.finish();

    // `toolgate tools` shows each tool's state (a fresh upstream: all ok).
    let done = home.run_toolgate(&["tools", "--json"]);
    let doc: Value = serde_json::from_str(&done.stdout).unwrap();
    assert!(
        doc["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "ok"),
        "{doc}"
    );

    // Instructions pinned to something else: the server is blocked whole.
    let bad = text.replace("owner = \"platform\"", "owner = \"platform\"\ninstructions = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"").replace("serial = 1", "serial = 2");
    reg.publish(&org.sign(&home, "p2.toml", &bad), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    let done = home.run_toolgate(&["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    let row = crate::support::server_row(&report, "dyn");
    assert_eq!(row["state"], "blocked", "{}", done.describe());
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("instructions changed"),
        "{row}"
    );
}

/// The committed example: signed with the example key, valid against the
/// committed JSON Schema, and pinned for real (re-pinning the same server
/// version gives the same pins).
#[test]
fn the_example_profile_is_signed_valid_and_truly_pinned() {
    let home = Home::new();
    let examples = crate::support::repo().join("profiles/examples");
    let file = examples.join("example-corp.toml");
    let key = examples.join("EXAMPLE-ONLY.pub");
    ok(&home.run_toolgate(&[
        "profile",
        "verify",
        file.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
    ok(&cmd(
        "minisign",
        &["-V", "-m", "example-corp.toml", "-p", "EXAMPLE-ONLY.pub"],
        &examples,
    ));
    let script = "import json, sys, tomllib, jsonschema\nschema = json.load(open(sys.argv[1]))\njsonschema.validate(tomllib.load(open(sys.argv[2], 'rb')), schema)\nprint('valid')\n";
    let schema = crate::support::repo().join("profiles/profile.schema.json");
    let done = cmd(
        home.tb.python(),
        &[
            "-c",
            script,
            schema.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        &examples,
    );
    ok(&done);
    // Re-pin a copy against the test bed's mcp-server-time (the same
    // version the example names).
    let text = std::fs::read_to_string(&file).unwrap();
    let copy = home.path().join("copy.toml");
    std::fs::write(
        &copy,
        text.replace(
            "command = \"uvx\"\nargs = [\"mcp-server-time==2026.10.19\"]",
            &format!("command = {}", quote(home.tb.time())),
        ),
    )
    .unwrap();
    ok(&home.run_toolgate(&["profile", "pin", copy.to_str().unwrap()]));
    let pins = |t: &str| -> Vec<String> {
        let v: toml::Table = toml::from_str(t).unwrap();
        v["servers"]["time"]["tools"]
            .as_table()
            .unwrap()
            .values()
            .map(|t| t["pin"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(pins(&text), pins(&std::fs::read_to_string(&copy).unwrap()));
    // A schema violation is caught by the schema too.
    let bad = home.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace("serial = 1", "serial = 1\nsurprise = true"),
    )
    .unwrap();
    let done = cmd(
        home.tb.python(),
        &[
            "-c",
            script,
            schema.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        &examples,
    );
    assert!(!done.status.success(), "{}", done.describe());
}

/// The org-managed settings file wins over the user's config: its registry,
/// its keys (users cannot add trust) and `required`.
#[test]
fn org_managed_settings_override_the_users_config() {
    let home = Home::new();
    let org = Org::new(&home);
    let mallory = Org::new(&home);
    let reg = Registry::start(&home);
    let evil = Registry::start(&home);
    reg.publish(
        &org.sign(&home, "p.toml", &pinned_profile(&home, &org, 3, "")),
        true,
    );
    evil.publish(
        &mallory.sign(
            &home,
            "m.toml",
            &profile(9, FAR, "[settings]\npersonal_servers = \"allow\"\n"),
        ),
        true,
    );
    // The user points at another registry and trusts another key, and says
    // the profile is optional.
    config_with_registry(&home, &evil, &[&mallory.public], "required = false");
    std::fs::write(
        home.path().join("managed.toml"),
        format!(
            "[registry]\nurl = {}\nkeys = [{}]\nrequired = true\n",
            quote(&reg.profile_url()),
            quote(&org.public)
        ),
    )
    .unwrap();
    ok(&home.run_toolgate(&["profile", "pull"]));
    let s = status(&home);
    assert_eq!(s["serial"], 3, "{s}");
    assert!(
        s["managed"].as_str().unwrap().ends_with("managed.toml"),
        "{s}"
    );
    assert_eq!(
        reg.stats()["requests"],
        2,
        "profile and signature from the managed registry"
    );
    assert_eq!(evil.stats()["requests"], 0);
    // A managed file users could write is refused, not ignored.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        home.path().join("managed.toml"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let done = home.run_toolgate(&["profile", "status"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("can be changed by users"),
        "{}",
        done.describe()
    );
}

/// A running serve puts a newly verified profile in force without a
/// restart: here `toolgate profile pull` updates the cache and SIGUSR1 tells
/// serve to re-read it (serve also pulls by itself, in the background, at
/// start and every `registry.refresh`).
#[test]
fn a_new_profile_applies_to_a_running_serve() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "");
    let full = pinned_profile(&home, &org, 1, "");
    // v1 approves alpha only: control waits for review.
    let mut v1: toml::Table = toml::from_str(&full).unwrap();
    v1["servers"]["dyn"]["tools"]
        .as_table_mut()
        .unwrap()
        .remove("control");
    reg.publish(
        &org.sign(&home, "v1.toml", &toml::to_string(&v1).unwrap()),
        true,
    );
    ok(&home.run_toolgate(&["profile", "pull"]));

    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert_eq!(names, ["dyn__alpha"], "{names:?}");

    reg.publish(
        &org.sign(&home, "v2.toml", &full.replace("serial = 1", "serial = 2")),
        true,
    );
    ok(&home.run_toolgate(&["profile", "pull"]));
    // SAFETY: kill(2) on the PID of our own child process.
    unsafe { libc::kill(serve.pid(), libc::SIGUSR1) };
    serve.until_notification("notifications/tools/list_changed");
    let names = serve.tool_names();
    assert!(names.contains(&"dyn__control".to_string()), "{names:?}");

    // v3 adds a server (dyn2: the same fixture, its own pins): it appears
    // without a restart, and works.
    let dyn2 = full
        .replace("serial = 1", "serial = 3")
        .replace("[servers.dyn", "[servers.dyn2");
    let v3 = format!("{full}\n{}", &dyn2[dyn2.find("[servers.dyn2]").unwrap()..])
        .replace("serial = 1", "serial = 3");
    reg.publish(&org.sign(&home, "v3.toml", &v3), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    unsafe { libc::kill(serve.pid(), libc::SIGUSR1) };
    serve.until_notification("notifications/tools/list_changed");
    let names = serve.tool_names();
    assert!(names.contains(&"dyn2__alpha".to_string()), "{names:?}");
    let r = serve.result(
        "tools/call",
        json!({"name": "dyn2__alpha", "arguments": {"text": "hi"}}),
    );
    assert_ne!(r["isError"], true, "{r}");

    // v4 drops the first server: it goes, without a restart.
    let v4 = format!(
        "{}{}",
        &v3[..v3.find("[servers.dyn]").unwrap()],
        &v3[v3.find("[servers.dyn2]").unwrap()..]
    )
    .replace("serial = 3", "serial = 4");
    reg.publish(&org.sign(&home, "v4.toml", &v4), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    unsafe { libc::kill(serve.pid(), libc::SIGUSR1) };
    serve.until_notification("notifications/tools/list_changed");
    let names = serve.tool_names();
    assert!(!names.iter().any(|n| n.starts_with("dyn__")), "{names:?}");
    assert!(names.contains(&"dyn2__alpha".to_string()), "{names:?}");
    serve.finish();
}

/// Lazy start: with a profile in force, `serve` answers `tools/list` from
/// the pinned definitions without starting anything; the first call starts
/// the server (and checks its tools against their pins).
#[test]
fn serve_lists_pinned_tools_without_starting_servers() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "");
    let file = org.dir.path().join("draft.toml");
    std::fs::write(
        &file,
        profile(
            1,
            FAR,
            &format!(
                "[servers.faulty]\ncommand = {}\nargs = [{}]\nenv = {{ FAULTY_PID_FILE = {} }}\n",
                quote(home.tb.python()),
                quote(&fixture("faulty")),
                quote(&home.pid_file().display().to_string())
            ),
        ),
    )
    .unwrap();
    ok(&home.run_toolgate(&["profile", "pin", file.to_str().unwrap()]));
    let text = std::fs::read_to_string(&file).unwrap();
    reg.publish(&org.sign(&home, "p.toml", &text), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    let _ = std::fs::remove_file(home.pid_file());

    let mut serve = Serve::start(&home);
    serve.initialize();
    let names = serve.tool_names();
    assert!(
        names.contains(&"faulty__ok".to_string()) && names.contains(&"faulty__big".to_string()),
        "{names:?}"
    );
    assert!(home.faulty_pids().is_empty(), "tools/list started a server");
    let r = serve.result("tools/call", json!({"name": "faulty__ok", "arguments": {}}));
    assert_eq!(r["content"][0]["text"], "ok", "{r}");
    assert_eq!(home.faulty_pids().len(), 1, "the first call started it");
    serve.finish();
}

/// A cached profile stays in force offline until it expires (plus grace);
/// `profile status` warns before; after, with `registry.required`, nothing
/// runs. Time is moved with the test clock, not waited for.
#[test]
fn expiry_and_grace_of_the_cached_profile() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "required = true");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // 23 hours ahead: "expires in 22 hours" or "23 hours", whichever second
    // the status is read in.
    let expires = toolgate::util::rfc3339(now + 23 * 3_600);
    let text = pinned_profile(&home, &org, 1, "").replace(FAR, &expires);
    let text = text.replace("serial = 1", "serial = 1\ngrace = \"48h\"");
    reg.publish(&org.sign(&home, "p.toml", &text), true);
    ok(&home.run_toolgate(&["profile", "pull"]));
    let clock = home.path().join("clock");
    let at = |offset: i64, args: &[&str]| {
        std::fs::write(&clock, offset.to_string()).unwrap();
        let mut c = home.toolgate(args);
        c.env("TOOLGATE_TEST_CLOCK_FILE", &clock);
        run_bounded(c, Duration::from_secs(60))
    };
    let s: Value = serde_json::from_str(&at(0, &["profile", "status", "--json"]).stdout).unwrap();
    assert_eq!(s["state"], "active", "{s}");
    assert!(
        s["warning"].as_str().unwrap().contains(" hours, at "),
        "{s}"
    );
    // Expired, but within its grace: still in force, saying so.
    let s: Value =
        serde_json::from_str(&at(2 * 86_400, &["profile", "status", "--json"]).stdout).unwrap();
    assert_eq!(s["state"], "active", "{s}");
    assert!(s["warning"].as_str().unwrap().contains("grace"), "{s}");
    // Past the grace: no profile, and required means nothing runs.
    let done = at(4 * 86_400, &["profile", "status", "--json"]);
    let s: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(s["state"], "missing", "{s}");
    assert!(s["reason"].as_str().unwrap().contains("expired"), "{s}");
    // The profile's servers are gone with it: nothing is started.
    let done = at(4 * 86_400, &["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(report["servers"], json!([]), "{}", done.describe());
    // A server of the user's own is blocked, saying why.
    let mut text = std::fs::read_to_string(home.config_file()).unwrap();
    text.push_str("\n[servers.mine]\ncommand = \"/bin/cat\"\n");
    home.write_raw_config(&text);
    let done = at(4 * 86_400, &["servers", "--json"]);
    let report: Value = serde_json::from_str(&done.stdout).unwrap();
    let row = crate::support::server_row(&report, "mine");
    assert_eq!(row["state"], "blocked", "{}", done.describe());
    assert!(row["error"].as_str().unwrap().contains("expired"), "{row}");
}

/// The org's policy comes with the signed profile; the user's own rules
/// count only where they are stricter.
#[test]
fn org_policy_applies_and_users_can_only_tighten() {
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    let policy = "[policy]\ndefault = \"allow\"\n\n[[policy.rules]]\nid = \"org-no-control\"\nserver = \"dyn\"\ntool = \"control\"\ndecision = \"deny\"\nreason = \"tool lists are managed centrally\"\n";
    let text = pinned_profile(&home, &org, 1, "");
    let text = text.replacen("[servers.dyn]", &format!("{policy}\n[servers.dyn]"), 1);
    reg.publish(&org.sign(&home, "p.toml", &text), true);
    // The user tries to allow what the org denies, and denies alpha.
    config_with_registry(
        &home,
        &reg,
        &[&org.public],
        "\n[[policy.rules]]\nid = \"mine-allow-control\"\ntool = \"control\"\ndecision = \"allow\"\n\n[[policy.rules]]\nid = \"mine-no-alpha\"\ntool = \"alpha\"\ndecision = \"deny\"\n",
    );
    ok(&home.run_toolgate(&["profile", "pull"]));
    let mut serve = Serve::start(&home);
    serve.initialize();
    let call = |serve: &mut Serve, name: &str| {
        serve.result("tools/call", json!({"name": name, "arguments": {"text": "hi", "action": "describe", "name": "alpha", "description": "x"}}))
    };
    let r = call(&mut serve, "dyn__control");
    assert_eq!(
        r["_meta"]["dev.toolgate/error"]["policy"]["rule"], "org-no-control",
        "{r}"
    );
    // Each refusal says whose policy it is.
    let said = |r: &Value| {
        r["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(said(&r).contains("the org's policy denies"), "{r}");
    let r = call(&mut serve, "dyn__alpha");
    assert_eq!(
        r["_meta"]["dev.toolgate/error"]["policy"]["rule"], "mine-no-alpha",
        "{r}"
    );
    assert!(
        said(&r).contains("your policy (config.toml [policy]) denies"),
        "{r}"
    );
    serve.finish();
    // A signed profile whose policy does not compile is refused at pull.
    let broken = text.replace("serial = 1", "serial = 2").replace(
        "decision = \"deny\"",
        "when = [{ arg = \"x\", pattern = \"(\" }]\ndecision = \"deny\"",
    );
    reg.publish(&org.sign_raw("broken.toml", &broken), true);
    let done = home.run_toolgate(&["profile", "pull"]);
    assert_eq!(done.status.code(), Some(1), "{}", done.describe());
    assert!(done.stderr.contains("policy"), "{}", done.describe());
}

/// The org profile turns the audit trail on for everyone under it and
/// names the collector; the user's config says neither.
#[test]
fn the_org_profile_requires_the_audit_trail_and_names_its_collector() {
    use crate::e2e::audit_upload::{Collector, wait_for};
    let home = Home::new();
    let org = Org::new(&home);
    let reg = Registry::start(&home);
    let collector = Collector::start(&home);
    config_with_registry(&home, &reg, &[&org.public], "");
    let audit = format!(
        "[audit]\nrequired = true\nresults = \"redacted\"\n\n[audit.sinks.security]\ntype = \"otlp\"\nurl = \"{}/v1/logs\"\nencoding = \"json\"\nbatch_interval = \"1ms\"\n",
        collector.url
    );
    let text = pinned_profile(&home, &org, 1, &audit);
    reg.publish(&org.sign(&home, "p.toml", &text), true);
    ok(&home.run_toolgate(&["profile", "pull"]));

    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = serve.result(
        "tools/call",
        json!({"name": "dyn__alpha", "arguments": {"text": "hi"}}),
    );
    assert_ne!(r["isError"], true, "{r}");
    wait_for("the call's record at the collector", || {
        collector.lines().iter().any(|l| {
            l["event_name"] == "toolgate.audit.call"
                && l["body"].as_str().unwrap().contains("\"tool\":\"alpha\"")
        })
    });
    serve.finish();
    let got = collector.lines();
    let body: Value = serde_json::from_str(
        got.iter()
            .find(|l| l["event_name"] == "toolgate.audit.call")
            .unwrap()["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["profile_serial"], 1, "{body}");
    assert_eq!(body["server"], "dyn", "{body}");
    // The pin the profile approved, and the (redacted) result it asks for.
    assert!(
        body["pin"].as_str().unwrap().starts_with("sha256:"),
        "{body}"
    );
    assert!(body["outcome"]["result"]["content"].is_array(), "{body}");
    // The profile in force is a governance event of its own.
    assert!(
        got.iter().any(|l| l["body"]
            .as_str()
            .is_some_and(|b| b.contains("\"event\":\"profile.applied\""))),
        "{got:#?}"
    );
}
