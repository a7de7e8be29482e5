#!/usr/bin/env python3
"""A small webhook receiver for trying certctl's notifications on one machine.

It listens on 127.0.0.1, checks each delivery's Standard Webhooks signature against the
channel's secret, answers 204, and prints one line per delivery:

    <webhook-id> <event type> signature=ok|BAD

Deliveries with a bad or missing signature are answered 401 (certctl records them as rejected
and retries them). A webhook id seen before is answered 204 again and marked `(repeat)`:
certctl delivers at least once, so a real receiver must treat the id as an idempotency key.

Usage: scripts/webhook-receiver.py --port 9000 --secret whsec_...   (the quickstart runs it)
Standard library only; for development, never for production traffic.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def signature_ok(secret: str, headers, body: bytes) -> bool:
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
        if msg_id is None or ts is None or abs(time.time() - int(ts)) > TOLERANCE_SECONDS:
            return False
        signed = msg_id.encode() + b"." + ts.encode() + b"." + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(
            version == "v1" and hmac.compare_digest(sig, expected)
            for version, _, sig in (s.partition(",") for s in (headers["webhook-signature"] or "").split())
        )
    except (ValueError, TypeError):
        return False


def handler(secret: str):
    seen: set[str] = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            ok = signature_ok(secret, self.headers, body)
            try:
                event = json.loads(body).get("type", "?")
            except (ValueError, AttributeError):
                event = "?"
            msg_id = self.headers.get("webhook-id") or "-"
            repeat = " (repeat)" if ok and msg_id in seen else ""
            if ok:
                seen.add(msg_id)
            print(f"{msg_id} {event} signature={'ok' if ok else 'BAD'}{repeat}", flush=True)
            self.send_response(204 if ok else 401)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass  # one line per delivery is printed above; no access log

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the channel's whsec_… secret")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.secret))
    print(f"listening on http://127.0.0.1:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
