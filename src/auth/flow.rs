//! The OAuth 2.1 authorization-code flow with PKCE, toolgate's side:
//! client registration, the loopback redirect listener, the browser, and the
//! token endpoint (code exchange, refresh, revocation).

use std::time::Duration;

use base64::Engine;
use reqwest::Url;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::discovery::{Discovered, ServerMetadata};
use super::{ClientIdentity, TokenSet, now_secs};
use crate::secrets::Secret;
use crate::upstream::http::{client, error_chain};

/// Random URL-safe text of `n` bytes of entropy.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The error of a token or registration endpoint.
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A token endpoint's success answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Secret,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    scope: Option<String>,
    /// OpenID Connect: who logged in (only its `sub` is read).
    #[serde(default)]
    id_token: Option<Secret>,
}

impl TokenResponse {
    /// The subject of the ID token, else of a JWT access token.
    fn subject(&self) -> Option<String> {
        self.id_token
            .as_ref()
            .and_then(|t| super::jwt_subject(t.expose()))
            .or_else(|| super::jwt_subject(self.access_token.expose()))
    }
}

/// Registers toolgate with RFC 7591 dynamic registration.
pub async fn register(
    meta: &ServerMetadata,
    redirect_uri: &str,
    scope: Option<&str>,
) -> Result<ClientIdentity, String> {
    let Some(endpoint) = &meta.registration_endpoint else {
        return Err(format!(
            "the authorization server {} offers no dynamic client registration, and no client_id is configured",
            meta.issuer
        ));
    };
    let methods = meta
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_default();
    let method = if methods.is_empty() || methods.iter().any(|m| m == "none") {
        "none"
    } else if methods.iter().any(|m| m == "client_secret_basic") {
        "client_secret_basic"
    } else {
        "client_secret_post"
    };
    let mut body = serde_json::json!({
        "client_name": "toolgate",
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
    });
    // Ask to be allowed every scope the server knows, not only today's: a
    // later step-up (403 insufficient_scope) must not need a new client.
    let mut scopes: Vec<&str> = scope
        .map(|s| s.split_whitespace().collect())
        .unwrap_or_default();
    for s in meta.scopes_supported.iter().flatten() {
        if !scopes.contains(&s.as_str()) {
            scopes.push(s);
        }
    }
    if !scopes.is_empty() {
        body["scope"] = scopes.join(" ").into();
    }
    let resp = client()
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not reach the registration endpoint {endpoint}: {}",
                error_chain(&e)
            )
        })?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("could not read the registration answer: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "the authorization server refused to register toolgate (HTTP {status}): {}",
            describe_error(&bytes)
        ));
    }
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        #[serde(default)]
        client_secret: Option<Secret>,
        #[serde(default)]
        token_endpoint_auth_method: Option<String>,
    }
    let r: Registered = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the registration answer is invalid: {e}"))?;
    let auth_method = choose_auth_method(
        r.token_endpoint_auth_method.as_deref(),
        r.client_secret.is_some(),
        meta.token_endpoint_auth_methods_supported.as_deref(),
    );
    Ok(ClientIdentity {
        client_id: r.client_id,
        client_secret: r.client_secret,
        auth_method,
    })
}

/// How to authenticate at the token endpoint: the method the registration
/// answered, if the server lists it; else, with a secret, Basic then POST,
/// else none, among those the server lists.
pub fn choose_auth_method(
    registered: Option<&str>,
    has_secret: bool,
    supported: Option<&[String]>,
) -> String {
    let listed = |m: &str| supported.is_none_or(|s| s.iter().any(|x| x == m));
    if let Some(m) = registered
        && listed(m)
        && (m == "none" || has_secret)
    {
        return m.to_string();
    }
    if has_secret {
        for m in ["client_secret_basic", "client_secret_post"] {
            if listed(m) {
                return m.to_string();
            }
        }
    }
    "none".to_string()
}

fn describe_error(bytes: &[u8]) -> String {
    match serde_json::from_slice::<OAuthError>(bytes) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{}: {d}", e.error),
            None => e.error,
        },
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            text.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string()
        }
    }
}

