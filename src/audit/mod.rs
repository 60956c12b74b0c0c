//! The audit trail: one record for every call that reached policy and for
//! every governance event, chained so that any edit, deletion, insertion or
//! reordering shows.
//!
//! # Where records live
//!
//! `STATE/audit.db`, SQLite in WAL mode, shared by every toolgate process
//! of the user (several `serve` processes append to one chain). Table
//! `records(seq INTEGER PRIMARY KEY, id TEXT, time TEXT, body TEXT,
//! hash TEXT)`.
//!
//! # The record (schema version 1)
//!
//! A JSON object with every one of these members (`null` where it does not
//! apply): `v` (1), `id` (32 hex digits, unique: 64 random bits per process
//! and a count), `seq` (1, 2, 3... across
//! the device), `time` (RFC 3339 UTC with microseconds), `kind` (`call` or
//! `event`), `event` (for events: `profile.applied`, `profile.rejected`,
//! `login`, `logout`, `server.blocked`, `tool.drifted`, `tool.quarantined`,
//! `approval.decided`, `audit.dropped`, ...), `session`
//! (the `serve` process's session), `correlation` (the JSON-RPC request id,
//! as text), `user` (OS user), `host`, `subject` (the identity provider's
//! subject of the server's OAuth login, else null), `agent` (`{name, version}` from
//! `initialize`), `profile_serial`, `server` (as named in the profile),
//! `tool` (the upstream's own name), `exposed` (the name the agent called),
//! `pin` (the org profile's pin of the tool definition, null where no
//! profile pins it), `arguments` (after
//! redaction), `decision` (`allow`, `observe`, `deny`, `step-up`,
//! `limited`, `blocked`, `invalid`), `rules` (the rules behind it),
//! `approval` (`{outcome, by, channel, waited_ms, reason}`), `outcome`
//! (`{error, error_text, result_bytes, result}`; `result` is the redacted
//! result where `[audit] results = "redacted"`, else null), `latency_us`,
//! `upstream_latency_us`, `detail` (an event's own fields), and `prev`.
//!
//! # The chain
//!
//! `body` is the record serialized in the JSON Canonicalization Scheme
//! (RFC 8785), including `prev`; `hash` is the lowercase hex SHA-256 of
//! `body`'s UTF-8 bytes; `prev` is the `hash` of the record with the
//! previous `seq` (64 zeros for the first). To verify without toolgate:
//! read the rows in `seq` order; for each, check that `body` is the JCS form
//! of itself, that its `seq` member equals the row's, that SHA-256(`body`)
//! equals `hash`, and that `prev` equals the previous row's `hash`
//! (`tests/audit/verify.py` does exactly this, in Python). Signed
//! checkpoints over the chain are described in [`sign`].

pub mod otlp;
pub mod sign;
pub mod upload;
pub mod writer;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use writer::Writer;

/// The record format's version.
pub const SCHEMA_VERSION: u32 = 1;

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub outcome: String,
    pub by: Option<String>,
    pub channel: Option<String>,
    pub waited_ms: u64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallOutcome {
    pub error: bool,
    pub error_text: Option<String>,
    pub result_bytes: u64,
    /// The tool's result after redaction, where `[audit] results =
    /// "redacted"`; else null.
    pub result: Option<Value>,
}

static KEEP_RESULTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether records keep the (redacted) results of calls.
pub fn keep_results() -> bool {
    KEEP_RESULTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets what records keep of results (`serve`, from the settings in force).
pub fn set_keep_results(keep: bool) {
    KEEP_RESULTS.store(keep, std::sync::atomic::Ordering::Relaxed);
}

/// One audit record (see the module documentation for each member).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub id: String,
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub event: Option<String>,
    pub session: Option<String>,
    pub correlation: Option<String>,
    pub user: String,
    pub host: String,
    /// Who the call acted for at the identity provider: the subject of the
    /// server's OAuth login, where it has one.
    pub subject: Option<String>,
    pub agent: Option<crate::approve::Agent>,
    pub profile_serial: Option<u64>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub exposed: Option<String>,
    pub pin: Option<String>,
    pub arguments: Option<Value>,
    pub decision: Option<String>,
    pub rules: Vec<String>,
    pub approval: Option<Approval>,
    pub outcome: Option<CallOutcome>,
    pub latency_us: Option<u64>,
    pub upstream_latency_us: Option<u64>,
    pub detail: Option<Value>,
    pub prev: String,
}

