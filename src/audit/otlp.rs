//! Audit records as OpenTelemetry logs (OTLP/HTTP `/v1/logs`), in protobuf
//! or in OTLP/JSON, written by hand: the message is small and fixed, and a
//! protobuf code generator would cost more build time than this file.
//!
//! One `ExportLogsServiceRequest` per batch: one `ResourceLogs` (resource
//! attributes `service.name` = `toolgate`, `service.version`, `host.name`,
//! and `toolgate.audit.key`, the device's checkpoint key where known) with
//! one `ScopeLogs` (scope `toolgate.audit`, the crate version). Each record
//! is a `LogRecord`: `time_unix_nano` from the record's `time`,
//! `observed_time_unix_nano` when sent, severity INFO (9), `event_name`
//! `toolgate.audit.call`, `toolgate.audit.event` or
//! `toolgate.audit.checkpoint`, the body a string holding the record's
//! canonical JSON exactly as hashed (so a collector can check the chain),
//! and attributes `toolgate.audit.id`, `toolgate.audit.seq`,
//! `toolgate.audit.hash` (for a checkpoint: `toolgate.audit.signature`).
//! A collector drops duplicates by `toolgate.audit.id` (a checkpoint's id is
//! `checkpoint-SEQ`).

use serde_json::{Value, json};

/// One log record to send.
pub struct Item<'a> {
    pub id: String,
    pub seq: u64,
    /// `call`, `event` or `checkpoint`.
    pub kind: &'a str,
    pub time_nanos: u64,
    pub body: &'a str,
    /// The record's hash, or a checkpoint's signature.
    pub hash: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Resource attributes of every batch.
pub struct Origin<'a> {
    pub host: &'a str,
    pub key: Option<&'a str>,
}

const SCOPE: &str = "toolgate.audit";
const SEVERITY_INFO: u64 = 9;

fn resource_attributes<'a>(origin: &Origin<'a>) -> Vec<(&'static str, &'a str)> {
    let mut attrs = vec![
        ("service.name", "toolgate"),
        ("service.version", env!("CARGO_PKG_VERSION")),
        ("host.name", origin.host),
    ];
    if let Some(k) = origin.key {
        attrs.push(("toolgate.audit.key", k));
    }
    attrs
}

fn event_name(kind: &str) -> String {
    format!("toolgate.audit.{kind}")
}

/// The batch in protobuf.
pub fn protobuf(items: &[Item<'_>], origin: &Origin<'_>, observed_nanos: u64) -> Vec<u8> {
    let mut req = Pb::default();
    req.message(1, |rl| {
        rl.message(1, |res| {
            for (k, v) in resource_attributes(origin) {
                res.message(1, |kv| key_string(kv, k, v));
            }
        });
        rl.message(2, |sl| {
            sl.message(1, |scope| {
                scope.string(1, SCOPE);
                scope.string(2, env!("CARGO_PKG_VERSION"));
            });
            for item in items {
                sl.message(2, |lr| {
                    lr.fixed64(1, item.time_nanos);
                    lr.varint_field(2, SEVERITY_INFO);
                    lr.string(3, "INFO");
                    lr.message(5, |any| any.string(1, item.body));
                    lr.message(6, |kv| key_string(kv, "toolgate.audit.id", &item.id));
                    lr.message(6, |kv| {
                        kv.string(1, "toolgate.audit.seq");
                        kv.message(2, |any| any.varint_field(3, item.seq));
                    });
                    if let Some(h) = item.hash {
                        lr.message(6, |kv| key_string(kv, "toolgate.audit.hash", h));
                    }
                    if let Some(s) = item.signature {
                        lr.message(6, |kv| key_string(kv, "toolgate.audit.signature", s));
                    }
                    lr.fixed64(11, observed_nanos);
                    lr.string(12, &event_name(item.kind));
                });
            }
        });
    });
    req.0
}

fn key_string(kv: &mut Pb, key: &str, value: &str) {
    kv.string(1, key);
    kv.message(2, |any| any.string(1, value));
}

/// The batch in OTLP/JSON (64-bit integers as strings, as the spec says).
pub fn json(items: &[Item<'_>], origin: &Origin<'_>, observed_nanos: u64) -> Vec<u8> {
    let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let records: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut attrs = vec![
                kv("toolgate.audit.id", &item.id),
                json!({"key": "toolgate.audit.seq", "value": {"intValue": item.seq.to_string()}}),
            ];
            if let Some(h) = item.hash {
                attrs.push(kv("toolgate.audit.hash", h));
            }
            if let Some(s) = item.signature {
                attrs.push(kv("toolgate.audit.signature", s));
            }
            json!({
                "timeUnixNano": item.time_nanos.to_string(),
                "observedTimeUnixNano": observed_nanos.to_string(),
                "severityNumber": SEVERITY_INFO,
                "severityText": "INFO",
                "body": {"stringValue": item.body},
                "attributes": attrs,
                "eventName": event_name(item.kind),
            })
        })
        .collect();
    let resource: Vec<Value> = resource_attributes(origin)
        .into_iter()
        .map(|(k, v)| kv(k, v))
        .collect();
    serde_json::to_vec(&json!({
        "resourceLogs": [{
            "resource": {"attributes": resource},
            "scopeLogs": [{
                "scope": {"name": SCOPE, "version": env!("CARGO_PKG_VERSION")},
                "logRecords": records,
            }],
        }],
    }))
    .expect("JSON values serialize")
}

