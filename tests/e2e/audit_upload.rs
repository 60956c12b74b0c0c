//! Uploading the audit trail to a real OTLP/HTTP receiver and an NDJSON
//! webhook (tests/collector/receiver.py, decoding with PyPI
//! `opentelemetry-proto`): every record arrives once, in each encoding,
//! with the sink's secret header; records leave the local trail only once
//! every sink has them, and the chain that remains still verifies; a busy
//! collector's `Retry-After` is honoured (on the test clock) and nothing is
//! lost or duplicated.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::serve::Serve;
use crate::support::{Home, Server, repo, run_bounded, sha256_hex};

/// The test collector, stopped on drop.
pub(crate) struct Collector {
    child: Child,
    pub(crate) url: String,
    out: PathBuf,
    /// Outside toolgate's home (which is searched for leaked secrets).
    _dir: tempfile::TempDir,
}

impl Collector {
    pub(crate) fn start(home: &Home) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("collected.ndjson");
        let mut child = Command::new(home.tb.python())
            .arg(repo().join("tests/collector/receiver.py"))
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the collector");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the collector prints its port");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("port: {line:?}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            out,
            _dir: dir,
        }
    }

    pub(crate) fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn post(&self, path: &str, body: &Value) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-f", "-X", "POST", "-d", &body.to_string()])
            .arg(format!("{}{path}", self.url));
        let done = run_bounded(cmd, Duration::from_secs(30));
        assert!(done.status.success(), "{}", done.describe());
    }

    fn stats(&self) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-f", &format!("{}/stats", self.url)]);
        let done = run_bounded(cmd, Duration::from_secs(30));
        serde_json::from_str(&done.stdout).unwrap()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it holds (at most 30 s): for effects of another
/// process that has no way to tell us.
pub(crate) fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json_of(home: &Home, args: &[&str]) -> (Option<i32>, Value) {
    let done = home.run_toolgate(args);
    let v =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    (done.status.code(), v)
}

fn calls(home: &Home, n: usize) {
    let mut serve = Serve::start(home);
    serve.initialize();
    for i in 0..n {
        serve.result(
            "tools/call",
            json!({"name": "faulty__ok", "arguments": {"i": i}}),
        );
    }
    serve.finish();
}

