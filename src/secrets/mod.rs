//! Secrets: the OS keychain, and the [`Secret`] type that holds what came
//! out of it.
//!
//! Every token and API key toolgate uses lives in the OS keychain, never in
//! `config.toml`, the store or a log:
//!
//! | platform | store | how |
//! |---|---|---|
//! | Linux, BSD | the Secret Service (GNOME Keyring, KWallet, KeePassXC) over D-Bus | `keyring-core` + `zbus-secret-service-keyring-store` |
//! | Linux, opt-in | the kernel keyutils **user** keyring | `linux-keyutils` (see below) |
//! | macOS | the login Keychain | `apple-native-keyring-store` (untested here) |
//! | Windows | the Credential Manager | `windows-native-keyring-store` (untested here) |
//!
//! Where no store can be reached (a headless Linux box without a session
//! bus), every command that needs one fails with a sentence saying so and how
//! to fix it. There is no silent in-memory or plain-file fallback.
//!
//! The kernel store is chosen with `[keychain] backend = "keyutils"` in
//! `config.toml` or `TOOLGATE_KEYCHAIN=keyutils`. toolgate puts its keys in the
//! user keyring (`@u`), not the session keyring, so that a `toolgate login` in
//! a terminal and a `toolgate serve` launched by an IDE see the same entries.
//! The caveat: the kernel keeps them in memory only, so they are gone after a
//! reboot (log in again, set secrets again).
//!
//! Entries are named by a *service* and an *account*. The service is
//! `toolgate`, or, when `TOOLGATE_HOME` is set, `toolgate-` plus 16 hex digits
//! of the SHA-256 of that folder's absolute path, so that test runs and
//! separate installations never see each other's entries. Accounts:
//!
//! - `secret:SCOPE/NAME`: a secret set with `toolgate secret set SCOPE NAME`;
//! - `oauth:HASH`: an OAuth token set, where HASH covers the issuer, the
//!   resource and the client id, so a credential from one authorization
//!   server is never offered to another;
//! - `oauth-client:HASH`: a registered OAuth client's secret, if it has one.

pub mod refs;

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::config::Paths;
use crate::error::UserError;

/// A secret value. It prints as `<redacted>` in `Debug` and `Display`, and
/// its bytes are overwritten when it is dropped. Use [`Secret::expose`] at the
/// one place the value must leave toolgate (a header, a child's environment).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself. Never log or format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// `[keychain]` in `config.toml`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeychainSettings {
    /// Which store: `auto` (the platform's own), `secret-service` or
    /// `keyutils` (Linux only). `TOOLGATE_KEYCHAIN` overrides it.
    #[serde(default)]
    pub backend: BackendKind,
}

/// A keychain store.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The platform's own: the Secret Service on Linux and BSD, the Keychain
    /// on macOS, the Credential Manager on Windows.
    #[default]
    Auto,
    SecretService,
    Keyutils,
}

impl BackendKind {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Self::Auto),
            "secret-service" => Some(Self::SecretService),
            "keyutils" => Some(Self::Keyutils),
            _ => None,
        }
    }
}

/// The environment variable that picks the keychain store.
pub const BACKEND_ENV: &str = "TOOLGATE_KEYCHAIN";

/// Where keychain operations fail: always with a sentence and a hint.
fn unavailable(store: &str, why: &str) -> UserError {
    UserError::problem(format!("no keychain is available: {store} {why}")).hint(NO_KEYCHAIN_HINT)
}

const NO_KEYCHAIN_HINT: &str = "start a Secret Service in your session (GNOME Keyring, KWallet or KeePassXC; on a headless machine: `dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; toolgate ...'`), or opt in to the kernel keyring with `[keychain] backend = \"keyutils\"` in config.toml or TOOLGATE_KEYCHAIN=keyutils (its entries are lost at reboot)";

/// The OS keychain, scoped to this installation.
#[derive(Clone)]
pub struct Keychain {
    service: String,
    backend: Arc<Backend>,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keychain")
            .field("service", &self.service)
            .field("store", &self.backend.describe())
            .finish()
    }
}

enum Backend {
    /// A keyring-core store: the Secret Service, macOS Keychain, Windows
    /// Credential Manager.
    Native {
        store: Arc<keyring_core::CredentialStore>,
        label: &'static str,
    },
    #[cfg(target_os = "linux")]
    Keyutils,
}

