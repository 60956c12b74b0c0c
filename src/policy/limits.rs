//! Rate limits and budgets: per tool, per server, or overall; per minute,
//! hour or day; with a burst. Shared by every toolgate process of the user
//! (one token bucket per limit and scope in the local store, taken from in a
//! transaction) and kept across restarts, so daily budgets survive them.
//!
//! ```toml
//! [[policy.limits]]
//! id = "github-writes"
//! server = "github"        # globs, as in rules (both absent: every call)
//! tool = "create_*"
//! max = 30                 # calls per `per`...
//! per = "hour"             # minute | hour | day
//! burst = 5                # ...at most this many at once (default: max)
//! scope = "tool"           # tool | server | all (default: the narrowest named)
//! ```
//!
//! A bucket holds `burst` tokens and refills at `max` per `per`. To keep
//! the store off the path of most calls, a process takes tokens from a big
//! bucket a few at a time (1/64 of its burst, at most 256; one at a time
//! when the burst is under 128) and spends them locally; tokens it took
//! and did not spend before it exits are lost until the bucket refills. A call
//! over a limit gets an `isError` result with the limit, the current count
//! and the seconds until a call is possible again, in words and in `_meta`.

use serde::{Deserialize, Serialize};

use super::glob;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    Minute,
    Hour,
    Day,
}

impl Per {
    pub fn millis(self) -> i64 {
        match self {
            Per::Minute => 60_000,
            Per::Hour => 3_600_000,
            Per::Day => 86_400_000,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Per::Minute => "minute",
            Per::Hour => "hour",
            Per::Day => "day",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One bucket per tool.
    Tool,
    /// One bucket per server.
    Server,
    /// One bucket for every call the limit matches.
    All,
}

/// `[[policy.limits]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub id: String,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub max: u32,
    pub per: Per,
    pub burst: Option<u32>,
    pub scope: Option<Scope>,
}

impl Limit {
    pub fn validate(&self) -> Result<(), String> {
        if self.max == 0 {
            return Err(format!("limit {}: max must be at least 1", self.id));
        }
        if self.burst == Some(0) {
            return Err(format!("limit {}: burst must be at least 1", self.id));
        }
        Ok(())
    }

    pub fn matches(&self, server: &str, tool: &str) -> bool {
        self.server.as_deref().is_none_or(|g| glob(g, server))
            && self.tool.as_deref().is_none_or(|g| glob(g, tool))
    }

    fn scope_key(&self, server: &str, tool: &str) -> String {
        let scope = self.scope.unwrap_or(if self.tool.is_some() {
            Scope::Tool
        } else if self.server.is_some() {
            Scope::Server
        } else {
            Scope::All
        });
        match scope {
            Scope::Tool => format!("{server}/{tool}"),
            Scope::Server => server.to_string(),
            Scope::All => "*".to_string(),
        }
    }

    fn capacity(&self) -> f64 {
        f64::from(self.burst.unwrap_or(self.max))
    }

    fn rate_per_ms(&self) -> f64 {
        f64::from(self.max) / self.per.millis() as f64
    }
}

/// A call over a limit.
#[derive(Debug, Clone)]
pub struct Exceeded {
    pub limit: String,
    pub max: u32,
    pub per: Per,
    pub used: u32,
    pub retry_after_secs: u64,
    /// Why the limit could not be counted, when it could not (the local
    /// store cannot be used: limits then fail closed).
    pub unavailable: Option<String>,
}

/// Milliseconds now (shifted by the test clock).
pub fn now_ms() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    real + crate::auth::test_clock_offset() * 1000
}

/// The most tokens a process takes from a shared bucket at once: 1/64 of
/// its burst, at most 256 (a bucket of burst under 128 is taken from one
/// token at a time, exactly). Tokens taken ahead and not spent when the
/// process exits are lost until the bucket refills.
fn lease_size(capacity: f64) -> f64 {
    (capacity / 64.0).floor().clamp(1.0, 256.0)
}

/// The shared buckets: the local store, opened once per process, and the
/// tokens this process has taken ahead (by limit id and scope).
pub struct Buckets {
    db: std::path::PathBuf,
    inner: std::sync::Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    store: Option<crate::store::Store>,
    ahead: std::collections::HashMap<(String, String), f64>,
}

impl Buckets {
    pub fn new(db: std::path::PathBuf) -> Self {
        Self {
            db,
            inner: std::sync::Mutex::new(Inner::default()),
        }
    }

