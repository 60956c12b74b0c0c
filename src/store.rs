//! The local store: one SQLite database in WAL mode, shared by every toolgate
//! process of the user (one `serve` per IDE window, plus the CLI).
//!
//! Schema changes are migrations numbered from 1, recorded in
//! `PRAGMA user_version` and in the `migrations` table. They are additive
//! only (new tables, new nullable columns), so an older toolgate keeps
//! working on a database a newer one has migrated: it sees a higher version,
//! logs it, and uses the tables it knows. Migrations run under
//! `BEGIN IMMEDIATE`, so two processes starting together apply each exactly
//! once.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

use crate::config::paths::ensure_private_dir;

/// Every migration, in order. Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: bookkeeping, and the last known state of each upstream as seen by
    // any serve process (for `toolgate servers` and, later, `doctor`).
    "CREATE TABLE migrations (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL,
        by_toolgate TEXT NOT NULL
     );
     CREATE TABLE upstream_status (
        server TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        tools INTEGER,
        last_error TEXT,
        pid INTEGER NOT NULL,
        updated_at TEXT NOT NULL
     );",
    // 2: the names (never the values) of the secrets set with `toolgate
    // secret set`, for `toolgate secret list`: keychains cannot all list.
    "CREATE TABLE secret_index (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        keychain TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (scope, name)
     );",
    // 3: OAuth. Per server, where its tokens are (the keychain account) and
    // what `toolgate auth status` shows; never a token. Registered clients
    // per issuer and redirect URI (a client secret, if any, is in the
    // keychain too).
    "CREATE TABLE oauth_logins (
        server TEXT PRIMARY KEY,
        issuer TEXT NOT NULL,
        resource TEXT NOT NULL,
        client_id TEXT NOT NULL,
        account TEXT NOT NULL,
        scope TEXT,
        expires_at INTEGER,
        refreshable INTEGER NOT NULL,
        token_endpoint TEXT NOT NULL,
        revocation_endpoint TEXT,
        auth_method TEXT NOT NULL,
        client_secret_account TEXT,
        updated_at TEXT NOT NULL
     );
     CREATE TABLE oauth_clients (
        issuer TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        client_id TEXT NOT NULL,
        auth_method TEXT NOT NULL,
        client_secret_account TEXT,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (issuer, redirect_uri)
     );",
    // 4: the highest org-profile serial ever verified (anti-rollback that
    // survives a deleted profile cache).
    "CREATE TABLE profile_serial (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        highest INTEGER NOT NULL,
        updated_at TEXT NOT NULL
     );",
    // 5: rate-limit buckets, shared by every toolgate process of the user
    // and kept across restarts.
    "CREATE TABLE rate_limits (
        limit_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        tokens REAL NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (limit_id, scope)
     );",
];

/// An upstream's state as a `serve` process last recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedStatus {
    pub state: String,
    pub last_error: Option<String>,
    pub at: String,
}

/// The schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open store.
pub struct Store {
    conn: Connection,
}