impl Backend {
    fn describe(&self) -> &'static str {
        match self {
            Backend::Native { label, .. } => label,
            #[cfg(target_os = "linux")]
            Backend::Keyutils => "the kernel keyutils user keyring",
        }
    }
}

/// The keychain service name for these paths.
pub fn service_name(paths: &Paths) -> String {
    match &paths.home {
        None => "toolgate".to_string(),
        Some(home) => {
            let abs = std::path::absolute(home).unwrap_or_else(|_| home.clone());
            let hash = crate::util::sha256_hex(abs.to_string_lossy().as_bytes());
            format!("toolgate-{}", &hash[..16])
        }
    }
}

impl Keychain {
    /// Opens the keychain chosen by `TOOLGATE_KEYCHAIN`, else by
    /// `[keychain] backend`, else the platform's own. Fails with a clear
    /// sentence when it cannot be reached. Blocking (D-Bus): call it off the
    /// async runtime in `serve`.
    pub fn open(paths: &Paths, settings: KeychainSettings) -> Result<Self, UserError> {
        let kind = match std::env::var(BACKEND_ENV) {
            Ok(v) if !v.trim().is_empty() => BackendKind::parse(v.trim()).ok_or_else(|| {
                UserError::new(format!(
                    "{BACKEND_ENV}={v} is not a keychain store toolgate knows"
                ))
                .hint("use auto, secret-service or keyutils")
            })?,
            _ => settings.backend,
        };
        let backend = open_backend(kind)?;
        Ok(Self {
            service: service_name(paths),
            backend,
        })
    }

    /// The service name entries are filed under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Which store this is, in words.
    pub fn describe(&self) -> &'static str {
        self.backend.describe()
    }

    /// Reads an entry; `None` when it does not exist.
    pub fn get(&self, account: &str) -> Result<Option<Secret>, UserError> {
        // (Counted in the debug log: tests check that calls do not read.)
        tracing::debug!(
            kind = account.split(':').next().unwrap_or(""),
            "keychain read"
        );
        match &*self.backend {
            Backend::Native { store, label } => {
                let entry = store
                    .build(&self.service, account, None)
                    .map_err(|e| native_error(label, "read", &e))?;
                match entry.get_password() {
                    Ok(value) => Ok(Some(Secret::new(value))),
                    Err(keyring_core::Error::NoEntry) => Ok(None),
                    Err(e) => Err(native_error(label, "read", &e)),
                }
            }
            #[cfg(target_os = "linux")]
            Backend::Keyutils => keyutils::get(&self.service, account),
        }
    }

    /// Creates or replaces an entry.
    pub fn set(&self, account: &str, value: &Secret) -> Result<(), UserError> {
        match &*self.backend {
            Backend::Native { store, label } => {
                let entry = store
                    .build(&self.service, account, None)
                    .map_err(|e| native_error(label, "write", &e))?;
                entry
                    .set_password(value.expose())
                    .map_err(|e| native_error(label, "write", &e))
            }
            #[cfg(target_os = "linux")]
            Backend::Keyutils => keyutils::set(&self.service, account, value),
        }
    }

    /// Deletes an entry; returns whether it existed.
    pub fn delete(&self, account: &str) -> Result<bool, UserError> {
        match &*self.backend {
            Backend::Native { store, label } => {
                let entry = store
                    .build(&self.service, account, None)
                    .map_err(|e| native_error(label, "delete", &e))?;
                match entry.delete_credential() {
                    Ok(()) => Ok(true),
                    Err(keyring_core::Error::NoEntry) => Ok(false),
                    Err(e) => Err(native_error(label, "delete", &e)),
                }
            }
            #[cfg(target_os = "linux")]
            Backend::Keyutils => keyutils::delete(&self.service, account),
        }
    }
}

/// Describes a keyring-core error without ever printing secret bytes (some
/// variants carry the value that failed to decode).
fn native_error(label: &str, op: &str, e: &keyring_core::Error) -> UserError {
    use keyring_core::Error as E;
    let why = match e {
        E::PlatformFailure(err) => format!("it failed: {err}"),
        E::NoStorageAccess(err) => {
            return UserError::problem(format!(
                "could not {op} {label}: it refused access ({err})"
            ))
            .hint("unlock your keychain (log in to the desktop session, or unlock the collection in your keyring manager), then try again");
        }
        E::NoEntry => "no such entry".to_string(),
        E::BadEncoding(_) => "the stored value is not UTF-8 text".to_string(),
        E::BadDataFormat(_, _) => "the stored value is malformed".to_string(),
        E::BadStoreFormat(why) => format!("the store is malformed: {why}"),
        E::TooLong(what, limit) => format!("{what} is longer than its limit of {limit}"),
        E::Invalid(what, why) => format!("{what} is invalid: {why}"),
        E::Ambiguous(items) => format!("{} entries match", items.len()),
        E::NoDefaultStore => "no store is set".to_string(),
        E::NotSupportedByStore(why) => format!("not supported: {why}"),
        _ => "an unknown error".to_string(),
    };
    UserError::problem(format!("could not {op} {label}: {why}"))
}