/// What an `ExportLogsServiceResponse` says was rejected (protobuf):
/// `(rejected_log_records, error_message)`, where it says anything.
pub fn partial_success(response: &[u8]) -> Option<(i64, String)> {
    let mut r = Reader(response);
    while let Some((field, value)) = r.next() {
        if let (1, Wire::Bytes(inner)) = (field, value) {
            let mut rejected = 0i64;
            let mut message = String::new();
            let mut r = Reader(inner);
            while let Some((f, v)) = r.next() {
                match (f, v) {
                    (1, Wire::Varint(n)) => rejected = n as i64,
                    (2, Wire::Bytes(b)) => message = String::from_utf8_lossy(b).into_owned(),
                    _ => {}
                }
            }
            return (rejected != 0 || !message.is_empty()).then_some((rejected, message));
        }
    }
    None
}

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn varint_field(&mut self, field: u32, v: u64) {
        self.tag(field, 0);
        self.varint(v);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, build: impl FnOnce(&mut Pb)) {
        let mut inner = Pb::default();
        build(&mut inner);
        self.bytes(field, &inner.0);
    }
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// Reads the fields of a protobuf message (enough for the response).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn next(&mut self) -> Option<(u32, Wire<'a>)> {
        if self.0.is_empty() {
            return None;
        }
        let tag = self.varint()?;
        let field = (tag >> 3) as u32;
        let value = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.0 = self.0.get(8..)?;
                Wire::Other
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let (b, rest) = (self.0.get(..len)?, self.0.get(len..)?);
                self.0 = rest;
                Wire::Bytes(b)
            }
            5 => {
                self.0 = self.0.get(4..)?;
                Wire::Other
            }
            _ => return None,
        };
        Some((field, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_nesting_follow_the_wire_format() {
        let mut pb = Pb::default();
        pb.varint_field(1, 300);
        assert_eq!(pb.0, [0x08, 0xac, 0x02]);
        let mut pb = Pb::default();
        pb.message(2, |m| m.string(1, "hi"));
        assert_eq!(pb.0, [0x12, 0x04, 0x0a, 0x02, b'h', b'i']);
    }

    #[test]
    fn a_partial_success_is_read() {
        let mut inner = Pb::default();
        inner.varint_field(1, 3);
        inner.string(2, "too old");
        let mut resp = Pb::default();
        resp.bytes(1, &inner.0);
        assert_eq!(partial_success(&resp.0), Some((3, "too old".into())));
        assert_eq!(partial_success(&[]), None);
    }
}
