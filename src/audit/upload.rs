//! Upload of the trail to the org's collector, in the background of
//! `serve`, never in a call's path.
//!
//! # Sinks
//!
//! `[audit.sinks.NAME]` in the signed org profile (or, without one, in the
//! user's `config.toml`): `type = "otlp"` (OpenTelemetry OTLP/HTTP logs,
//! `encoding = "protobuf"` or `"json"`, see [`super::otlp`]) or
//! `type = "webhook"` (a POST of NDJSON: one record's canonical body per
//! line, `Content-Type: application/x-ndjson`). `headers` may hold
//! `${secret:NAME}` references (scope `audit`: `toolgate secret set audit
//! NAME`). Bodies are gzipped unless `gzip = false`.
//!
//! # Delivery
//!
//! Records go in `seq` order, in batches of at most `batch_records`
//! (default 500), once `batch_records` are waiting or the oldest waiting
//! record has waited `batch_interval` (default 5 s). Each sink keeps its own
//! place (`uploads` table of `audit.db`): a batch counts as delivered when
//! the collector answers 2xx. A failure is retried with exponential backoff
//! (1 s doubling to 5 min, with jitter); 429 and 503 with `Retry-After` wait
//! exactly that long. A record may be sent twice (a crash between sending
//! and noting the answer); each carries its `id`, so the collector drops
//! duplicates.
//!
//! # Deletion
//!
//! Once every configured sink has a record, it is deleted from the local
//! trail; the last deleted record's `seq` and `hash` are kept in the
//! `anchor` table, so the chain that remains still verifies from there.
//! Checkpoints are kept.
//!
//! # One uploader
//!
//! Every `serve` runs the loop, but an upload pass holds
//! `run/locks/audit-upload.lock`: one process uploads at a time, and the
//! others find nothing left to send.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::config::Paths;
use crate::util::ConfigDuration;

/// `[audit.sinks.NAME]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `otlp` or `webhook`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// For OTLP, the full URL of the logs endpoint (`.../v1/logs`).
    pub url: String,
    /// OTLP only: `protobuf` (default) or `json`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Extra request headers; values may hold `${secret:NAME}` (scope
    /// `audit`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Gzip request bodies (default true).
    #[serde(default = "yes")]
    pub gzip: bool,
    /// Most records per request (default 500).
    #[serde(default = "default_batch")]
    pub batch_records: usize,
    /// Longest a record waits for a batch to fill (default "5s").
    #[serde(default = "default_interval")]
    pub batch_interval: ConfigDuration,
    /// Per request (default "30s").
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
}

fn yes() -> bool {
    true
}
fn default_batch() -> usize {
    500
}
fn default_interval() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(5))
}
fn default_timeout() -> ConfigDuration {
    ConfigDuration(Duration::from_secs(30))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    Otlp,
    Webhook,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Protobuf,
    Json,
}

/// `[audit.spool]`: how much the local trail may hold.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSettings {
    /// Most bytes of records kept (default 256 MiB).
    pub max_bytes: u64,
    /// Oldest record kept (default "30d").
    pub max_age: ConfigDuration,
    /// With a sink configured, what happens at a bound: `deny` (default:
    /// calls are denied until the collector takes records) or
    /// `drop-oldest` (the oldest records are deleted, and an
    /// `audit.dropped` event records the gap). Without a sink the oldest
    /// records are always deleted (rotation) and work never stops.
    pub when_full: WhenFull,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            max_age: ConfigDuration(Duration::from_secs(30 * 86_400)),
            when_full: WhenFull::Deny,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WhenFull {
    Deny,
    DropOldest,
}

/// What the spool check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Spool {
    Fine,
    /// Calls must be denied (why).
    Full(String),
    /// The oldest records were deleted: (first, last) seq.
    Dropped(u64, u64),
}

