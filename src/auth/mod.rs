//! OAuth 2.1 to remote upstream servers, per the MCP authorization spec.
//!
//! On a 401 from a remote upstream, toolgate discovers the protected-resource
//! metadata (RFC 9728), then the authorization server's metadata (RFC 8414 /
//! OpenID discovery; its `issuer` must be the one named), refuses a server
//! without PKCE S256, picks a client identity (a pre-registered `client_id`
//! from config, else the organisation's client ID metadata document where the
//! server supports those, else RFC 7591 dynamic registration as a native
//! app), and runs the authorization-code flow with PKCE, `state`, the RFC
//! 8707 `resource` on the authorization and token requests, RFC 9207 `iss`
//! checking, and the challenge's scopes. The redirect goes to a listener on
//! 127.0.0.1 (a free port) that accepts exactly one valid callback.
//!
//! Tokens live in the keychain (one JSON entry per issuer + resource + client
//! id, see [`crate::secrets`]); the local store records, per server, where
//! they are and what `toolgate auth status` shows (never a token).
//!
//! **Many processes, one flow.** Every IDE window runs its own `serve`, and a
//! terminal may run `toolgate login` at the same time. A lock file per
//! server (`run/locks/oauth-SERVER.lock`, `flock`) serialises logins and
//! refreshes across processes: whoever holds it re-reads the keychain first,
//! and uses a token another process obtained meanwhile instead of starting a
//! flow of its own. A refresh therefore never races another refresh, so a
//! rotated refresh token is never lost.
//!
//! **In `serve`.** The access token is read from the keychain when the
//! upstream connects and then kept in memory: attaching it costs a header
//! per request. It is refreshed before it expires (60 s ahead), and on a
//! 401. When no valid token can be had, `serve` starts one browser login
//! (unless `auto_login = false`) and the calls say `run: toolgate login
//! NAME` until it completes; on `403 insufficient_scope` it re-authorizes with
//! the challenged scopes added. A request is retried at most once after a
//! refresh or login, so a server that keeps refusing never causes a loop.
//!
//! Time is read through [`now_secs`], which tests shift with
//! `TOOLGATE_TEST_CLOCK_FILE` (a file holding an offset in seconds, read on
//! every use) to drive expiry without waiting.

pub mod discovery;
pub mod flow;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{OAuthConfig, Paths};
use crate::secrets::{Secret, Vault};
use crate::store::{OAuthClient, OAuthLogin, Store};
use discovery::{Challenge, Discovered};
use flow::{Browser, TokenError};

static INTERACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets this process open a browser to log in when a server asks for
/// authorization (`serve` and `call` do; listings never do).
pub fn set_interactive(on: bool) {
    INTERACTIVE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this process may open a browser by itself.
pub fn interactive() -> bool {
    INTERACTIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Refresh this long before a token expires.
pub const REFRESH_AHEAD_SECS: i64 = 60;
/// How long a login waits for the browser round trip.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Unix seconds now, shifted by the test clock if one is set.
pub fn now_secs() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    real + test_clock_offset()
}

/// Seconds the test clock (`TOOLGATE_TEST_CLOCK_FILE`) adds to real time.
pub fn test_clock_offset() -> i64 {
    // Read from the environment once: this runs on every call's path.
    static FILE: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    match FILE.get_or_init(|| std::env::var_os("TOOLGATE_TEST_CLOCK_FILE")) {
        Some(path) => std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// The tokens of one login, as kept in the keychain (JSON).
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Secret,
    pub token_type: String,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
    pub issuer: String,
    pub resource: String,
    pub client_id: String,
    /// When toolgate got it (unix seconds).
    pub obtained_at: i64,
    /// Who the tokens act for at the identity provider: the `sub` of the
    /// ID token that came with them (OpenID Connect), else of the access
    /// token where it is a JWT. For the audit trail; never used to decide
    /// anything.
    #[serde(default)]
    pub subject: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenSet {
    /// Whether it expires within [`REFRESH_AHEAD_SECS`].
    pub fn expiring(&self) -> bool {
        self.expires_at
            .is_some_and(|at| at - REFRESH_AHEAD_SECS <= now_secs())
    }

    /// Whether its scope includes every scope in `wanted`.
    pub fn covers(&self, wanted: Option<&str>) -> bool {
        let Some(wanted) = wanted else { return true };
        let have: Vec<&str> = self
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        wanted.split_whitespace().all(|w| have.contains(&w))
    }
}

/// Who toolgate is to an authorization server.
#[derive(Clone)]
pub struct ClientIdentity {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
}

/// The keychain account of the tokens for an issuer, resource and client:
/// credentials of one authorization server are never offered to another.
pub fn token_account(issuer: &str, resource: &str, client_id: &str) -> String {
    let h = crate::util::sha256_hex(format!("{issuer}\0{resource}\0{client_id}").as_bytes());
    format!("oauth:{}", &h[..32])
}

fn client_secret_account(issuer: &str, client_id: &str) -> String {
    let h = crate::util::sha256_hex(format!("{issuer}\0{client_id}").as_bytes());
    format!("oauth-client:{}", &h[..32])
}

/// Holds the cross-process lock of one server's OAuth state until dropped.
pub struct FlowLock(#[allow(dead_code)] crate::util::FileLock);

impl FlowLock {
    /// Takes the lock, waiting for another process to release it (blocking:
    /// call it off the async runtime).
    pub fn acquire(paths: &Paths, server: &str) -> Result<Self, String> {
        crate::util::FileLock::acquire(paths, &format!("oauth-{server}")).map(Self)
    }
}

/// Storage of logins: the keychain for tokens, the store for the rest.
pub struct Logins<'a> {
    pub paths: &'a Paths,
    pub vault: &'a Vault,
}

impl Logins<'_> {
    fn store(&self) -> Result<Store, String> {
        Store::open(&self.paths.db_file()).map_err(|e| format!("{e:#}"))
    }

    pub fn record(&self, server: &str) -> Result<Option<OAuthLogin>, String> {
        self.store()?.login(server).map_err(|e| format!("{e:#}"))
    }

    /// The server's login record and tokens, if it has both.
    pub fn load(&self, server: &str) -> Result<Option<(OAuthLogin, TokenSet)>, String> {
        let Some(rec) = self.record(server)? else {
            return Ok(None);
        };
        let kc = self.vault.keychain().map_err(describe)?;
        let Some(json) = kc.get(&rec.account).map_err(describe)? else {
            return Ok(None);
        };
        let tokens: TokenSet = serde_json::from_str(json.expose()).map_err(|_| {
            "the tokens in the keychain are unreadable; run toolgate login again".to_string()
        })?;
        Ok(Some((rec, tokens)))
    }

    /// The client identity a record was made with.
    pub fn client_of(&self, rec: &OAuthLogin) -> Result<ClientIdentity, String> {
        let secret = match &rec.client_secret_account {
            Some(account) => {
                let kc = self.vault.keychain().map_err(describe)?;
                kc.get(account).map_err(describe)?
            }
            None => None,
        };
        Ok(ClientIdentity {
            client_id: rec.client_id.clone(),
            client_secret: secret,
            auth_method: rec.auth_method.clone(),
        })
    }

    /// Saves tokens (keychain first: a record never points at nothing new).
    pub fn save(
        &self,
        server: &str,
        tokens: &TokenSet,
        meta: (&str, Option<&str>),
        client: &ClientIdentity,
        client_secret_account: Option<String>,
    ) -> Result<(), String> {
        let account = token_account(&tokens.issuer, &tokens.resource, &tokens.client_id);
        let json = Secret::new(serde_json::to_string(tokens).map_err(|e| e.to_string())?);
        let kc = self.vault.keychain().map_err(describe)?;
        kc.set(&account, &json).map_err(describe)?;
        self.store()?
            .save_login(&OAuthLogin {
                server: server.to_string(),
                issuer: tokens.issuer.clone(),
                resource: tokens.resource.clone(),
                client_id: tokens.client_id.clone(),
                account,
                scope: tokens.scope.clone(),
                expires_at: tokens.expires_at,
                refreshable: tokens.refresh_token.is_some(),
                token_endpoint: meta.0.to_string(),
                revocation_endpoint: meta.1.map(str::to_string),
                auth_method: client.auth_method.clone(),
                client_secret_account,
                updated_at: String::new(),
            })
            .map_err(|e| format!("{e:#}"))
    }

    /// Forgets a server's login: its tokens and its record.
    pub fn forget(&self, rec: &OAuthLogin) -> Result<(), String> {
        let kc = self.vault.keychain().map_err(describe)?;
        kc.delete(&rec.account).map_err(describe)?;
        self.store()?
            .forget_login(&rec.server)
            .map_err(|e| format!("{e:#}"))?;
        Ok(())
    }
}

fn describe(e: crate::error::UserError) -> String {
    match e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message,
    }
}

/// The scope to ask for: the challenge's, plus configured ones, else what
/// the resource metadata lists; `offline_access` where the authorization
/// server knows it (for a refresh token).
fn wanted_scope(
    challenge: Option<&str>,
    config: Option<&OAuthConfig>,
    d: &Discovered,
    previous: Option<&str>,
) -> Option<String> {
    fn add(scopes: &mut Vec<String>, s: &str) {
        for w in s.split_whitespace() {
            if !scopes.iter().any(|x| x == w) {
                scopes.push(w.to_string());
            }
        }
    }
    let mut scopes: Vec<String> = Vec::new();
    if let Some(p) = previous {
        add(&mut scopes, p);
    }
    if let Some(c) = challenge {
        add(&mut scopes, c);
    }
    if let Some(list) = config.and_then(|c| c.scopes.as_ref()) {
        add(&mut scopes, &list.join(" "));
    }
    if scopes.is_empty()
        && let Some(list) = &d.scopes_supported
    {
        add(&mut scopes, &list.join(" "));
    }
    if !scopes.is_empty()
        && d.server
            .scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == "offline_access"))
    {
        add(&mut scopes, "offline_access");
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// What a login needs to know of the server and how to behave.
pub struct LoginRequest<'a> {
    pub server: &'a str,
    pub url: &'a Url,
    pub config: Option<&'a OAuthConfig>,
    pub challenge: Option<Challenge>,
    pub browser: Browser,
    pub timeout: Duration,
    pub tell: &'a (dyn Fn(&str) + Sync),
    /// Also given the authorization URL.
    pub on_url: Option<&'a (dyn Fn(&str) + Sync)>,
}

