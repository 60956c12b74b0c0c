//! JSON-RPC 2.0 framing for MCP's stdio transport, on raw JSON.
//!
//! toolgate forwards messages without re-serialising what it does not need to
//! touch: ids, params and results stay [`RawValue`]s and are written back byte
//! for byte. That keeps the proxy transparent (unknown fields, `_meta`, key
//! order all survive; pins in later issues hash the JSON an upstream sent) and
//! fast (a `tools/call` result is never parsed into a tree).
//!
//! Framing is one JSON object per line, UTF-8, `\n`-terminated (CRLF tolerated).
//! Lines longer than a configured limit are discarded whole, without buffering
//! them, and reported as [`Line::TooLong`] with their first bytes so the caller
//! can still find the request id.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// JSON-RPC error codes used by toolgate.
pub mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A request arrived before `initialize`.
    pub const NOT_INITIALIZED: i64 = -32002;
    /// The upstream behind a request is not reachable (crashed, failed to start).
    pub const UPSTREAM_UNAVAILABLE: i64 = -32001;
    /// The request timed out waiting for an upstream.
    pub const REQUEST_TIMEOUT: i64 = -32003;
    /// The org's policy refused the request (not a tool call: those get an
    /// `isError` result instead).
    pub const POLICY_REFUSED: i64 = -32004;
}

/// The envelope of any JSON-RPC message, borrowed from the line it was read
/// from. Only the envelope is parsed; members stay raw.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    // `Name`, not `Cow`: serde's `borrow` does not reach a `Cow` inside an
    // `Option`, which would then copy every method name.
    #[serde(borrow, default)]
    pub jsonrpc: Option<ordered::Name<'a>>,
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<ordered::Name<'a>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

/// What a message is, decided from its envelope.
#[derive(Debug)]
pub enum Kind<'a> {
    Request {
        id: &'a RawValue,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Response {
        id: &'a RawValue,
        outcome: Result<&'a RawValue, &'a RawValue>,
    },
}

/// Why a line is not a usable JSON-RPC message.
#[derive(Debug)]
pub enum Malformed<'a> {
    /// Not JSON at all (or not an object).
    NotJson(String),
    /// JSON, but not a JSON-RPC 2.0 message; the id is given when one was found.
    Invalid {
        id: Option<&'a RawValue>,
        why: &'static str,
    },
    /// A JSON array: batches were removed from MCP in 2025-06-18.
    Batch,
}

/// Parses one line into its envelope and classifies it.
pub fn parse(line: &[u8]) -> Result<Kind<'_>, Malformed<'_>> {
    let first = line.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return Err(Malformed::Batch);
    }
    let env: Envelope<'_> =
        serde_json::from_slice(line).map_err(|e| Malformed::NotJson(e.to_string()))?;
    if env.jsonrpc.as_ref().map(|v| &*v.0) != Some("2.0") {
        return Err(Malformed::Invalid {
            id: env.id,
            why: "the \"jsonrpc\" member must be \"2.0\"",
        });
    }
    if let Some(id) = env.id
        && !is_valid_id(id)
    {
        return Err(Malformed::Invalid {
            id: None,
            why: "the \"id\" member must be a string or a number",
        });
    }
    match (env.id, env.method.map(|m| m.0), env.result, env.error) {
        (Some(id), Some(method), None, None) => Ok(Kind::Request {
            id,
            method,
            params: env.params,
        }),
        (None, Some(method), None, None) => Ok(Kind::Notification {
            method,
            params: env.params,
        }),
        (Some(id), None, Some(result), None) => Ok(Kind::Response {
            id,
            outcome: Ok(result),
        }),
        (Some(id), None, None, Some(error)) => Ok(Kind::Response {
            id,
            outcome: Err(error),
        }),
        (id, ..) => Err(Malformed::Invalid {
            id,
            why: "a message needs a \"method\" (request, notification) or exactly one of \"result\" and \"error\" (response)",
        }),
    }
}

fn is_valid_id(id: &RawValue) -> bool {
    matches!(id.get().as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9'))
}

/// Writes `{"jsonrpc":"2.0","id":ID,"result":RESULT}\n`.
pub fn response(id: &RawValue, result: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + id.get().len() + result.len());
    push_response(&mut out, id, result);
    out
}