impl Record {
    /// A record of this process's making: id, time, user and host filled.
    pub fn new(kind: &str) -> Self {
        Self {
            v: SCHEMA_VERSION,
            id: next_id(),
            time: rfc3339_micros(crate::policy::limits::now_ms() * 1000 + sub_ms_micros()),
            kind: kind.to_owned(),
            user: identity().0.clone(),
            host: identity().1.clone(),
            ..Self::default()
        }
    }

    /// The canonical body (RFC 8785) and its SHA-256.
    pub fn seal(&self) -> Result<(String, String), String> {
        let value = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let body = serde_json_canonicalizer::to_string(&value).map_err(|e| e.to_string())?;
        let hash = crate::util::sha256_hex(body.as_bytes());
        Ok((body, hash))
    }
}

/// A record id: 32 hex digits, unique across processes and devices (64
/// random bits drawn once per process, then a 64-bit count), without a
/// system call per record.
fn next_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the OS random source works");
        u64::from_le_bytes(b)
    });
    format!(
        "{prefix:016x}{:016x}",
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The microseconds within the current millisecond (the test clock moves
/// in whole seconds, so they come from the real clock).
pub(crate) fn sub_ms_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::from(d.subsec_micros() % 1000))
        .unwrap_or(0)
}

/// (OS user, host name), read once.
pub(crate) fn identity() -> &'static (String, String) {
    static ID: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    ID.get_or_init(|| (crate::util::os_user(), host_name()))
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into())
}