/// Keeps the trail within its bounds: rotation without a sink, or the
/// org's choice with one.
pub fn keep_spool(
    conn: &Connection,
    spool: &SpoolSettings,
    has_sinks: bool,
) -> Result<Spool, String> {
    let q = |sql: &str| -> Result<i64, String> {
        conn.query_row(sql, [], |r| r.get(0))
            .map_err(|e| e.to_string())
    };
    let used = (q("PRAGMA page_count")? - q("PRAGMA freelist_count")?) * q("PRAGMA page_size")?;
    let (count, first): (i64, Option<i64>) = conn
        .query_row("SELECT COUNT(*), MIN(seq) FROM records", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(|e| e.to_string())?;
    let Some(first) = first else {
        return Ok(Spool::Fine);
    };
    let now = crate::policy::limits::now_ms();
    let cutoff = now - spool.max_age.0.as_millis() as i64;
    let cutoff_text = super::rfc3339_micros(cutoff * 1000);
    let too_old: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM records WHERE time < ?1",
            [&cutoff_text],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    let over = used.max(0) as u64 > spool.max_bytes;
    if too_old == 0 && !over {
        return Ok(Spool::Fine);
    }
    if has_sinks && spool.when_full == WhenFull::Deny {
        return Ok(Spool::Full(if over {
            format!(
                "the audit spool holds {} of records, over its bound of {}, and the collector has not taken them",
                human_bytes(used.max(0) as u64),
                human_bytes(spool.max_bytes)
            )
        } else {
            format!(
                "the audit spool holds {too_old} record(s) older than {}, which the collector has not taken",
                crate::util::format_duration(spool.max_age.0)
            )
        }));
    }
    // Records past the age bound, or enough of the oldest to get under 80%
    // of the size bound (records are about the same size).
    let by_size = if over {
        let per = used / count.max(1);
        let excess = used - (spool.max_bytes as i64 * 4 / 5);
        (excess / per.max(1)).max(1)
    } else {
        0
    };
    let drop = too_old.max(by_size).min(count);
    let upto = first + drop - 1;
    delete_through(conn, upto as u64)?;
    Ok(Spool::Dropped(first as u64, upto as u64))
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// First and longest wait after a failure.
const BACKOFF_FIRST_MS: i64 = 1000;
const BACKOFF_MAX_MS: i64 = 300_000;
/// How often the loop looks for records to upload.
const TICK: Duration = Duration::from_millis(500);
/// How often the spool's bounds are checked without a sink.
const SPOOL_TICK: Duration = Duration::from_secs(10);

/// Sets up the upload tables.
pub fn init(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS uploads (
             sink            TEXT PRIMARY KEY,
             acked_seq       INTEGER NOT NULL,
             failures        INTEGER NOT NULL DEFAULT 0,
             next_attempt_ms INTEGER NOT NULL DEFAULT 0,
             last_ok_ms      INTEGER,
             last_error      TEXT,
             sent            INTEGER NOT NULL DEFAULT 0
         );
         CREATE TABLE IF NOT EXISTS anchor (
             id   INTEGER PRIMARY KEY CHECK (id = 1),
             seq  INTEGER NOT NULL,
             hash TEXT NOT NULL
         );",
    )
}

/// Where the chain that is kept starts: the last deleted record's `seq`
/// and `hash`, if any were deleted.
pub fn anchor(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    conn.query_row("SELECT seq, hash FROM anchor WHERE id = 1", [], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })
    .optional()
}

/// One sink's progress, as `audit status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SinkState {
    pub sink: String,
    pub acked_seq: u64,
    pub failures: u32,
    pub next_attempt_ms: i64,
    pub last_ok_ms: Option<i64>,
    pub last_error: Option<String>,
    /// Records delivered so far.
    pub sent: u64,
}

/// Every sink's state row.
pub fn states(conn: &Connection) -> rusqlite::Result<Vec<SinkState>> {
    let mut stmt = conn.prepare(
        "SELECT sink, acked_seq, failures, next_attempt_ms, last_ok_ms, last_error, sent FROM uploads ORDER BY sink",
    )?;
    stmt.query_map([], |r| {
        Ok(SinkState {
            sink: r.get(0)?,
            acked_seq: r.get::<_, i64>(1)? as u64,
            failures: r.get(2)?,
            next_attempt_ms: r.get(3)?,
            last_ok_ms: r.get(4)?,
            last_error: r.get(5)?,
            sent: r.get::<_, i64>(6)? as u64,
        })
    })?
    .collect()
}