/// Appends `{"jsonrpc":"2.0","id":ID,"result":RESULT}\n` to `out`.
pub fn push_response(out: &mut Vec<u8>, id: &RawValue, result: &str) {
    push_result_for(out, id.get(), result);
}

/// [`push_response`] with the id as its JSON text (vouched for by the caller).
pub fn push_result_for(out: &mut Vec<u8>, id: &str, result: &str) {
    push_answer(out, id, b",\"result\":", result);
}

/// [`push_error_raw`] with the id as its JSON text (vouched for by the caller).
pub fn push_error_for(out: &mut Vec<u8>, id: &str, error: &str) {
    push_answer(out, id, b",\"error\":", error);
}

/// An id's JSON text (from [`RawValue::get`]) as a raw value again.
pub fn id_value(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap_or_else(|_| raw(&()))
}

/// Writes an error response with a raw error object.
pub fn error_raw(id: Option<&RawValue>, error: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + id.map_or(4, |i| i.get().len()) + error.len());
    push_error_raw(&mut out, id, error);
    out
}

/// Appends an error response with a raw error object to `out`.
pub fn push_error_raw(out: &mut Vec<u8>, id: Option<&RawValue>, error: &str) {
    push_answer(out, id.map_or("null", RawValue::get), b",\"error\":", error);
}

fn push_answer(out: &mut Vec<u8>, id: &str, member: &[u8], value: &str) {
    out.reserve(40 + id.len() + value.len());
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(member);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"}\n");
}

/// Writes an error response from a code, a message and optional data.
pub fn error(
    id: Option<&RawValue>,
    code: i64,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Vec<u8> {
    error_raw(id, &error_object(code, message, data))
}

/// The JSON text of an error object.
pub fn error_object(code: i64, message: &str, data: Option<&serde_json::Value>) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("code".into(), code.into());
    obj.insert("message".into(), message.into());
    if let Some(data) = data {
        obj.insert("data".into(), data.clone());
    }
    serde_json::Value::Object(obj).to_string()
}

/// Writes `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}\n`.
pub fn request(id: &str, method: &str, params: Option<&str>) -> Vec<u8> {
    message(Some(id), method, params)
}

/// Writes `{"jsonrpc":"2.0","method":M,"params":P}\n`.
pub fn notification(method: &str, params: Option<&str>) -> Vec<u8> {
    message(None, method, params)
}

fn message(id: Option<&str>, method: &str, params: Option<&str>) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + id.map_or(0, str::len) + method.len() + params.map_or(0, str::len));
    push_message(&mut out, id.map(str::as_bytes), method, params);
    out
}

/// Appends a request with a numeric id (toolgate's own ids upstream) to `out`.
pub fn push_request(out: &mut Vec<u8>, id: u64, method: &str, params: Option<&str>) {
    let mut digits = [0u8; 20];
    push_message(out, Some(decimal(id, &mut digits)), method, params);
}

/// [`push_request`] whose params `write_params` appends: JSON text, which
/// the caller vouches for.
pub fn push_request_with(
    out: &mut Vec<u8>,
    id: u64,
    method: &str,
    write_params: impl FnOnce(&mut Vec<u8>),
) {
    let mut digits = [0u8; 20];
    push_message_with(
        out,
        Some(decimal(id, &mut digits)),
        method,
        Some(write_params),
    );
}

/// `n` in decimal digits, written at the end of `digits`.
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

fn push_message(out: &mut Vec<u8>, id: Option<&[u8]>, method: &str, params: Option<&str>) {
    out.reserve(64 + id.map_or(0, <[u8]>::len) + method.len() + params.map_or(0, str::len));
    let params = params.map(|p| move |out: &mut Vec<u8>| out.extend_from_slice(p.as_bytes()));
    push_message_with(out, id, method, params);
}