/// RFC 3339 in UTC with microseconds: `2026-11-23T05:30:00.123456Z`.
pub fn rfc3339_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Records a governance event in the trail (without waiting for the
/// commit), where auditing is on. Call outcomes are recorded by the call
/// path itself; this covers what happens around calls.
pub fn record_event(event: &crate::events::Event<'_>) {
    use crate::events::Event as E;
    use serde_json::json;
    let Some(writer) = writer::current() else {
        return;
    };
    let (name, server, tool, detail) = match event {
        E::ServerBlocked { server, reason } => (
            "server.blocked",
            Some(*server),
            None,
            json!({"reason": reason}),
        ),
        E::ServerFailed { server, error } => (
            "server.failed",
            Some(*server),
            None,
            json!({"error": error}),
        ),
        E::ServerCrashed { server, error } => (
            "server.crashed",
            Some(*server),
            None,
            json!({"error": error}),
        ),
        E::ToolDrifted {
            server,
            tool,
            fields,
        } => (
            "tool.drifted",
            Some(*server),
            Some(*tool),
            json!({"fields": fields}),
        ),
        E::ToolQuarantined {
            server,
            tool,
            codes,
        } => (
            "tool.quarantined",
            Some(*server),
            Some(*tool),
            json!({"codes": codes}),
        ),
        E::Guardrail {
            server,
            tool,
            rule,
            direction,
            action,
        } => (
            "guardrail",
            Some(*server),
            Some(*tool),
            json!({"rule": rule, "direction": direction, "action": action}),
        ),
        E::ApprovalHeld {
            id,
            server,
            tool,
            rule,
            timeout_secs,
        } => (
            "approval.held",
            Some(*server),
            Some(*tool),
            json!({"id": id, "rule": rule, "timeout_secs": timeout_secs}),
        ),
        E::ApprovalDecided {
            id,
            server,
            tool,
            outcome,
            by,
            channel,
            waited_ms,
            reason,
        } => (
            "approval.decided",
            Some(*server),
            Some(*tool),
            json!({"id": id, "outcome": outcome, "by": by, "channel": channel, "waited_ms": waited_ms, "reason": reason}),
        ),
        // Tool calls have records of their own; other requests do not.
        E::CallRefused {
            method,
            name,
            reason,
        } if *method != "tools/call" => (
            "call.refused",
            Some(*name),
            None,
            json!({"method": method, "reason": reason}),
        ),
        _ => return,
    };
    let mut r = governance_record(name, server, detail);
    r.tool = tool.map(str::to_owned);
    writer.submit(r);
}

/// Records a governance event that has no [`crate::events::Event`] of its
/// own (`profile.applied`, `profile.rejected`), where auditing is on.
pub fn record_governance(event: &str, server: Option<&str>, detail: Value) {
    let Some(writer) = writer::current() else {
        return;
    };
    writer.submit(governance_record(event, server, detail));
}

pub(crate) fn governance_record(event: &str, server: Option<&str>, detail: Value) -> Record {
    let mut r = Record::new("event");
    r.event = Some(event.to_owned());
    r.server = server.map(str::to_owned);
    r.subject = server.and_then(crate::auth::subject);
    r.detail = Some(detail);
    if let Some(b) = crate::approve::broker::current() {
        r.session = Some(b.session().to_owned());
        r.agent = Some(b.agent());
    }
    r.profile_serial = crate::profile::govern::current().serial;
    r
}

/// Records a governance event from a command other than `serve` (`login`,
/// `logout`), where the settings in force keep an audit trail: opens the
/// trail for this one record. A failure is reported, not fatal.
pub fn record_from_command(
    paths: &crate::config::Paths,
    settings: &crate::config::AuditSettings,
    event: &str,
    server: Option<&str>,
    subject: Option<String>,
    detail: Value,
) {
    if !settings.enabled {
        return;
    }
    let db = paths.state_dir.join("audit.db");
    let fsync = settings.durability == crate::config::Durability::Fsync;
    match Writer::start(&db, fsync, 0) {
        Ok(w) => {
            let mut record = governance_record(event, server, detail);
            record.subject = subject;
            if let Err(e) = w.commit_now(record) {
                tracing::warn!("could not record {event} in the audit trail: {e}");
            }
            w.close(std::time::Duration::from_secs(10));
        }
        Err(e) => tracing::warn!("could not record {event} in the audit trail: {e:#}"),
    }
}

/// What `verify` found wrong, naming where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The row's `seq` (or where a gap is: the first missing one).
    pub seq: u64,
    /// `edited`, `not-canonical`, `broken-link`, `gap`, `seq-mismatch`,
    /// `unreadable`.
    pub code: &'static str,
    pub message: String,
}

/// The members of a record the chain check needs (the rest is skipped
/// unparsed).
#[derive(Deserialize)]
struct Link<'a> {
    seq: Option<u64>,
    #[serde(borrow)]
    prev: Option<std::borrow::Cow<'a, str>>,
}