/// Asks the server unauthenticated for its challenge (an `initialize` POST).
async fn probe(url: &Url) -> Result<Option<Challenge>, String> {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "toolgate", "version": env!("CARGO_PKG_VERSION")}}
    });
    let resp = crate::upstream::http::client()
        .post(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not reach {url}: {}",
                crate::upstream::http::error_chain(&e)
            )
        })?;
    if resp.status() == reqwest::StatusCode::UNAUTHORIZED
        || resp.status() == reqwest::StatusCode::FORBIDDEN
    {
        let values: Vec<String> = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        return Ok(Some(Challenge::parse(values.iter().map(String::as_str))));
    }
    Ok(None)
}

/// The client identity for a discovered server: configured, a client ID
/// metadata document, a registration made before for this redirect URI, or
/// a new registration.
async fn client_for(
    logins: &Logins<'_>,
    req: &LoginRequest<'_>,
    d: &Discovered,
    redirect_uri: &str,
    scope: Option<&str>,
) -> Result<(ClientIdentity, Option<String>), String> {
    let issuer = &d.server.issuer;
    if let Some(cfg) = req.config {
        if let Some(id) = &cfg.client_id {
            let secret = match &cfg.client_secret {
                Some(t) => {
                    let t = crate::secrets::refs::Template::parse(t, req.server)?;
                    let vault = logins.vault;
                    Some(t.resolve(|r| vault.lookup(r)).map_err(describe)?)
                }
                None => None,
            };
            let auth_method = flow::choose_auth_method(
                None,
                secret.is_some(),
                d.server.token_endpoint_auth_methods_supported.as_deref(),
            );
            return Ok((
                ClientIdentity {
                    client_id: id.clone(),
                    client_secret: secret,
                    auth_method,
                },
                None,
            ));
        }
        if let Some(doc) = &cfg.client_metadata_url
            && d.server.client_id_metadata_document_supported
        {
            return Ok((
                ClientIdentity {
                    client_id: doc.clone(),
                    client_secret: None,
                    auth_method: "none".into(),
                },
                None,
            ));
        }
    }
    let store = logins.store()?;
    let known = store.clients(issuer).map_err(|e| format!("{e:#}"))?;
    if let Some((_, c)) = known.iter().find(|(r, _)| r == redirect_uri) {
        let secret = match &c.client_secret_account {
            Some(a) => logins
                .vault
                .keychain()
                .map_err(describe)?
                .get(a)
                .map_err(describe)?,
            None => None,
        };
        return Ok((
            ClientIdentity {
                client_id: c.client_id.clone(),
                client_secret: secret,
                auth_method: c.auth_method.clone(),
            },
            c.client_secret_account.clone(),
        ));
    }
    let identity = flow::register(&d.server, redirect_uri, scope).await?;
    let secret_account = match &identity.client_secret {
        Some(secret) => {
            let account = client_secret_account(issuer, &identity.client_id);
            logins
                .vault
                .keychain()
                .map_err(describe)?
                .set(&account, secret)
                .map_err(describe)?;
            Some(account)
        }
        None => None,
    };
    store
        .save_client(
            issuer,
            redirect_uri,
            &OAuthClient {
                client_id: identity.client_id.clone(),
                auth_method: identity.auth_method.clone(),
                client_secret_account: secret_account.clone(),
            },
        )
        .map_err(|e| format!("{e:#}"))?;
    Ok((identity, secret_account))
}

