//! The audit trail through `toolgate serve` with a real upstream: one
//! record per call that reached policy (allowed, denied, held), committed
//! before the answer (a `kill -9` loses none the client got), arguments
//! redacted, the chain intact; tampering with the database is named by
//! `toolgate audit verify` and by the independent Python verifier.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::serve::Serve;
use crate::support::{Home, Server, repo, sha256_hex};

const POLICY: &str = r#"
[audit]
enabled = true

[policy]
default = "allow"

[[policy.rules]]
id = "no-crashing"
server = "faulty"
tool = "crash"
decision = "deny"

[[policy.rules]]
id = "big-needs-approval"
server = "faulty"
tool = "big"
when = [{ arg = "size", gt = 100 }]
decision = "step-up"
timeout = "1ms"
"#;

fn setup() -> Home {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!("{text}\n{POLICY}"));
    home
}

fn trail(home: &Home) -> PathBuf {
    home.path().join("state/audit.db")
}

/// Every record of the trail, each checked against the published schema
/// (src/audit/record.schema.json): every test that exports checks it.
fn export(home: &Home) -> Vec<Value> {
    let done = home.run_toolgate(&["audit", "export"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::repo().join("src/audit/record.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the record schema compiles");
    let records: Vec<Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect();
    for r in &records {
        let errors: Vec<String> = validator.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "record does not match the schema: {errors:?}\n{r:#}"
        );
    }
    records
}

fn verify(home: &Home, db: &Path) -> (Option<i32>, Value, Value) {
    let mut cmd = home.toolgate(&["audit", "verify", "--json"]);
    // Point toolgate at a copy: its trail lives in the state folder.
    let state = db.parent().unwrap();
    let copy_home = state.parent().unwrap();
    cmd.env("TOOLGATE_HOME", copy_home);
    let done = crate::support::run_bounded(cmd, std::time::Duration::from_secs(30));
    let ours: Value =
        serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.describe()));
    let py = Command::new(home.tb.python())
        .arg(repo().join("tests/audit/verify.py"))
        .arg(db)
        .arg("--json")
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&py.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&py.stderr)));
    assert_eq!(
        py.status.success(),
        ours["intact"] == true,
        "the two verifiers disagree: {ours:#} vs {theirs:#}"
    );
    (done.status.code(), ours, theirs)
}

/// A copy of the trail (checkpointed into one file) under a fresh home.
fn copy_trail(home: &Home, name: &str) -> PathBuf {
    let src = rusqlite::Connection::open(trail(home)).unwrap();
    src.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let dir = home.path().join(name).join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let dst = dir.join("audit.db");
    std::fs::copy(trail(home), &dst).unwrap();
    dst
}

