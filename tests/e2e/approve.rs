//! Step-up approvals through `toolgate serve` with a real upstream: a held
//! call is listed, approved or denied from a script (where the policy lets
//! scripts answer), times out on the test clock, is withdrawn when the IDE
//! cancels it; two serve processes share one list; the real terminal UI,
//! started after the call was held, approves it in tmux; arguments that
//! point at toolgate's own files are denied.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::serve::Serve;
use crate::support::{Home, Server};

/// The user's own policy (no org profile): big outputs need a person.
fn policy(cli: bool) -> String {
    policy_with(cli, false)
}

fn policy_with(cli: bool, elicitation: bool) -> String {
    format!(
        r#"
[policy]
default = "allow"

[policy.approvals]
timeout = "2m"
cli = {cli}
elicitation = {elicitation}

[[policy.rules]]
id = "big-needs-approval"
server = "faulty"
tool = "big"
when = [{{ arg = "size", gt = 100 }}]
decision = "step-up"
reason = "large outputs cost money"
"#
    )
}

fn setup(cli: bool) -> Home {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n{}", policy(cli)));
    home
}

fn meta(r: &Value) -> &Value {
    &r["_meta"]["dev.toolgate/error"]
}

fn list(home: &Home) -> Vec<Value> {
    let done = home.run_toolgate(&["approve", "--list", "--json"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let doc: Value = serde_json::from_str(&done.stdout).expect("JSON");
    assert_eq!(doc["version"], 1);
    doc["pending"].as_array().unwrap().clone()
}

/// Waits (bounded) until `n` calls are held across the home's processes.
fn wait_held(home: &Home, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = list(home);
        if held.len() >= n {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "{n} held calls expected, got {held:?}"
        );
        std::thread::yield_now();
    }
}

fn call_big(serve: &mut Serve, id: u64, size: u64, meta: Option<Value>) -> Value {
    let mut params = json!({"name": "faulty__big", "arguments": {"size": size}});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    serve.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}));
    json!(id)
}

