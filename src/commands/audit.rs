//! `toolgate audit tail|verify|status|export`: read the local audit trail
//! (see [`crate::audit`] for the record and the chain).
//!
//! JSON shapes (version 1): `verify --json` gives `{"version":1,"intact",
//! "checkpoints","signed_checkpoints","last_checkpoint","key","records",
//! "first_seq","last_seq","problems":[{"seq","code","message"}]}`;
//! `key --json` gives `{"version":1,"key","algorithm"}`;
//! `status --json` gives `{"version":1,"path","records","first_seq",
//! "last_seq","oldest","newest","bytes"}`; `tail --json` and `export` print
//! one record per line, exactly as stored (its canonical body).

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cli::AuditCommand;
use crate::config::Paths;
use crate::error::exit;

fn trail(paths: &Paths) -> std::path::PathBuf {
    paths.state_dir.join("audit.db")
}

/// Opens the trail, first taking in the journals of `serve` processes that
/// died (the records of calls they answered).
fn open(paths: &Paths) -> Result<rusqlite::Connection> {
    let mut conn = crate::audit::writer::open_db(&trail(paths), false)?;
    crate::audit::writer::recover(&mut conn, &trail(paths))?;
    Ok(conn)
}

pub fn run(paths: &Paths, cmd: AuditCommand) -> Result<u8> {
    let _guard = crate::logging::init(paths, false, "warn");
    // The keychain holds the device key and the sinks' secrets; reading the
    // trail needs no config, so a broken one falls back to the defaults.
    let settings = match super::load(paths) {
        Ok(loaded) => loaded.config.audit,
        Err(e) => {
            tracing::warn!("{e:#}");
            crate::secrets::install_vault(crate::secrets::Vault::new(
                paths.clone(),
                Default::default(),
            ));
            crate::config::AuditSettings::default()
        }
    };
    match cmd {
        AuditCommand::Flush(a) => flush(paths, settings, a.json),
        AuditCommand::Status(a) => status(paths, &settings, a.json),
        AuditCommand::Tail(a) => tail(paths, a.lines, a.follow, a.json),
        AuditCommand::Verify(a) => verify(paths, a.json, a.strict),
        AuditCommand::Export(a) => export(paths, a.since.as_deref()),
        AuditCommand::Key(a) => key(a.json),
        AuditCommand::Search(a) => search(paths, &a),
    }
}

/// The device key, from the keychain (made there on first use).
fn device_key() -> Result<crate::audit::sign::DeviceKey, crate::error::UserError> {
    let vault = crate::secrets::vault().ok_or_else(|| {
        crate::error::UserError::new("no keychain is set up")
            .hint("`toolgate doctor` checks the keychain")
    })?;
    crate::audit::sign::load_or_create(&vault).map_err(|e| {
        crate::error::UserError::new(format!("could not get this device's audit key: {e}"))
            .hint("the key lives in the OS keychain: `toolgate doctor` checks it")
    })
}

fn key(as_json: bool) -> Result<u8> {
    let key = device_key()?;
    if as_json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "key": key.public(),
            "algorithm": "Ed25519",
        }))?);
    } else {
        super::out(key.public());
    }
    Ok(exit::OK)
}

/// One line for people: time, decision or event, server/tool, outcome.
fn line(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.to_owned();
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
    let what = if s("kind") == "event" {
        s("event").to_owned()
    } else {
        s("decision").to_owned()
    };
    let target = match (s("server"), s("tool")) {
        ("", _) => String::new(),
        (srv, "") => srv.to_owned(),
        (srv, t) => format!("{srv}/{t}"),
    };
    let outcome = match v.get("outcome") {
        Some(o) if o.get("error") == Some(&Value::Bool(true)) => format!(
            "error: {}",
            o.get("error_text")
                .and_then(Value::as_str)
                .unwrap_or("(the tool's own)")
        ),
        Some(o) if o.is_object() => format!(
            "ok, {} bytes",
            o.get("result_bytes").and_then(Value::as_u64).unwrap_or(0)
        ),
        _ => String::new(),
    };
    crate::approve::printable(
        &format!(
            "{:>6}  {}  {:<16} {:<32} {}",
            v.get("seq").and_then(Value::as_u64).unwrap_or(0),
            s("time"),
            what,
            target,
            outcome
        ),
        false,
    )
}