fn codes(v: &Value) -> Vec<(u64, String)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["seq"].as_u64().unwrap(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_call_is_recorded_and_tampering_is_named() {
    let home = setup();
    let mut serve = Serve::start(&home);
    serve.initialize();
    let call = |serve: &mut Serve, name: &str, args: Value| {
        serve.result("tools/call", json!({"name": name, "arguments": args}))
    };
    call(&mut serve, "faulty__ok", json!({}));
    call(&mut serve, "faulty__crash", json!({}));
    call(&mut serve, "faulty__big", json!({"size": 500}));
    call(
        &mut serve,
        "faulty__ok",
        json!({"token": "ghp_0123456789abcdefghijABCDEFGHIJ012345"}),
    );
    // Not a tool: it never reached policy, so it has no record.
    call(&mut serve, "faulty__nope", json!({}));
    serve.finish();

    let records = export(&home);
    let calls: Vec<&Value> = records.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 4, "{records:#?}");
    let decisions: Vec<&str> = calls
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny", "step-up", "allow"]);
    let r = calls[0];
    assert_eq!(r["v"], 1);
    assert_eq!(r["server"], "faulty");
    assert_eq!(r["tool"], "ok");
    assert_eq!(r["exposed"], "faulty__ok");
    assert_eq!(r["agent"]["name"], "toolgate-e2e-raw");
    assert_eq!(r["outcome"]["error"], false);
    assert!(r["latency_us"].as_u64().is_some() && r["upstream_latency_us"].as_u64().is_some());
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(calls[1]["rules"], json!(["no-crashing"]));
    assert_eq!(calls[1]["outcome"]["error"], true);
    assert_eq!(calls[2]["approval"]["outcome"], "timed out");
    // Redaction before storage.
    assert_eq!(
        calls[3]["arguments"]["token"],
        "[REDACTED:secret.github-token]"
    );
    let raw = std::fs::read(trail(&home)).unwrap();
    let wal = std::fs::read(format!("{}-wal", trail(&home).display())).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(
            !bytes.windows(12).any(|w| w == b"ghp_01234567"),
            "a secret reached the audit database"
        );
    }
    // The approval's governance events are in the trail too.
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "event" && r["event"] == "approval.decided"),
        "{records:#?}"
    );

    // Search: free text and filters.
    let search = |args: &[&str]| -> Vec<Value> {
        let mut all = vec!["audit", "search"];
        all.extend_from_slice(args);
        all.push("--json");
        let done = home.run_toolgate(&all);
        assert_eq!(done.status.code(), Some(0), "{}", done.describe());
        done.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let denied = search(&["--decision", "deny"]);
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["tool"], "crash");
    let redacted = search(&["redacted:SECRET.GITHUB"]);
    assert_eq!(redacted.len(), 1, "case-insensitive: {redacted:?}");
    assert_eq!(redacted[0]["decision"], "allow");
    // The call held for approval, and its two approval events.
    let big = search(&["--server", "faulty", "--tool", "big", "--since", "1h"]);
    assert_eq!(big.len(), 3, "{big:?}");
    assert_eq!(big.iter().filter(|r| r["kind"] == "call").count(), 1);
    assert!(search(&["100%_not_there"]).is_empty());
    assert_eq!(search(&["--tool", "ok", "--limit", "1"]).len(), 1);
    let human = home.run_toolgate(&["audit", "search", "--decision", "step-up"]);
    assert!(human.stdout.contains("faulty/big"), "{}", human.describe());
    let bad = home.run_toolgate(&["audit", "search", "--decision", "maybe"]);
    assert_eq!(bad.status.code(), Some(2), "{}", bad.describe());
    assert!(bad.stderr.contains("step-up"), "{}", bad.describe());

    // Intact, by both verifiers.
    let db = copy_trail(&home, "intact");
    let (code, ours, theirs) = verify(&home, &db);
    assert_eq!(code, Some(0), "{ours:#}");
    assert_eq!(ours["intact"], true);
    assert_eq!(theirs["records"], ours["records"]);

    // Edited in place.
    let db = copy_trail(&home, "edited");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "UPDATE records SET body = replace(body, '\"deny\"', '\"allow\"') WHERE seq = 2",
        [],
    )
    .unwrap();
    drop(c);
    let (code, ours, theirs) = verify(&home, &db);
    assert_eq!(code, Some(1));
    assert_eq!(codes(&ours)[0], (2, "edited".into()), "{ours:#}");
    assert_eq!(codes(&theirs)[0], (2, "edited".into()), "{theirs:#}");

    // Deleted.
    let db = copy_trail(&home, "deleted");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("DELETE FROM records WHERE seq = 3", []).unwrap();
    drop(c);
    let (_, ours, theirs) = verify(&home, &db);
    assert_eq!(codes(&ours)[0], (3, "gap".into()), "{ours:#}");
    assert_eq!(codes(&theirs)[0], (3, "gap".into()), "{theirs:#}");

    // Reordered: two records swap places.
    let db = copy_trail(&home, "reordered");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "UPDATE records SET seq = -2 WHERE seq = 2;
         UPDATE records SET seq = 2 WHERE seq = 3;
         UPDATE records SET seq = 3 WHERE seq = -2;",
    )
    .unwrap();
    drop(c);
    let (_, ours, theirs) = verify(&home, &db);
    assert!(
        codes(&ours).contains(&(2, "seq-mismatch".into())),
        "{ours:#}"
    );
    assert!(
        codes(&theirs).contains(&(2, "seq-mismatch".into())),
        "{theirs:#}"
    );

    // Inserted: a forged record appended, hashed correctly, but not linked.
    let db = copy_trail(&home, "inserted");
    let c = rusqlite::Connection::open(&db).unwrap();
    let last: i64 = c
        .query_row("SELECT MAX(seq) FROM records", [], |r| r.get(0))
        .unwrap();
    let forged = format!(
        r#"{{"kind":"call","prev":"{}","seq":{}}}"#,
        "1".repeat(64),
        last + 1
    );
    let hash = sha256_hex(forged.as_bytes());
    c.execute(
        "INSERT INTO records (seq, id, time, body, hash) VALUES (?1, 'forged', 'now', ?2, ?3)",
        rusqlite::params![last + 1, forged, hash],
    )
    .unwrap();
    drop(c);
    let (_, ours, theirs) = verify(&home, &db);
    let at = (last as u64 + 1, "broken-link".to_string());
    assert!(codes(&ours).contains(&at), "{ours:#}");
    assert!(codes(&theirs).contains(&at), "{theirs:#}");
}