/// What one pass did for one sink.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub sink: String,
    pub sent: u64,
    pub acked_seq: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// Waiting for backoff or `Retry-After` until then (ms since the epoch).
    pub waiting_until_ms: Option<i64>,
}

/// The uploader of one process.
pub struct Uploader {
    paths: Paths,
    db: std::path::PathBuf,
    sinks: BTreeMap<String, SinkConfig>,
    /// Resolved headers per sink.
    headers: BTreeMap<String, reqwest::header::HeaderMap>,
    /// The trail, opened on first use and kept.
    conn: Option<Connection>,
}

impl Uploader {
    /// Resolves the sinks' headers (reading the keychain): an error names
    /// the sink and what is wrong.
    pub fn new(
        paths: &Paths,
        sinks: BTreeMap<String, SinkConfig>,
        vault: Option<&crate::secrets::Vault>,
    ) -> Result<Self, String> {
        let mut headers = BTreeMap::new();
        for (name, sink) in &sinks {
            headers.insert(name.clone(), resolve_headers(name, sink, vault)?);
        }
        Ok(Self {
            paths: paths.clone(),
            db: paths.state_dir.join("audit.db"),
            sinks,
            headers,
            conn: None,
        })
    }

    /// Uploads what is due (everything, with `force`) under the upload
    /// lock; `None` when another process holds it (and `wait` is false).
    pub async fn pass(&mut self, force: bool, wait: bool) -> Result<Option<Vec<Outcome>>, String> {
        let lock = if wait {
            let paths = self.paths.clone();
            tokio::task::spawn_blocking(move || {
                crate::util::FileLock::acquire(&paths, "audit-upload")
            })
            .await
            .map_err(|e| e.to_string())??
        } else {
            match crate::util::FileLock::try_acquire(&self.paths, "audit-upload")? {
                Some(l) => l,
                None => return Ok(None),
            }
        };
        let conn = match self.conn.take() {
            Some(c) => c,
            None => super::writer::open_db(&self.db, false).map_err(|e| format!("{e:#}"))?,
        };
        let mut outcomes = Vec::new();
        let names: Vec<String> = self.sinks.keys().cloned().collect();
        let mut result = Ok(());
        for name in names {
            match self.pass_sink(&conn, &name, force).await {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let result = result.and_then(|()| prune(&conn, &self.sinks));
        self.conn = Some(conn);
        drop(lock);
        result.map(|()| Some(outcomes))
    }

    async fn pass_sink(
        &mut self,
        conn: &Connection,
        name: &str,
        force: bool,
    ) -> Result<Outcome, String> {
        let sink = self.sinks[name].clone();
        let now = crate::policy::limits::now_ms();
        let mut st = sink_state(conn, name)?;
        let mut outcome = Outcome {
            sink: name.to_owned(),
            sent: 0,
            acked_seq: st.acked_seq,
            error: None,
            waiting_until_ms: None,
        };
        if !force && now < st.next_attempt_ms {
            outcome.waiting_until_ms = Some(st.next_attempt_ms);
            outcome.error = st.last_error.clone();
            return Ok(outcome);
        }
        let last: Option<i64> = conn
            .query_row("SELECT MAX(seq) FROM records", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        let waiting = (last.unwrap_or(0) as u64).saturating_sub(st.acked_seq);
        if waiting == 0 {
            return Ok(outcome);
        }
        // A batch goes when it is full or its oldest record has waited
        // batch_interval.
        if !force && (waiting as usize) < sink.batch_records {
            let oldest: Option<String> = conn
                .query_row(
                    "SELECT time FROM records WHERE seq > ?1 ORDER BY seq LIMIT 1",
                    [st.acked_seq as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| e.to_string())?;
            let age = oldest.map_or(0, |t| now - (time_nanos(&t) / 1_000_000) as i64);
            if age < sink.batch_interval.0.as_millis() as i64 {
                return Ok(outcome);
            }
        }
        let origin_key = conn
            .query_row(
                "SELECT body FROM checkpoints ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_str::<super::sign::Checkpoint>(&b).ok())
            .and_then(|c| c.key);
        loop {
            let batch = read_batch(conn, st.acked_seq, sink.batch_records)?;
            if batch.records.is_empty() {
                break;
            }
            let last_seq = batch.records.last().map_or(st.acked_seq, |r| r.seq);
            let (body, content_type) = encode(&sink, &batch, origin_key.as_deref());
            let result = self.send(name, &sink, body, content_type).await;
            let now = crate::policy::limits::now_ms();
            match result {
                Ok(()) => {
                    let n = batch.records.len() as u64;
                    st.acked_seq = last_seq;
                    st.failures = 0;
                    st.next_attempt_ms = 0;
                    st.last_ok_ms = Some(now);
                    st.last_error = None;
                    st.sent += n;
                    outcome.sent += n;
                    save_state(conn, &st)?;
                    if batch.records.len() < sink.batch_records {
                        break;
                    }
                }
                Err(failure) => {
                    st.failures = st.failures.saturating_add(1);
                    let wait = failure
                        .retry_after_ms
                        .unwrap_or_else(|| backoff(st.failures));
                    st.next_attempt_ms = now + wait;
                    st.last_error = Some(failure.message.clone());
                    save_state(conn, &st)?;
                    tracing::warn!(
                        sink = name,
                        "could not upload the audit trail: {}; next attempt in {}",
                        failure.message,
                        crate::util::format_duration(Duration::from_millis(wait as u64))
                    );
                    outcome.error = Some(failure.message);
                    outcome.waiting_until_ms = Some(st.next_attempt_ms);
                    break;
                }
            }
        }
        outcome.acked_seq = st.acked_seq;
        Ok(outcome)
    }

    async fn send(
        &self,
        name: &str,
        sink: &SinkConfig,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), Failure> {
        let (body, gzipped) = if sink.gzip {
            (gzip(&body), true)
        } else {
            (body, false)
        };
        let mut req = crate::upstream::http::client()
            .post(&sink.url)
            .timeout(sink.timeout.0)
            .headers(self.headers.get(name).cloned().unwrap_or_default())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if gzipped {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let resp = req.send().await.map_err(|e| Failure {
            message: format!(
                "the collector at {} could not be reached: {}",
                sink.url,
                crate::upstream::http::error_chain(&e)
            ),
            retry_after_ms: None,
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            if sink.kind == SinkKind::Otlp
                && sink.encoding == Encoding::Protobuf
                && let Some((rejected, why)) = super::otlp::partial_success(&bytes)
            {
                // Retrying will not change the collector's mind.
                tracing::error!(
                    sink = name,
                    "the collector rejected {rejected} audit record(s): {why}"
                );
            }
            return Ok(());
        }
        let code = status.as_u16();
        let honours = code == 429 || code == 503;
        let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        Err(Failure {
            message: format!(
                "the collector at {} answered {status}{}",
                sink.url,
                if text.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {}", crate::approve::printable(text.trim(), false))
                }
            ),
            retry_after_ms: if honours { retry_after } else { None },
        })
    }
}

/// Runs the uploader of `serve` on a thread of its own until the process
/// ends: it reads the sinks' secrets, then uploads what is due every
/// moment (when no other process is at it).
pub fn start(paths: &Paths, sinks: BTreeMap<String, SinkConfig>, spool: SpoolSettings) {
    let paths = paths.clone();
    let spawned = std::thread::Builder::new()
        .name("audit-upload".into())
        .spawn(move || {
            crate::util::background_priority();
            let rt = match crate::commands::runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("the audit uploader cannot start: {e:#}");
                    return;
                }
            };
            rt.block_on(async move {
                let has_sinks = !sinks.is_empty();
                let mut uploader = None;
                let mut next_setup = std::time::Instant::now();
                let mut spool_conn = None;
                loop {
                    if has_sinks && uploader.is_none() && std::time::Instant::now() >= next_setup {
                        let vault = crate::secrets::vault();
                        match Uploader::new(&paths, sinks.clone(), vault.as_deref()) {
                            Ok(u) => uploader = Some(u),
                            Err(e) => {
                                tracing::error!(
                                    "audit records cannot be uploaded: {e}; trying again in 30s"
                                );
                                note_error(&paths, &sinks, &e);
                                next_setup = std::time::Instant::now() + Duration::from_secs(30);
                            }
                        }
                    }
                    if let Some(u) = uploader.as_mut()
                        && let Err(e) = u.pass(false, false).await
                    {
                        tracing::warn!("audit upload: {e}");
                    }
                    keep(&mut spool_conn, &paths, &spool, has_sinks);
                    tokio::time::sleep(if has_sinks { TICK } else { SPOOL_TICK }).await;
                }
            });
        });
    if let Err(e) = spawned {
        tracing::error!("the audit uploader cannot start: {e}");
    }
}

/// Checks the spool's bounds and acts on what it finds.
fn keep(conn: &mut Option<Connection>, paths: &Paths, spool: &SpoolSettings, has_sinks: bool) {
    let Some(writer) = super::writer::current() else {
        return;
    };
    if conn.is_none() {
        match super::writer::open_db(&paths.state_dir.join("audit.db"), false) {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                tracing::warn!("could not check the audit spool: {e:#}");
                return;
            }
        }
    }
    let found = keep_spool(conn.as_ref().expect("opened above"), spool, has_sinks);
    match found {
        Ok(Spool::Fine) => writer.set_spool_full(None),
        Ok(Spool::Full(why)) => writer.set_spool_full(Some(why)),
        Ok(Spool::Dropped(first, last)) => {
            writer.set_spool_full(None);
            if has_sinks {
                tracing::warn!(
                    "the audit spool was full: records {first}..{last} were dropped before the collector had them"
                );
                super::record_governance(
                    "audit.dropped",
                    None,
                    serde_json::json!({"first": first, "last": last, "count": last + 1 - first}),
                );
            } else {
                tracing::info!(
                    "audit rotation: records {first}..{last} were deleted (the spool's bounds)"
                );
            }
        }
        Err(e) => tracing::warn!("could not check the audit spool: {e}"),
    }
}

/// Shows a set-up error in `audit status` (every sink's last error).
fn note_error(paths: &Paths, sinks: &BTreeMap<String, SinkConfig>, why: &str) {
    let Ok(conn) = super::writer::open_db(&paths.state_dir.join("audit.db"), false) else {
        return;
    };
    for name in sinks.keys() {
        if let Ok(mut st) = sink_state(&conn, name) {
            st.last_error = Some(why.to_owned());
            let _ = save_state(&conn, &st);
        }
    }
}

struct Failure {
    message: String,
    retry_after_ms: Option<i64>,
}

/// The wait before attempt `failures + 1`: 1 s doubling to 5 min, times a
/// random factor in [0.5, 1) so that many devices do not retry in step.
fn backoff(failures: u32) -> i64 {
    let base = BACKOFF_FIRST_MS
        .saturating_mul(1i64 << failures.saturating_sub(1).min(20))
        .min(BACKOFF_MAX_MS);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 2.0;
    (base as f64 * jitter) as i64
}

/// `Retry-After`: seconds, or an HTTP date; in ms from now.
fn parse_retry_after(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<i64>() {
        return Some(secs.max(0) * 1000);
    }
    let at = http_date(v)?;
    Some((at * 1000 - crate::policy::limits::now_ms()).max(0))
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(v: &str) -> Option<i64> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? + 1;
    let text = format!("{year}-{m:02}-{day:0>2}T{time}Z");
    crate::profile::parse_time(&text).ok()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

fn resolve_headers(
    name: &str,
    sink: &SinkConfig,
    vault: Option<&crate::secrets::Vault>,
) -> Result<reqwest::header::HeaderMap, String> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut out = HeaderMap::new();
    for (k, v) in &sink.headers {
        let at = format!("audit.sinks.{name}.headers.{k}");
        let t =
            crate::secrets::refs::Template::parse(v, "audit").map_err(|e| format!("{at}: {e}"))?;
        let value = t.resolve(|r| match vault {
            Some(vault) => vault.lookup(r).map_err(|e| format!("{at}: {}", e.message)),
            None => Err(format!("{at}: this process has no keychain")),
        })?;
        let hname =
            HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("{at}: not a header name"))?;
        let mut hvalue = HeaderValue::from_str(value.expose())
            .map_err(|_| format!("{at}: not a valid header value"))?;
        hvalue.set_sensitive(true);
        out.insert(hname, hvalue);
    }
    Ok(out)
}

struct Row {
    seq: u64,
    id: String,
    time: String,
    body: String,
    hash: String,
}

struct Batch {
    records: Vec<Row>,
    /// Checkpoints over records of this batch: (seq, body, sig).
    checkpoints: Vec<(u64, String, Option<String>)>,
}

fn read_batch(conn: &Connection, after: u64, limit: usize) -> Result<Batch, String> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, id, time, body, hash FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(|e| e.to_string())?;
    let records: Vec<Row> = stmt
        .query_map(rusqlite::params![after as i64, limit as i64], |r| {
            Ok(Row {
                seq: r.get::<_, i64>(0)? as u64,
                id: r.get(1)?,
                time: r.get(2)?,
                body: r.get(3)?,
                hash: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    let upto = records.last().map_or(after, |r| r.seq);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, body, sig FROM checkpoints WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        )
        .map_err(|e| e.to_string())?;
    let checkpoints = stmt
        .query_map(rusqlite::params![after as i64, upto as i64], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    Ok(Batch {
        records,
        checkpoints,
    })
}

/// Nanoseconds since the epoch of a record's `time`.
fn time_nanos(time: &str) -> u64 {
    let secs = crate::profile::parse_time(time).unwrap_or(0).max(0) as u64;
    // The fraction, however many digits it has, as nanoseconds.
    let fraction = time
        .split_once('.')
        .map_or("", |(_, f)| f.trim_end_matches('Z'));
    let digits: String = fraction
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    let nanos = format!("{digits:0<9}").parse::<u64>().unwrap_or(0);
    // OTLP's fixed64 nanoseconds run out in 2554: saturate, never wrap.
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

fn encode(sink: &SinkConfig, batch: &Batch, key: Option<&str>) -> (Vec<u8>, &'static str) {
    if sink.kind == SinkKind::Webhook {
        let mut out = Vec::new();
        for r in &batch.records {
            out.extend_from_slice(r.body.as_bytes());
            out.push(b'\n');
        }
        return (out, "application/x-ndjson");
    }
    let kinds: Vec<&str> = batch
        .records
        .iter()
        .map(|r| {
            if r.body.contains("\"kind\":\"event\"") {
                "event"
            } else {
                "call"
            }
        })
        .collect();
    let mut items: Vec<super::otlp::Item<'_>> = batch
        .records
        .iter()
        .zip(&kinds)
        .map(|(r, kind)| super::otlp::Item {
            id: r.id.clone(),
            seq: r.seq,
            kind,
            time_nanos: time_nanos(&r.time),
            body: &r.body,
            hash: Some(&r.hash),
            signature: None,
        })
        .collect();
    let cp_times: Vec<u64> = batch
        .checkpoints
        .iter()
        .map(|(_, body, _)| {
            serde_json::from_str::<super::sign::Checkpoint>(body)
                .map(|c| time_nanos(&c.time))
                .unwrap_or(0)
        })
        .collect();
    for ((seq, body, sig), t) in batch.checkpoints.iter().zip(cp_times) {
        items.push(super::otlp::Item {
            id: format!("checkpoint-{seq}"),
            seq: *seq,
            kind: "checkpoint",
            time_nanos: t,
            body,
            hash: None,
            signature: sig.as_deref(),
        });
    }
    let host = super::identity().1.as_str();
    let origin = super::otlp::Origin { host, key };
    let observed = (crate::policy::limits::now_ms().max(0) as u64) * 1_000_000;
    match sink.encoding {
        Encoding::Protobuf => (
            super::otlp::protobuf(&items, &origin, observed),
            "application/x-protobuf",
        ),
        Encoding::Json => (
            super::otlp::json(&items, &origin, observed),
            "application/json",
        ),
    }
}

fn sink_state(conn: &Connection, name: &str) -> Result<SinkState, String> {
    // A new sink starts after what was already deleted.
    let start = anchor(conn).map_err(|e| e.to_string())?.map_or(0, |a| a.0);
    conn.execute(
        "INSERT OR IGNORE INTO uploads (sink, acked_seq) VALUES (?1, ?2)",
        rusqlite::params![name, start as i64],
    )
    .map_err(|e| e.to_string())?;
    states(conn)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| s.sink == name)
        .ok_or_else(|| "the upload state could not be read".into())
}

fn save_state(conn: &Connection, st: &SinkState) -> Result<(), String> {
    conn.execute(
        "UPDATE uploads SET acked_seq = ?2, failures = ?3, next_attempt_ms = ?4, last_ok_ms = ?5, last_error = ?6, sent = ?7 WHERE sink = ?1",
        rusqlite::params![
            st.sink,
            st.acked_seq as i64,
            st.failures,
            st.next_attempt_ms,
            st.last_ok_ms,
            st.last_error,
            st.sent as i64
        ],
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Deletes the records every configured sink has, keeping the anchor.
fn prune(conn: &Connection, sinks: &BTreeMap<String, SinkConfig>) -> Result<(), String> {
    if sinks.is_empty() {
        return Ok(());
    }
    let states = states(conn).map_err(|e| e.to_string())?;
    let Some(upto) = sinks
        .keys()
        .map(|name| {
            states
                .iter()
                .find(|s| &s.sink == name)
                .map_or(0, |s| s.acked_seq)
        })
        .min()
    else {
        return Ok(());
    };
    let done = anchor(conn).map_err(|e| e.to_string())?.map_or(0, |a| a.0);
    if upto <= done {
        return Ok(());
    }
    delete_through(conn, upto)
}

/// Deletes records up to `upto`, moving the anchor there (in one
/// transaction: the chain stays verifiable whatever happens).
fn delete_through(conn: &Connection, upto: u64) -> Result<(), String> {
    let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
    let hash: Option<String> = tx
        .query_row(
            "SELECT hash FROM records WHERE seq = ?1",
            [upto as i64],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let Some(hash) = hash else {
        return Ok(()); // nothing there to anchor on (already gone)
    };
    tx.execute(
        "INSERT INTO anchor (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        rusqlite::params![upto as i64, hash],
    )
    .map_err(|e| e.to_string())?;
    tx.execute("DELETE FROM records WHERE seq <= ?1", [upto as i64])
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    Ok(())
}

/// Checks the numbers a person could get wrong: a sink that sends batches
/// of 0 records would never upload, a spool of 0 bytes would drop (or deny)
/// everything.
pub fn check_bounds(
    sinks: &BTreeMap<String, SinkConfig>,
    spool: Option<&SpoolSettings>,
) -> Result<(), String> {
    for (name, sink) in sinks {
        if sink.batch_records == 0 {
            return Err(format!(
                "audit.sinks.{name}.batch_records is 0: a batch needs at least 1 record"
            ));
        }
    }
    if let Some(spool) = spool
        && spool.max_bytes == 0
    {
        return Err(
            "audit.spool.max_bytes is 0: the spool needs room for at least one record".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("120"), Some(120_000));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_ceiling() {
        for failures in 1..30 {
            let b = backoff(failures);
            let base = (1000i64 << (failures - 1).min(20)).min(300_000);
            assert!(b >= base / 2 && b <= base, "{failures}: {b}");
        }
    }

    #[test]
    fn record_times_become_nanoseconds() {
        assert_eq!(time_nanos("1970-01-01T00:00:01.000002Z"), 1_000_002_000);
        assert_eq!(time_nanos("1970-01-01T00:00:01.5Z"), 1_500_000_000);
        assert_eq!(time_nanos("1970-01-01T00:00:01.123456789Z"), 1_123_456_789);
        assert_eq!(time_nanos("1970-01-01T00:00:01Z"), 1_000_000_000);
        assert_eq!(time_nanos("9999-12-31T23:59:59.999999Z"), u64::MAX);
    }
}