/// The faulty fixture as the only server, the audit trail on, and `extra`
/// (sinks, spool) after `[audit]`.
fn audited_home(home: &Home, extra: &str) {
    home.config(&[Server::faulty(&home.tb, home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n[audit]\nenabled = true\n\n{extra}"));
}

const CANARY: &str = "collector-canary-9f8e7d6c5b4a";

#[test]
fn records_reach_every_sink_once_and_then_leave_the_local_trail() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the sink's token is kept in the Secret Service: run through `bash tests/run.sh`"
    );
    let home = Home::new();
    let collector = Collector::start(&home);
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    // Uploads happen on `audit flush` only: the background never finds a
    // batch due (an hour's interval, huge batches).
    let sink = |name: &str, kind: &str, path: &str, extra: &str| {
        format!(
            "[audit.sinks.{name}]\ntype = \"{kind}\"\nurl = \"{}{path}\"\nbatch_records = 100000\nbatch_interval = \"1h\"\nheaders = {{ Authorization = \"Bearer ${{secret:collector-token}}\" }}\n{extra}\n",
            collector.url
        )
    };
    home.write_raw_config(&format!(
        "{text}\n[audit]\nenabled = true\n\n{}{}{}",
        sink("pb", "otlp", "/v1/logs", ""),
        sink(
            "js",
            "otlp",
            "/v1/logs",
            "encoding = \"json\"\ngzip = false"
        ),
        sink("hook", "webhook", "/webhook", ""),
    ));
    let done = home.run_toolgate_input(&["secret", "set", "audit", "collector-token"], CANARY);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let key = home
        .run_toolgate(&["audit", "key"])
        .stdout
        .trim()
        .to_owned();

    calls(&home, 15);
    let exported: Vec<Value> = home
        .run_toolgate(&["audit", "export"])
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bodies: BTreeMap<String, String> = home
        .run_toolgate(&["audit", "export"])
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap().to_owned(), l.to_owned())
        })
        .collect();
    assert!(exported.len() >= 15, "{exported:?}");
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    for s in status["sinks"].as_array().unwrap() {
        assert_eq!(s["waiting"], exported.len(), "{status:#}");
    }

    let (code, flushed) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(0), "{flushed:#}");
    assert_eq!(flushed["ok"], true);

    let got = collector.lines();
    for (encoding, gz) in [("protobuf", true), ("json", false), ("ndjson", true)] {
        let mine: Vec<&Value> = got.iter().filter(|l| l["encoding"] == encoding).collect();
        assert!(mine.iter().all(|l| l["gzip"] == gz), "{encoding}: {mine:?}");
        assert!(
            mine.iter()
                .all(|l| l["authorization"] == format!("Bearer {CANARY}").as_str()),
            "{encoding}: the sink's header"
        );
        let records: Vec<&&Value> = mine
            .iter()
            .filter(|l| l["event_name"] != "toolgate.audit.checkpoint")
            .collect();
        // Every record once, exactly as stored (the body that was hashed).
        let mut seen = BTreeSet::new();
        for l in &records {
            let body = l["body"].as_str().unwrap();
            let v: Value = serde_json::from_str(body).unwrap();
            let id = v["id"].as_str().unwrap().to_owned();
            assert_eq!(
                bodies.get(&id).map(String::as_str),
                Some(body),
                "{encoding}"
            );
            assert!(seen.insert(id), "{encoding}: a duplicate");
        }
        assert_eq!(seen.len(), bodies.len(), "{encoding}: every record");
        if encoding == "ndjson" {
            continue;
        }
        for l in &records {
            let body = l["body"].as_str().unwrap();
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(l["id"], v["id"], "{encoding}");
            assert_eq!(l["seq"], v["seq"], "{encoding}");
            assert_eq!(
                l["hash"].as_str().unwrap(),
                sha256_hex(body.as_bytes()),
                "{encoding}"
            );
            let kind = v["kind"].as_str().unwrap();
            assert_eq!(l["event_name"], format!("toolgate.audit.{kind}"));
            assert_eq!(l["scope"], "toolgate.audit");
            assert_eq!(l["severity"], 9);
            assert_eq!(l["resource"]["service.name"], "toolgate");
            assert_eq!(l["resource"]["toolgate.audit.key"], key.as_str());
            assert!(l["time_unix_nano"].as_u64().unwrap() > 1_700_000_000_000_000_000);
        }
        // The shutdown checkpoint went too, signed.
        let cps: Vec<&&Value> = mine
            .iter()
            .filter(|l| l["event_name"] == "toolgate.audit.checkpoint")
            .collect();
        assert!(!cps.is_empty(), "{encoding}: no checkpoint");
        assert!(cps.iter().all(|c| c["signature"].is_string()));
    }

    // Every sink has every record: none is left on this machine, and what
    // comes next chains on from the anchor.
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    assert_eq!(status["records"], 0, "{status:#}");
    calls(&home, 3);
    let (code, verified) = json_of(&home, &["audit", "verify", "--json"]);
    assert_eq!(code, Some(0), "{verified:#}");
    assert_eq!(
        verified["anchor"]["seq"].as_u64().unwrap(),
        exported.len() as u64,
        "{verified:#}"
    );
    let py = Command::new(home.tb.python())
        .arg(repo().join("tests/audit/verify.py"))
        .arg(home.path().join("state/audit.db"))
        .args(["--key", &key])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stdout)
    );
    // The token went to the collector and nowhere else.
    home.assert_nowhere(CANARY);
}