/// The whole interactive login: discovery, client, browser, tokens saved.
/// The caller holds the [`FlowLock`].
pub async fn login(
    logins: &Logins<'_>,
    req: LoginRequest<'_>,
    previous_scope: Option<&str>,
) -> Result<TokenSet, String> {
    let challenge = match &req.challenge {
        Some(c) => c.clone(),
        None => probe(req.url).await?.ok_or_else(|| {
            format!(
                "{} answered without asking for authorization, so there is nothing to log in to",
                req.url
            )
        })?,
    };
    let d = discovery::discover(req.url, &challenge).await?;
    let scope = wanted_scope(challenge.scope.as_deref(), req.config, &d, previous_scope);
    // A fixed redirect URI from config, else the port of an earlier
    // registration with this issuer if it is free, else any free port.
    let (port, path) = match req.config.and_then(|c| c.redirect_uri.as_deref()) {
        Some(r) => {
            let u = Url::parse(r).map_err(|e| e.to_string())?;
            (u.port().unwrap_or(80), u.path().to_string())
        }
        None => (0, "/callback".to_string()),
    };
    let mut callback = None;
    if port == 0 {
        let known = logins
            .store()?
            .clients(&d.server.issuer)
            .unwrap_or_default();
        for (r, _) in known {
            if let Some(p) = Url::parse(&r).ok().and_then(|u| u.port())
                && let Ok(cb) = flow::Callback::bind(p, "/callback").await
            {
                callback = Some(cb);
                break;
            }
        }
    }
    let callback = match callback {
        Some(cb) => cb,
        None => flow::Callback::bind(port, &path).await?,
    };
    let (client, secret_account) =
        client_for(logins, &req, &d, &callback.redirect_uri, scope.as_deref()).await?;
    let tokens = flow::authorize(flow::Authorize {
        server: req.server,
        discovered: &d,
        client: &client,
        callback: &callback,
        scope,
        browser: req.browser,
        timeout: req.timeout,
        tell: req.tell,
        on_url: req.on_url,
    })
    .await?;
    logins.save(
        req.server,
        &tokens,
        (
            &d.server.token_endpoint,
            d.server.revocation_endpoint.as_deref(),
        ),
        &client,
        secret_account,
    )?;
    Ok(tokens)
}