    /// Takes a token from every limit the call matches; the first limit
    /// that has none refuses it. A store that cannot be used refuses too:
    /// limits fail closed.
    pub fn take(&self, limits: &[Limit], server: &str, tool: &str) -> Result<(), Exceeded> {
        let matching: Vec<&Limit> = limits.iter().filter(|l| l.matches(server, tool)).collect();
        if matching.is_empty() {
            return Ok(());
        }
        let mut inner = self.inner.lock().expect("buckets lock");
        let inner = &mut *inner;
        let keys: Vec<(String, String)> = matching
            .iter()
            .map(|l| (l.id.clone(), l.scope_key(server, tool)))
            .collect();
        // Tokens taken ahead pay for the call when every bucket has one.
        let ahead = |k: &(String, String)| inner.ahead.get(k).copied().unwrap_or(0.0);
        if keys.iter().all(|k| ahead(k) >= 1.0) {
            for k in &keys {
                *inner.ahead.get_mut(k).expect("checked above") -= 1.0;
            }
            return Ok(());
        }
        if inner.store.is_none() {
            match crate::store::Store::open(&self.db) {
                Ok(s) => inner.store = Some(s),
                Err(e) => {
                    tracing::error!("rate limits cannot be counted ({e:#}); refusing the call");
                    return Err(Exceeded {
                        limit: matching[0].id.clone(),
                        max: matching[0].max,
                        per: matching[0].per,
                        used: matching[0].max,
                        retry_after_secs: 60,
                        unavailable: Some(format!("{e:#}")),
                    });
                }
            }
        }
        // From the shared store: a lease for each bucket with nothing ahead.
        let short: Vec<usize> = (0..keys.len()).filter(|&i| ahead(&keys[i]) < 1.0).collect();
        let buckets: Vec<(&str, &str, f64, f64, f64)> = short
            .iter()
            .map(|&i| {
                let l = matching[i];
                (
                    keys[i].0.as_str(),
                    keys[i].1.as_str(),
                    l.capacity(),
                    l.rate_per_ms(),
                    lease_size(l.capacity()),
                )
            })
            .collect();
        let store = inner.store.as_mut().expect("opened above");
        match store.take_tokens(&buckets, now_ms()) {
            Ok(Ok(taken)) => {
                for (&i, n) in short.iter().zip(taken) {
                    *inner.ahead.entry(keys[i].clone()).or_insert(0.0) += n;
                }
                for k in &keys {
                    *inner.ahead.get_mut(k).expect("filled above") -= 1.0;
                }
            }
            Ok(Err((j, tokens))) => {
                let l = matching[short[j]];
                let wait_ms = ((1.0 - tokens) / l.rate_per_ms()).ceil().max(0.0);
                return Err(Exceeded {
                    limit: l.id.clone(),
                    max: l.max,
                    per: l.per,
                    used: (l.capacity() - tokens).round().max(0.0) as u32,
                    retry_after_secs: ((wait_ms / 1000.0).ceil() as u64).max(1),
                    unavailable: None,
                });
            }
            Err(e) => {
                let l = matching[0];
                tracing::error!(
                    "rate limit {} cannot be counted ({e:#}); refusing the call",
                    l.id
                );
                return Err(Exceeded {
                    limit: l.id.clone(),
                    max: l.max,
                    per: l.per,
                    used: l.max,
                    retry_after_secs: 60,
                    unavailable: Some(format!("{e:#}")),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32, burst: Option<u32>) -> Limit {
        Limit {
            id: "l".into(),
            server: Some("s".into()),
            tool: None,
            max,
            per: Per::Minute,
            burst,
            scope: None,
        }
    }

    #[test]
    fn buckets_refill_and_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::store::Store::open(&dir.path().join("t.db")).unwrap();
        let l = limit(60, Some(2));
        let take = |store: &mut crate::store::Store, at: i64| {
            store
                .take_tokens(&[("l", "s", l.capacity(), l.rate_per_ms(), 1.0)], at)
                .unwrap()
        };
        assert!(take(&mut store, 0).is_ok());
        assert!(take(&mut store, 0).is_ok());
        assert!(take(&mut store, 0).is_err(), "burst of 2");
        // 60 per minute: one token a second.
        assert!(take(&mut store, 999).is_err());
        assert!(take(&mut store, 1000).is_ok());
        // All or none: a call refused by one bucket takes from no other.
        let roomy = limit(60, Some(10));
        let both = |store: &mut crate::store::Store| {
            store
                .take_tokens(
                    &[
                        ("roomy", "s", roomy.capacity(), roomy.rate_per_ms(), 1.0),
                        ("l", "s", l.capacity(), l.rate_per_ms(), 1.0),
                    ],
                    1000,
                )
                .unwrap()
        };
        assert_eq!(both(&mut store).unwrap_err().0, 1);
        assert_eq!(both(&mut store).unwrap_err().0, 1);
        let left = store
            .take_tokens(
                &[("roomy", "s", roomy.capacity(), roomy.rate_per_ms(), 1.0)],
                1000,
            )
            .unwrap();
        assert!(left.is_ok());
        // Ten were there; one taken now: the refused calls took none.
        for _ in 0..9 {
            assert!(take_roomy(&mut store, &roomy).is_ok());
        }
        assert!(take_roomy(&mut store, &roomy).is_err());
    }

    /// Two processes sharing a large bucket take leases of it, and together
    /// spend exactly its tokens, no more.
    #[test]
    fn leases_spend_the_bucket_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let l = Limit {
            id: "big".into(),
            server: None,
            tool: None,
            max: 640,
            per: Per::Day,
            burst: None,
            scope: None,
        };
        assert_eq!(lease_size(l.capacity()), 10.0);
        assert_eq!(lease_size(20.0), 1.0);
        let (a, b) = (Buckets::new(db.clone()), Buckets::new(db));
        let limits = vec![l];
        let mut ok = 0;
        for i in 0..2000 {
            let side = if i % 3 == 0 { &a } else { &b };
            if side.take(&limits, "s", "t").is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 640);
    }

    fn take_roomy(store: &mut crate::store::Store, l: &Limit) -> Result<Vec<f64>, (usize, f64)> {
        store
            .take_tokens(&[("roomy", "s", l.capacity(), l.rate_per_ms(), 1.0)], 1000)
            .unwrap()
    }

    #[test]
    fn matching_and_scopes() {
        let mut l = limit(1, None);
        assert!(l.matches("s", "anything"));
        assert!(!l.matches("t", "x"));
        assert_eq!(l.scope_key("s", "x"), "s");
        l.tool = Some("x*".into());
        assert_eq!(l.scope_key("s", "x1"), "s/x1");
        l.scope = Some(Scope::All);
        assert_eq!(l.scope_key("s", "x1"), "*");
    }
}