#[test]
fn held_calls_are_approved_or_denied_from_a_script() {
    let home = setup(true);
    let mut serve = Serve::start(&home);
    serve.initialize();
    // Not held: under the rule's threshold.
    let r = serve.result(
        "tools/call",
        json!({"name": "faulty__big", "arguments": {"size": 3}}),
    );
    assert_eq!(r["content"][0]["text"], "xxx", "{r}");

    // Held, then approved.
    let id = call_big(&mut serve, 50, 150, Some(json!({"progressToken": "p-50"})));
    let held = wait_held(&home, 1);
    let h = &held[0];
    assert_eq!(h["server"], "faulty");
    assert_eq!(h["tool"], "big");
    assert_eq!(h["exposed"], "faulty__big");
    assert_eq!(h["rule"], "big-needs-approval");
    assert_eq!(h["reason"], "large outputs cost money");
    assert_eq!(h["args"], json!({"size": 150}));
    assert_eq!(h["agent"]["name"], "toolgate-e2e-raw");
    assert!(
        h["deadline_ms"].as_i64().unwrap() - h["held_at_ms"].as_i64().unwrap() == 120_000,
        "{h}"
    );
    let text = home.run_toolgate(&["approve", "--list"]);
    assert!(
        text.stdout.contains(h["id"].as_str().unwrap()),
        "{}",
        text.describe()
    );
    let done = home.run_toolgate(&["approve", h["id"].as_str().unwrap(), "--allow"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    assert!(done.stderr.contains("approved call"), "{}", done.describe());
    let (r, before) = serve.until_response(&id);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(150), "{r}");
    // The IDE heard that the call was waiting.
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/progress"
                && m["params"]["progressToken"] == "p-50"
                && m["params"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("waiting for approval")),
        "{before:?}"
    );
    assert!(list(&home).is_empty());

    // Held, then denied with a reason.
    let id = call_big(&mut serve, 51, 200, None);
    let h = wait_held(&home, 1).remove(0);
    let done = home.run_toolgate(&[
        "approve",
        h["id"].as_str().unwrap(),
        "--deny",
        "--reason",
        "not today",
    ]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let (r, _) = serve.until_response(&id);
    let r = &r["result"];
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(meta(r)["kind"], "step_up_denied", "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not today"),
        "{r}"
    );
    // An id that waits no more.
    let again = home.run_toolgate(&["approve", h["id"].as_str().unwrap(), "--allow"]);
    assert_ne!(again.status.code(), Some(0));
    assert!(again.stderr.contains("no call"), "{}", again.describe());

    // Left alone, it times out (on the test clock) and is denied.
    let id = call_big(&mut serve, 52, 300, None);
    wait_held(&home, 1);
    home.advance_clock(121);
    let (r, _) = serve.until_response(&id);
    assert_eq!(meta(&r["result"])["kind"], "step_up_timeout", "{r}");
    assert!(list(&home).is_empty());

    // Cancelled by the IDE: it leaves the list, and no answer comes.
    let id = call_big(&mut serve, 53, 400, None);
    wait_held(&home, 1);
    serve.notify(
        "notifications/cancelled",
        json!({"requestId": id, "reason": "user pressed stop"}),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !list(&home).is_empty() {
        assert!(Instant::now() < deadline, "the cancelled call stayed held");
    }
    let stderr = serve.stderr();
    serve.finish();
    for outcome in ["approved", "rejected", "timed out", "cancelled"] {
        assert!(
            stderr.contains(&format!("outcome=\"{outcome}\""))
                || stderr.contains(&format!("outcome={outcome}")),
            "approval.decided {outcome} not logged:\n{stderr}"
        );
    }
    // Once the process is gone, so is its socket.
    assert!(list(&home).is_empty());
}

#[test]
fn scripts_cannot_answer_unless_the_policy_allows() {
    let home = setup(false);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let id = call_big(&mut serve, 60, 150, None);
    let h = wait_held(&home, 1).remove(0);
    let done = home.run_toolgate(&["approve", h["id"].as_str().unwrap(), "--allow"]);
    assert_ne!(done.status.code(), Some(0), "{}", done.describe());
    assert!(
        done.stderr.contains("refuses approvals from scripts"),
        "{}",
        done.describe()
    );
    // Still waiting: the refused answer changed nothing.
    assert_eq!(list(&home).len(), 1);
    // The UI refuses to run without a terminal.
    let ui = home.run_toolgate(&["approve"]);
    assert_ne!(ui.status.code(), Some(0));
    assert!(
        ui.stderr.contains("interactive terminal"),
        "{}",
        ui.describe()
    );
    home.advance_clock(200);
    let (r, _) = serve.until_response(&id);
    assert_eq!(meta(&r["result"])["kind"], "step_up_timeout", "{r}");
    serve.finish();
}

#[test]
fn two_serve_processes_share_one_list() {
    let home = setup(true);
    let mut a = Serve::start(&home);
    let mut b = Serve::start(&home);
    a.initialize();
    b.initialize();
    let ida = call_big(&mut a, 70, 150, None);
    let idb = call_big(&mut b, 71, 160, None);
    let held = wait_held(&home, 2);
    let pids: std::collections::BTreeSet<i64> =
        held.iter().map(|h| h["pid"].as_i64().unwrap()).collect();
    assert_eq!(pids.len(), 2, "{held:?}");
    for h in &held {
        let done = home.run_toolgate(&["approve", h["id"].as_str().unwrap(), "--allow"]);
        assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    }
    let (r, _) = a.until_response(&ida);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(150));
    let (r, _) = b.until_response(&idb);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(160));
    // A serve that exits takes its held calls away.
    let _ = call_big(&mut a, 72, 170, None);
    wait_held(&home, 1);
    a.finish();
    assert!(list(&home).is_empty());
    b.finish();
}

