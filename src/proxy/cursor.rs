//! Opaque cursors of toolgate's own lists.
//!
//! A cursor toolgate hands the IDE is base64url (no padding) of a small JSON
//! document. For lists fanned out to several upstreams it holds, per upstream
//! still to be read, that upstream's own cursor, carried verbatim and never
//! parsed. Clients must treat cursors as opaque; toolgate refuses one it did
//! not make, or one made for another list.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The list method it belongs to.
    #[serde(rename = "m")]
    pub method: String,
    /// For toolgate's own pages: the offset of the next page.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// For fanned-out lists: upstream name -> that upstream's next cursor.
    #[serde(rename = "u", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, String>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serialises"))
    }

    /// Decodes a cursor for `method`; `None` when it is not one of ours.
    pub fn decode(text: &str, method: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let c: Cursor = serde_json::from_slice(&bytes).ok()?;
        (c.method == method).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_refusal() {
        let mut upstreams = BTreeMap::new();
        upstreams.insert("a".to_owned(), "opaque\"cursor/with+chars".to_owned());
        let c = Cursor {
            method: "prompts/list".into(),
            offset: None,
            upstreams,
        };
        let text = c.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&text, "prompts/list").unwrap(), c);
        assert!(Cursor::decode(&text, "resources/list").is_none());
        assert!(Cursor::decode("garbage!", "prompts/list").is_none());
    }
}