/// Sends a form to the token endpoint with the client's authentication.
async fn token_request(
    token_endpoint: &str,
    client: &ClientIdentity,
    mut form: Vec<(&str, String)>,
) -> Result<TokenResponse, TokenError> {
    let mut req = super::super::upstream::http::client().post(token_endpoint);
    match (client.auth_method.as_str(), &client.client_secret) {
        ("client_secret_basic", Some(secret)) => {
            let enc = |s: &str| url_form_encode(s);
            let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&client.client_id),
                enc(secret.expose())
            ));
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Basic {basic}"))
                .map_err(|_| TokenError::Other("the client credentials cannot be sent".into()))?;
            v.set_sensitive(true);
            req = req.header(reqwest::header::AUTHORIZATION, v);
        }
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", client.client_id.clone()));
            form.push(("client_secret", secret.expose().to_string()));
        }
        _ => form.push(("client_id", client.client_id.clone())),
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", url_form_encode(k), url_form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let resp = req
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            TokenError::Other(format!(
                "could not reach the token endpoint {token_endpoint}: {}",
                error_chain(&e)
            ))
        })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| {
        TokenError::Other(format!("could not read the token endpoint's answer: {e}"))
    })?;
    if !status.is_success() {
        let invalid_grant =
            serde_json::from_slice::<OAuthError>(&bytes).is_ok_and(|e| e.error == "invalid_grant");
        let text = format!(
            "the token endpoint answered HTTP {status}: {}",
            describe_error(&bytes)
        );
        return Err(if invalid_grant {
            TokenError::InvalidGrant(text)
        } else {
            TokenError::Other(text)
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Other(format!("the token endpoint's answer is invalid: {e}")))
}

/// Why a token request failed.
#[derive(Debug)]
pub enum TokenError {
    /// The grant (code or refresh token) is no longer good: log in again.
    InvalidGrant(String),
    Other(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::InvalidGrant(s) | TokenError::Other(s) => f.write_str(s),
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn url_form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn token_set(
    r: TokenResponse,
    previous_refresh: Option<Secret>,
    requested_scope: Option<&str>,
    d: &Discovered,
    client: &ClientIdentity,
) -> TokenSet {
    let subject = r.subject();
    TokenSet {
        subject,
        access_token: r.access_token,
        token_type: r.token_type.unwrap_or_else(|| "Bearer".into()),
        expires_at: r.expires_in.map(|s| now_secs() + s),
        // A rotated refresh token replaces the old one; a server that does
        // not rotate leaves the old one in force.
        refresh_token: r.refresh_token.or(previous_refresh),
        scope: r.scope.or_else(|| requested_scope.map(str::to_string)),
        issuer: d.server.issuer.clone(),
        resource: d.resource.clone(),
        client_id: client.client_id.clone(),
        obtained_at: now_secs(),
    }
}

/// The loopback listener that receives the authorization response.
pub struct Callback {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Callback {
    /// Binds 127.0.0.1 on `port` (0: any free port).
    pub async fn bind(port: u16, path: &str) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            format!("could not listen on 127.0.0.1:{port} for the login's redirect: {e}")
        })?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{path}"),
        })
    }

    /// Waits for exactly one valid callback: the right path and `state`.
    /// Anything else is answered with an error page and ignored.
    async fn wait(&self, state: &str) -> Result<Vec<(String, String)>, String> {
        let path = Url::parse(&self.redirect_uri)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        loop {
            let (mut stream, _) = self.listener.accept().await.map_err(|e| e.to_string())?;
            let mut buf = Vec::with_capacity(2048);
            let mut chunk = [0u8; 2048];
            let head_ok = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.len() > 16 * 1024 {
                        return Some(());
                    }
                }
            })
            .await;
            if !matches!(head_ok, Ok(Some(()))) {
                continue;
            }
            let head = String::from_utf8_lossy(&buf);
            let target = head
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("GET "))
                .and_then(|l| l.split(' ').next())
                .unwrap_or("");
            let url = Url::parse(&format!("http://127.0.0.1{target}")).ok();
            let params: Vec<(String, String)> = url
                .as_ref()
                .map(|u| {
                    u.query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let valid =
                url.as_ref().is_some_and(|u| u.path() == path) && get("state") == Some(state);
            if !valid {
                let _ = respond(
                    &mut stream,
                    400,
                    "This is not the login toolgate is waiting for.",
                )
                .await;
                continue;
            }
            let message = if get("error").is_some() {
                "The login was refused. You can close this tab; toolgate says what happened."
            } else {
                "Logged in. You can close this tab and return to your editor."
            };
            let _ = respond(&mut stream, 200, message).await;
            return Ok(params);
        }
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: u16,
    text: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>toolgate</title><p style=\"font:16px system-ui;margin:3em\">{text}</p>"
    );
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// How to show the authorization URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Open it (TOOLGATE_BROWSER or the platform's opener) and print it.
    Open,
    /// Print it only.
    PrintOnly,
}

