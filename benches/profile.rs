//! Org profiles: how fast a governed `serve` answers, and what verifying a
//! profile costs.
//!
//! 1. **spawn → `tools/list`** with a verified profile of 10 servers × 50
//!    pinned tools in the cache: `toolgate serve` is spawned, sent
//!    `initialize`, `notifications/initialized` and `tools/list`, and timed
//!    until the list (all 500 tools) arrives, without starting any upstream
//!    (their commands are `/bin/false`: a started one would fail the run).
//!    Beside it, in the same run, the baseline: `toolgate serve` with no
//!    servers and no profile (what any spawn costs). Median and p90 of 20
//!    spawns each, alternating.
//! 2. **verifying a 1 MB profile**: signature check, TOML parse, and
//!    validation (every pin recomputed from its definition), in process,
//!    median of 50.
//!
//! ```sh
//! cargo bench --bench profile [-- --spawns 20]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;
use toolgate::profile::registry::{self, Meta};
use toolgate::profile::sign::{self, TrustedKey};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A profile of `servers` × `tools` pinned tools (definitions shaped like
/// real ones: a description and a small input schema).
fn make_profile(servers: usize, tools: usize) -> String {
    let mut out = String::from(
        "org = \"Bench Corp\"\nserial = 1\nissued = \"2026-01-01T00:00:00Z\"\nexpires = \"2099-01-01T00:00:00Z\"\n\n[settings]\npersonal_servers = \"deny\"\nunpinned_tools = \"hide\"\n\n",
    );
    for s in 0..servers {
        out.push_str(&format!(
            "[servers.s{s}]\ncommand = \"/bin/false\"\nowner = \"bench\"\n\n"
        ));
        for t in 0..tools {
            let def = json!({
                "name": format!("tool_{t}"),
                "description": format!("Tool {t} of server {s}: reads and summarises records from the bench system, with paging, filters and a limit. Returns JSON."),
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to look for"},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                        "cursor": {"type": "string"},
                    },
                    "required": ["query"],
                },
                "annotations": {"readOnlyHint": true},
            })
            .to_string();
            let pin = toolgate::profile::pin::pin(&def).unwrap();
            out.push_str(&format!(
                "[servers.s{s}.tools.tool_{t}]\npin = \"{pin}\"\ndefinition = '''{def}'''\n\n"
            ));
        }
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Spawns serve in `home`, returns ms from spawn to the tools/list answer
/// and the number of tools in it.
fn spawn_to_list(home: &Path) -> (f64, usize) {
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("serve")
        .env("TOOLGATE_HOME", home)
        .env("TOOLGATE_LOG", "warn")
        .env("TOOLGATE_MANAGED_CONFIG", home.join("managed.toml"))
        .env_remove("TOOLGATE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn toolgate serve");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    writeln!(stdin, "{init}").unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list"}}"#).unwrap();
    let mut line = String::new();
    let count = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve closed stdout"
        );
        if line.contains(r#""id":2"#) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            break v["result"]["tools"].as_array().map_or(0, Vec::len);
        }
    };
    let took = began.elapsed().as_secs_f64() * 1000.0;
    drop(stdin);
    let _ = child.wait();
    (took, count)
}