/// The OAuth side of one remote upstream inside a process.
pub struct ServerAuth {
    pub server: Arc<str>,
    pub url: Url,
    pub config: Option<OAuthConfig>,
    paths: Paths,
    vault: Arc<Vault>,
    /// The tokens in use, and their `Authorization` header value.
    current: Mutex<Option<(Arc<TokenSet>, HeaderValue)>>,
    /// One recovery at a time within this process.
    recovering: tokio::sync::Mutex<()>,
    /// Set when no valid token can be had: why, in words.
    needs_login: Mutex<Option<String>>,
    /// Bumped whenever new tokens are adopted.
    changed: watch::Sender<u64>,
    /// Bumped whenever a login of this process ends, however it ended.
    logins_ended: watch::Sender<u64>,
    /// Whether this process may open a browser by itself.
    interactive: bool,
    login_running: Mutex<bool>,
    /// Told each login URL (the proxy offers it to the IDE).
    url_hook: Mutex<Option<UrlHook>>,
}

/// Receives the authorization URL of a login that `serve` starts.
pub type UrlHook = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuth")
            .field("server", &self.server)
            .finish()
    }
}

/// What to do after a 401 or 403.
pub enum Recovery {
    /// New tokens are in place: send the request again, once.
    Retry,
    /// No valid token: fail the request with this sentence.
    Fail(String),
}

impl ServerAuth {
    pub fn new(
        server: Arc<str>,
        url: Url,
        config: Option<OAuthConfig>,
        paths: Paths,
        vault: Arc<Vault>,
        interactive: bool,
    ) -> Self {
        let interactive = interactive && config.as_ref().and_then(|c| c.auto_login).unwrap_or(true);
        Self {
            server,
            url,
            config,
            paths,
            vault,
            current: Mutex::new(None),
            recovering: tokio::sync::Mutex::new(()),
            needs_login: Mutex::new(None),
            changed: watch::Sender::new(0),
            logins_ended: watch::Sender::new(0),
            interactive,
            login_running: Mutex::new(false),
            url_hook: Mutex::new(None),
        }
    }

    /// Sets what is told the URL of each login this process starts.
    pub fn set_url_hook(&self, hook: UrlHook) {
        *self.url_hook.lock().expect("auth lock") = Some(hook);
    }