/// Opens a URL in the browser, without a shell. Only http(s) URLs are
/// opened, and http only for loopback hosts.
pub fn open_browser(url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(format!(
                "toolgate opens only https URLs (and http on loopback), not a {other}: URL"
            ));
        }
    }
    let mut argv: Vec<String> = match std::env::var("TOOLGATE_BROWSER") {
        Ok(cmd) if !cmd.trim().is_empty() => cmd.split_whitespace().map(str::to_string).collect(),
        _ => default_opener(),
    };
    if argv.is_empty() {
        return Err("no way to open a browser on this system".into());
    }
    argv.push(url.to_string());
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", argv[0]))?;
    // Reap it whenever it ends.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

fn default_opener() -> Vec<String> {
    if cfg!(target_os = "macos") {
        vec!["open".into()]
    } else if cfg!(windows) {
        vec!["rundll32".into(), "url.dll,FileProtocolHandler".into()]
    } else {
        vec!["xdg-open".into()]
    }
}

/// Everything one authorization needs.
pub struct Authorize<'a> {
    pub server: &'a str,
    pub discovered: &'a Discovered,
    pub client: &'a ClientIdentity,
    pub callback: &'a Callback,
    pub scope: Option<String>,
    pub browser: Browser,
    pub timeout: Duration,
    /// Where to say "open this URL" (stderr for the CLI, the log in serve).
    pub tell: &'a (dyn Fn(&str) + Sync),
    /// Also given the URL itself (serve offers it to the IDE by URL
    /// elicitation).
    pub on_url: Option<&'a (dyn Fn(&str) + Sync)>,
}