fn main() {
    let mut spawns = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--spawns" => {
                spawns = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--spawns N")
            }
            "--quick" => spawns = 5,
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    let scratch = repo().join(format!("target/bench/tmp-profile-{}", std::process::id()));
    let governed = scratch.join("governed");
    let plain = scratch.join("plain");
    std::fs::create_dir_all(governed.join("state/profile")).unwrap();
    std::fs::create_dir_all(&plain).unwrap();

    // A signed profile in the governed home's cache, as a pull leaves it.
    let (pk, sk, _) = sign::keygen(None).unwrap();
    let key_line = sign::public_line(&pk).unwrap();
    let text = make_profile(10, 50);
    let sig = sign::sign(text.as_bytes(), &sk, None, "bench").unwrap();
    std::fs::write(governed.join("state/profile/profile.toml"), &text).unwrap();
    std::fs::write(governed.join("state/profile/profile.toml.minisig"), &sig).unwrap();
    let meta = Meta {
        highest_serial: 1,
        ..Meta::default()
    };
    std::fs::write(
        governed.join("state/profile/meta.json"),
        serde_json::to_vec(&meta).unwrap(),
    )
    .unwrap();
    // The registry is unreachable (port 9, discard): serve must not wait
    // for it.
    std::fs::write(
        governed.join("config.toml"),
        format!("[registry]\nurl = \"http://127.0.0.1:9/profile.toml\"\nkeys = [\"{key_line}\"]\n"),
    )
    .unwrap();

    eprintln!("[profile] {spawns} spawns per path");
    let (mut g, mut p) = (Vec::new(), Vec::new());
    for i in 0..spawns + 2 {
        let (gt, gn) = spawn_to_list(&governed);
        let (pt, pn) = spawn_to_list(&plain);
        assert_eq!(gn, 500, "the governed serve listed {gn} tools");
        assert_eq!(pn, 0);
        if i >= 2 {
            // The first two are warm-up (page cache).
            g.push(gt);
            p.push(pt);
        }
    }

    // Verifying a profile of about 1 MB.
    let big = make_profile(10, 190);
    let big_sig = sign::sign(big.as_bytes(), &sk, None, "bench").unwrap();
    let keys = vec![TrustedKey::parse(&key_line).unwrap()];
    let now = toolgate::auth::now_secs();
    let (mut verify_all, mut verify_sig, mut verify_cached) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        registry::check_cached(big.as_bytes(), &big_sig, &keys, 0, now).unwrap();
        verify_cached.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let (profile, _) = registry::check(big.as_bytes(), &big_sig, &keys, 0, now).unwrap();
        verify_all.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(profile.servers.len(), 10);
        let t = Instant::now();
        sign::verify(big.as_bytes(), &big_sig, &keys).unwrap();
        verify_sig.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    // Where the time goes, on the 10 × 50 profile.
    let mut parts = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let p: toolgate::profile::Profile = toml::from_str(&text).unwrap();
        let parse = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        p.validate().unwrap();
        let validate = t.elapsed().as_secs_f64() * 1000.0;
        parts.push((parse, validate));
    }
    parts.sort_by(|a, b| a.0.total_cmp(&b.0));
    eprintln!(
        "[profile] 257 KiB: toml parse {:.2} ms, validate (pins) {:.2} ms",
        parts[10].0, parts[10].1
    );

    let (g50, g90) = (percentile(&mut g, 50.0), percentile(&mut g, 90.0));
    let (p50, p90) = (percentile(&mut p, 50.0), percentile(&mut p, 90.0));
    let v50 = percentile(&mut verify_all, 50.0);
    let s50 = percentile(&mut verify_sig, 50.0);
    println!("# toolgate org profile benchmark\n");
    println!("- command: `cargo bench --bench profile -- --spawns {spawns}`");
    println!(
        "- profile: 10 servers × 50 pinned tools ({} KiB); 1 MB case: 10 × 190 ({} KiB)\n",
        text.len() / 1024,
        big.len() / 1024
    );
    println!("| figure | median ms | p90 ms | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| spawn → tools/list (500 pinned tools, no upstream started) | {g50:.2} | {g90:.2} | ≤ 20 ms |"
    );
    println!("| spawn → tools/list, baseline: no servers, no profile | {p50:.2} | {p90:.2} | |");
    println!(
        "| full check of a {} KiB profile at pull (signature + parse + every pin recomputed) | {v50:.2} | {:.2} | |",
        big.len() / 1024,
        percentile(&mut verify_all, 90.0)
    );
    println!(
        "| verifying its signature (minisign: BLAKE2b prehash + Ed25519) | {s50:.2} | {:.2} | ≤ 2 ms |",
        percentile(&mut verify_sig, 90.0)
    );
    println!(
        "| loading it from the cache at start (signature + parse, pins not recomputed) | {:.2} | {:.2} | |",
        percentile(&mut verify_cached, 50.0),
        percentile(&mut verify_cached, 90.0)
    );
    let out = repo().join("target/bench/profile.json");
    let _ = std::fs::create_dir_all(out.parent().unwrap());
    std::fs::write(
        &out,
        json!({"version": 1, "governed_ms": g, "plain_ms": p, "verify_ms": verify_all, "signature_ms": verify_sig, "cached_ms": verify_cached}).to_string(),
    )
    .unwrap();
    eprintln!("raw figures: {}", out.display());
}