    fn logins(&self) -> Logins<'_> {
        Logins {
            paths: &self.paths,
            vault: &self.vault,
        }
    }

    /// The `Authorization` value to send, if there is a token. Never reads
    /// the keychain.
    pub fn header(&self) -> Option<HeaderValue> {
        self.current
            .lock()
            .expect("auth lock")
            .as_ref()
            .map(|(_, h)| h.clone())
    }

    /// Whether the token in use expires soon.
    pub fn expiring(&self) -> bool {
        self.current
            .lock()
            .expect("auth lock")
            .as_ref()
            .is_some_and(|(t, _)| t.expiring())
    }

    /// Why the server cannot be used until someone logs in, if so.
    pub fn needs_login(&self) -> Option<String> {
        self.needs_login.lock().expect("auth lock").clone()
    }

    /// Notified when new tokens are adopted (by this process's login, or
    /// found after another process's).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn adopt(&self, tokens: TokenSet) {
        set_subject(&self.server, tokens.subject.clone());
        let mut value = HeaderValue::from_str(&format!("Bearer {}", tokens.access_token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        value.set_sensitive(true);
        *self.current.lock().expect("auth lock") = Some((Arc::new(tokens), value));
        *self.needs_login.lock().expect("auth lock") = None;
        self.changed.send_modify(|n| *n += 1);
    }

    fn current_tokens(&self) -> Option<Arc<TokenSet>> {
        self.current
            .lock()
            .expect("auth lock")
            .as_ref()
            .map(|(t, _)| t.clone())
    }

    /// At connect: loads the stored tokens, if any (one keychain read), and
    /// refreshes them if they are about to expire.
    pub async fn load(self: &Arc<Self>) {
        let me = self.clone();
        let loaded = tokio::task::spawn_blocking(move || me.logins().load(&me.server)).await;
        match loaded {
            Ok(Ok(Some((rec, tokens)))) if tokens_fit(&tokens, &rec, &self.url) => {
                self.adopt(tokens);
                if self.expiring() {
                    let _ = self.refresh_shared(None).await;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(server = %self.server, "could not load the OAuth tokens: {e}")
            }
            _ => {}
        }
    }

    /// Before a request: refreshes a token that is about to expire.
    pub async fn before_request(self: &Arc<Self>) {
        if self.expiring() {
            let failed = self.current_tokens().map(|t| t.access_token.clone());
            let _ = self.refresh_shared(failed).await;
        }
    }

    /// Under the cross-process lock: adopts tokens another process stored
    /// since `failed` was in use, else refreshes. Returns whether usable
    /// tokens are now in place.
    async fn refresh_shared(self: &Arc<Self>, failed: Option<Secret>) -> Result<bool, String> {
        let _guard = self.recovering.lock().await;
        if let Some(t) = self.current_tokens()
            && failed.as_ref() != Some(&t.access_token)
            && !t.expiring()
        {
            return Ok(true);
        }
        let me = self.clone();
        let lock = tokio::task::spawn_blocking(move || FlowLock::acquire(&me.paths, &me.server))
            .await
            .map_err(|e| e.to_string())??;
        let me = self.clone();
        let stored = tokio::task::spawn_blocking(move || me.logins().load(&me.server))
            .await
            .map_err(|e| e.to_string())??;
        let Some((rec, tokens)) = stored else {
            drop(lock);
            return Ok(false);
        };
        if !tokens_fit(&tokens, &rec, &self.url) {
            return Ok(false);
        }
        if failed.as_ref() != Some(&tokens.access_token) && !tokens.expiring() {
            self.adopt(tokens);
            return Ok(true);
        }
        let me = self.clone();
        let rec2 = rec.clone();
        let client = tokio::task::spawn_blocking(move || me.logins().client_of(&rec2))
            .await
            .map_err(|e| e.to_string())??;
        match flow::refresh(&rec.token_endpoint, &client, &tokens).await {
            Ok(new) => {
                let me = self.clone();
                let saved = new.clone();
                let rec3 = rec.clone();
                tokio::task::spawn_blocking(move || {
                    me.logins().save(
                        &me.server,
                        &saved,
                        (&rec3.token_endpoint, rec3.revocation_endpoint.as_deref()),
                        &client,
                        rec3.client_secret_account.clone(),
                    )
                })
                .await
                .map_err(|e| e.to_string())??;
                tracing::info!(server = %self.server, "refreshed the OAuth access token");
                self.adopt(new);
                Ok(true)
            }
            Err(TokenError::InvalidGrant(e)) => {
                tracing::info!(server = %self.server, "the refresh token is no longer valid: {e}");
                Ok(false)
            }
            Err(TokenError::Other(e)) => Err(e),
        }
    }

    /// After a 401 or 403 with this challenge: refresh, or log in (once, in
    /// the background, waiting up to `wait`), or say what to run.
    pub async fn recover(self: &Arc<Self>, challenge: Challenge, wait: Duration) -> Recovery {
        let failed = self.current_tokens();
        let scope_short = challenge.insufficient_scope()
            && failed
                .as_ref()
                .is_some_and(|t| !t.covers(challenge.scope.as_deref()));
        if !scope_short {
            match self
                .refresh_shared(failed.as_ref().map(|t| t.access_token.clone()))
                .await
            {
                Ok(true) => return Recovery::Retry,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(server = %self.server, "refreshing the OAuth token failed: {e}")
                }
            }
        } else if failed
            .as_ref()
            .is_some_and(|t| t.covers(challenge.scope.as_deref()))
        {
            // The token already has every scope asked for: re-authorizing
            // would not help, and retrying would loop.
            return Recovery::Fail(format!(
                "the server \"{}\" refused the call although toolgate holds every scope it asked for ({})",
                self.server,
                challenge.scope.unwrap_or_default()
            ));
        }
        let why = if scope_short {
            format!(
                "the server \"{}\" needs more permissions (scopes: {})",
                self.server,
                challenge.scope.clone().unwrap_or_default()
            )
        } else {
            format!("the server \"{}\" needs you to log in", self.server)
        };
        if !self.interactive {
            let msg = format!("{why}: run: toolgate login {}", self.server);
            *self.needs_login.lock().expect("auth lock") = Some(msg.clone());
            return Recovery::Fail(msg);
        }
        let adopted = *self.changed.borrow();
        let mut ended = self.logins_ended.subscribe();
        let seen = *ended.borrow_and_update();
        self.start_login(challenge, failed.as_ref().and_then(|t| t.scope.clone()));
        let _ = tokio::time::timeout(wait, ended.wait_for(|n| *n != seen)).await;
        if *self.changed.borrow() != adopted {
            return Recovery::Retry;
        }
        let msg = self.needs_login().unwrap_or_else(|| {
            format!(
                "{why}: a login was started in your browser; finish it, or run: toolgate login {}",
                self.server
            )
        });
        Recovery::Fail(msg)
    }

    /// Starts one background login in this process, if none is running.
    fn start_login(self: &Arc<Self>, challenge: Challenge, previous_scope: Option<String>) {
        {
            let mut running = self.login_running.lock().expect("auth lock");
            if *running {
                return;
            }
            *running = true;
        }
        *self.needs_login.lock().expect("auth lock") = Some(format!(
            "the server \"{}\" needs you to log in: a login was started in your browser; finish it, or run: toolgate login {}",
            self.server, self.server
        ));
        let me = self.clone();
        tokio::spawn(async move {
            let result = me.login_shared(challenge, previous_scope).await;
            *me.login_running.lock().expect("auth lock") = false;
            match result {
                Ok(tokens) => me.adopt(tokens),
                Err(e) => {
                    tracing::warn!(server = %me.server, "the login failed: {e}");
                    *me.needs_login.lock().expect("auth lock") = Some(format!(
                        "the server \"{}\" needs you to log in, and the login failed ({e}): run: toolgate login {}",
                        me.server, me.server
                    ));
                }
            }
            me.logins_ended.send_modify(|n| *n += 1);
        });
    }

    /// The login under the cross-process lock: whoever waited for another
    /// process's login uses its tokens instead of starting a flow.
    async fn login_shared(
        self: &Arc<Self>,
        challenge: Challenge,
        previous_scope: Option<String>,
    ) -> Result<TokenSet, String> {
        let failed = self.current_tokens();
        let me = self.clone();
        let _lock = tokio::task::spawn_blocking(move || FlowLock::acquire(&me.paths, &me.server))
            .await
            .map_err(|e| e.to_string())??;
        let me = self.clone();
        let stored = tokio::task::spawn_blocking(move || me.logins().load(&me.server))
            .await
            .map_err(|e| e.to_string())??;
        if let Some((rec, tokens)) = stored
            && tokens_fit(&tokens, &rec, &self.url)
            && failed
                .as_ref()
                .is_none_or(|f| f.access_token != tokens.access_token)
            && !tokens.expiring()
            && tokens.covers(
                challenge
                    .scope
                    .as_deref()
                    .filter(|_| challenge.insufficient_scope()),
            )
        {
            tracing::info!(server = %self.server, "using the tokens another toolgate process obtained");
            return Ok(tokens);
        }
        let server = self.server.clone();
        let tell = move |text: &str| tracing::warn!(server = %server, "{text}");
        let hook = self.url_hook.lock().expect("auth lock").clone();
        let on_url = move |url: &str| {
            if let Some(h) = &hook {
                h(url);
            }
        };
        let logins = self.logins();
        login(
            &logins,
            LoginRequest {
                server: &self.server,
                url: &self.url,
                config: self.config.as_ref(),
                challenge: Some(challenge),
                browser: Browser::Open,
                timeout: LOGIN_TIMEOUT,
                tell: &tell,
                on_url: Some(&on_url),
            },
            previous_scope.as_deref(),
        )
        .await
    }
}