fn push_message_with(
    out: &mut Vec<u8>,
    id: Option<&[u8]>,
    method: &str,
    write_params: Option<impl FnOnce(&mut Vec<u8>)>,
) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",");
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\":");
        out.extend_from_slice(id);
        out.push(b',');
    }
    out.extend_from_slice(b"\"method\":");
    push_json_str(out, method);
    if let Some(write_params) = write_params {
        out.extend_from_slice(b",\"params\":");
        write_params(out);
    }
    out.extend_from_slice(b"}\n");
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Names and keys are plain ASCII in practice; fall back to serde for the rest.
    if s.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(serde_json::to_string(s).unwrap_or_default().as_bytes());
    }
}

/// Parses an object shallowly: members in order, their values raw. Used to
/// rewrite one or two members (a tool name, a progress token) of params or
/// results without touching the rest.
pub fn shallow(raw: &RawValue) -> Result<Vec<(String, Box<RawValue>)>, serde_json::Error> {
    let map: ordered::Ordered<String, Box<RawValue>> = serde_json::from_str(raw.get())?;
    Ok(map.0)
}

/// [`shallow`] without copying: names and values borrow from `raw` (a name
/// with escapes is unescaped into its own string). For the hot path.
pub fn shallow_borrowed(raw: &RawValue) -> Result<Vec<Borrowed<'_>>, serde_json::Error> {
    let map: ordered::Ordered<ordered::Name<'_>, &RawValue> = serde_json::from_str(raw.get())?;
    Ok(map.0.into_iter().map(|(k, v)| (k.0, v)).collect())
}

/// A member of an object parsed by [`shallow_borrowed`].
pub type Borrowed<'a> = (Cow<'a, str>, &'a RawValue);

/// A member of an object parsed one level deep ([`shallow`] or
/// [`shallow_borrowed`]): its name and its raw value.
pub trait Member {
    fn name(&self) -> &str;
    fn value(&self) -> &RawValue;
}

impl Member for (String, Box<RawValue>) {
    fn name(&self) -> &str {
        &self.0
    }
    fn value(&self) -> &RawValue {
        &self.1
    }
}

impl Member for Borrowed<'_> {
    fn name(&self) -> &str {
        &self.0
    }
    fn value(&self) -> &RawValue {
        self.1
    }
}

/// Serialises members back into an object.
pub fn unshallow(members: &[impl Member]) -> String {
    unshallow_with(members, &[])
}

/// Serialises members back into an object, the value of each member named
/// in `replace` (where there is such a member) replaced by the text given
/// with it, raw JSON text the caller vouches for.
pub fn unshallow_with(members: &[impl Member], replace: &[(&str, &str)]) -> String {
    let mut out = Vec::with_capacity(
        2 + members
            .iter()
            .map(|m| m.name().len() + m.value().get().len() + 4)
            .sum::<usize>()
            + replace.iter().map(|(_, v)| v.len()).sum::<usize>(),
    );
    push_object(&mut out, members, replace);
    // Keys went through `push_json_str` and values are JSON text: UTF-8.
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// [`unshallow_with`], appending to `out`.
pub fn push_object(
    out: &mut Vec<u8>,
    members: &[impl Member],
    replace: &[(&str, impl AsRef<[u8]>)],
) {
    out.push(b'{');
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, m.name());
        out.push(b':');
        match replace.iter().find(|(key, _)| *key == m.name()) {
            Some((_, value)) => out.extend_from_slice(value.as_ref()),
            None => out.extend_from_slice(m.value().get().as_bytes()),
        }
    }
    out.push(b'}');
}

/// Gets a member of a shallow object.
pub fn member<'a, M: Member>(members: &'a [M], key: &str) -> Option<&'a RawValue> {
    members.iter().find(|m| m.name() == key).map(|m| m.value())
}

/// A JSON string's text, borrowed when it has no escapes; `None` when `raw`
/// is not a string.
pub fn str_value(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
        _ => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// Sets (or appends) a member of a shallow object.
pub fn set_member(members: &mut Vec<(String, Box<RawValue>)>, key: &str, value: Box<RawValue>) {
    if let Some(slot) = members.iter_mut().find(|(k, _)| k == key) {
        slot.1 = value;
    } else {
        members.push((key.to_owned(), value));
    }
}

/// Makes a raw JSON value from a serialisable value.
pub fn raw<T: serde::Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("serialising a plain value cannot fail")
}