#[test]
fn a_killed_serve_loses_no_answered_call() {
    let home = setup();
    let mut serve = Serve::start(&home);
    serve.initialize();
    let mut answered = Vec::new();
    for i in 0..40 {
        let id = json!(1000 + i);
        serve.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "faulty__ok", "arguments": {"i": i}}}));
        let (r, _) = serve.until_response(&id);
        assert!(r.get("result").is_some(), "{r}");
        answered.push(id.to_string());
    }
    // SAFETY: kill sends a signal to the child this test started.
    unsafe {
        libc::kill(serve.pid(), libc::SIGKILL);
    }
    drop(serve);
    let records = export(&home);
    for id in &answered {
        assert!(
            records
                .iter()
                .any(|r| r["kind"] == "call" && r["correlation"].as_str() == Some(id)),
            "call {id} was answered but has no record"
        );
    }
    let done = home.run_toolgate(&["audit", "verify"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let status = home.run_toolgate(&["audit", "status", "--json"]);
    let s: Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(s["records"].as_u64().unwrap() >= 40, "{s}");
}

/// Runs both verifiers, the Python one pinned to `key`.
fn verify_with_key(home: &Home, db: &Path, key: &str) -> (Value, Value) {
    let (_, ours, _) = verify(home, db);
    let py = Command::new(home.tb.python())
        .arg(repo().join("tests/audit/verify.py"))
        .arg(db)
        .args(["--json", "--key", key])
        .output()
        .unwrap();
    let theirs: Value = serde_json::from_slice(&py.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&py.stderr)));
    (ours, theirs)
}

