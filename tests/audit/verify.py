#!/usr/bin/env python3
"""An independent verifier of toolgate's audit trail, written from the
format's documentation (src/audit/mod.rs, README "Audit"), sharing no code
with toolgate.

Usage: verify.py PATH/TO/audit.db [--json]

Reads the `records` table in `seq` order and checks, for each row, that
`body` is the RFC 8785 (JCS) form of itself, that its `seq` member is the
row's, that SHA-256(body) is `hash`, and that its `prev` member is the
previous row's `hash` (64 zeros before the first record). Gaps in `seq` are
reported. Exit 0 when intact, 1 when not, 2 on bad usage.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys

import rfc8785

GENESIS = "0" * 64


def verify(path: str) -> tuple[int, list[dict]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = db.execute("SELECT seq, body, hash FROM records ORDER BY seq").fetchall()
    problems: list[dict] = []
    prev_hash: str | None = GENESIS if (not rows or rows[0][0] == 1) else None
    if rows and rows[0][0] != 1:
        problems.append({"seq": 1, "code": "gap", "message": f"records 1..{rows[0][0] - 1} are missing"})
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
    return len(rows), problems


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--json"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    count, problems = verify(args[0])
    if "--json" in sys.argv:
        print(json.dumps({"intact": not problems, "records": count, "problems": problems}))
    else:
        for p in problems:
            print(f"record {p['seq']}: {p['code']}: {p['message']}")
        print(("intact" if not problems else "NOT intact") + f": {count} records")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