static SECRET_SERVICE: OnceLock<Result<Arc<Backend>, UserError>> = OnceLock::new();

fn open_backend(kind: BackendKind) -> Result<Arc<Backend>, UserError> {
    match kind {
        BackendKind::Keyutils => {
            #[cfg(target_os = "linux")]
            {
                keyutils::probe()?;
                Ok(Arc::new(Backend::Keyutils))
            }
            #[cfg(not(target_os = "linux"))]
            Err(UserError::new(
                "the keyutils keychain store exists on Linux only",
            )
            .hint("remove `backend = \"keyutils\"` from [keychain] (or unset TOOLGATE_KEYCHAIN) to use this system's keychain"))
        }
        BackendKind::SecretService => secret_service(),
        BackendKind::Auto => platform_native(),
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_native() -> Result<Arc<Backend>, UserError> {
    secret_service()
}

#[cfg(all(unix, not(target_os = "macos")))]
fn secret_service() -> Result<Arc<Backend>, UserError> {
    SECRET_SERVICE
        .get_or_init(|| {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty())
                && !default_bus_socket_exists()
            {
                return Err(unavailable(
                    "the Secret Service is reached over the D-Bus session bus,",
                    "and this process has none (DBUS_SESSION_BUS_ADDRESS is not set)",
                ));
            }
            match zbus_secret_service_keyring_store::Store::new() {
                Ok(store) => Ok(Arc::new(Backend::Native {
                    store,
                    label: "the Secret Service",
                })),
                Err(e) => Err(unavailable(
                    "the Secret Service",
                    &format!("could not be reached on the session bus ({e})"),
                )),
            }
        })
        .clone()
}

/// systemd's per-user bus, which zbus uses when the variable is unset.
#[cfg(all(unix, not(target_os = "macos")))]
fn default_bus_socket_exists() -> bool {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .is_some_and(|dir| dir.join("bus").exists())
}

#[cfg(target_os = "macos")]
fn platform_native() -> Result<Arc<Backend>, UserError> {
    // Untested here (no macOS machine): the login Keychain.
    SECRET_SERVICE
        .get_or_init(
            || match apple_native_keyring_store::keychain::Store::new() {
                Ok(store) => Ok(Arc::new(Backend::Native {
                    store,
                    label: "the macOS Keychain",
                })),
                Err(e) => Err(unavailable("the macOS Keychain", &format!("failed: {e}"))),
            },
        )
        .clone()
}

#[cfg(target_os = "macos")]
fn secret_service() -> Result<Arc<Backend>, UserError> {
    Err(
        UserError::new("the Secret Service store is for Linux and BSD")
            .hint("use backend = \"auto\" (the macOS Keychain)"),
    )
}

#[cfg(windows)]
fn platform_native() -> Result<Arc<Backend>, UserError> {
    // Untested here (no Windows machine): the Credential Manager.
    SECRET_SERVICE
        .get_or_init(|| match windows_native_keyring_store::Store::new() {
            Ok(store) => Ok(Arc::new(Backend::Native {
                store,
                label: "the Windows Credential Manager",
            })),
            Err(e) => Err(unavailable(
                "the Windows Credential Manager",
                &format!("failed: {e}"),
            )),
        })
        .clone()
}

#[cfg(windows)]
fn secret_service() -> Result<Arc<Backend>, UserError> {
    Err(
        UserError::new("the Secret Service store is for Linux and BSD")
            .hint("use backend = \"auto\" (the Windows Credential Manager)"),
    )
}

/// The kernel keyutils store, in the user keyring (`@u`).
#[cfg(target_os = "linux")]
mod keyutils {
    use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

    use super::Secret;
    use crate::error::UserError;

    const LABEL: &str = "the kernel keyutils user keyring";

    fn ring() -> Result<KeyRing, UserError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
            .map_err(|e| super::unavailable(LABEL, &format!("cannot be opened ({e:?})")))
    }

    fn description(service: &str, account: &str) -> String {
        format!("{service}:{account}")
    }

    fn failed(op: &str, e: KeyError) -> UserError {
        UserError::problem(format!("could not {op} {LABEL}: {e:?}"))
    }

    pub fn probe() -> Result<(), UserError> {
        ring().map(|_| ())
    }

    pub fn get(service: &str, account: &str) -> Result<Option<Secret>, UserError> {
        let ring = ring()?;
        match ring.search(&description(service, account)) {
            Ok(key) => {
                let bytes = key.read_to_vec().map_err(|e| failed("read", e))?;
                match String::from_utf8(bytes) {
                    Ok(text) => Ok(Some(Secret::new(text))),
                    Err(e) => {
                        let mut bytes = e.into_bytes();
                        zeroize::Zeroize::zeroize(&mut bytes);
                        Err(UserError::problem(format!(
                            "could not read {LABEL}: the stored value is not UTF-8 text"
                        )))
                    }
                }
            }
            Err(KeyError::KeyDoesNotExist) => Ok(None),
            Err(e) => Err(failed("read", e)),
        }
    }

    pub fn set(service: &str, account: &str, value: &Secret) -> Result<(), UserError> {
        let ring = ring()?;
        let key = ring
            .add_key(&description(service, account), value.expose().as_bytes())
            .map_err(|e| failed("write", e))?;
        // Readable by this user's other processes too (an IDE-launched
        // `serve` may not possess the terminal session's keyrings).
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::VIEW | Permission::READ | Permission::WRITE | Permission::SEARCH)
            .build();
        key.set_perms(perms).map_err(|e| failed("write", e))
    }

    pub fn delete(service: &str, account: &str) -> Result<bool, UserError> {
        let ring = ring()?;
        match ring.search(&description(service, account)) {
            Ok(key) => {
                key.invalidate().map_err(|e| failed("delete", e))?;
                Ok(true)
            }
            Err(KeyError::KeyDoesNotExist) => Ok(false),
            Err(e) => Err(failed("delete", e)),
        }
    }
}