#[test]
fn signed_checkpoints_catch_truncation_rewrites_and_forgery() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[audit]\nenabled = true\ncheckpoint_every = 5\n"
    ));
    // The device key, made on first use and kept in the keychain.
    let done = home.run_toolgate(&["audit", "key"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let key = done.stdout.trim().to_owned();
    assert!(key.starts_with("ed25519:") && key.len() == 8 + 64, "{key}");
    let again = home.run_toolgate(&["audit", "key", "--json"]);
    let v: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v["key"], key.as_str(), "the key is the same every time");

    let mut serve = Serve::start(&home);
    serve.initialize();
    for i in 0..12 {
        serve.result(
            "tools/call",
            json!({"name": "faulty__ok", "arguments": {"i": i}}),
        );
    }
    serve.finish();

    let conn = rusqlite::Connection::open(trail(&home)).unwrap();
    let cps: Vec<(i64, String, Option<String>)> = conn
        .prepare("SELECT seq, body, sig FROM checkpoints ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let last: i64 = conn
        .query_row("SELECT MAX(seq) FROM records", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    let seqs: Vec<i64> = cps.iter().map(|c| c.0).collect();
    assert!(
        seqs.contains(&5) && seqs.contains(&10),
        "by count: {seqs:?}"
    );
    assert_eq!(*seqs.last().unwrap(), last, "at shutdown: {seqs:?}");
    for (_, body, sig) in &cps {
        let b: Value = serde_json::from_str(body).unwrap();
        assert_eq!(b["key"], key.as_str(), "{body}");
        assert!(sig.is_some(), "{body}");
    }
    let status = home.run_toolgate(&["audit", "verify", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", status.describe());
    let s: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        s["key"],
        key.as_str(),
        "verify checks against the device key"
    );
    assert_eq!(s["signed_checkpoints"], cps.len());

    let db = copy_trail(&home, "intact-cp");
    let (ours, theirs) = verify_with_key(&home, &db, &key);
    assert_eq!(ours["intact"], true, "{ours:#}");
    assert_eq!(theirs["intact"], true, "{theirs:#}");

    // Truncated: the newest records cut off the end. The chain alone
    // cannot tell; the checkpoints can.
    let db = copy_trail(&home, "truncated");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("DELETE FROM records WHERE seq > 7", []).unwrap();
    drop(c);
    let (ours, theirs) = verify_with_key(&home, &db, &key);
    for v in [&ours, &theirs] {
        let found = codes(v);
        assert!(found.contains(&(10, "truncated".into())), "{v:#}");
        assert!(!found.iter().any(|(_, c)| c == "gap"), "{v:#}");
    }

    // Rewritten: record 3 edited and every hash after it recomputed, so
    // the chain links up again; the checkpoints' hashes no longer match.
    let db = copy_trail(&home, "rewritten");
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(i64, String, String)> = c
        .prepare("SELECT seq, body, hash FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut new_prev: Option<(String, String)> = None; // (old hash, new hash)
    for (seq, body, hash) in rows {
        let mut body = body;
        if seq == 3 {
            // Another id: still canonical, another hash.
            let at = body.find("\"id\":\"").unwrap() + 6;
            let flipped = if &body[at..=at] == "a" { "b" } else { "a" };
            body.replace_range(at..=at, flipped);
        }
        if let Some((old, new)) = &new_prev {
            body = body.replace(
                &format!("\"prev\":\"{old}\""),
                &format!("\"prev\":\"{new}\""),
            );
        }
        if seq >= 3 {
            let rehashed = sha256_hex(body.as_bytes());
            c.execute(
                "UPDATE records SET body = ?1, hash = ?2 WHERE seq = ?3",
                rusqlite::params![body, rehashed, seq],
            )
            .unwrap();
            new_prev = Some((hash, rehashed));
        }
    }
    drop(c);
    let (ours, theirs) = verify_with_key(&home, &db, &key);
    for v in [&ours, &theirs] {
        let found = codes(v);
        assert!(found.contains(&(5, "rewritten".into())), "{v:#}");
        assert!(
            !found
                .iter()
                .any(|(_, c)| c == "edited" || c == "broken-link"),
            "the chain itself was made to check out: {v:#}"
        );
    }

    // A forged checkpoint: its body changed, the signature kept.
    let db = copy_trail(&home, "forged");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "UPDATE checkpoints SET body = replace(body, '\"reason\":\"count\"', '\"reason\":\"other\"') WHERE seq = 5",
        [],
    )
    .unwrap();
    drop(c);
    let (ours, theirs) = verify_with_key(&home, &db, &key);
    for v in [&ours, &theirs] {
        assert!(codes(v).contains(&(5, "bad-signature".into())), "{v:#}");
    }
}

/// A tmpfs of `size` mounted on `dir` until dropped (the test bed runs as
/// root, as CI does).
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let done = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "this test mounts a small tmpfs, which needs root: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` with one file, until it is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    path
}

#[test]
fn a_full_disk_denies_calls_loses_no_record_and_recovers() {
    let home = setup();
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&text.replace(
        "[audit]\nenabled = true\n",
        "[audit]\nenabled = true\non_failure = \"deny\"\n",
    ));
    let state = home.path().join("state");
    let _fs = TinyFs::mount(&state, "2m");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let mut answered = Vec::new();
    let mut call = |serve: &mut Serve, i: usize| -> Value {
        let id = json!(5000 + i);
        serve.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "faulty__ok", "arguments": {"i": i}}}));
        let (r, _) = serve.until_response(&id);
        let result = r["result"].clone();
        if result["isError"] != true {
            answered.push(id.to_string());
        }
        result
    };
    for i in 0..3 {
        assert_ne!(call(&mut serve, i)["isError"], true);
    }
    let filler = fill(&state);
    let mut denied = None;
    for i in 3..500 {
        let r = call(&mut serve, i);
        if r["isError"] == true {
            denied = Some(r);
            break;
        }
    }
    let denied = denied.expect("a call is denied once the disk is full");
    let text = denied["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("audit"), "{denied}");
    assert!(text.contains("full"), "names the cause: {denied}");
    // Still full: still denied.
    assert_eq!(call(&mut serve, 600)["isError"], true);
    // Room again: calls go through again (the first may still be refused,
    // its record being the retry).
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = false;
    for i in 700..705 {
        if call(&mut serve, i)["isError"] != true {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "calls recover once there is room");
    serve.finish();
    // Every call the client got a result for has its record; nothing
    // half-written.
    let records = export(&home);
    for id in &answered {
        assert!(
            records
                .iter()
                .any(|r| r["kind"] == "call" && r["correlation"].as_str() == Some(id.as_str())),
            "call {id} was answered but has no record"
        );
    }
    let done = home.run_toolgate(&["audit", "verify"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
}

/// Personal use (no sink, the default `on_failure = "continue"`): a full
/// disk never stops work, and the records lost are counted in an
/// `audit.dropped` event once there is room again.
#[test]
fn a_full_disk_under_personal_use_lets_calls_go_on_and_records_the_gap() {
    let home = setup();
    let state = home.path().join("state");
    let _fs = TinyFs::mount(&state, "2m");
    let mut serve = Serve::start(&home);
    serve.initialize();
    let call = |serve: &mut Serve, i: usize| -> Value {
        let id = json!(5000 + i);
        serve.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "faulty__ok", "arguments": {"i": i}}}));
        serve.until_response(&id).0["result"].clone()
    };
    for i in 0..3 {
        assert_ne!(call(&mut serve, i)["isError"], true);
    }
    let filler = fill(&state);
    // Enough calls that the journal's writes must fail on the full disk.
    for i in 3..300 {
        let r = call(&mut serve, i);
        assert_ne!(r["isError"], true, "call {i} was refused: {r}");
    }
    std::fs::remove_file(&filler).unwrap();
    for i in 300..305 {
        assert_ne!(call(&mut serve, i)["isError"], true);
    }
    serve.finish();
    let records = export(&home);
    let dropped: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"] == "audit.dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "one gap, recorded once: {dropped:#?}");
    let d = &dropped[0]["detail"];
    assert_eq!(d["reason"], "unwritable", "{d}");
    let lost = d["count"].as_u64().unwrap();
    let kept = records.iter().filter(|r| r["kind"] == "call").count() as u64;
    assert!(lost >= 1, "{d}");
    assert_eq!(
        kept + lost,
        305,
        "every call is either recorded or counted: {d}"
    );
    assert!(d["why"].as_str().unwrap().contains("full"), "{d}");
    let done = home.run_toolgate(&["audit", "verify"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
}

#[test]
fn concurrent_serves_share_one_intact_chain() {
    let home = setup();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let mut serve = Serve::start(&home);
                serve.initialize();
                for i in 0..20 {
                    let r = serve.result(
                        "tools/call",
                        json!({"name": "faulty__ok", "arguments": {"i": i}}),
                    );
                    assert_ne!(r["isError"], true, "{r}");
                }
                serve.finish();
            });
        }
    });
    let records = export(&home);
    let calls: Vec<&Value> = records.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 60, "{records:#?}");
    let sessions: std::collections::BTreeSet<&str> = calls
        .iter()
        .map(|r| r["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 3, "three processes wrote");
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    let done = home.run_toolgate(&["audit", "verify", "--strict"]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
}

/// `durability = "fsync"`: every record reaches the disk (an `fdatasync`
/// of the journal) before its answer goes out, seen with strace.
#[test]
fn fsync_durability_syncs_each_record_before_its_answer() {
    let home = Home::new();
    home.config(&[Server::faulty(&home.tb, &home)]);
    let text = std::fs::read_to_string(home.config_file()).unwrap();
    home.write_raw_config(&format!(
        "{text}\n[audit]\nenabled = true\ndurability = \"fsync\"\n"
    ));
    let trace = home.path().join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-s", "400", "-e", "trace=fdatasync,write", "-o"])
        .arg(&trace)
        .arg(crate::support::toolgate_bin())
        .arg("serve");
    home.apply_env(&mut cmd);
    let mut serve = Serve::spawn(cmd);
    serve.initialize();
    for i in 0..5 {
        let r = serve.result(
            "tools/call",
            json!({"name": "faulty__ok", "arguments": {"i": i}}),
        );
        assert_ne!(r["isError"], true, "{r}");
    }
    serve.finish();
    let log = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // Each tool call's answer (a write of a result with content to the IDE)
    // follows an fdatasync of the journal.
    // toolgate's own lines (strace -f also follows the upstream): the
    // process that writes the journal.
    let pid = lines
        .iter()
        .find(|l| l.contains("{\\\"v\\\":1,"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a journal write")
        .to_owned();
    let ours = |l: &str| l.split_whitespace().next() == Some(pid.as_str());
    let calls: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| ours(l))
        .filter(|(_, l)| {
            l.contains("write(") && l.contains("\\\"result\\\"") && l.contains("\\\"content\\\"")
        })
        .map(|(i, _)| i)
        .collect();
    assert!(calls.len() >= 5, "{log}");
    let mut last = 0;
    for &i in &calls[calls.len() - 5..] {
        assert!(
            lines[last..i].iter().any(|l| l.contains("fdatasync(")),
            "an answer went out with no fdatasync before it:\n{}",
            lines[last..=i].join("\n")
        );
        last = i;
    }
}

/// `toolgate call` is a call like any other: it reaches policy, so it is
/// recorded (before its result is shown), with the CLI as its agent; a
/// trail that cannot be written denies it where the settings fail closed.
#[test]
fn a_call_from_the_command_line_is_recorded_and_fails_closed() {
    let home = setup();
    let canary = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let args = json!({ "token": canary }).to_string();
    let done = home.run_toolgate(&["call", "faulty__ok", "--args", &args]);
    assert_eq!(done.status.code(), Some(0), "{}", done.describe());
    let done = home.run_toolgate(&["call", "faulty__crash", "--args", "{}"]);
    assert_ne!(done.status.code(), Some(0), "{}", done.describe());
    assert!(done.stderr.contains("no-crashing"), "{}", done.describe());

    let records = export(&home);
    let calls: Vec<&Value> = records.iter().filter(|r| r["kind"] == "call").collect();
    assert_eq!(calls.len(), 2, "{records:#?}");
    for r in &calls {
        assert_eq!(r["agent"]["name"], "toolgate call");
        assert_eq!(r["server"], "faulty");
        assert!(
            r["correlation"].is_null() && r["session"].is_null(),
            "{r:#}"
        );
    }
    assert_eq!(calls[0]["decision"], "allow");
    assert_eq!(calls[0]["tool"], "ok");
    assert_eq!(calls[0]["exposed"], "faulty__ok");
    assert_eq!(calls[0]["outcome"]["error"], false);
    assert!(calls[0]["upstream_latency_us"].as_u64().is_some());
    assert_eq!(
        calls[0]["arguments"]["token"],
        "[REDACTED:secret.github-token]"
    );
    assert_eq!(calls[1]["decision"], "deny");
    assert_eq!(calls[1]["rules"], json!(["no-crashing"]));
    assert_eq!(calls[1]["outcome"]["error"], true);
    home.assert_nowhere(canary);
    let (code, report, _) = verify(&home, &trail(&home));
    assert_eq!(code, Some(0), "{report:#}");

    // A trail that cannot be opened (a folder where the database goes):
    // with on_failure = "deny", the call does not run.
    let broken = Home::new();
    broken.config(&[Server::faulty(&broken.tb, &broken)]);
    let text = std::fs::read_to_string(broken.config_file()).unwrap();
    broken.write_raw_config(&format!(
        "{text}\n[audit]\nenabled = true\non_failure = \"deny\"\n"
    ));
    std::fs::create_dir_all(trail(&broken)).unwrap();
    let done = broken.run_toolgate(&["call", "faulty__ok", "--args", "{}"]);
    assert_ne!(done.status.code(), Some(0), "{}", done.describe());
    assert!(
        done.stderr.contains("the audit trail cannot be written")
            && done.stderr.contains("the call is denied")
            && done.stderr.contains("hint:"),
        "{}",
        done.describe()
    );
    assert!(
        broken.faulty_pids().is_empty(),
        "the upstream was started for a denied call"
    );
}