#[test]
fn a_busy_collector_is_waited_for_and_nothing_is_lost_or_sent_twice() {
    let home = Home::new();
    let collector = Collector::start(&home);
    audited_home(
        &home,
        &format!(
            "[audit.sinks.org]\ntype = \"otlp\"\nurl = \"{}/v1/logs\"\nbatch_records = 4\nbatch_interval = \"1ms\"\n",
            collector.url
        ),
    );
    // The first upload is refused: busy, come back in an hour.
    collector.post(
        "/control",
        &json!({"status": 503, "retry_after": "3600", "times": 1}),
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    for i in 0..10 {
        serve.result(
            "tools/call",
            json!({"name": "faulty__ok", "arguments": {"i": i}}),
        );
    }
    let status = || json_of(&home, &["audit", "status", "--json"]).1;
    wait_for("the first upload attempt's outcome", || {
        status()["sinks"][0]["last_error"].is_string()
    });
    assert_eq!(collector.stats()["refused"], 1);
    let status = status();
    let sink = &status["sinks"][0];
    assert!(
        sink["last_error"].as_str().unwrap().contains("503"),
        "{status:#}"
    );
    assert!(sink["next_attempt"].is_string(), "{status:#}");
    assert!(sink["waiting"].as_u64().unwrap() >= 10, "{status:#}");
    // Nothing more is tried before the hour is up.
    assert_eq!(collector.stats()["attempts"], 1);
    assert!(collector.lines().is_empty());

    // An hour later (on the test clock) the uploader comes back by itself.
    home.advance_clock(3601);
    wait_for("the upload after Retry-After", || {
        collector.lines().len() >= 10
    });
    serve.finish();
    // What came after (the shutdown checkpoint, late records) goes too.
    let (code, flushed) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(0), "{flushed:#}");

    let got = collector.lines();
    let seqs: Vec<u64> = got
        .iter()
        .filter(|l| l["event_name"] != "toolgate.audit.checkpoint")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    let last = *seqs.iter().max().unwrap();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=last).collect::<Vec<_>>(),
        "every record exactly once"
    );
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    assert_eq!(status["records"], 0, "{status:#}");
    assert_eq!(status["sinks"][0]["waiting"], 0, "{status:#}");
    let (code, verified) = json_of(&home, &["audit", "verify", "--json"]);
    assert_eq!(code, Some(0), "{verified:#}");

    // Someone removes the anchor and the checkpoints too: the collector's
    // acknowledgement still shows that records are missing.
    let db = home.path().join("state/audit.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("DELETE FROM anchor; DELETE FROM checkpoints;")
        .unwrap();
    drop(c);
    let (code, verified) = json_of(&home, &["audit", "verify", "--json"]);
    assert_eq!(code, Some(1), "{verified:#}");
    let problems = verified["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["code"] == "truncated"
                && p["message"].as_str().unwrap().contains("acknowledged")),
        "{verified:#}"
    );
}

#[test]
fn an_unreachable_sink_keeps_records_until_it_has_them() {
    let home = Home::new();
    let collector = Collector::start(&home);
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    home.config(&[Server::faulty(&home.tb, &home)]);
    let base = std::fs::read_to_string(home.config_file()).unwrap();
    let config = |with_dead: bool| {
        let mut text = format!(
            "{base}\n[audit]\nenabled = true\n\n[audit.sinks.up]\ntype = \"webhook\"\nurl = \"{}/webhook\"\nbatch_interval = \"1h\"\n",
            collector.url
        );
        if with_dead {
            text.push_str(&format!(
                "\n[audit.sinks.down]\ntype = \"otlp\"\nurl = \"http://127.0.0.1:{dead}/v1/logs\"\nbatch_interval = \"1h\"\n"
            ));
        }
        text
    };
    home.write_raw_config(&config(true));
    calls(&home, 5);
    let (code, flushed) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(1), "{flushed:#}");
    let down = flushed["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sink"] == "down")
        .unwrap();
    assert!(
        down["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{flushed:#}"
    );
    // The reachable sink has them all, but one sink does not: kept.
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    let total = status["records"].as_u64().unwrap();
    assert!(total >= 5, "{status:#}");
    assert_eq!(collector.lines().len() as u64, total);
    // The org drops the dead sink: now they can go.
    home.write_raw_config(&config(false));
    let (code, _) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(0));
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    assert_eq!(status["records"], 0, "{status:#}");
    assert_eq!(collector.lines().len() as u64, total, "nothing sent twice");
}

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn call_text(serve: &mut Serve, i: usize) -> Value {
    serve.result(
        "tools/call",
        json!({"name": "faulty__ok", "arguments": {"i": i}}),
    )
}