fn tail(paths: &Paths, n: usize, follow: bool, as_json: bool) -> Result<u8> {
    let conn = open(paths)?;
    let mut stmt = conn.prepare(
        "SELECT seq, body FROM (SELECT seq, body FROM records ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
    )?;
    let rows: Vec<(i64, String)> = stmt
        .query_map([n as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut last = rows.last().map_or(0, |r| r.0);
    let show = |body: &str| {
        super::out(&if as_json { body.to_owned() } else { line(body) });
    };
    for (_, body) in &rows {
        show(body);
    }
    if !follow {
        return Ok(exit::OK);
    }
    let mut next = conn.prepare("SELECT seq, body FROM records WHERE seq > ?1 ORDER BY seq")?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let rows: Vec<(i64, String)> = next
            .query_map([last], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (seq, body) in rows {
            show(&body);
            last = seq;
        }
    }
}

fn verify(paths: &Paths, as_json: bool, strict: bool) -> Result<u8> {
    let conn = open(paths)?;
    let (first, last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(seq), MAX(seq) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // The chain starts at the genesis, or where uploaded records were
    // deleted (the anchor: the last deleted record's seq and hash).
    let anchor = crate::audit::upload::anchor(&conn)?;
    let (start, start_hash) = anchor
        .clone()
        .unwrap_or((0, crate::audit::GENESIS.to_string()));
    let linked = first.is_none_or(|f| f as u64 == start + 1);
    // The signed checkpoints, and the hashes of the records they name.
    let mut stmt = conn.prepare("SELECT seq, body, sig FROM checkpoints ORDER BY seq")?;
    let checkpoints: Vec<(u64, String, Option<String>)> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let wanted: std::collections::HashSet<u64> = checkpoints.iter().map(|c| c.0).collect();
    let mut hashes: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    // The records, streamed in order (a million fit in no memory budget).
    let mut stmt = conn.prepare("SELECT seq, body, hash FROM records ORDER BY seq")?;
    let mut failed = None;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .map_while(|row| match row {
            Ok(row) => Some(row),
            Err(e) => {
                failed = Some(e);
                None
            }
        })
        .inspect(|(seq, _, hash)| {
            if wanted.contains(seq) {
                hashes.insert(*seq, hash.clone());
            }
        });
    let (count, mut problems) =
        crate::audit::verify_rows(rows, linked.then_some(start_hash.as_str()), strict);
    if let Some(e) = failed {
        return Err(anyhow::Error::new(e).context("could not read the audit trail"));
    }
    if let Some(first) = first
        && first as u64 > start + 1
    {
        problems.insert(
            0,
            crate::audit::Problem {
                seq: start + 1,
                code: "gap",
                message: format!("records {}..{} are missing", start + 1, first - 1),
            },
        );
    }
    // The keychain's device key, where it can be read (never made here).
    let device = crate::secrets::vault().and_then(|v| {
        let kc = v.keychain().ok()?;
        let stored = kc.get(crate::audit::sign::KEY_ACCOUNT).ok()??;
        crate::audit::sign::public_of(&stored).ok()
    });
    let cp_problems = crate::audit::verify_checkpoints(
        &checkpoints,
        |seq| hashes.get(&seq).cloned(),
        // What was uploaded and deleted counts as there.
        Some(first.map_or(start + 1, |f| f as u64)),
        last.map(|l| l as u64).max(anchor.as_ref().map(|a| a.0)),
        device.as_deref(),
    );
    problems.extend(cp_problems);
    // A collector that acknowledged records this trail no longer has, and
    // no anchor accounts for: records were removed after upload.
    let kept_upto = last
        .map(|l| l as u64)
        .max(anchor.as_ref().map(|a| a.0))
        .unwrap_or(0);
    for s in crate::audit::upload::states(&conn)? {
        if s.acked_seq > kept_upto {
            problems.push(crate::audit::Problem {
                seq: kept_upto + 1,
                code: "truncated",
                message: format!(
                    "the collector \"{}\" acknowledged records up to {}, but this trail ends at {kept_upto}",
                    s.sink, s.acked_seq
                ),
            });
        }
    }
    problems.sort_by_key(|p| p.seq);
    let signed = checkpoints.iter().filter(|c| c.2.is_some()).count();
    let intact = problems.is_empty();
    if as_json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "intact": intact,
            "checkpoints": checkpoints.len(),
            "signed_checkpoints": signed,
            "last_checkpoint": checkpoints.last().map(|c| c.0),
            "anchor": anchor.as_ref().map(|a| json!({"seq": a.0, "hash": a.1})),
            "key": device,
            "records": count,
            "first_seq": first,
            "last_seq": last,
            "problems": problems,
        }))?);
    } else if intact {
        super::out(&format!(
            "intact: {count} records, the chain and every hash check out; {} signed checkpoint(s){}",
            checkpoints.len(),
            checkpoints
                .last()
                .map(|c| format!(", the last at record {}", c.0))
                .unwrap_or_default()
        ));
    } else {
        let mut text = format!(
            "NOT intact: {} problem(s) in {count} records\n",
            problems.len()
        );
        for p in &problems {
            text.push_str(&format!("  record {}: {} ({})\n", p.seq, p.message, p.code));
        }
        super::out(&text);
    }
    Ok(if intact { exit::OK } else { exit::PROBLEM })
}

