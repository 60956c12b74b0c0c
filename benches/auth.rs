//! What attaching a cached OAuth token costs a call.
//!
//! One run, three `toolgate serve` processes in front of the same remote MCP
//! server (tests/testbed/auth_server.mjs with `AUTH_OPEN=1`: streamable HTTP
//! on loopback, ignoring `Authorization`):
//!
//! - **no token**: the server needs no login, toolgate sends no token;
//! - **cached token**: toolgate holds a (stored) token for the server and
//!   attaches it to every request, checking its expiry each time;
//! - **no token, again**: a second no-token process, the A/A control.
//!
//! Each sends the same sequential `tools/call` of `whoami`, in blocks that
//! take turns, timed from the request line to its response line by a raw
//! JSON-RPC client on toolgate's stdio. Reported: p50/p90/p99 and the ratios
//! to the first path. The server counts the requests that carried a token,
//! which proves the cached-token path really attached one.
//!
//! ```sh
//! bash tests/testbed/setup.sh
//! cargo bench --bench auth [-- --calls 2000 --blocks 10]
//! ```
//!
//! Tokens are kept in the kernel keyutils store for the run (no session bus
//! needed) under a throwaway `TOOLGATE_HOME`, and deleted at the end.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use toolgate::auth::{ClientIdentity, Logins, TokenSet, now_secs};
use toolgate::config::Paths;
use toolgate::secrets::{BackendKind, KeychainSettings, Secret, Vault};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn testbed() -> PathBuf {
    std::env::var_os("TOOLGATE_TESTBED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/testbed"))
}

struct Server {
    child: Child,
    issuer: String,
    mcp_url: String,
    admin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let tb = testbed();
    let node = tb.join("npm/node_modules/.bin/node");
    assert!(
        node.exists(),
        "{} is missing: run `bash tests/testbed/setup.sh` first",
        node.display()
    );
    let mut child = Command::new(node)
        .arg(repo().join("tests/testbed/auth_server.mjs"))
        .env("AUTH_OPEN", "1")
        .env("TOOLGATE_TESTBED", &tb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start auth_server.mjs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the server's address line");
    let info: Value = serde_json::from_str(&line).expect("address JSON");
    Server {
        child,
        issuer: info["issuer"].as_str().unwrap().into(),
        mcp_url: info["mcp_url"].as_str().unwrap().into(),
        admin: info["admin"].as_str().unwrap().into(),
    }
}

fn stats(server: &Server) -> Value {
    let out = Command::new("curl")
        .args(["-s", &format!("{}/stats", server.admin)])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).expect("stats JSON")
}

/// `toolgate serve` driven by raw JSON-RPC lines.
struct Serve {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
    line: String,
}