#[test]
fn without_a_sink_old_records_rotate_out_and_work_goes_on() {
    let home = Home::new();
    audited_home(&home, "[audit.spool]\nmax_age = \"1h\"\n");
    calls(&home, 5);
    let (_, before) = json_of(&home, &["audit", "status", "--json"]);
    let old = before["last_seq"].as_u64().unwrap();
    home.advance_clock(2 * 3600);
    let mut serve = Serve::start(&home);
    serve.initialize();
    let r = call_text(&mut serve, 0);
    assert_ne!(r["isError"], true, "{r}");
    wait_for("rotation", || {
        json_of(&home, &["audit", "status", "--json"]).1["first_seq"]
            .as_u64()
            .is_some_and(|f| f > old)
    });
    serve.finish();
    let (code, verified) = json_of(&home, &["audit", "verify", "--json"]);
    assert_eq!(code, Some(0), "{verified:#}");
    assert!(
        verified["anchor"]["seq"].as_u64().unwrap() >= old,
        "{verified:#}"
    );
}

#[test]
fn a_full_spool_denies_calls_where_the_org_says_so() {
    let home = Home::new();
    audited_home(
        &home,
        &format!(
            "[audit.sinks.org]\ntype = \"otlp\"\nurl = \"http://127.0.0.1:{}/v1/logs\"\n\n[audit.spool]\nmax_bytes = 1\n",
            dead_port()
        ),
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let mut i = 0;
    let mut denied = Value::Null;
    wait_for("a denial", || {
        i += 1;
        let r = call_text(&mut serve, i);
        let full = r["isError"] == true;
        if full {
            denied = r;
        }
        full
    });
    let text = denied["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("audit spool"), "{denied}");
    assert!(text.contains("toolgate audit status"), "{denied}");
    serve.finish();
    let records: Vec<Value> = home
        .run_toolgate(&["audit", "export"])
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["decision"] == "blocked" && r["rules"] == json!(["builtin.audit-spool"])),
        "the denial is recorded too"
    );
}

#[test]
fn drop_oldest_keeps_working_and_records_the_gap() {
    let home = Home::new();
    audited_home(
        &home,
        &format!(
            "[audit.sinks.org]\ntype = \"otlp\"\nurl = \"http://127.0.0.1:{}/v1/logs\"\n\n[audit.spool]\nmax_bytes = 40000\nwhen_full = \"drop-oldest\"\n",
            dead_port()
        ),
    );
    let mut serve = Serve::start(&home);
    serve.initialize();
    let mut i = 0;
    wait_for("a dropped record", || {
        i += 1;
        let r = call_text(&mut serve, i);
        assert_ne!(r["isError"], true, "drop-oldest never denies: {r}");
        home.run_toolgate(&["audit", "export"])
            .stdout
            .contains("\"event\":\"audit.dropped\"")
    });
    serve.finish();
    let (code, verified) = json_of(&home, &["audit", "verify", "--json"]);
    assert_eq!(code, Some(0), "{verified:#}");
    assert!(verified["anchor"].is_object(), "{verified:#}");
}

#[test]
fn a_slow_collector_times_out_and_nothing_is_lost_after_dedupe() {
    let home = Home::new();
    let collector = Collector::start(&home);
    audited_home(
        &home,
        &format!(
            "[audit.sinks.org]\ntype = \"webhook\"\nurl = \"{}/webhook\"\nbatch_interval = \"1h\"\ntimeout = \"300ms\"\n",
            collector.url
        ),
    );
    calls(&home, 6);
    // The collector takes 3 s over the first upload: toolgate gives up
    // after 300 ms (the collector keeps what it got, late).
    collector.post("/control", &json!({"delay": 3, "times": 1}));
    let (code, flushed) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(1), "{flushed:#}");
    let error = flushed["sinks"][0]["error"].as_str().unwrap();
    assert!(error.contains("could not be reached"), "{flushed:#}");
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    let total = status["records"].as_u64().unwrap();
    assert!(total >= 6, "kept until delivered: {status:#}");
    // Next time it answers at once.
    let (code, flushed) = json_of(&home, &["audit", "flush", "--json"]);
    assert_eq!(code, Some(0), "{flushed:#}");
    let (_, status) = json_of(&home, &["audit", "status", "--json"]);
    assert_eq!(status["records"], 0, "{status:#}");
    // The late first batch arrives too: duplicates, which the ids sort out.
    wait_for("the slow batch", || {
        collector.lines().len() as u64 >= 2 * total
    });
    let ids: BTreeSet<String> = collector
        .lines()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l["body"].as_str().unwrap()).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len() as u64, total, "every record, once after dedupe");
}
