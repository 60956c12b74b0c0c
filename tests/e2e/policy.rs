//! The policy pipeline through `toolgate serve`, with real upstreams: rule
//! decisions (deny, step-up, observe), argument conditions and constraints,
//! `policy explain`, and a policy that does not compile.

use serde_json::{Value, json};

use crate::support::serve::Serve;
use crate::support::{Home, Server};

/// The user's own policy (no org profile): they are their own admin.
const POLICY: &str = r#"
[policy]
default = "allow"

[[policy.rules]]
id = "no-crashing"
server = "faulty"
tool = "crash"
decision = "deny"
reason = "it takes the server down"

[[policy.rules]]
id = "big-needs-approval"
server = "faulty"
tool = "big"
when = [{ arg = "size", gt = 100 }]
decision = "step-up"
timeout = "1ms"

[[policy.rules]]
id = "watch-ok"
server = "faulty"
tool = "ok"
decision = "observe"

[policy.tools."faulty/slow".args.delay]
max = 1
"#;

fn setup() -> Home {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n{POLICY}"));
    home
}

fn meta(r: &Value) -> &Value {
    &r["_meta"]["dev.toolgate/error"]
}

#[test]
fn decisions_and_constraints_through_serve() {
    let home = setup();
    let mut serve = Serve::start(&home);
    serve.initialize();
    let call = |serve: &mut Serve, name: &str, args: Value| {
        serve.result("tools/call", json!({"name": name, "arguments": args}))
    };
    // Deny: answered by toolgate; the upstream never sees it.
    let r = call(&mut serve, "faulty__crash", json!({}));
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(meta(&r)["kind"], "denied", "{r}");
    assert_eq!(meta(&r)["policy"]["rule"], "no-crashing", "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("it takes the server down"),
        "{r}"
    );
    // No org profile: the policy is the user's own, and says so.
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("your policy (config.toml [policy]) denies") && !text.contains("org"),
        "{r}"
    );
    // An argument condition: small is fine, large needs a person.
    let r = call(&mut serve, "faulty__big", json!({"size": 5}));
    assert_eq!(r["content"][0]["text"], "xxxxx", "{r}");
    // (Held for a person; nobody answers within its 1 ms.)
    let r = call(&mut serve, "faulty__big", json!({"size": 500}));
    assert_eq!(meta(&r)["kind"], "step_up_timeout", "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("approval"),
        "{r}"
    );
    // A constraint.
    let r = call(&mut serve, "faulty__slow", json!({"delay": 5}));
    assert_eq!(meta(&r)["kind"], "invalid_arguments", "{r}");
    assert_eq!(meta(&r)["policy"]["argument"], "delay", "{r}");
    let r = call(&mut serve, "faulty__slow", json!({"delay": 0.01}));
    assert_eq!(r["content"][0]["text"], "done", "{r}");
    // Observe: allowed, and flagged.
    let r = call(&mut serve, "faulty__ok", json!({}));
    assert_eq!(r["content"][0]["text"], "ok", "{r}");
    let stderr = serve.stderr();
    serve.finish();
    assert!(stderr.contains("call.observed"), "{stderr}");
    // The denied call never reached the upstream: one process, never crashed.
    assert_eq!(home.faulty_pids().len(), 1);
}

#[test]
fn explain_shows_the_decision_and_the_rules() {
    let home = setup();
    let done = home.run_toolgate(&[
        "policy",
        "explain",
        "faulty__big",
        "--args",
        r#"{"size": 500}"#,
        "--json",
    ]);
    assert!(done.status.success(), "{}", done.describe());
    let doc: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(doc["decision"], "step-up", "{doc}");
    assert_eq!(doc["by"], "big-needs-approval");
    assert_eq!(doc["considered"][0]["matched"], true);
    let done = home.run_toolgate(&[
        "policy",
        "explain",
        "faulty/big",
        "--args",
        r#"{"size": 5}"#,
    ]);
    assert!(
        done.stdout
            .contains("faulty/big: allow (by policy default)"),
        "{}",
        done.describe()
    );
    assert!(
        done.stdout.contains("its conditions do not hold"),
        "{}",
        done.describe()
    );
    let done = home.run_toolgate(&[
        "policy",
        "explain",
        "faulty__slow",
        "--args",
        r#"{"delay": 9}"#,
    ]);
    assert!(
        done.stdout
            .contains("arguments: refused: the argument delay must be a number of at most 1"),
        "{}",
        done.describe()
    );
}

#[test]
fn a_policy_that_does_not_compile_is_an_error() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[[policy.rules]]\ntool = \"ok\"\nwhen = [{{ arg = \"x\", pattern = \"(unclosed\" }}]\ndecision = \"deny\"\n"
    ));
    let done = home.run_toolgate(&["tools"]);
    assert_eq!(done.status.code(), Some(2), "{}", done.describe());
    assert!(
        done.stderr.contains("the policy is invalid"),
        "{}",
        done.describe()
    );
    assert!(home.faulty_pids().is_empty());
}

