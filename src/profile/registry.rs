//! Getting a profile: fetch (with ETag), verify, check, cache, and load the
//! one in force.
//!
//! The cache is `state/profile/`: `profile.toml` and `profile.toml.minisig`
//! exactly as fetched, and `meta.json` (ETag, source, last pull and its
//! result, keys the profile named for rotation). The highest serial ever
//! verified is kept there too and in the local store, so a rollback is
//! refused even when the cache is deleted. Nothing is parsed or cached before
//! its signature verifies; a failed pull leaves the profile in force as it
//! was.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Profile;
use super::sign::{self, TrustedKey};
use crate::config::{Config, Paths};

/// `[registry]` in `config.toml` (or the org-managed file).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Where the profile is published; its signature is at the same URL
    /// plus `.minisig`.
    pub url: Option<String>,
    /// Trusted public keys: minisign's base64 lines.
    #[serde(default)]
    pub keys: Vec<String>,
    /// When true, nothing is served without a valid profile.
    #[serde(default)]
    pub required: bool,
    /// How often `serve` pulls (default "1h").
    pub refresh: Option<crate::util::ConfigDuration>,
    /// Warn this long before the profile expires (default "7d").
    pub warn_before: Option<crate::util::ConfigDuration>,
    /// Set when an org-managed settings file applied (its path).
    #[serde(skip)]
    pub managed: Option<std::path::PathBuf>,
}

/// What the cache remembers besides the files.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Meta {
    pub etag: Option<String>,
    pub source: Option<String>,
    pub key_id: Option<String>,
    /// The highest serial ever verified here.
    pub highest_serial: u64,
    /// Keys the last verified profile named to sign later serials.
    #[serde(default)]
    pub next_keys: Vec<String>,
    /// The key that signed the last verified profile (trusted for later
    /// serials too: a rotated-to key stays trusted once it has signed).
    pub signing_key: Option<String>,
    pub last_pull_at: Option<String>,
    pub last_pull_result: Option<String>,
}

/// The profile in force, verified.
#[derive(Debug, Clone)]
pub struct Active {
    pub profile: Profile,
    pub key_id: String,
    pub source: Option<String>,
}

