#!/usr/bin/env python3
"""A tiny authoritative DNS server for the dns-01 tests: certctl's ACME server is pointed at it as
its resolver, and lego's `exec` DNS provider (scripts/acme/lego-dns-exec.sh) publishes the
challenge records in it.

Records live in files, read again on every query so a hook can add and remove them while the
server runs: a TXT question about NAME is answered with one TXT record per file in
RECORDS/<NAME lower-cased, without the trailing dot>/ (the file's content stripped of whitespace,
split into 255-octet character-strings), TTL 0. A name without records gets NOERROR and no
answer; an SOA question about any name gets a fixed SOA for the zone `test.` (some ACME clients
look the zone up first); any other question gets NOERROR and no answer. Every answer is
authoritative (AA). Over UDP an answer longer than 512 octets is truncated (TC, no records), so
the client's retry over TCP gets tested too.

Usage:  scripts/acme/dns-server.py --listen 127.0.0.1 --port PORT --records DIR

Answers over UDP and TCP on the same port; prints "ready" once both sockets are bound and exits
cleanly on SIGTERM or SIGINT. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
from pathlib import Path

TYPE_TXT, TYPE_SOA, CLASS_IN = 16, 6, 1
NOERROR, FORMERR, NOTIMP = 0, 1, 4
UDP_LIMIT = 512
LABEL = re.compile(rb"^[a-z0-9_-]{1,63}$")
# The zone every SOA answer is about: `test.`, served by ns.test., hostmaster.test. in charge;
# serial, refresh, retry, expire and minimum (negative caching TTL, 0: retry at once).
SOA_RDATA = b"\x02ns\x04test\x00" + b"\x0ahostmaster\x04test\x00" + struct.pack("!5I", 1, 3600, 600, 86400, 0)


class Query:
    """The parts of a query an answer needs. Raises ValueError when the message is not one."""

    def __init__(self, msg: bytes) -> None:
        if len(msg) < 12:
            raise ValueError("shorter than a header")
        self.id, self.flags, qdcount = struct.unpack("!HHH", msg[:6])
        if self.flags & 0x8000:
            raise ValueError("a response, not a query")
        if qdcount != 1:
            raise ValueError("not one question")
        labels, pos = [], 12
        while True:
            if pos >= len(msg):
                raise ValueError("the question runs past the end")
            n = msg[pos]
            if n == 0:
                break
            if n > 63 or pos + 1 + n > len(msg):
                raise ValueError("a compressed or cut name")  # nobody compresses a lone question
            labels.append(msg[pos + 1 : pos + 1 + n])
            pos += 1 + n
        if pos + 5 > len(msg):
            raise ValueError("the question runs past the end")
        self.qtype, self.qclass = struct.unpack("!HH", msg[pos + 1 : pos + 5])
        self.question = msg[12 : pos + 5]  # echoed as sent, case included
        self.labels = [label.lower() for label in labels]


def txt_rdata(value: bytes) -> bytes:
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
    return b"".join(bytes([len(c)]) + c for c in chunks)


def txt_values(records: Path, labels: list[bytes]) -> list[bytes]:
    """The record files' contents for a name; none for a name that cannot be a directory."""
    if not labels or not all(LABEL.match(label) for label in labels):
        return []
    directory = records / b".".join(labels).decode()
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
        return [p.read_bytes().strip() for p in files]
    except OSError:  # no such directory, or a file removed while reading: no records
        return []


def answer(records: Path, msg: bytes, limit: int | None) -> bytes | None:
    """The response to `msg`, at most `limit` octets (else truncated); None to stay silent."""
    try:
        query = Query(msg)
    except ValueError:
        if len(msg) < 12 or msg[2] & 0x80:
            return None
        (qid,) = struct.unpack("!H", msg[:2])
        return struct.pack("!HHHHHH", qid, 0x8400 | FORMERR, 0, 0, 0, 0)
    flags = 0x8400 | (query.flags & 0x7900)  # QR, AA; the opcode and RD as asked
    rrs: list[bytes] = []
    if (query.flags >> 11) & 0xF != 0:
        flags |= NOTIMP
    elif query.qclass == CLASS_IN and query.qtype == TYPE_TXT:
        for value in txt_values(records, query.labels):
            rdata = txt_rdata(value)
            rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", TYPE_TXT, CLASS_IN, 0, len(rdata)) + rdata)
    elif query.qclass == CLASS_IN and query.qtype == TYPE_SOA:
        rrs.append(b"\x04test\x00" + struct.pack("!HHIH", TYPE_SOA, CLASS_IN, 0, len(SOA_RDATA)) + SOA_RDATA)
    head = struct.pack("!HHHHHH", query.id, flags, 1, len(rrs), 0, 0) + query.question
    body = b"".join(rrs)
    if limit is not None and len(head) + len(body) > limit:
        return struct.pack("!HHHHHH", query.id, flags | 0x0200, 1, 0, 0, 0) + query.question
    return head + body


class UdpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        msg, sock = self.request
        response = answer(self.server.records, msg, UDP_LIMIT)  # type: ignore[attr-defined]
        if response is not None:
            sock.sendto(response, self.client_address)


class TcpHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while True:
                length = self.read(2)
                if length is None:
                    return
                msg = self.read(struct.unpack("!H", length)[0])
                if msg is None:
                    return
                response = answer(self.server.records, msg, None)  # type: ignore[attr-defined]
                if response is None:
                    return
                self.request.sendall(struct.pack("!H", len(response)) + response)
        except OSError:  # timeout or reset: the client is gone
            return

    def read(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="UDP and TCP port")
    parser.add_argument("--records", type=Path, required=True, help="directory of record directories")
    args = parser.parse_args()

    family = socket.AF_INET6 if ":" in args.listen else socket.AF_INET
    udp_class = type("Udp", (socketserver.ThreadingUDPServer,), {"address_family": family})
    tcp_class = type(
        "Tcp",
        (socketserver.ThreadingTCPServer,),
        {"address_family": family, "allow_reuse_address": True, "daemon_threads": True},
    )
    servers = [udp_class((args.listen, args.port), UdpHandler), tcp_class((args.listen, args.port), TcpHandler)]
    for server in servers:
        server.records = args.records  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    while not stop.wait(1):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
