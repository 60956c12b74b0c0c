//! Discovery, per the MCP authorization spec (2025-11-25): the
//! `WWW-Authenticate` challenge, protected-resource metadata (RFC 9728) and
//! authorization-server metadata (RFC 8414 and OpenID Connect discovery).

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use crate::upstream::http::client;

/// The parameters of a `Bearer` challenge that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

impl Challenge {
    /// Parses `WWW-Authenticate` values; the `Bearer` challenge wins.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for value in values {
            for (scheme, params) in split_challenges(value) {
                if !scheme.eq_ignore_ascii_case("bearer") {
                    continue;
                }
                for (k, v) in params {
                    match k.to_ascii_lowercase().as_str() {
                        "resource_metadata" => out.resource_metadata = Some(v),
                        "scope" => out.scope = Some(v),
                        "error" => out.error = Some(v),
                        _ => {}
                    }
                }
            }
        }
        out
    }

    pub fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// Splits a header value into challenges: (scheme, [(param, value)]).
fn split_challenges(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let b = value.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    while i < b.len() {
        skip_ws(&mut i);
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b',' | b'=') {
            i += 1;
        }
        let token = &value[start..i];
        if token.is_empty() {
            i += 1;
            continue;
        }
        // `token=` starts a parameter of the current challenge; a bare token
        // starts a new challenge.
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let v = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut s = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    s.push(b[i] as char);
                    i += 1;
                }
                i += 1;
                s
            } else {
                let st = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                value[st..i].trim().to_string()
            };
            if let Some(last) = out.last_mut() {
                last.1.push((token.to_string(), v));
            }
        } else {
            out.push((token.to_string(), Vec::new()));
        }
    }
    out
}

/// RFC 9728 protected-resource metadata (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceMetadata {
    pub resource: String,
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// RFC 8414 / OpenID authorization-server metadata (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
}

/// What discovery found for one protected MCP server.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The resource indicator (RFC 8707), the metadata's string verbatim.
    pub resource: String,
    pub server: ServerMetadata,
    /// Scopes to ask for when the challenge names none.
    pub scopes_supported: Option<Vec<String>>,
}

async fn get_json(url: &Url) -> Result<Option<Value>, String> {
    let resp = client()
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not fetch {url}: {}",
                crate::upstream::http::error_chain(&e)
            )
        })?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("could not read {url}: {e}"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{url} is not JSON: {e}"))
}