/// Opens (creating if needed) a SQLite database private to the user (folder
/// 0700, file 0600) in WAL mode, waiting up to `busy` for other processes'
/// locks. `what` names it in errors ("the local store").
pub fn open_wal(path: &Path, what: &str, busy: Duration) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let conn = Connection::open(path)
        .with_context(|| format!("could not open {what} {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    conn.busy_timeout(busy)?;
    // Switching to WAL needs an exclusive lock, and SQLite does not call
    // the busy handler for it: when several processes open a new database
    // at once, retry for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(conn),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("could not switch {what} to WAL mode"));
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = open_wal(path, "the local store", Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Self { conn };
        store.migrate().with_context(|| {
            format!(
                "could not bring the local store {} up to date",
                path.display()
            )
        })?;
        Ok(store)
    }

    /// The schema version recorded in the database.
    pub fn version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current > SCHEMA_VERSION {
            tracing::info!(
                "the local store has schema version {current}, newer than this toolgate's {SCHEMA_VERSION}; using the parts this version knows"
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            if version <= current {
                continue;
            }
            tx.execute_batch(sql)
                .with_context(|| format!("migration {version} failed"))?;
            tx.execute(
                "INSERT INTO migrations (version, applied_at, by_toolgate) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?2)",
                rusqlite::params![version, env!("CARGO_PKG_VERSION")],
            )?;
            tx.pragma_update(None, "user_version", version)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the state of an upstream as this process sees it.
    pub fn record_upstream(
        &self,
        server: &str,
        state: &str,
        tools: Option<usize>,
        last_error: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO upstream_status (server, state, tools, last_error, pid, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(server) DO UPDATE SET state = ?2, tools = ?3,
                last_error = COALESCE(?4, last_error), pid = ?5, updated_at = excluded.updated_at",
            rusqlite::params![
                server,
                state,
                tools.map(|t| t as i64),
                last_error,
                std::process::id()
            ],
        )?;
        Ok(())
    }

    /// What serve last recorded of an upstream: its state, its last error
    /// (kept when it recovers), and when.
    pub fn upstream_status(&self, server: &str) -> Result<Option<RecordedStatus>> {
        Ok(self
            .conn
            .query_row(
                "SELECT state, last_error, updated_at FROM upstream_status WHERE server = ?1",
                [server],
                |r| {
                    Ok(RecordedStatus {
                        state: r.get(0)?,
                        last_error: r.get(1)?,
                        at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }
}

/// Where a server's OAuth tokens are, and what they allow (no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthLogin {
    pub server: String,
    pub issuer: String,
    pub resource: String,
    pub client_id: String,
    /// The keychain account of the token set.
    pub account: String,
    pub scope: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub refreshable: bool,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    pub client_secret_account: Option<String>,
    pub updated_at: String,
}

/// A client registered with an authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub auth_method: String,
    pub client_secret_account: Option<String>,
}

impl Store {
    pub fn save_login(&self, l: &OAuthLogin) -> Result<()> {
        self.conn.execute(
            "INSERT INTO oauth_logins (server, issuer, resource, client_id, account, scope, expires_at,
                refreshable, token_endpoint, revocation_endpoint, auth_method, client_secret_account, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(server) DO UPDATE SET issuer = ?2, resource = ?3, client_id = ?4, account = ?5,
                scope = ?6, expires_at = ?7, refreshable = ?8, token_endpoint = ?9,
                revocation_endpoint = ?10, auth_method = ?11, client_secret_account = ?12,
                updated_at = excluded.updated_at",
            rusqlite::params![
                l.server,
                l.issuer,
                l.resource,
                l.client_id,
                l.account,
                l.scope,
                l.expires_at,
                l.refreshable,
                l.token_endpoint,
                l.revocation_endpoint,
                l.auth_method,
                l.client_secret_account
            ],
        )?;
        Ok(())
    }

    pub fn login(&self, server: &str) -> Result<Option<OAuthLogin>> {
        Ok(self
            .conn
            .query_row(
                "SELECT server, issuer, resource, client_id, account, scope, expires_at, refreshable,
                    token_endpoint, revocation_endpoint, auth_method, client_secret_account, updated_at
                 FROM oauth_logins WHERE server = ?1",
                [server],
                |r| {
                    Ok(OAuthLogin {
                        server: r.get(0)?,
                        issuer: r.get(1)?,
                        resource: r.get(2)?,
                        client_id: r.get(3)?,
                        account: r.get(4)?,
                        scope: r.get(5)?,
                        expires_at: r.get(6)?,
                        refreshable: r.get(7)?,
                        token_endpoint: r.get(8)?,
                        revocation_endpoint: r.get(9)?,
                        auth_method: r.get(10)?,
                        client_secret_account: r.get(11)?,
                        updated_at: r.get(12)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn forget_login(&self, server: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM oauth_logins WHERE server = ?1", [server])?
            > 0)
    }

    pub fn save_client(&self, issuer: &str, redirect_uri: &str, c: &OAuthClient) -> Result<()> {
        self.conn.execute(
            "INSERT INTO oauth_clients (issuer, redirect_uri, client_id, auth_method, client_secret_account, registered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(issuer, redirect_uri) DO UPDATE SET client_id = ?3, auth_method = ?4,
                client_secret_account = ?5, registered_at = excluded.registered_at",
            rusqlite::params![issuer, redirect_uri, c.client_id, c.auth_method, c.client_secret_account],
        )?;
        Ok(())
    }

    /// Registered clients of an issuer: (redirect URI, client).
    pub fn clients(&self, issuer: &str) -> Result<Vec<(String, OAuthClient)>> {
        let mut stmt = self.conn.prepare(
            "SELECT redirect_uri, client_id, auth_method, client_secret_account FROM oauth_clients
             WHERE issuer = ?1 ORDER BY registered_at DESC",
        )?;
        let rows = stmt.query_map([issuer], |r| {
            Ok((
                r.get::<_, String>(0)?,
                OAuthClient {
                    client_id: r.get(1)?,
                    auth_method: r.get(2)?,
                    client_secret_account: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl Store {
    /// Takes tokens from each of several buckets, all or none, in one
    /// transaction (atomic across processes). A bucket is `(limit, scope,
    /// capacity, rate, want)`: it holds at most `capacity` tokens, refills at
    /// `rate` tokens per millisecond, and gives up to `want` (at least one)
    /// of them. Returns `Ok(taken)` per bucket when each gave at least one,
    /// else `Err((index, tokens_now))` for the first empty one, and then
    /// takes nothing.
    pub fn take_tokens(
        &mut self,
        buckets: &[(&str, &str, f64, f64, f64)],
        now_ms: i64,
    ) -> Result<std::result::Result<Vec<f64>, (usize, f64)>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut taken = Vec::with_capacity(buckets.len());
        let mut left = Vec::with_capacity(buckets.len());
        {
            let mut read = tx.prepare_cached(
                "SELECT tokens, updated_ms FROM rate_limits WHERE limit_id = ?1 AND scope = ?2",
            )?;
            for (i, (limit, scope, capacity, rate, want)) in buckets.iter().enumerate() {
                let row: Option<(f64, i64)> = read
                    .query_row(rusqlite::params![limit, scope], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let tokens = match row {
                    None => *capacity,
                    Some((t, at)) => (t + (now_ms - at).max(0) as f64 * rate).min(*capacity),
                };
                if tokens < 1.0 {
                    // Nothing is taken; the transaction rolls back on drop.
                    return Ok(Err((i, tokens)));
                }
                let n = want.max(1.0).min(tokens.floor());
                taken.push(n);
                left.push(tokens - n);
            }
            let mut write = tx.prepare_cached(
                "INSERT INTO rate_limits (limit_id, scope, tokens, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(limit_id, scope) DO UPDATE SET tokens = ?3, updated_ms = ?4",
            )?;
            for ((limit, scope, ..), tokens) in buckets.iter().zip(&left) {
                write.execute(rusqlite::params![limit, scope, tokens, now_ms])?;
            }
        }
        tx.commit()?;
        Ok(Ok(taken))
    }

    /// The highest profile serial verified so far (0: none).
    pub fn profile_highest_serial(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT highest FROM profile_serial WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0) as u64)
    }

    /// Raises the highest verified serial (never lowers it).
    pub fn record_profile_serial(&self, serial: u64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO profile_serial (id, highest, updated_at)
             VALUES (1, ?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(id) DO UPDATE SET highest = MAX(highest, ?1), updated_at = excluded.updated_at",
            [serial as i64],
        )?;
        Ok(())
    }
}

/// A secret's name as `toolgate secret set` recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretName {
    pub scope: String,
    pub name: String,
    /// Which keychain store holds it.
    pub keychain: String,
    pub updated_at: String,
}

impl Store {
    /// Records that a secret was set (its name only).
    pub fn record_secret(&self, scope: &str, name: &str, keychain: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO secret_index (scope, name, keychain, updated_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(scope, name) DO UPDATE SET keychain = ?3, updated_at = excluded.updated_at",
            rusqlite::params![scope, name, keychain],
        )?;
        Ok(())
    }

    /// Forgets a secret's name; returns whether it was recorded.
    pub fn forget_secret(&self, scope: &str, name: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM secret_index WHERE scope = ?1 AND name = ?2",
            rusqlite::params![scope, name],
        )? > 0)
    }

    /// Every recorded secret name, by scope and name.
    pub fn secret_names(&self) -> Result<Vec<SecretName>> {
        let mut stmt = self.conn.prepare(
            "SELECT scope, name, keychain, updated_at FROM secret_index ORDER BY scope, name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SecretName {
                scope: r.get(0)?,
                name: r.get(1)?,
                keychain: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_tolerates_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/toolgate.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.version().unwrap(), SCHEMA_VERSION);
        store
            .record_upstream("a", "failed", None, Some("boom"))
            .unwrap();
        store.record_upstream("a", "ready", Some(3), None).unwrap();
        let status = store.upstream_status("a").unwrap().unwrap();
        assert_eq!(status.state, "ready");
        assert_eq!(status.last_error.as_deref(), Some("boom"));
        assert!(store.upstream_status("nope").unwrap().is_none());
        drop(store);
        // Reopening applies nothing twice.
        let store = Store::open(&path).unwrap();
        let n: i64 = store
            .conn
            .query_row("SELECT count(*) FROM migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, SCHEMA_VERSION);
        // A newer toolgate migrated further: this one still opens it.
        store
            .conn
            .execute_batch("CREATE TABLE future_table (x INTEGER); PRAGMA user_version = 99;")
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.version().unwrap(), 99);
        store.record_upstream("b", "ready", Some(1), None).unwrap();
    }

    #[test]
    fn secret_index_holds_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store.record_secret("brave", "KEY", "ss").unwrap();
        store.record_secret("brave", "KEY", "ss").unwrap();
        store.record_secret("audit", "TOKEN", "ss").unwrap();
        let names: Vec<_> = store
            .secret_names()
            .unwrap()
            .into_iter()
            .map(|s| format!("{}/{}", s.scope, s.name))
            .collect();
        assert_eq!(names, ["audit/TOKEN", "brave/KEY"]);
        assert!(store.forget_secret("brave", "KEY").unwrap());
        assert!(!store.forget_secret("brave", "KEY").unwrap());
    }

    #[test]
    fn concurrent_opens_migrate_exactly_once() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("toolgate.db");
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let p = path.clone();
                    std::thread::spawn(move || Store::open(&p).map(|_| ()))
                })
                .collect();
            for h in handles {
                if let Err(e) = h.join().unwrap() {
                    panic!("{e:#}");
                }
            }
            let store = Store::open(&path).unwrap();
            let n: i64 = store
                .conn
                .query_row("SELECT count(*) FROM migrations", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, SCHEMA_VERSION);
        }
    }
}