mod ordered {
    use std::{borrow::Cow, fmt, marker::PhantomData};

    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

    /// An object's members in order. Duplicate names are refused.
    pub struct Ordered<K, V>(pub Vec<(K, V)>);

    /// A string, borrowed from the text unless it has escapes.
    #[derive(Debug)]
    pub struct Name<'a>(pub Cow<'a, str>);

    impl AsRef<str> for Name<'_> {
        fn as_ref(&self) -> &str {
            &self.0
        }
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Name<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                    Ok(Name(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                    Ok(Name(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
                    Ok(Name(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }

    impl<'de, K, V> Deserialize<'de> for Ordered<K, V>
    where
        K: Deserialize<'de> + AsRef<str>,
        V: Deserialize<'de>,
    {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Members<K, V>(PhantomData<(K, V)>);
            impl<'de, K, V> Visitor<'de> for Members<K, V>
            where
                K: Deserialize<'de> + AsRef<str>,
                V: Deserialize<'de>,
            {
                type Value = Ordered<K, V>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered<K, V>, A::Error> {
                    let mut out: Vec<(K, V)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
                    while let Some((k, v)) = map.next_entry::<K, V>()? {
                        // Two members with one name would let a proxy and an
                        // upstream disagree about which one counts (a smuggling
                        // vector): refuse them.
                        if out.iter().any(|(seen, _)| seen.as_ref() == k.as_ref()) {
                            return Err(serde::de::Error::custom(format!(
                                "duplicate member \"{}\"",
                                k.as_ref()
                            )));
                        }
                        out.push((k, v));
                    }
                    Ok(Ordered(out))
                }
            }
            d.deserialize_map(Members(PhantomData))
        }
    }
}

/// One line read by [`read_line`].
#[derive(Debug)]
pub enum Line {
    /// A complete line, without its terminator.
    Message(Vec<u8>),
    /// A line over the limit, discarded; `head` holds its first bytes.
    TooLong { head: Vec<u8>, len: usize },
    /// End of input.
    Eof,
}

/// How many bytes of an oversized line are kept for diagnostics.
const HEAD: usize = 512;

/// Reads one `\n`-terminated line of at most `limit` bytes. Blank lines are
/// skipped. A last line without a terminator is returned at EOF.
/// Whether `buffered` holds a whole line (so reading it will not wait).
pub fn has_line(buffered: &[u8]) -> bool {
    memchr(b'\n', buffered).is_some()
}

/// The first whole line already buffered, if it is within `limit` bytes:
/// its text (without the line ending) and how many bytes to consume. Lines
/// in hand are handled where they lie, with no copy; [`read_line`] takes the
/// rest (a line still arriving, or one over the limit). A blank line comes
/// back as an empty or all-whitespace slice, for the caller to skip.
pub fn line_in_hand(buffered: &[u8], limit: usize) -> Option<(&[u8], usize)> {
    let end = memchr(b'\n', buffered)?;
    if end > limit {
        return None;
    }
    let line = &buffered[..end];
    Some((line.strip_suffix(b"\r").unwrap_or(line), end + 1))
}

/// Whether a line holds nothing but whitespace (skipped, as [`read_line`] does).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Line> {
    loop {
        buf.clear();
        let mut total = 0usize;
        let mut too_long = false;
        loop {
            let available = reader.fill_buf().await?;
            if available.is_empty() {
                if total == 0 {
                    return Ok(Line::Eof);
                }
                break;
            }
            let (chunk, found) = match memchr(b'\n', available) {
                Some(i) => (&available[..i], Some(i)),
                None => (available, None),
            };
            total += chunk.len();
            if total > limit {
                // Over the limit: keep only the first bytes, for diagnostics.
                too_long = true;
                let keep = HEAD.saturating_sub(buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk[..keep]);
                buf.truncate(HEAD);
            } else {
                buf.extend_from_slice(chunk);
            }
            let used = found.map_or(chunk.len(), |i| i + 1);
            reader.consume(used);
            if found.is_some() {
                break;
            }
        }
        if too_long {
            return Ok(Line::TooLong {
                head: std::mem::take(buf),
                len: total,
            });
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if is_blank(buf) {
            continue; // a blank line: keep reading
        }
        return Ok(Line::Message(std::mem::take(buf)));
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    memchr::memchr(needle, haystack)
}

/// Finds the `"id"` of a message from its first bytes, for a line too long to
/// parse. Only a number or a simple string id is recognised.
pub fn sniff_id(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let at = text.find("\"id\"")?;
    let rest = text[at + 4..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let end = s.find(['"', '\\'])?;
        if s.as_bytes()[end] == b'\\' {
            return None;
        }
        return Some(format!("\"{}\"", &s[..end]));
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    (end > 0 && end < rest.len()).then(|| rest[..end].to_owned())
}

/// Quotes bytes for a log line: printable ASCII kept, the rest escaped, cut
/// at `max` bytes. Used for garbage an upstream writes to stdout.
pub fn escape_for_log(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes[..bytes.len().min(max)].escape_ascii().to_string();
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_messages_equal_built_ones() {
        for id in [0, 7, 10, 1234567890, u64::MAX] {
            let mut out = b"before\n".to_vec();
            push_request(&mut out, id, "tools/call", Some("{\"a\":1}"));
            let mut want = b"before\n".to_vec();
            want.extend(request(&id.to_string(), "tools/call", Some("{\"a\":1}")));
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want)
            );
        }
        let id = raw("x");
        let mut out = Vec::new();
        push_response(&mut out, &id, "{}");
        push_error_raw(&mut out, None, "{\"code\":1}");
        assert_eq!(
            out,
            b"{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1}}\n"
        );
    }

    #[test]
    fn classifies_messages() {
        let r = parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(matches!(r, Kind::Request { .. }));
        let n = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(n, Kind::Notification { .. }));
        let ok = parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(ok, Kind::Response { outcome: Ok(_), .. }));
        let err = parse(br#"{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"x"}}"#).unwrap();
        assert!(matches!(
            err,
            Kind::Response {
                outcome: Err(_),
                ..
            }
        ));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(parse(b"not json"), Err(Malformed::NotJson(_))));
        assert!(matches!(parse(b"[1,2]"), Err(Malformed::Batch)));
        assert!(matches!(
            parse(br#"{"id":1,"method":"x"}"#),
            Err(Malformed::Invalid { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#),
            Err(Malformed::Invalid { id: None, .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#),
            Err(Malformed::Invalid { .. })
        ));
        assert!(matches!(parse(b"42"), Err(Malformed::NotJson(_))));
    }

    #[test]
    fn writes_messages() {
        assert_eq!(
            request("7", "tools/call", Some("{}")),
            b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{}}\n"
        );
        assert_eq!(
            notification("notifications/initialized", None),
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        );
        let odd = notification("a\"b", None);
        assert!(serde_json::from_slice::<serde_json::Value>(&odd).is_ok());
    }

    #[test]
    fn shallow_roundtrip_keeps_members_verbatim() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"name":"echo","arguments":{"b":1,  "a":[1,2]},"_meta":{"progressToken":7}}"#,
        )
        .unwrap();
        let mut members = shallow(&raw).unwrap();
        set_member(&mut members, "name", self::raw("ev__echo"));
        assert_eq!(
            unshallow(&members),
            r#"{"name":"ev__echo","arguments":{"b":1,  "a":[1,2]},"_meta":{"progressToken":7}}"#
        );
    }

    #[test]
    fn shallow_refuses_duplicate_members() {
        let raw: Box<RawValue> = serde_json::from_str(r#"{"name":"a","name":"b"}"#).unwrap();
        assert!(shallow(&raw).is_err());
    }

    #[test]
    fn borrowed_members_borrow_unless_escaped_and_refuse_duplicates() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"name":"a","ar\u0067s":{"x":[1]},"_meta":null}"#).unwrap();
        let members = shallow_borrowed(&raw).unwrap();
        let names: Vec<&str> = members.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["name", "args", "_meta"]);
        assert!(matches!(members[0].0, Cow::Borrowed(_)));
        assert!(matches!(members[1].0, Cow::Owned(_)));
        assert_eq!(member(&members, "args").unwrap().get(), r#"{"x":[1]}"#);
        // The same name spelt two ways is still one name.
        let dup: Box<RawValue> = serde_json::from_str(r#"{"name":1,"n\u0061me":2}"#).unwrap();
        assert!(shallow_borrowed(&dup).is_err());
        let not_object: Box<RawValue> = serde_json::from_str("[1]").unwrap();
        assert!(shallow_borrowed(&not_object).is_err());
    }

    #[test]
    fn string_values_borrow_unless_escaped() {
        let plain = raw("echo");
        assert!(matches!(str_value(&plain), Some(Cow::Borrowed("echo"))));
        let escaped: Box<RawValue> = serde_json::from_str(r#""e\"cho""#).unwrap();
        assert_eq!(str_value(&escaped).as_deref(), Some("e\"cho"));
        assert_eq!(str_value(&raw(&5)), None);
        assert_eq!(str_value(&raw(&())), None);
    }

    #[test]
    fn objects_and_requests_written_in_place_equal_built_ones() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"name":"x","arguments":{"a":1},"_meta":{"p":2}}"#).unwrap();
        let members = shallow_borrowed(&raw).unwrap();
        let mut out = Vec::new();
        let replace: [(&str, &[u8]); 2] = [("name", br#""y""#), ("absent", b"1")];
        push_object(&mut out, &members, &replace);
        assert_eq!(
            out,
            unshallow_with(&members, &[("name", r#""y""#)]).as_bytes()
        );
        assert_eq!(out, br#"{"name":"y","arguments":{"a":1},"_meta":{"p":2}}"#);
        for id in [0, 9, 10, u64::MAX] {
            let mut with = Vec::new();
            push_request_with(&mut with, id, "tools/call", |b| b.extend_from_slice(b"{}"));
            let mut plain = Vec::new();
            push_request(&mut plain, id, "tools/call", Some("{}"));
            assert_eq!(with, plain);
        }
        let mut out = Vec::new();
        push_result_for(&mut out, "\"i\"", "{}");
        push_error_for(&mut out, "3", "{\"code\":1}");
        assert_eq!(
            out,
            b"{\"jsonrpc\":\"2.0\",\"id\":\"i\",\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":1}}\n"
        );
        assert_eq!(id_value("\"i\"").get(), "\"i\"");
    }

    #[test]
    fn envelope_strings_borrow_and_reject_other_types() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#;
        match parse(line).unwrap() {
            Kind::Request { method, .. } => assert!(matches!(method, Cow::Borrowed("tools/call"))),
            other => panic!("not a request: {other:?}"),
        }
        assert!(parse(br#"{"jsonrpc":"2.0","id":1,"method":7}"#).is_err());
        assert!(parse(br#"{"jsonrpc":2,"id":1,"method":"x"}"#).is_err());
    }

    #[test]
    fn sniffs_ids() {
        assert_eq!(
            sniff_id(br#"{"jsonrpc":"2.0","id":42,"result":{"#).as_deref(),
            Some("42")
        );
        assert_eq!(
            sniff_id(br#"{"id": "abc","jsonrpc":"2.0""#).as_deref(),
            Some("\"abc\"")
        );
        assert_eq!(sniff_id(br#"{"jsonrpc":"2.0","result":{"#), None);
    }

    #[tokio::test]
    async fn reads_lines_with_limit() {
        let data = b"{\"a\":1}\r\n\n0123456789ABCDEF\nlast".to_vec();
        let mut reader = tokio::io::BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let Line::Message(m) = read_line(&mut reader, &mut buf, 10).await.unwrap() else {
            panic!()
        };
        assert_eq!(m, b"{\"a\":1}");
        let Line::TooLong { head, len } = read_line(&mut reader, &mut buf, 10).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(len, 16);
        assert_eq!(head, b"0123456789ABCDEF");
        let Line::Message(m) = read_line(&mut reader, &mut buf, 10).await.unwrap() else {
            panic!()
        };
        assert_eq!(m, b"last");
        assert!(matches!(
            read_line(&mut reader, &mut buf, 10).await.unwrap(),
            Line::Eof
        ));
    }
}
