//! What the audit trail costs: a call's record committed through the
//! writer (the way `serve` does before each answer), sequentially and with
//! many in flight.
//!
//! ```sh
//! cargo bench --bench audit
//! ```

use std::time::Instant;

use toolgate::audit::{Record, Writer};

fn record(i: u64) -> Record {
    let mut r = Record::new("call");
    r.server = Some("everything".into());
    r.tool = Some("echo".into());
    r.exposed = Some("echo".into());
    r.decision = Some("allow".into());
    r.arguments = Some(serde_json::json!({"message": format!("hello {i}")}));
    r.latency_us = Some(120);
    r
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A signed checkpoint every 1,000 records, as `serve` writes them.
    let w = Writer::start(&dir.path().join("audit.db"), false, 1000).expect("the trail opens");
    w.set_signer(toolgate::audit::sign::Signer::ready(
        toolgate::audit::sign::DeviceKey::generate().expect("a key"),
    ));
    for i in 0..1000 {
        w.commit(record(i), false).await.expect("committed");
    }
    let mut seq_us = Vec::new();
    let mut make_us = Vec::new();
    for i in 0..10_000 {
        let t = Instant::now();
        let r = record(i);
        make_us.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        w.commit(r, false).await.expect("committed");
        seq_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    // The same transaction inline, without the writer thread.
    let mut conn =
        toolgate::audit::writer::open_db(&dir.path().join("inline.db"), false).expect("opens");
    let mut inline_us = Vec::new();
    let mut prev = toolgate::audit::GENESIS.to_string();
    for i in 0..10_000u64 {
        let t = Instant::now();
        let mut r = record(i);
        r.seq = i + 1;
        r.prev = prev.clone();
        let (body, hash) = r.seal().expect("sealed");
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begins");
        tx.prepare_cached("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1")
            .expect("prepares")
            .query_row([], |_| Ok(()))
            .ok();
        tx.prepare_cached(
            "INSERT INTO records (seq, id, time, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .expect("prepares")
        .execute(rusqlite::params![(i + 1) as i64, r.id, r.time, body, hash])
        .expect("inserts");
        tx.commit().expect("commits");
        prev = hash;
        inline_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    // Many in flight: records/s.
    let n = 50_000;
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let w2 = w.clone();
    for i in 0..n {
        let w = w2.clone();
        set.spawn(async move { w.commit(record(i), true).await.expect("committed") });
        if set.len() >= 256 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
    // Records/s: until every one is chained into the database.
    assert!(w.flush(std::time::Duration::from_secs(120)), "ingested");
    let rate = n as f64 / t.elapsed().as_secs_f64();
    println!("# audit writer\n");
    println!("| figure | p50 | p99 |");
    println!("|---|---:|---:|");
    println!(
        "| making a record, µs | {:.1} | {:.1} |",
        percentile(&mut make_us, 50.0),
        percentile(&mut make_us, 99.0)
    );
    println!(
        "| committing one record (sequential: its journal line), µs | {:.1} | {:.1} |",
        percentile(&mut seq_us, 50.0),
        percentile(&mut seq_us, 99.0)
    );
    println!(
        "| one SQLite transaction per record instead (for reference), µs | {:.1} | {:.1} |",
        percentile(&mut inline_us, 50.0),
        percentile(&mut inline_us, 99.0)
    );
    println!(
        "\nsustained, 256 in flight, until all are chained into audit.db: {rate:.0} records/s"
    );
    verify_speed();
}

/// `toolgate audit verify` over a trail of `TOOLGATE_BENCH_VERIFY` records
/// (default 1,000,000), written straight into a fresh database.
fn verify_speed() {
    let n: u64 = std::env::var("TOOLGATE_BENCH_VERIFY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let home = tempfile::tempdir().expect("a temp dir");
    let state = home.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let mut conn = toolgate::audit::writer::open_db(&state.join("audit.db"), false).expect("opens");
    let t = Instant::now();
    let mut prev = toolgate::audit::GENESIS.to_string();
    let mut seq = 0u64;
    while seq < n {
        let tx = conn.transaction().expect("begins");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (seq, id, time, body, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .expect("prepares");
            for _ in 0..10_000.min(n - seq) {
                seq += 1;
                let mut r = record(seq);
                r.seq = seq;
                r.prev = std::mem::take(&mut prev);
                let (body, hash) = r.seal().expect("sealed");
                insert
                    .execute(rusqlite::params![seq as i64, r.id, r.time, body, hash])
                    .expect("inserts");
                prev = hash;
            }
        }
        tx.commit().expect("commits");
    }
    drop(conn);
    let wrote = t.elapsed();
    let bin = env!("CARGO_BIN_EXE_toolgate");
    let t = Instant::now();
    let done = std::process::Command::new(bin)
        .args(["audit", "verify", "--json"])
        .env("TOOLGATE_HOME", home.path())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("toolgate runs");
    let took = t.elapsed();
    let out: serde_json::Value = serde_json::from_slice(&done.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&done.stderr)));
    assert_eq!(out["intact"], true, "{out}");
    assert_eq!(out["records"], n, "{out}");
    println!(
        "\n`toolgate audit verify` of {n} records: {:.2} s ({:.1} µs per record; writing them took {:.1} s)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        wrote.as_secs_f64()
    );
}