/// Well-known URL `/.well-known/NAME` + the URL's path (RFC 8414/9728
/// style: inserted between host and path).
fn well_known(base: &Url, name: &str, with_path: bool) -> Url {
    let mut u = base.clone();
    let path = base.path().trim_end_matches('/');
    if with_path && !path.is_empty() {
        u.set_path(&format!("/.well-known/{name}{path}"));
    } else {
        u.set_path(&format!("/.well-known/{name}"));
    }
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// Protected-resource metadata: the challenge's `resource_metadata`, then
/// the path-based well-known URL, then the root one.
pub async fn resource_metadata(
    mcp_url: &Url,
    challenge: &Challenge,
) -> Result<Option<ResourceMetadata>, String> {
    let mut candidates = Vec::new();
    if let Some(u) = &challenge.resource_metadata {
        let u = mcp_url
            .join(u)
            .map_err(|e| format!("the server's resource_metadata URL \"{u}\" is invalid: {e}"))?;
        candidates.push(u);
    } else {
        candidates.push(well_known(mcp_url, "oauth-protected-resource", true));
        let root = well_known(mcp_url, "oauth-protected-resource", false);
        if !candidates.contains(&root) {
            candidates.push(root);
        }
    }
    for url in candidates {
        if let Some(v) = get_json(&url).await? {
            let meta: ResourceMetadata = serde_json::from_value(v)
                .map_err(|e| format!("the protected-resource metadata at {url} is invalid: {e}"))?;
            return Ok(Some(meta));
        }
    }
    Ok(None)
}

/// Whether the metadata's `resource` may stand for the MCP URL: same origin,
/// and the MCP URL's path starts with the resource's path.
pub fn resource_matches(resource: &str, mcp_url: &Url) -> bool {
    let Ok(r) = Url::parse(resource) else {
        return false;
    };
    if r.origin() != mcp_url.origin() {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let mp = mcp_url.path().trim_end_matches('/');
    mp == rp || mp.starts_with(&format!("{rp}/")) || rp.is_empty()
}

/// Authorization-server metadata for an issuer, from the candidates in the
/// spec's order. The document's `issuer` must equal the issuer used.
pub async fn server_metadata(issuer: &str) -> Result<ServerMetadata, String> {
    let base =
        Url::parse(issuer).map_err(|e| format!("the issuer \"{issuer}\" is invalid: {e}"))?;
    let has_path = !base.path().trim_matches('/').is_empty();
    let mut candidates = vec![
        well_known(&base, "oauth-authorization-server", true),
        well_known(&base, "openid-configuration", true),
    ];
    if has_path {
        let mut u = base.clone();
        u.set_path(&format!(
            "{}/.well-known/openid-configuration",
            base.path().trim_end_matches('/')
        ));
        candidates.push(u);
    }
    for url in &candidates {
        let Some(v) = get_json(url).await? else {
            continue;
        };
        let meta: ServerMetadata = serde_json::from_value(v)
            .map_err(|e| format!("the authorization server metadata at {url} is invalid: {e}"))?;
        if meta.issuer != issuer {
            return Err(format!(
                "the authorization server metadata at {url} names the issuer \"{}\", not \"{issuer}\"; toolgate refuses it (RFC 8414 section 3.3: it may be an impersonation)",
                meta.issuer
            ));
        }
        return Ok(meta);
    }
    Err(format!(
        "no authorization server metadata was found for {issuer} (tried {})",
        candidates
            .iter()
            .map(Url::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Everything needed to authorize against a protected MCP server.
pub async fn discover(mcp_url: &Url, challenge: &Challenge) -> Result<Discovered, String> {
    let Some(prm) = resource_metadata(mcp_url, challenge).await? else {
        return Err(format!(
            "{mcp_url} asks for authorization but publishes no protected-resource metadata (RFC 9728)"
        ));
    };
    if !resource_matches(&prm.resource, mcp_url) {
        return Err(format!(
            "the protected-resource metadata names the resource \"{}\", which is not {mcp_url}; toolgate refuses to ask for a token for it",
            prm.resource
        ));
    }
    let Some(issuer) = prm.authorization_servers.first() else {
        return Err(format!(
            "the protected-resource metadata of {mcp_url} names no authorization server"
        ));
    };
    let server = server_metadata(issuer).await?;
    let pkce = server
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| m == "S256"));
    if !pkce {
        return Err(format!(
            "the authorization server {} does not advertise PKCE with S256 (code_challenge_methods_supported), which the MCP authorization spec requires; toolgate will not authorize against it",
            server.issuer
        ));
    }
    Ok(Discovered {
        resource: prm.resource,
        server,
        scopes_supported: prm.scopes_supported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = Challenge::parse([
            r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource/mcp""#,
        ]);
        assert_eq!(c.scope.as_deref(), Some("a b"));
        assert!(c.insufficient_scope());
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource/mcp")
        );
        let c = Challenge::parse([r#"Basic realm="x", Bearer scope="s""#]);
        assert_eq!(c.scope.as_deref(), Some("s"));
        let c = Challenge::parse(["Bearer"]);
        assert_eq!(c, Challenge::default());
        let c = Challenge::parse([r#"Bearer realm="a,b", error=invalid_token"#]);
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
    }

    #[test]
    fn well_known_urls() {
        let u = Url::parse("https://h.example/tenant/mcp").unwrap();
        assert_eq!(
            well_known(&u, "oauth-protected-resource", true).as_str(),
            "https://h.example/.well-known/oauth-protected-resource/tenant/mcp"
        );
        assert_eq!(
            well_known(&u, "oauth-protected-resource", false).as_str(),
            "https://h.example/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn resources_must_cover_the_url() {
        let u = Url::parse("http://localhost:9/mcp").unwrap();
        assert!(resource_matches("http://localhost:9/mcp", &u));
        assert!(resource_matches("http://localhost:9", &u));
        assert!(!resource_matches("https://evil.example.com/mcp", &u));
        assert!(!resource_matches("http://localhost:9/other", &u));
    }
}
