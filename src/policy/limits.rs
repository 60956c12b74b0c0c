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
//! A bucket holds `burst` tokens and refills at `max` per `per`. A call
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
}

/// Milliseconds now (shifted by the test clock).
pub fn now_ms() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    real + crate::auth::test_clock_offset() * 1000
}

/// The shared buckets: the local store, opened once per process.
pub struct Buckets {
    db: std::path::PathBuf,
    store: std::sync::Mutex<Option<crate::store::Store>>,
}

impl Buckets {
    pub fn new(db: std::path::PathBuf) -> Self {
        Self {
            db,
            store: std::sync::Mutex::new(None),
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
        let mut guard = self.store.lock().expect("buckets lock");
        if guard.is_none() {
            match crate::store::Store::open(&self.db) {
                Ok(s) => *guard = Some(s),
                Err(e) => {
                    tracing::error!("rate limits cannot be counted ({e:#}); refusing the call");
                    return Err(Exceeded {
                        limit: matching[0].id.clone(),
                        max: matching[0].max,
                        per: matching[0].per,
                        used: matching[0].max,
                        retry_after_secs: 60,
                    });
                }
            }
        }
        let store = guard.as_mut().expect("opened above");
        let now = now_ms();
        for l in matching {
            let scope = l.scope_key(server, tool);
            match store.take_token(&l.id, &scope, l.capacity(), l.rate_per_ms(), now) {
                Ok(Ok(_)) => {}
                Ok(Err(tokens)) => {
                    let wait_ms = ((1.0 - tokens) / l.rate_per_ms()).ceil().max(0.0);
                    return Err(Exceeded {
                        limit: l.id.clone(),
                        max: l.max,
                        per: l.per,
                        used: (l.capacity() - tokens).round().max(0.0) as u32,
                        retry_after_secs: ((wait_ms / 1000.0).ceil() as u64).max(1),
                    });
                }
                Err(e) => {
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
                    });
                }
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
                .take_token("l", "s", l.capacity(), l.rate_per_ms(), at)
                .unwrap()
        };
        assert!(take(&mut store, 0).is_ok());
        assert!(take(&mut store, 0).is_ok());
        assert!(take(&mut store, 0).is_err(), "burst of 2");
        // 60 per minute: one token a second.
        assert!(take(&mut store, 999).is_err());
        assert!(take(&mut store, 1000).is_ok());
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