/// The keychain of this process, opened on first use: commands that never
/// touch a secret never need one. `serve` installs it at start
/// ([`install_vault`]); upstreams resolve their `${secret:...}` references
/// through it when they connect, never per call.
pub struct Vault {
    paths: Paths,
    settings: KeychainSettings,
    keychain: OnceLock<Result<Keychain, UserError>>,
}

impl Vault {
    pub fn new(paths: Paths, settings: KeychainSettings) -> Self {
        Self {
            paths,
            settings,
            keychain: OnceLock::new(),
        }
    }

    /// The paths this vault belongs to.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The keychain, opened once (blocking).
    pub fn keychain(&self) -> Result<&Keychain, UserError> {
        self.keychain
            .get_or_init(|| Keychain::open(&self.paths, self.settings))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Looks a referenced secret up (blocking). The error is a sentence with
    /// what to run.
    pub fn lookup(&self, r: &refs::SecretRef) -> Result<Secret, UserError> {
        match self.keychain()?.get(&r.account())? {
            Some(value) => Ok(value),
            None => Err(
                UserError::problem(format!("the secret {r} is not in the keychain"))
                    .hint(format!("run: toolgate secret set {} {}", r.scope, r.name)),
            ),
        }
    }
}

static VAULT: OnceLock<Arc<Vault>> = OnceLock::new();

/// Installs the process's vault (once; later calls are ignored).
pub fn install_vault(vault: Vault) {
    let _ = VAULT.set(Arc::new(vault));
}

/// The process's vault, if one was installed.
pub fn vault() -> Option<Arc<Vault>> {
    VAULT.get().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("canary-value-123");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.expose(), "canary-value-123");
    }

    #[test]
    fn service_is_namespaced_by_home() {
        let plain = Paths::under(std::path::Path::new("/tmp/a"));
        let mut without = plain.clone();
        without.home = None;
        assert_eq!(service_name(&without), "toolgate");
        let a = service_name(&plain);
        let b = service_name(&Paths::under(std::path::Path::new("/tmp/b")));
        assert!(a.starts_with("toolgate-") && a.len() == "toolgate-".len() + 16);
        assert_ne!(a, b);
    }

    #[test]
    fn backend_names() {
        assert_eq!(BackendKind::parse("keyutils"), Some(BackendKind::Keyutils));
        assert_eq!(BackendKind::parse("auto"), Some(BackendKind::Auto));
        assert_eq!(BackendKind::parse("file"), None);
    }
}
