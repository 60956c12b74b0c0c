//! Checkpoints: signed statements of how far the chain went.
//!
//! Every `checkpoint_every` records (default 1,000), every
//! `checkpoint_interval` (default 60 s) when records were added since the
//! last one, and when `serve` stops, toolgate writes a checkpoint into the
//! `checkpoints` table of `audit.db`:
//!
//! ```text
//! checkpoints(seq INTEGER PRIMARY KEY, body TEXT, sig TEXT)
//! ```
//!
//! `body` is the RFC 8785 (JCS) form of
//! `{"v":1,"seq":N,"hash":H,"time":T,"key":K,"reason":R}` where `N` is the
//! last record it covers, `H` that record's `hash`, `T` RFC 3339 UTC with
//! microseconds, `K` the signer's Ed25519 public key as `ed25519:` and 64
//! hex digits, and `R` `count`, `interval`, `shutdown` or `manual`. `sig`
//! is the standard base64 of the Ed25519 signature (RFC 8032) of `body`'s
//! UTF-8 bytes. Where no key could be had (no keychain), `sig` is NULL and
//! the body carries `"unsigned":"why"` instead of `key`: `verify` reports
//! such checkpoints, so nobody mistakes them for signed ones.
//!
//! A checkpoint catches what the chain alone cannot: records cut off the
//! end (a checkpoint names a `seq` that no longer exists), and a chain
//! rewritten from some record on with every hash recomputed (the
//! checkpoint's `hash` no longer matches). Only the device key can make a
//! valid checkpoint.
//!
//! # The device key
//!
//! One Ed25519 key per device (per `TOOLGATE_HOME`), made on first use and
//! kept in the OS keychain under the account `audit-device-key` (PKCS#8,
//! base64). `toolgate audit key` prints its public half for verifiers.
//! Creation is serialised across processes by `run/locks/audit-key.lock`.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::secrets::{Secret, Vault};

/// The keychain account of the device key.
pub const KEY_ACCOUNT: &str = "audit-device-key";

/// The device's signing key.
pub struct DeviceKey {
    pair: Ed25519KeyPair,
    /// `ed25519:` and the public key in hex.
    public: String,
}

impl DeviceKey {
    fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|_| "the audit key in the keychain is not a valid Ed25519 key".to_string())?;
        let public = public_text(pair.public_key().as_ref());
        Ok(Self { pair, public })
    }

    /// A fresh key (not stored anywhere).
    pub fn generate() -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "could not make an Ed25519 key".to_string())?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// `ed25519:` and 64 hex digits.
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The base64 signature of `body`.
    pub fn sign(&self, body: &str) -> String {
        B64.encode(self.pair.sign(body.as_bytes()).as_ref())
    }
}

fn public_text(raw: &[u8]) -> String {
    format!("ed25519:{}", crate::util::hex(raw))
}

/// Reads the device key from the keychain, making and storing it first
/// where there is none (under a lock, so that concurrent processes agree).
pub fn load_or_create(vault: &Vault) -> Result<DeviceKey, String> {
    let kc = vault.keychain().map_err(|e| e.to_string())?;
    if let Some(found) = kc.get(KEY_ACCOUNT).map_err(|e| e.to_string())? {
        return decode(&found);
    }
    let _lock = crate::util::FileLock::acquire(vault.paths(), "audit-key")?;
    // Another process may have made it while we waited.
    if let Some(found) = kc.get(KEY_ACCOUNT).map_err(|e| e.to_string())? {
        return decode(&found);
    }
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "could not make an Ed25519 key".to_string())?;
    let key = DeviceKey::from_pkcs8(doc.as_ref())?;
    kc.set(KEY_ACCOUNT, &Secret::new(B64.encode(doc.as_ref())))
        .map_err(|e| format!("could not store the new audit key in the keychain: {e}"))?;
    tracing::info!(key = %key.public, "made this device's audit signing key");
    Ok(key)
}

fn decode(stored: &Secret) -> Result<DeviceKey, String> {
    let der = zeroize::Zeroizing::new(
        B64.decode(stored.expose().trim())
            .map_err(|_| "the audit key in the keychain is not base64".to_string())?,
    );
    DeviceKey::from_pkcs8(&der)
}

/// The public key (`ed25519:` and hex) of a stored device key.
pub fn public_of(stored: &Secret) -> Result<String, String> {
    decode(stored).map(|k| k.public)
}

/// Where the signing key stands in this process.
#[derive(Clone)]
pub enum KeyState {
    /// Still being read from the keychain: checkpoints wait.
    Loading,
    Ready(Arc<DeviceKey>),
    /// It cannot be had: checkpoints are written unsigned, with this reason.
    Failed(String),
}

/// The process's key, loaded on a thread of its own (the keychain can take
/// a while to answer) so that `serve` starts without waiting.
pub struct Signer {
    state: Mutex<KeyState>,
    loaded: std::sync::Condvar,
}

