#!/usr/bin/env python3
"""An independent verifier of toolgate's audit trail, written from the
format's documentation (src/audit/mod.rs, README "Audit"), sharing no code
with toolgate.

Usage: verify.py PATH/TO/audit.db [--json] [--key ed25519:HEX]

Reads the `records` table in `seq` order and checks, for each row, that
`body` is the RFC 8785 (JCS) form of itself, that its `seq` member is the
row's, that SHA-256(body) is `hash`, and that its `prev` member is the
previous row's `hash` (64 zeros before the first record, or the `anchor`
table's `hash` where uploaded records were deleted up to its `seq`). Gaps
in `seq` are reported.

Then the `checkpoints` table (src/audit/sign.rs): each `body` is JCS, names
an Ed25519 `key` (`--key` pins the device's) and `sig` is the base64
Ed25519 signature of `body`; the record at the checkpoint's `seq` must
exist (else records were cut off the end) and have the checkpoint's `hash`
(else the chain was rewritten). Exit 0 when intact, 1 when not, 2 on bad
usage.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import sys

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64


def verify(path: str, key: str | None) -> tuple[int, list[dict]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = db.execute("SELECT seq, body, hash FROM records ORDER BY seq").fetchall()
    problems: list[dict] = []
    # Uploaded records may have been deleted: the anchor holds the last
    # deleted record's seq and hash, and the kept chain starts after it.
    start, start_hash = 0, GENESIS
    has_anchor = db.execute("SELECT name FROM sqlite_master WHERE name = 'anchor'").fetchone()
    if has_anchor:
        row = db.execute("SELECT seq, hash FROM anchor WHERE id = 1").fetchone()
        if row:
            start, start_hash = row
    prev_hash: str | None = start_hash if (not rows or rows[0][0] == start + 1) else None
    if rows and rows[0][0] > start + 1:
        problems.append({"seq": start + 1, "code": "gap", "message": f"records {start + 1}..{rows[0][0] - 1} are missing"})
    prev_seq: int | None = None
    for seq, body, stored_hash in rows:
        if prev_seq is not None and seq != prev_seq + 1:
            problems.append({"seq": prev_seq + 1, "code": "gap", "message": f"records {prev_seq + 1}..{seq - 1} are missing"})
            prev_hash = None
        prev_seq = seq
        actual = hashlib.sha256(body.encode("utf-8")).hexdigest()
        try:
            record = json.loads(body)
        except ValueError:
            problems.append({"seq": seq, "code": "unreadable", "message": f"record {seq} is not JSON"})
            prev_hash = stored_hash
            continue
        if actual != stored_hash:
            problems.append({"seq": seq, "code": "edited", "message": f"record {seq}: hash mismatch"})
        if rfc8785.dumps(record).decode("utf-8") != body:
            problems.append({"seq": seq, "code": "not-canonical", "message": f"record {seq} is not JCS"})
        if record.get("seq") != seq:
            problems.append({"seq": seq, "code": "seq-mismatch", "message": f"record {seq} says seq {record.get('seq')}"})
        if prev_hash is not None and record.get("prev") != prev_hash:
            problems.append({"seq": seq, "code": "broken-link", "message": f"record {seq} does not follow record {seq - 1}"})
        prev_hash = actual
    problems += verify_checkpoints(db, {seq: h for seq, _, h in rows}, rows, key, start)
    problems.sort(key=lambda p: p["seq"])
    return len(rows), problems


def verify_checkpoints(db, hashes: dict, rows: list, key: str | None, start: int) -> list[dict]:
    problems: list[dict] = []
    # Records up to the anchor were uploaded and deleted: they count as there.
    first = rows[0][0] if rows else start + 1
    last = max(rows[-1][0] if rows else 0, start) or None
    checkpoints = db.execute("SELECT seq, body, sig FROM checkpoints ORDER BY seq").fetchall()
    for seq, body, sig in checkpoints:
        def bad(code: str, message: str) -> None:
            problems.append({"seq": seq, "code": code, "message": f"checkpoint at record {seq}: {message}"})

        if sig is None:
            bad("unsigned-checkpoint", "not signed")
            continue
        try:
            cp = json.loads(body)
        except ValueError:
            bad("bad-signature", "not JSON")
            continue
        if rfc8785.dumps(cp).decode("utf-8") != body:
            bad("bad-signature", "not JCS")
            continue
        named = cp.get("key") or ""
        if not named.startswith("ed25519:") or len(named) != 8 + 64:
            bad("bad-signature", f"names no Ed25519 key: {named!r}")
            continue
        try:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(named[8:]))
            public.verify(base64.b64decode(sig, validate=True), body.encode("utf-8"))
        except (InvalidSignature, ValueError):
            bad("bad-signature", "the signature is not valid")
            continue
        if cp.get("seq") != seq:
            bad("bad-checkpoint", f"says seq {cp.get('seq')}")
            continue
        if key is not None and named != key:
            bad("foreign-key", f"signed by {named}, not {key}")
        if last is None or seq > last:
            bad("truncated", f"records after {last} were removed")
            continue
        if first is not None and seq < first:
            continue
        if seq in hashes and hashes[seq] != cp.get("hash"):
            bad("rewritten", "the record is not the one the checkpoint vouches for")
    return problems


def main() -> int:
    args = sys.argv[1:]
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    key = None
    if "--key" in args:
        i = args.index("--key")
        if i + 1 >= len(args):
            print(__doc__, file=sys.stderr)
            return 2
        key = args[i + 1]
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    count, problems = verify(args[0], key)
    if as_json:
        print(json.dumps({"intact": not problems, "records": count, "problems": problems}))
    else:
        for p in problems:
            print(f"record {p['seq']}: {p['code']}: {p['message']}")
        print(("intact" if not problems else "NOT intact") + f": {count} records")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