#[test]
fn arguments_naming_toolgates_own_files_are_denied() {
    // No policy at all: self-protection still applies.
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let config = home.config_file().display().to_string();
    let r = serve.result(
        "tools/call",
        json!({"name": "faulty__ok", "arguments": {"text": format!("cat {config}")}}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(meta(&r)["kind"], "self_protection", "{r}");
    // Escaped in JSON, it is still seen.
    let escaped = config.replace('/', "\\/");
    serve.send_line(&format!(
        r#"{{"jsonrpc":"2.0","id":91,"method":"tools/call","params":{{"name":"faulty__ok","arguments":{{"text":"{escaped}"}}}}}}"#
    ));
    let (r, _) = serve.until_response(&json!(91));
    assert_eq!(meta(&r["result"])["kind"], "self_protection", "{r}");
    // Other paths are fine.
    let r = serve.result(
        "tools/call",
        json!({"name": "faulty__ok", "arguments": {"text": "/etc/hostname"}}),
    );
    assert_ne!(r["isError"], true, "{r}");
    serve.finish();
}

/// tmux, on a server of the test's own.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(home: &Home, width: u16, height: u16) -> Self {
        let socket = format!("toolgate-test-{}", std::process::id())
            + &format!("-{}", home.path().file_name().unwrap().to_string_lossy());
        let mut cmd = std::process::Command::new("tmux");
        home.apply_env(&mut cmd);
        let bin = crate::support::toolgate_bin();
        let status = cmd
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "ui",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(format!("{bin} approve"))
            .status()
            .expect("tmux runs (bash tests/testbed/setup.sh installs it)");
        assert!(status.success());
        Self { socket }
    }

    fn screen(&self) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "ui"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (bounded) until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        self.wait_for_all(&[text])
    }

    /// Waits (bounded) until the screen shows every one of `texts`.
    fn wait_for_all(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if texts.iter().all(|t| screen.contains(t)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the UI never showed {texts:?}:\n{screen}"
            );
            std::thread::yield_now();
        }
    }

    fn keys(&self, keys: &[&str]) {
        let status = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "ui"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn the_terminal_ui_approves_and_denies() {
    let home = setup(false);
    let mut serve = Serve::start(&home);
    serve.initialize();
    // Held before the UI starts: the UI still shows it.
    let id = call_big(&mut serve, 80, 150, None);
    wait_held(&home, 1);
    let ui = Tmux::start(&home, 80, 24);
    // (Waiting for all of it: a capture may catch a frame half drawn.)
    ui.wait_for_all(&[
        "faulty/big",
        "big-needs-approval",
        "\"size\": 150",
        "toolgate-e2e-raw",
    ]);
    ui.keys(&["a"]);
    let (r, _) = serve.until_response(&id);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(150), "{r}");

    // Held while the UI runs: it appears, and is denied with a reason.
    let id = call_big(&mut serve, 81, 250, None);
    ui.wait_for("\"size\": 250");
    ui.keys(&["d"]);
    ui.keys(&["-l", "too big"]);
    ui.keys(&["Enter"]);
    let (r, _) = serve.until_response(&id);
    let r = &r["result"];
    assert_eq!(meta(r)["kind"], "step_up_denied", "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("too big"),
        "{r}"
    );
    // The activity view shows both decisions.
    ui.keys(&["Tab"]);
    ui.wait_for_all(&["│ Activity", "approved", "rejected"]);
    // Closing the UI loses nothing: a call held while it was open keeps
    // waiting, and a new UI answers it.
    ui.keys(&["Tab"]);
    let id = call_big(&mut serve, 82, 260, None);
    ui.wait_for("\"size\": 260");
    ui.keys(&["q"]);
    drop(ui);
    assert_eq!(wait_held(&home, 1)[0]["args"]["size"], 260);
    let ui = Tmux::start(&home, 80, 24);
    ui.wait_for("\"size\": 260");
    ui.keys(&["a"]);
    let (r, _) = serve.until_response(&id);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(260), "{r}");
    ui.keys(&["q"]);
    serve.finish();
}

#[test]
fn the_ide_answers_by_elicitation_where_enabled() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n{}", policy_with(false, true)));
    // The scenario allows one call in the IDE, declines one, answers
    // "deny" to one (it fails unless each gets its answer).
    crate::support::py(&home, "approval_by_elicitation");
}

#[test]
fn one_terminal_ui_serves_two_serve_processes() {
    let home = setup(false);
    let mut a = Serve::start(&home);
    let mut b = Serve::start(&home);
    a.initialize();
    b.initialize();
    let ui = Tmux::start(&home, 80, 24);
    ui.wait_for("2 processes connected");
    let ida = call_big(&mut a, 90, 150, None);
    wait_held(&home, 1);
    let idb = call_big(&mut b, 91, 160, None);
    ui.wait_for("2 pending");
    // The first held (soonest deadline) is selected: approve it, then move
    // to the other and approve that.
    ui.keys(&["a"]);
    let (r, _) = a.until_response(&ida);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(150), "{r}");
    ui.wait_for("1 pending");
    ui.keys(&["k"]);
    ui.keys(&["a"]);
    let (r, _) = b.until_response(&idb);
    assert_eq!(r["result"]["content"][0]["text"], "x".repeat(160), "{r}");
    // A serve that exits leaves the UI.
    b.finish();
    ui.wait_for("1 process connected");
    ui.keys(&["q"]);
    a.finish();
}