/// Whether stored tokens belong to this server's URL (a config change may
/// have pointed the name elsewhere).
fn tokens_fit(tokens: &TokenSet, rec: &OAuthLogin, url: &Url) -> bool {
    tokens.issuer == rec.issuer && discovery::resource_matches(&tokens.resource, url)
}

/// The identity-provider subject each remote server's tokens act for, in
/// this process (for audit records).
static SUBJECTS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn set_subject(server: &str, subject: Option<String>) {
    let mut all = SUBJECTS.lock().expect("subjects lock");
    all.retain(|(s, _)| s != server);
    if let Some(sub) = subject {
        all.push((server.to_string(), sub));
    }
}

/// The subject the server's tokens act for, where it has a login.
pub fn subject(server: &str) -> Option<String> {
    SUBJECTS
        .lock()
        .expect("subjects lock")
        .iter()
        .find(|(s, _)| s == server)
        .map(|(_, sub)| sub.clone())
}

/// The `sub` claim of a JWT (ID token or JWT access token), read without
/// checking its signature: the token came straight from the token
/// endpoint, and the subject is only recorded, never trusted for a
/// decision (OpenID Connect Core 3.1.3.7 allows TLS in place of the
/// signature for tokens received this way).
pub fn jwt_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(scope: &str, expires_in: Option<i64>) -> TokenSet {
        TokenSet {
            access_token: Secret::new("canary-access"),
            token_type: "Bearer".into(),
            expires_at: expires_in.map(|s| now_secs() + s),
            refresh_token: Some(Secret::new("canary-refresh")),
            scope: Some(scope.into()),
            issuer: "https://as.example".into(),
            resource: "https://mcp.example/mcp".into(),
            client_id: "c".into(),
            obtained_at: now_secs(),
            subject: None,
        }
    }

    #[test]
    fn token_sets_never_print_tokens() {
        let t = tokens("a", Some(3600));
        let text = format!("{t:?}");
        assert!(!text.contains("canary"), "{text}");
    }

    #[test]
    fn expiry_and_scope() {
        assert!(!tokens("a", Some(3600)).expiring());
        assert!(tokens("a", Some(30)).expiring());
        assert!(!tokens("a", None).expiring());
        let t = tokens("mcp:read mcp:write", None);
        assert!(t.covers(Some("mcp:read")));
        assert!(!t.covers(Some("mcp:read admin")));
        assert!(t.covers(None));
    }

    #[test]
    fn accounts_separate_servers() {
        let a = token_account("https://a", "https://r/mcp", "c");
        assert_ne!(a, token_account("https://b", "https://r/mcp", "c"));
        assert_ne!(a, token_account("https://a", "https://r/mcp", "d"));
        assert!(a.starts_with("oauth:"));
    }
}