/// Resource reads go through the same rules (the method as the tool name),
/// and a refusal is a JSON-RPC error, not a tool result.
#[test]
fn resource_reads_are_policed_too() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[[policy.rules]]\nid = \"no-watched\"\ntool = \"resources/read\"\nwhen = [{{ arg = \"uri\", pattern = \"^faulty://watched$\" }}]\ndecision = \"deny\"\n"
    ));
    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = serve.request("resources/read", json!({"uri": "faulty://watched"}));
    assert_eq!(r["error"]["code"], -32004, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-watched"),
        "{r}"
    );
    assert_eq!(
        r["error"]["data"]["dev.toolgate/error"]["policy"]["rule"], "no-watched",
        "{r}"
    );
    serve.finish();
}

/// A limit shared by two concurrent `serve` processes, kept across a
/// restart, and reset by time (the test clock, not a wait).
#[test]
fn rate_limits_are_shared_persisted_and_reset() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[[policy.limits]]\nid = \"ok-per-hour\"\nserver = \"faulty\"\ntool = \"ok\"\nmax = 3\nper = \"hour\"\n"
    ));
    let clock = home.path().join("clock");
    std::fs::write(&clock, "0").unwrap();
    let start = |home: &Home| {
        let mut cmd = home.toolgate(&["serve"]);
        cmd.env("TOOLGATE_TEST_CLOCK_FILE", &clock);
        let mut s = Serve::spawn(cmd);
        s.initialize();
        s
    };
    let call =
        |s: &mut Serve| s.result("tools/call", json!({"name": "faulty__ok", "arguments": {}}));
    let mut a = start(&home);
    let mut b = start(&home);
    assert_eq!(call(&mut a)["content"][0]["text"], "ok");
    assert_eq!(call(&mut b)["content"][0]["text"], "ok");
    assert_eq!(call(&mut a)["content"][0]["text"], "ok");
    // The fourth call, from either process, is over the shared limit.
    let r = call(&mut b);
    assert_eq!(r["isError"], true, "{r}");
    let m = meta(&r);
    assert_eq!(m["kind"], "rate_limited", "{r}");
    assert_eq!(m["policy"]["limit"], "ok-per-hour");
    assert_eq!(m["policy"]["count"], 3);
    let retry = m["policy"]["retry_after_seconds"].as_u64().unwrap();
    assert!((1..=1200).contains(&retry), "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("seconds"),
        "{r}"
    );
    // Another tool is not limited.
    let r = b.result(
        "tools/call",
        json!({"name": "faulty__big", "arguments": {"size": 1}}),
    );
    assert_eq!(r["content"][0]["text"], "x");
    a.finish();
    b.finish();
    // A restart does not reset the count...
    let mut c = start(&home);
    assert_eq!(meta(&call(&mut c))["kind"], "rate_limited");
    c.finish();
    // ...time does: 20 minutes later one call is possible again (3 per hour).
    std::fs::write(&clock, "1200").unwrap();
    let mut d = start(&home);
    assert_eq!(call(&mut d)["content"][0]["text"], "ok");
    assert_eq!(meta(&call(&mut d))["kind"], "rate_limited");
    d.finish();
}

/// Guardrails both ways through serve, with server-everything's `echo`: a
/// secret in the arguments blocks the call; with arguments set to warn, the
/// same secret echoed back is redacted in the result; PII is reported.
#[test]
fn guardrails_on_arguments_and_results() {
    let home = Home::new();
    home.config(&[Server::everything(&home.tb)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n[policy.guardrails]\nbuiltin = true\n"));
    let key = "AKIAIOSFODNN7EXAMPLE";
    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = serve.result(
        "tools/call",
        json!({"name": "everything__echo", "arguments": {"message": format!("my key {key}")}}),
    );
    assert_eq!(meta(&r)["kind"], "guardrail", "{r}");
    assert_eq!(meta(&r)["policy"]["rule"], "secret.aws-access-key", "{r}");
    assert_eq!(meta(&r)["policy"]["path"], "/message", "{r}");
    assert!(!r.to_string().contains(key), "{r}");
    serve.finish();

    // Arguments only warned about: the echoed result is redacted.
    home.write_raw_config(&format!(
        "{text}\n[policy.guardrails.actions]\nsecret = {{ arguments = \"warn\", results = \"redact\" }}\n"
    ));
    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = serve.result("tools/call", json!({"name": "everything__echo", "arguments": {"message": format!("my key {key}, mail jane.doe@example.com")}}));
    assert_ne!(r["isError"], true, "{r}");
    let out = r.to_string();
    assert!(!out.contains(key), "{out}");
    assert!(out.contains("[REDACTED:secret.aws-access-key]"), "{out}");
    assert!(
        out.contains("jane.doe@example.com"),
        "PII is only reported by default: {out}"
    );
    let stderr = serve.stderr();
    serve.finish();
    assert!(stderr.contains("guardrail pii.email matched"), "{stderr}");
    assert!(!stderr.contains(key), "the secret is not logged");
}