impl Serve {
    fn start(home: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
            .arg("serve")
            .env("TOOLGATE_HOME", home)
            .env("TOOLGATE_LOG", "warn")
            .env_remove("TOOLGATE_CONFIG")
            .env_remove("TOOLGATE_KEYCHAIN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start toolgate serve");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Self {
            child,
            stdin,
            stdout,
            next: 0,
            line: String::new(),
        };
        s.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
        );
        writeln!(
            s.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let list = s.request("tools/list", json!({}));
            let names: Vec<&str> = list["result"]["tools"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
                .unwrap_or_default();
            if names.contains(&"open__whoami") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "open__whoami never appeared: {list}"
            );
        }
        s
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        writeln!(
            self.stdin,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        )
        .unwrap();
        loop {
            self.line.clear();
            let n = self.stdout.read_line(&mut self.line).expect("read");
            assert!(n > 0, "toolgate closed stdout");
            let v: Value = serde_json::from_str(&self.line).expect("JSON line");
            if v["id"] == id {
                return v;
            }
        }
    }

    /// One call, timed from the line written to its answer read.
    fn timed_call(&mut self, line: &str) -> f64 {
        self.next += 1;
        let id = self.next;
        let text = line.replace("\"id\":0", &format!("\"id\":{id}"));
        let began = Instant::now();
        self.stdin.write_all(text.as_bytes()).unwrap();
        loop {
            self.line.clear();
            let n = self.stdout.read_line(&mut self.line).expect("read");
            assert!(n > 0, "toolgate closed stdout");
            if self.line.contains(&format!("\"id\":{id},"))
                || self.line.contains(&format!("\"id\":{id}}}"))
            {
                let took = began.elapsed().as_secs_f64() * 1000.0;
                assert!(!self.line.contains("\"isError\":true"), "{}", self.line);
                return took;
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let mut calls = 2000usize;
    let mut blocks = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--calls" => calls = args.next().and_then(|v| v.parse().ok()).expect("--calls N"),
            "--blocks" => {
                blocks = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--blocks N")
            }
            "--quick" => calls = 400,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    let server = start_server();
    let scratch = repo().join(format!("target/bench/tmp-auth-{}", std::process::id()));
    let config = format!(
        "[keychain]\nbackend = \"keyutils\"\n\n[servers.open]\nurl = \"{}\"\n",
        server.mcp_url
    );
    let labels = ["no token", "cached token", "no token (A/A control)"];
    let homes: Vec<PathBuf> = (0..3).map(|i| scratch.join(format!("home{i}"))).collect();
    for h in &homes {
        std::fs::create_dir_all(h).unwrap();
        std::fs::write(h.join("config.toml"), &config).unwrap();
    }
    // The cached-token path: a stored login, as `toolgate login` leaves it.
    let token_paths = Paths::under(&homes[1]);
    let vault = Vault::new(
        token_paths.clone(),
        KeychainSettings {
            backend: BackendKind::Keyutils,
        },
    );
    let logins = Logins {
        paths: &token_paths,
        vault: &vault,
    };
    let tokens = TokenSet {
        access_token: Secret::new(format!("bench-{}", "x".repeat(800))),
        token_type: "Bearer".into(),
        expires_at: Some(now_secs() + 86_400),
        refresh_token: None,
        scope: Some("mcp:read".into()),
        issuer: server.issuer.clone(),
        resource: server.mcp_url.clone(),
        client_id: "bench".into(),
        obtained_at: now_secs(),
        subject: None,
    };
    let client = ClientIdentity {
        client_id: "bench".into(),
        client_secret: None,
        auth_method: "none".into(),
    };
    logins
        .save(
            "open",
            &tokens,
            (&format!("{}/token", server.issuer), None),
            &client,
            None,
        )
        .expect("store the bench token (keyutils)");

    let mut serves: Vec<Serve> = homes.iter().map(|h| Serve::start(h)).collect();
    let line = format!(
        "{}\n",
        json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {"name": "open__whoami", "arguments": {}}})
    );
    eprintln!("[auth] warm-up");
    for s in &mut serves {
        for _ in 0..(calls / 4).max(100) {
            s.timed_call(&line);
        }
    }
    let before = stats(&server);
    let per_block = (calls / blocks).max(1);
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for b in 0..blocks {
        for k in 0..3 {
            let i = (b + k) % 3;
            for _ in 0..per_block {
                samples[i].push(serves[i].timed_call(&line));
            }
        }
    }
    let after = stats(&server);
    let with_token = after["mcp_open_with_token"].as_u64().unwrap()
        - before["mcp_open_with_token"].as_u64().unwrap();
    let total = after["mcp_ok"].as_u64().unwrap() - before["mcp_ok"].as_u64().unwrap();
    drop(serves);
    let _ = vault.keychain().and_then(|kc| {
        kc.delete(&toolgate::auth::token_account(
            &tokens.issuer,
            &tokens.resource,
            "bench",
        ))
    });
    let _ = std::fs::remove_dir_all(&scratch);

    let summary: Vec<(f64, f64, f64)> = samples
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.sort_by(f64::total_cmp);
            (
                percentile(&s, 50.0),
                percentile(&s, 90.0),
                percentile(&s, 99.0),
            )
        })
        .collect();
    println!("# toolgate OAuth token benchmark\n");
    println!("- command: `cargo bench --bench auth -- --calls {calls} --blocks {blocks}`");
    println!(
        "- upstream: tests/testbed/auth_server.mjs (AUTH_OPEN=1), streamable HTTP on loopback"
    );
    println!(
        "- requests that carried a token during the measurement: {with_token} of {total} (expected: the cached-token path's {})\n",
        samples[1].len()
    );
    println!("| path | calls | p50 ms | p90 ms | p99 ms | p50 ratio | p99 ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (i, label) in labels.iter().enumerate() {
        let (p50, p90, p99) = summary[i];
        println!(
            "| {label} | {} | {p50:.3} | {p90:.3} | {p99:.3} | {:.2}× | {:.2}× |",
            samples[i].len(),
            p50 / summary[0].0,
            p99 / summary[0].2
        );
    }
    let doc = json!({
        "version": 1,
        "calls_per_path": samples[0].len(),
        "with_token_requests": with_token,
        "paths": labels.iter().enumerate().map(|(i, l)| json!({
            "label": l, "p50_ms": summary[i].0, "p90_ms": summary[i].1, "p99_ms": summary[i].2, "samples_ms": samples[i],
        })).collect::<Vec<_>>(),
    });
    let out = repo().join("target/bench/auth.json");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    std::fs::write(&out, serde_json::to_string(&doc).unwrap()).unwrap();
    eprintln!("raw figures: {}", out.display());
    if with_token as usize != samples[1].len() {
        eprintln!("the cached-token path did not attach its token to every call");
        std::process::exit(1);
    }
}