/// Where profiles stand for this installation.
#[derive(Debug, Clone)]
pub enum State {
    /// No registry is configured: no profile governs.
    Unmanaged,
    /// A verified profile in force.
    Active(Box<Active>),
    /// A registry is configured but no profile is in force: why.
    Missing(String),
}

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(paths: &Paths) -> Self {
        Self {
            dir: paths.state_dir.join("profile"),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn meta(&self) -> Meta {
        std::fs::read(self.file("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save_meta(&self, meta: &Meta) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        crate::config::paths::write_private_file(&self.file("meta.json"), &text)
            .map_err(|e| format!("{e:#}"))
    }

    /// The cached profile and signature, if both are there.
    pub fn files(&self) -> Option<(Vec<u8>, String)> {
        let data = std::fs::read(self.file("profile.toml")).ok()?;
        let sig = std::fs::read_to_string(self.file("profile.toml.minisig")).ok()?;
        Some((data, sig))
    }

    fn store(&self, data: &[u8], sig: &str) -> Result<(), String> {
        crate::config::paths::write_private_file(&self.file("profile.toml.minisig"), sig.as_bytes())
            .and_then(|()| {
                crate::config::paths::write_private_file(&self.file("profile.toml"), data)
            })
            .map_err(|e| format!("could not cache the profile: {e:#}"))
    }
}

/// The trusted keys: configured ones plus those the last verified profile
/// named for rotation.
pub fn trusted_keys(settings: &RegistrySettings, meta: &Meta) -> Result<Vec<TrustedKey>, String> {
    let mut keys = Vec::new();
    for k in settings
        .keys
        .iter()
        .chain(&meta.next_keys)
        .chain(meta.signing_key.iter())
    {
        let key = TrustedKey::parse(k).map_err(|e| format!("registry.keys: {e}"))?;
        if !keys.iter().any(|x: &TrustedKey| x.id == key.id) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// Verifies and checks a profile: signature first, then parse, then
/// rollback and expiry. `highest` is the highest serial verified so far.
pub fn check(
    data: &[u8],
    sig: &str,
    keys: &[TrustedKey],
    highest: u64,
    now: i64,
) -> Result<(Profile, String), String> {
    check_with(data, sig, keys, highest, now, true)
}

/// As [`check`] for a profile from the cache (which holds only profiles
/// that passed [`check`]): the signature is verified again, the pins are not
/// recomputed.
pub fn check_cached(
    data: &[u8],
    sig: &str,
    keys: &[TrustedKey],
    highest: u64,
    now: i64,
) -> Result<(Profile, String), String> {
    check_with(data, sig, keys, highest, now, false)
}

/// As [`check`]; `full = false` skips recomputing every pin from its
/// definition (for the cache, which holds only profiles that passed a full
/// check, and whose signature is verified again here).
fn check_with(
    data: &[u8],
    sig: &str,
    keys: &[TrustedKey],
    highest: u64,
    now: i64,
    full: bool,
) -> Result<(Profile, String), String> {
    let verified = sign::verify(data, sig, keys)?;
    let text =
        std::str::from_utf8(data).map_err(|_| "the profile is not UTF-8 text".to_string())?;
    let profile = if full {
        Profile::parse(text)?
    } else {
        Profile::parse_verified(text)?
    };
    if profile.serial < highest {
        return Err(format!(
            "the profile's serial {} is lower than {highest}, the highest already verified: refused as a rollback",
            profile.serial
        ));
    }
    if !profile.in_force(now) {
        return Err(format!(
            "the profile (serial {}) expired at {}",
            profile.serial, profile.expires
        ));
    }
    Ok((profile, verified.key_id))
}

/// The profile in force now, from the cache (verified again on each load).
pub fn load(paths: &Paths, config: &Config) -> State {
    let settings = &config.registry;
    if settings.url.is_none() && settings.keys.is_empty() {
        return State::Unmanaged;
    }
    let cache = Cache::new(paths);
    let meta = cache.meta();
    let Some((data, sig)) = cache.files() else {
        return State::Missing(match &meta.last_pull_result {
            Some(r) => format!("no verified profile yet (last pull: {r})"),
            None => "no profile has been pulled yet: run `toolgate profile pull`".into(),
        });
    };
    let keys = match trusted_keys(settings, &meta) {
        Ok(k) => k,
        Err(e) => return State::Missing(e),
    };
    let highest = meta.highest_serial.max(store_highest(paths));
    match check_with(&data, &sig, &keys, highest, crate::auth::now_secs(), false) {
        Ok((profile, key_id)) => State::Active(Box::new(Active {
            profile,
            key_id,
            source: meta.source,
        })),
        Err(e) => State::Missing(format!("the cached profile is not in force: {e}")),
    }
}

fn store_highest(paths: &Paths) -> u64 {
    crate::store::Store::open(&paths.db_file())
        .ok()
        .and_then(|s| s.profile_highest_serial().ok())
        .unwrap_or(0)
}

/// The outcome of a pull.
#[derive(Debug)]
pub enum Pulled {
    /// A new profile was verified and cached.
    Updated { serial: u64, key_id: String },
    /// The registry answered 304, or sent the profile in force again.
    Unchanged { serial: Option<u64> },
}

/// Fetches the profile and its signature, verifies and caches them. On any
/// error the cached profile stays as it was; the error names the cause.
pub async fn pull(paths: &Paths, config: &Config) -> Result<Pulled, String> {
    let settings = &config.registry;
    let Some(url) = settings.url.as_deref() else {
        return Err("no registry is configured: set [registry] url and keys in config.toml".into());
    };
    let cache = Cache::new(paths);
    let mut meta = cache.meta();
    let result = fetch_and_check(url, settings, &cache, &meta).await;
    meta.last_pull_at = Some(crate::util::rfc3339(crate::auth::now_secs()));
    match &result {
        Ok((Pulled::Updated { serial, key_id }, etag, next_keys)) => {
            meta.etag = etag.clone();
            meta.source = Some(url.to_string());
            if meta.key_id.as_deref() != Some(key_id.as_str()) {
                meta.signing_key = trusted_keys(settings, &meta)
                    .ok()
                    .and_then(|keys| keys.into_iter().find(|k| &k.id == key_id))
                    .map(|k| k.key.to_base64());
            }
            meta.key_id = Some(key_id.clone());
            meta.highest_serial = meta.highest_serial.max(*serial);
            meta.next_keys = next_keys.clone();
            meta.last_pull_result = Some(format!("ok: serial {serial}"));
            if let Ok(store) = crate::store::Store::open(&paths.db_file()) {
                let _ = store.record_profile_serial(*serial);
            }
        }
        Ok((Pulled::Unchanged { .. }, _, _)) => {
            meta.last_pull_result = Some("ok: unchanged".into());
        }
        Err(e) => meta.last_pull_result = Some(format!("failed: {e}")),
    }
    cache.save_meta(&meta)?;
    result.map(|(p, _, _)| p)
}

/// Longest one request to the registry may take, answer included: a
/// registry that accepts connections and never answers must not hold a
/// pull up forever (a profile is a few kilobytes).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a request to the registry failed, in words.
fn unreachable(url: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!(
            "the registry {url} did not answer within {}",
            crate::util::format_duration(REQUEST_TIMEOUT)
        )
    } else {
        format!(
            "could not reach the registry {url}: {}",
            crate::upstream::http::error_chain(e)
        )
    }
}

async fn fetch_and_check(
    url: &str,
    settings: &RegistrySettings,
    cache: &Cache,
    meta: &Meta,
) -> Result<(Pulled, Option<String>, Vec<String>), String> {
    let client = crate::upstream::http::client();
    let mut req = client.get(url).timeout(REQUEST_TIMEOUT);
    let have_cache = cache.files().is_some();
    if let (Some(etag), true) = (&meta.etag, have_cache) {
        req = req.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let resp = req.send().await.map_err(|e| unreachable(url, &e))?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        let serial = cache
            .files()
            .and_then(|(d, _)| {
                std::str::from_utf8(&d)
                    .ok()
                    .and_then(|t| Profile::parse(t).ok())
            })
            .map(|p| p.serial);
        return Ok((
            Pulled::Unchanged { serial },
            meta.etag.clone(),
            meta.next_keys.clone(),
        ));
    }
    if !resp.status().is_success() {
        return Err(format!(
            "the registry answered HTTP {} for {url}",
            resp.status()
        ));
    }
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let data = resp
        .bytes()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                unreachable(url, &e)
            } else {
                format!("could not read the profile from {url}: {e}")
            }
        })?
        .to_vec();
    let sig_url = format!("{url}.minisig");
    let sig_resp = client
        .get(&sig_url)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable(&sig_url, &e))?;
    if !sig_resp.status().is_success() {
        return Err(format!(
            "the profile's signature {sig_url} could not be fetched (HTTP {}): an unsigned profile is never used",
            sig_resp.status()
        ));
    }
    let sig = sig_resp.text().await.map_err(|e| {
        if e.is_timeout() {
            unreachable(&sig_url, &e)
        } else {
            format!("could not read {sig_url}: {e}")
        }
    })?;
    let keys = trusted_keys(settings, meta)?;
    let (profile, key_id) = check(
        &data,
        &sig,
        &keys,
        meta.highest_serial,
        crate::auth::now_secs(),
    )?;
    if let Some((old, _)) = cache.files()
        && old == data
    {
        return Ok((
            Pulled::Unchanged {
                serial: Some(profile.serial),
            },
            etag,
            profile.next_keys.clone(),
        ));
    }
    if profile.serial == meta.highest_serial && meta.highest_serial > 0 {
        return Err(format!(
            "the registry sent a different profile with the same serial {}: a new profile must have a higher serial",
            profile.serial
        ));
    }
    cache.store(&data, &sig)?;
    Ok((
        Pulled::Updated {
            serial: profile.serial,
            key_id,
        },
        etag,
        profile.next_keys.clone(),
    ))
}