/// Checks a chain given as (seq, body, hash) rows in `seq` order, from
/// the first kept record (whose `prev` is taken on trust when `anchor` is
/// `None`, else must equal it). With `strict`, each body must also be in
/// canonical form (RFC 8785), which costs more than the rest together;
/// without it, an edited body is still caught by its hash.
pub fn verify_rows<B: AsRef<str>, H: AsRef<str>>(
    rows: impl Iterator<Item = (u64, B, H)>,
    anchor: Option<&str>,
    strict: bool,
) -> (u64, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut prev_hash: Option<String> = anchor.map(str::to_owned);
    let mut prev_seq: Option<u64> = None;
    let mut count = 0u64;
    for (seq, body, hash) in rows {
        let (body, hash) = (body.as_ref(), hash.as_ref());
        count += 1;
        if let Some(p) = prev_seq
            && p.checked_add(1) != Some(seq)
        {
            // Rows out of order (a negative seq in a tampered database reads
            // as a huge one) are named too, without overflowing.
            problems.push(Problem {
                seq: p.wrapping_add(1),
                code: "gap",
                message: if seq > p {
                    format!("records {}..{} are missing", p + 1, seq - 1)
                } else {
                    format!("record {seq} comes after record {p}: the records are out of order")
                },
            });
            // What follows cannot link to what is gone.
            prev_hash = None;
        }
        prev_seq = Some(seq);
        let actual = crate::util::sha256_hex(body.as_bytes());
        let Ok(link) = serde_json::from_str::<Link<'_>>(body) else {
            problems.push(Problem {
                seq,
                code: "unreadable",
                message: format!("record {seq} is not JSON"),
            });
            prev_hash = Some(hash.to_owned());
            continue;
        };
        if actual != hash {
            problems.push(Problem {
                seq,
                code: "edited",
                message: format!(
                    "record {seq} was changed after it was written (its hash does not match)"
                ),
            });
        }
        if strict {
            let canonical = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| serde_json_canonicalizer::to_string(&v).ok());
            if canonical.as_deref() != Some(body) {
                problems.push(Problem {
                    seq,
                    code: "not-canonical",
                    message: format!("record {seq} is not in canonical form"),
                });
            }
        }
        if link.seq != Some(seq) {
            problems.push(Problem {
                seq,
                code: "seq-mismatch",
                message: format!(
                    "record {seq} says it is record {}",
                    link.seq.map_or("(none)".to_string(), |s| s.to_string())
                ),
            });
        }
        let prev = link.prev.as_deref().unwrap_or("");
        if let Some(expected) = &prev_hash
            && prev != expected
        {
            problems.push(Problem {
                seq,
                code: "broken-link",
                message: format!(
                    "record {seq} does not follow record {} (a record was inserted, removed or reordered here)",
                    seq.saturating_sub(1)
                ),
            });
        }
        prev_hash = Some(actual);
    }
    (count, problems)
}