/// Runs the authorization-code flow: the browser, the callback, the code
/// exchange. Returns the new token set.
pub async fn authorize(a: Authorize<'_>) -> Result<TokenSet, String> {
    let meta = &a.discovered.server;
    let verifier = random_token(48);
    let state = random_token(24);
    let mut url = Url::parse(&meta.authorization_endpoint).map_err(|e| {
        format!(
            "the authorization endpoint \"{}\" is invalid: {e}",
            meta.authorization_endpoint
        )
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &a.client.client_id)
            .append_pair("redirect_uri", &a.callback.redirect_uri)
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", &a.discovered.resource);
        if let Some(scope) = a.scope.as_deref().filter(|s| !s.is_empty()) {
            q.append_pair("scope", scope);
        }
    }
    let url = url.to_string();
    if let Some(on_url) = a.on_url {
        on_url(&url);
    }
    match a.browser {
        Browser::Open => {
            (a.tell)(&format!(
                "To log in to \"{}\", open this URL (opening your browser):\n  {url}",
                a.server
            ));
            if let Err(e) = open_browser(&url) {
                (a.tell)(&format!(
                    "Could not open a browser ({e}); open the URL above yourself."
                ));
            }
        }
        Browser::PrintOnly => {
            (a.tell)(&format!(
                "To log in to \"{}\", open this URL in a browser:\n  {url}",
                a.server
            ));
        }
    }
    let params = tokio::time::timeout(a.timeout, a.callback.wait(&state))
        .await
        .map_err(|_| {
            format!(
                "the login was not completed within {}",
                crate::util::format_duration(a.timeout)
            )
        })??;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // RFC 9207: where the server says it sends `iss`, it must, and it must
    // be the issuer; where it did not say so, an `iss` that is sent must
    // still match.
    match get("iss") {
        Some(iss) if iss != meta.issuer => {
            return Err(format!(
                "the authorization response came from the issuer \"{iss}\", not \"{}\"; toolgate refuses it (RFC 9207: a mix-up attack?)",
                meta.issuer
            ));
        }
        None if meta.authorization_response_iss_parameter_supported => {
            return Err(format!(
                "the authorization response has no iss parameter, though {} says it sends one (RFC 9207); toolgate refuses it",
                meta.issuer
            ));
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        let desc = get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(format!(
            "the authorization server refused the login: {error}{desc}"
        ));
    }
    let Some(code) = get("code") else {
        return Err("the authorization response has no code".into());
    };
    let code = Secret::new(code);
    let form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.expose().to_string()),
        ("redirect_uri", a.callback.redirect_uri.clone()),
        ("code_verifier", verifier),
        ("resource", a.discovered.resource.clone()),
    ];
    let r = token_request(&meta.token_endpoint, a.client, form)
        .await
        .map_err(|e| e.to_string())?;
    Ok(token_set(
        r,
        None,
        a.scope.as_deref(),
        a.discovered,
        a.client,
    ))
}

/// Refreshes a token set (the refresh token may rotate).
pub async fn refresh(
    token_endpoint: &str,
    client: &ClientIdentity,
    old: &TokenSet,
) -> Result<TokenSet, TokenError> {
    let Some(rt) = &old.refresh_token else {
        return Err(TokenError::InvalidGrant("there is no refresh token".into()));
    };
    let form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", rt.expose().to_string()),
        ("resource", old.resource.clone()),
    ];
    let r = token_request(token_endpoint, client, form).await?;
    let subject = r.subject().or_else(|| old.subject.clone());
    Ok(TokenSet {
        subject,
        access_token: r.access_token,
        token_type: r.token_type.unwrap_or_else(|| "Bearer".into()),
        expires_at: r.expires_in.map(|s| now_secs() + s),
        refresh_token: r.refresh_token.or_else(|| old.refresh_token.clone()),
        scope: r.scope.or_else(|| old.scope.clone()),
        issuer: old.issuer.clone(),
        resource: old.resource.clone(),
        client_id: old.client_id.clone(),
        obtained_at: now_secs(),
    })
}

/// Revokes a token (RFC 7009); failures are reported, not fatal.
pub async fn revoke(
    endpoint: &str,
    client: &ClientIdentity,
    token: &Secret,
    hint: &str,
) -> Result<(), String> {
    let form = vec![
        ("token", token.expose().to_string()),
        ("token_type_hint", hint.to_string()),
    ];
    match token_request(endpoint, client, form).await {
        Ok(_) => Ok(()),
        // A revocation answer has no token: "invalid" JSON is success.
        Err(TokenError::Other(e)) if e.starts_with("the token endpoint's answer is invalid") => {
            Ok(())
        }
        Err(e) => Err(e
            .to_string()
            .replace("token endpoint", "revocation endpoint")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_example() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn auth_methods() {
        let none = vec!["none".to_string()];
        let basic = vec!["client_secret_basic".to_string()];
        assert_eq!(choose_auth_method(None, true, Some(&none)), "none");
        assert_eq!(
            choose_auth_method(Some("client_secret_post"), true, None),
            "client_secret_post"
        );
        assert_eq!(
            choose_auth_method(None, true, Some(&basic)),
            "client_secret_basic"
        );
        assert_eq!(choose_auth_method(None, false, None), "none");
        assert_eq!(choose_auth_method(None, true, None), "client_secret_basic");
    }

    #[test]
    fn form_encoding() {
        assert_eq!(url_form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }
}