impl Signer {
    pub fn loading() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(KeyState::Loading),
            loaded: std::sync::Condvar::new(),
        })
    }

    pub fn ready(key: DeviceKey) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(KeyState::Ready(Arc::new(key))),
            loaded: std::sync::Condvar::new(),
        })
    }

    pub fn failed(why: String) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(KeyState::Failed(why)),
            loaded: std::sync::Condvar::new(),
        })
    }

    /// Starts reading (or making) the key in the background.
    pub fn load_in_background(self: &Arc<Self>, vault: Arc<Vault>) {
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("audit-key".into())
            .spawn(move || {
                let state = match load_or_create(&vault) {
                    Ok(k) => KeyState::Ready(Arc::new(k)),
                    Err(e) => {
                        tracing::warn!(
                            "audit checkpoints will not be signed: {e} (`toolgate audit verify` reports them)"
                        );
                        KeyState::Failed(e)
                    }
                };
                *me.state.lock().expect("signer lock") = state;
                me.loaded.notify_all();
            });
        if let Err(e) = spawned {
            *self.state.lock().expect("signer lock") =
                KeyState::Failed(format!("could not start the key loader: {e}"));
        }
    }

    pub fn state(&self) -> KeyState {
        self.state.lock().expect("signer lock").clone()
    }

    /// The state once loading is over, or still `Loading` after `limit`.
    pub fn wait(&self, limit: std::time::Duration) -> KeyState {
        let guard = self.state.lock().expect("signer lock");
        let (guard, _) = self
            .loaded
            .wait_timeout_while(guard, limit, |s| matches!(s, KeyState::Loading))
            .expect("signer lock");
        guard.clone()
    }
}

/// A checkpoint's body (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub v: u32,
    pub seq: u64,
    pub hash: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsigned: Option<String>,
    pub reason: String,
}

impl Checkpoint {
    /// The canonical body and its signature (`None` when unsigned).
    pub fn seal(mut self, key: &KeyState) -> Option<(String, Option<String>)> {
        let signer = match key {
            KeyState::Loading => return None,
            KeyState::Ready(k) => {
                self.key = Some(k.public().to_owned());
                Some(k)
            }
            KeyState::Failed(why) => {
                self.unsigned = Some(why.clone());
                None
            }
        };
        let value = serde_json::to_value(&self).ok()?;
        let body = serde_json_canonicalizer::to_string(&value).ok()?;
        let sig = signer.map(|k| k.sign(&body));
        Some((body, sig))
    }
}

/// Checks a checkpoint's signature against the key its body names; the
/// parsed body, or what is wrong.
pub fn check(body: &str, sig: Option<&str>) -> Result<Checkpoint, String> {
    let cp: Checkpoint =
        serde_json::from_str(body).map_err(|e| format!("the checkpoint is not readable: {e}"))?;
    let canonical = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json_canonicalizer::to_string(&v).ok());
    if canonical.as_deref() != Some(body) {
        return Err("the checkpoint is not in canonical form".into());
    }
    let Some(sig) = sig else {
        return Err(format!(
            "the checkpoint is not signed ({})",
            cp.unsigned.as_deref().unwrap_or("no reason given")
        ));
    };
    let Some(key) = cp.key.as_deref() else {
        return Err("the checkpoint names no key".into());
    };
    let raw = key
        .strip_prefix("ed25519:")
        .and_then(crate::util::unhex)
        .filter(|k| k.len() == 32)
        .ok_or_else(|| format!("the checkpoint's key {key} is not an Ed25519 key"))?;
    let sig = B64
        .decode(sig)
        .map_err(|_| "the checkpoint's signature is not base64".to_string())?;
    UnparsedPublicKey::new(&ED25519, &raw)
        .verify(body.as_bytes(), &sig)
        .map_err(|_| "the checkpoint's signature is not valid".to_string())?;
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DeviceKey {
        DeviceKey::generate().unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            v: 1,
            seq: 7,
            hash: "ab".repeat(32),
            time: "2026-11-23T08:00:00.000000Z".into(),
            key: None,
            unsigned: None,
            reason: "count".into(),
        }
    }

    #[test]
    fn a_signed_checkpoint_checks_and_any_change_is_caught() {
        let k = Arc::new(key());
        let (body, sig) = checkpoint().seal(&KeyState::Ready(k.clone())).unwrap();
        let sig = sig.unwrap();
        let cp = check(&body, Some(&sig)).unwrap();
        assert_eq!(cp.seq, 7);
        assert_eq!(cp.key.as_deref(), Some(k.public()));
        // Another seq, same signature.
        let forged = body.replace("\"seq\":7", "\"seq\":8");
        assert!(
            check(&forged, Some(&sig))
                .unwrap_err()
                .contains("not valid")
        );
        // Another key's signature.
        let other = key();
        let (body2, sig2) = checkpoint()
            .seal(&KeyState::Ready(Arc::new(other)))
            .unwrap();
        let swapped = body2.replace(&body2[body2.find("ed25519:").unwrap()..][..72], k.public());
        assert!(check(&swapped, sig2.as_deref()).is_err());
    }

    #[test]
    fn unsigned_and_loading() {
        assert!(checkpoint().seal(&KeyState::Loading).is_none());
        let (body, sig) = checkpoint()
            .seal(&KeyState::Failed("no keychain".into()))
            .unwrap();
        assert!(sig.is_none());
        let e = check(&body, None).unwrap_err();
        assert!(e.contains("not signed (no keychain)"), "{e}");
    }
}
