#!/usr/bin/env python3
"""A test collector for toolgate's audit upload: an OTLP/HTTP logs receiver
(protobuf and JSON, decoded with PyPI `opentelemetry-proto`, gzip or not)
and an NDJSON webhook, on loopback, on a port the OS picks.

Usage: receiver.py OUT.ndjson

Prints `PORT` on its first stdout line once listening. Every log record it
accepts is appended to OUT.ndjson as one JSON object:
`{"path", "encoding", "gzip", "id", "seq", "event_name", "body", "hash",
"signature", "resource": {...}, "authorization"}` (webhook lines: `{"path",
"encoding": "ndjson", "gzip", "body", "authorization"}`), and the file is flushed before the answer goes
out, so a test that reads it after toolgate's upload returned sees it all.

Endpoints: `POST /v1/logs` (OTLP), `POST /webhook` (NDJSON), and
`POST /control` with JSON `{"status": 503, "retry_after": "3600", "times":
N}`: the next N uploads are answered with that status (and `Retry-After`)
without being recorded; `{"delay": SECONDS, "times": N}`: the next N are
answered that late (and recorded: a slow collector). Every upload attempt, accepted or not, is counted
in `GET /stats` (`{"attempts": N, "refused": M}`).
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

LOCK = threading.Lock()
STATE = {"attempts": 0, "refused": 0, "fail": None}


def any_value(v) -> object:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attrs(kvs) -> dict:
    return {kv.key: any_value(kv.value) for kv in kvs}


class Handler(BaseHTTPRequestHandler):
    out_path = ""

    def log_message(self, *args) -> None:  # quiet
        pass

    def answer(self, status: int, body: bytes = b"", ctype: str = "application/json", extra=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/stats":
            with LOCK:
                body = json.dumps({"attempts": STATE["attempts"], "refused": STATE["refused"]}).encode()
            self.answer(200, body)
        else:
            self.answer(404)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            with LOCK:
                STATE["fail"] = json.loads(raw)
            self.answer(200, b"{}")
            return
        delay = 0.0
        with LOCK:
            STATE["attempts"] += 1
            fail = STATE["fail"]
            if fail and fail.get("times", 0) > 0:
                fail["times"] -= 1
                if "delay" in fail:
                    delay = float(fail["delay"])  # slow, then accepted
                else:
                    STATE["refused"] += 1
                    extra = {"Retry-After": str(fail["retry_after"])} if "retry_after" in fail else {}
                    self.answer(int(fail["status"]), b"collector busy", "text/plain", extra)
                    return
        if delay:
            time.sleep(delay)
        gz = self.headers.get("Content-Encoding") == "gzip"
        auth = self.headers.get("Authorization")
        data = gzip.decompress(raw) if gz else raw
        ctype = self.headers.get("Content-Type", "")
        lines = []
        if self.path == "/webhook":
            for line in data.decode("utf-8").splitlines():
                if line:
                    json.loads(line)  # each line must be JSON
                    lines.append({"path": self.path, "encoding": "ndjson", "gzip": gz, "body": line, "authorization": auth})
            reply, reply_type = b"", "text/plain"
        elif self.path == "/v1/logs":
            req = logs_service_pb2.ExportLogsServiceRequest()
            if ctype == "application/x-protobuf":
                req.ParseFromString(data)
                encoding = "protobuf"
            elif ctype == "application/json":
                json_format.Parse(data.decode("utf-8"), req)
                encoding = "json"
            else:
                self.answer(415, b"unsupported content type", "text/plain")
                return
            for rl in req.resource_logs:
                resource = attrs(rl.resource.attributes)
                for sl in rl.scope_logs:
                    for lr in sl.log_records:
                        a = attrs(lr.attributes)
                        lines.append({
                            "path": self.path,
                            "encoding": encoding,
                            "gzip": gz,
                            "id": a.get("toolgate.audit.id"),
                            "seq": a.get("toolgate.audit.seq"),
                            "hash": a.get("toolgate.audit.hash"),
                            "signature": a.get("toolgate.audit.signature"),
                            "event_name": lr.event_name,
                            "time_unix_nano": lr.time_unix_nano,
                            "severity": lr.severity_number,
                            "scope": sl.scope.name,
                            "body": any_value(lr.body),
                            "resource": resource,
                            "authorization": auth,
                        })
            resp = logs_service_pb2.ExportLogsServiceResponse()
            if encoding == "protobuf":
                reply, reply_type = resp.SerializeToString(), "application/x-protobuf"
            else:
                reply, reply_type = json_format.MessageToJson(resp).encode(), "application/json"
        else:
            self.answer(404)
            return
        with LOCK:
            with open(self.out_path, "a", encoding="utf-8") as f:
                for line in lines:
                    f.write(json.dumps(line) + "\n")
                f.flush()
        self.answer(200, reply, reply_type)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    Handler.out_path = sys.argv[1]
    open(Handler.out_path, "a").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