/// Checks the checkpoints, given as (seq, body, sig) in `seq` order,
/// against the records: each must be validly signed, by `device_key` where
/// that is known; the record it names must still have the hash it
/// vouched for (or have been removed on purpose, before `first_kept`); and
/// no checkpoint may name a record after `last_seq` (records cut off the
/// end).
pub fn verify_checkpoints(
    checkpoints: &[(u64, String, Option<String>)],
    hash_at: impl Fn(u64) -> Option<String>,
    first_kept: Option<u64>,
    last_seq: Option<u64>,
    device_key: Option<&str>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (seq, body, sig) in checkpoints {
        let seq = *seq;
        let cp = match sign::check(body, sig.as_deref()) {
            Ok(cp) => cp,
            Err(why) => {
                problems.push(Problem {
                    seq,
                    code: if sig.is_none() {
                        "unsigned-checkpoint"
                    } else {
                        "bad-signature"
                    },
                    message: format!("checkpoint at record {seq}: {why}"),
                });
                continue;
            }
        };
        if cp.seq != seq {
            problems.push(Problem {
                seq,
                code: "bad-checkpoint",
                message: format!("the checkpoint stored at record {seq} says {}", cp.seq),
            });
            continue;
        }
        if let (Some(want), Some(have)) = (device_key, cp.key.as_deref())
            && want != have
        {
            problems.push(Problem {
                seq,
                code: "foreign-key",
                message: format!(
                    "checkpoint at record {seq} was signed by {have}, not by this device's key {want}"
                ),
            });
        }
        if last_seq.is_none_or(|last| seq > last) {
            problems.push(Problem {
                seq,
                code: "truncated",
                message: format!(
                    "records after {} were removed: a signed checkpoint vouches for record {seq}",
                    last_seq.map_or("the start".to_string(), |l| l.to_string())
                ),
            });
            continue;
        }
        if first_kept.is_some_and(|first| seq < first) {
            continue; // uploaded and removed; the anchor vouches for the rest
        }
        match hash_at(seq) {
            Some(h) if h == cp.hash => {}
            Some(_) => problems.push(Problem {
                seq,
                code: "rewritten",
                message: format!(
                    "record {seq} is not the record the signed checkpoint vouches for (the chain was rewritten up to here)"
                ),
            }),
            None => {} // a gap, reported by the chain check
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_microseconds() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_micros(1_795_412_345_678_901),
            "2026-11-23T05:39:05.678901Z"
        );
        assert_eq!(
            rfc3339_micros(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
    }

    fn chain(n: u64) -> Vec<(u64, String, String)> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut r = Record::new("call");
                r.seq = seq;
                r.prev = prev.clone();
                r.tool = Some(format!("t{seq}"));
                let (body, hash) = r.seal().unwrap();
                prev = hash.clone();
                (seq, body, hash)
            })
            .collect()
    }

    fn check(rows: &[(u64, String, String)]) -> Vec<Problem> {
        verify_rows(
            rows.iter().map(|(s, b, h)| (*s, b.as_str(), h.as_str())),
            Some(GENESIS),
            true,
        )
        .1
    }

    #[test]
    fn an_intact_chain_verifies_and_every_tampering_is_named() {
        let rows = chain(5);
        assert!(check(&rows).is_empty());
        // Edited (body changed, hash kept).
        let mut edited = rows.clone();
        edited[2].1 = edited[2].1.replace("\"t3\"", "\"t9\"");
        let p = check(&edited);
        assert_eq!((p[0].seq, p[0].code), (3, "edited"), "{p:?}");
        // Edited, hash recomputed: the next record no longer links.
        let mut rehashed = edited.clone();
        rehashed[2].2 = crate::util::sha256_hex(rehashed[2].1.as_bytes());
        let p = check(&rehashed);
        assert_eq!((p[0].seq, p[0].code), (4, "broken-link"), "{p:?}");
        // Deleted.
        let mut deleted = rows.clone();
        deleted.remove(1);
        let p = check(&deleted);
        assert_eq!((p[0].seq, p[0].code), (2, "gap"), "{p:?}");
        // Reordered (rows swapped, seqs renumbered).
        let mut reordered = rows.clone();
        reordered.swap(1, 2);
        reordered[1].0 = 2;
        reordered[2].0 = 3;
        let p = check(&reordered);
        assert!(
            p.iter().any(|p| p.code == "seq-mismatch" && p.seq == 2),
            "{p:?}"
        );
        assert!(p.iter().any(|p| p.code == "broken-link"), "{p:?}");
    }

    /// Found by fuzzing (fuzz/fuzz_targets/audit_verify.rs): rows out of
    /// order, or a negative seq in a tampered database (read as a huge
    /// u64, sorted first), overflowed the gap arithmetic.
    #[test]
    fn rows_out_of_order_or_at_the_ends_of_u64_are_named_not_a_panic() {
        let rows = chain(3);
        let row = |seq: u64, i: usize| (seq, rows[i].1.as_str(), rows[i].2.as_str());
        for order in [
            vec![row(5, 0), row(0, 1)],
            vec![row(u64::MAX, 0), row(1, 1)],
            vec![row(u64::MAX, 0), row(0, 1)],
            vec![row(2, 0), row(2, 1)],
        ] {
            let (count, p) = verify_rows(order.into_iter(), Some(GENESIS), false);
            assert_eq!(count, 2);
            assert!(p.iter().any(|p| p.code == "gap"), "{p:?}");
        }
        let (_, p) = verify_rows([row(5, 0), row(0, 1)].into_iter(), None, false);
        let gap = p.iter().find(|p| p.code == "gap").unwrap();
        assert_eq!(gap.seq, 6);
        assert!(gap.message.contains("out of order"), "{}", gap.message);
    }
}