fn flush(paths: &Paths, settings: crate::config::AuditSettings, as_json: bool) -> Result<u8> {
    if settings.sinks.is_empty() {
        return Err(crate::error::UserError::new(
            "no audit sink is configured, so there is nothing to upload to",
        )
        .hint("records stay on this machine; an org profile (or [audit.sinks.NAME] in config.toml) names a collector")
        .into());
    }
    let mut uploader = crate::audit::upload::Uploader::new(
        paths,
        settings.sinks,
        crate::secrets::vault().as_deref(),
    )
    .map_err(crate::error::UserError::new)?;
    let outcomes = super::runtime()?
        .block_on(uploader.pass(true, true))
        .map_err(crate::error::UserError::new)?
        .unwrap_or_default();
    let ok = outcomes.iter().all(|o| o.error.is_none());
    if as_json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "ok": ok,
            "sinks": outcomes,
        }))?);
    } else {
        let mut text = String::new();
        for o in &outcomes {
            match &o.error {
                None => text.push_str(&format!(
                    "{}: sent {} record(s); the collector has everything up to record {}\n",
                    o.sink, o.sent, o.acked_seq
                )),
                Some(e) => text.push_str(&format!(
                    "{}: sent {} record(s), then: {e}\n",
                    o.sink, o.sent
                )),
            }
        }
        super::out(text.trim_end());
    }
    Ok(if ok { exit::OK } else { exit::PROBLEM })
}

fn status(paths: &Paths, settings: &crate::config::AuditSettings, as_json: bool) -> Result<u8> {
    let path = trail(paths);
    let conn = open(paths)?;
    let (records, first, last): (i64, Option<i64>, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MIN(seq), MAX(seq) FROM records",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let time_of = |seq: Option<i64>| -> Option<String> {
        conn.query_row("SELECT time FROM records WHERE seq = ?1", [seq?], |r| {
            r.get(0)
        })
        .ok()
    };
    let (oldest, newest) = (time_of(first), time_of(last));
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", path.display()))
                .ok()
                .map(|m| m.len())
        })
        .sum();
    let states = crate::audit::upload::states(&conn)?;
    let sinks: Vec<Value> = settings
        .sinks
        .iter()
        .map(|(name, sink)| {
            let st = states.iter().find(|s| &s.sink == name);
            let acked = st.map_or(0, |s| s.acked_seq);
            json!({
                "name": name,
                "type": sink.kind,
                "url": sink.url,
                "acked_seq": acked,
                "waiting": (last.unwrap_or(0) as u64).saturating_sub(acked),
                "sent": st.map_or(0, |s| s.sent),
                "last_upload": st.and_then(|s| s.last_ok_ms).map(|ms| crate::audit::rfc3339_micros(ms * 1000)),
                "last_error": st.and_then(|s| s.last_error.clone()),
                "failures": st.map_or(0, |s| s.failures),
                "next_attempt": st
                    .filter(|s| s.next_attempt_ms > 0)
                    .map(|s| crate::audit::rfc3339_micros(s.next_attempt_ms * 1000)),
            })
        })
        .collect();
    if as_json {
        super::out(&serde_json::to_string_pretty(&json!({
            "version": 1,
            "path": path.display().to_string(),
            "records": records,
            "first_seq": first,
            "last_seq": last,
            "oldest": oldest,
            "newest": newest,
            "bytes": bytes,
            "sinks": sinks,
        }))?);
    } else {
        let mut text = format!(
            "audit trail: {}\nrecords: {records} (seq {} to {})\noldest: {}\nnewest: {}\nsize: {bytes} bytes\n",
            path.display(),
            first.unwrap_or(0),
            last.unwrap_or(0),
            oldest.as_deref().unwrap_or("-"),
            newest.as_deref().unwrap_or("-"),
        );
        if sinks.is_empty() {
            text.push_str("upload: no sink configured; records are kept on this machine");
        }
        for s in &sinks {
            let v = |k: &str| {
                s[k].as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "-".into())
            };
            text.push_str(&format!(
                "upload to {} ({} {}): {} waiting, last upload {}{}\n",
                v("name"),
                v("type"),
                v("url"),
                s["waiting"],
                v("last_upload"),
                match s["last_error"].as_str() {
                    Some(e) => format!(", last error: {e} (next attempt {})", v("next_attempt")),
                    None => String::new(),
                }
            ));
        }
        super::out(text.trim_end());
    }
    Ok(exit::OK)
}

