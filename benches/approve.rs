//! How fast a held call reaches a person, and how fast a yes reaches the
//! upstream.
//!
//! One `toolgate serve` (the release build) in front of server-everything,
//! with a policy that holds every `echo` call for approval (and lets
//! scripts answer, so the harness can). A subscriber connected to the
//! process's approval socket, as the terminal UI is, plays the person. For
//! each of N calls:
//!
//! - *hold → UI*: from writing the `tools/call` to `serve`'s stdin to the
//!   `held` message arriving on the socket (an upper bound of "from the hold
//!   to the call appearing in a running UI": it includes the stdio hop and
//!   the policy);
//! - *answer → upstream*: from writing the approval to the socket to the
//!   call's result arriving at the client, minus the median round trip of an
//!   un-held `echo` through the same `serve` measured in the same run (so
//!   what remains is the approval's own path to the upstream; the raw
//!   figure is shown too).
//!
//! ```sh
//! cargo bench --bench approve            # 200 calls
//! cargo bench --bench approve -- --calls 50
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(30);

fn everything() -> PathBuf {
    std::env::var_os("TESTBED_EVERYTHING")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/testbed/npm/node_modules/.bin/mcp-server-everything")
        })
}

fn toolgate_bin() -> PathBuf {
    std::env::var_os("TOOLGATE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_toolgate")))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Lines<R> {
    inner: tokio::io::Lines<BufReader<R>>,
}

impl<R: tokio::io::AsyncRead + Unpin> Lines<R> {
    async fn next_json(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.inner.next_line())
            .await
            .expect("answered in time")
            .expect("readable")
            .expect("not closed");
        serde_json::from_str(&line).expect("JSON")
    }

    /// The next message with this `id`, or of this `type`.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.next_json().await;
            if pred(&v) {
                return v;
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let calls: usize = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let home = tempfile::tempdir().expect("a temp dir");
    let config = format!(
        "[servers.everything]\ncommand = {}\nprefix = \"\"\n\n[policy]\ndefault = \"allow\"\n\n\
         [policy.approvals]\ncli = true\n\n[[policy.rules]]\nid = \"hold-echo\"\nserver = \"everything\"\n\
         tool = \"echo\"\nwhen = [{{ arg = \"message\", pattern = \"^hold\" }}]\ndecision = \"step-up\"\n",
        json!(everything().display().to_string())
    );
    std::fs::write(home.path().join("config.toml"), config).expect("config written");
    let mut child = Command::new(toolgate_bin())
        .arg("serve")
        .env("TOOLGATE_HOME", home.path())
        .env("TOOLGATE_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("toolgate serve starts");
    let pid = child.id().expect("a pid");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = Lines {
        inner: BufReader::new(child.stdout.take().expect("stdout")).lines(),
    };
    let mut send = async |v: Value| {
        let mut line = v.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await.expect("written");
        stdin.flush().await.expect("flushed");
    };
    send(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"approve-bench","version":"1"}}})).await;
    out.until(|v| v["id"] == 0).await;
    send(json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
    let socket = home.path().join(format!("run/approve/{pid}.sock"));
    let ui = UnixStream::connect(&socket)
        .await
        .expect("the approval socket");
    let (ui_read, mut ui_write) = ui.into_split();
    let mut ui_in = Lines {
        inner: BufReader::new(ui_read).lines(),
    };
    let hello = ui_in.next_json().await;
    assert_eq!(hello["type"], "hello");

    // Warm-up and the un-held round trip.
    let mut plain = Vec::new();
    for i in 0..(calls + 50) {
        let id = 100_000 + i;
        let began = Instant::now();
        send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":"plain"}}})).await;
        out.until(|v| v["id"] == id).await;
        if i >= 50 {
            plain.push(began.elapsed().as_secs_f64() * 1e3);
        }
    }
    plain.sort_by(f64::total_cmp);
    let plain_p50 = percentile(&plain, 50.0);

    let (mut to_ui, mut to_answer) = (Vec::new(), Vec::new());
    for i in 0..calls {
        let id = i + 1;
        let began = Instant::now();
        send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":format!("hold {i}")}}})).await;
        let held = ui_in.until(|v| v["type"] == "held").await;
        to_ui.push(began.elapsed().as_secs_f64() * 1e3);
        let call = &held["call"];
        let decide = json!({"type": "decide", "decision": {
            "id": call["id"], "session": call["session"], "args_hash": call["args_hash"],
            "allow": true, "scope": "once", "reason": null, "channel": "cli"}});
        let answered = Instant::now();
        ui_write
            .write_all(format!("{decide}\n").as_bytes())
            .await
            .expect("answer written");
        let result = out.until(|v| v["id"] == id).await;
        to_answer.push(answered.elapsed().as_secs_f64() * 1e3);
        assert!(
            result["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("hold {i}")),
            "{result}"
        );
    }
    let _ = child.kill().await;
    to_ui.sort_by(f64::total_cmp);
    to_answer.sort_by(f64::total_cmp);
    let row = |name: &str, v: &[f64], minus: f64, target: &str| {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {target} |",
            percentile(v, 50.0) - minus,
            percentile(v, 90.0) - minus,
            percentile(v, 99.0) - minus
        );
    };
    println!("# toolgate approval benchmark ({calls} held calls)\n");
    println!("| path, ms | p50 | p90 | p99 | target |");
    println!("|---|---:|---:|---:|---|");
    row(
        "request → held call on the UI socket",
        &to_ui,
        0.0,
        "≤ 100 ms",
    );
    row("approval → result at the client (raw)", &to_answer, 0.0, "");
    row(
        "approval → upstream (raw minus un-held echo p50)",
        &to_answer,
        plain_p50,
        "≤ 50 ms",
    );
    println!(
        "\nUn-held echo through the same serve: p50 {plain_p50:.3} ms, p99 {:.3} ms.",
        percentile(&plain, 99.0)
    );
}