/// The RFC 3339 time `since` (a duration) ago, or the dawn of time.
fn since_time(since: Option<&str>) -> Result<String> {
    Ok(match since {
        Some(d) => {
            let d = crate::util::parse_duration(d).map_err(|e| {
                crate::error::UserError::new(format!("--since: {e}"))
                    .hint("a duration back from now, such as --since 30m, 2h or 7d")
            })?;
            let micros = (crate::policy::limits::now_ms() - d.as_millis() as i64) * 1000;
            crate::audit::rfc3339_micros(micros)
        }
        None => String::new(),
    })
}

fn search(paths: &Paths, a: &crate::cli::AuditSearchArgs) -> Result<u8> {
    const DECISIONS: [&str; 7] = [
        "allow", "observe", "deny", "step-up", "limited", "blocked", "invalid",
    ];
    if let Some(d) = &a.decision
        && !DECISIONS.contains(&d.as_str())
    {
        return Err(crate::error::UserError::new(format!(
            "--decision {d} is not a decision toolgate records: use one of {}",
            DECISIONS.join(", ")
        ))
        .into());
    }
    let conn = open(paths)?;
    // LIKE with the query's own % and _ taken literally.
    let pattern = format!(
        "%{}%",
        a.query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let mut stmt = conn
        .prepare(
            "SELECT body FROM (
                 SELECT seq, body FROM records
                 WHERE time >= ?1
                   AND (?2 IS NULL OR json_extract(body, '$.server') = ?2)
                   AND (?3 IS NULL OR json_extract(body, '$.tool') = ?3)
                   AND (?4 IS NULL OR json_extract(body, '$.decision') = ?4)
                   AND body LIKE ?5 ESCAPE '\\'
                 ORDER BY seq DESC LIMIT ?6
             ) ORDER BY seq",
        )
        .context("could not search the audit trail")?;
    let rows = stmt
        .query_map(
            rusqlite::params![
                since_time(a.since.as_deref())?,
                a.server,
                a.tool,
                a.decision,
                pattern,
                a.limit as i64
            ],
            |r| r.get::<_, String>(0),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = String::new();
    for body in &rows {
        out.push_str(&if a.json { body.clone() } else { line(body) });
        out.push('\n');
    }
    if !out.is_empty() {
        super::out(out.trim_end());
    }
    Ok(exit::OK)
}

fn export(paths: &Paths, since: Option<&str>) -> Result<u8> {
    let conn = open(paths)?;
    let from = since_time(since)?;
    let mut stmt = conn
        .prepare("SELECT body FROM records WHERE time >= ?1 ORDER BY seq")
        .context("could not read the audit trail")?;
    let mut out = String::new();
    for body in stmt.query_map([from], |r| r.get::<_, String>(0))? {
        out.push_str(&body?);
        out.push('\n');
    }
    if !out.is_empty() {
        super::out(&out);
    }
    Ok(exit::OK)
}
