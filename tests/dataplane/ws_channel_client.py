#!/usr/bin/env python3
"""A WebSocket client of the Kubernetes channel protocols (exec, attach,
port-forward), the standard library only: RFC 6455 over TLS with a client
certificate, the subprotocols offered in the order given.

  ws_channel_client.py URL --ca F --cert F --key F [--protocols P1,P2 | --no-protocol]
      [--send CH:TEXT]... [--close CH]... [--wait-for CH:TEXT] [--timeout S]

Messages go out in the negotiated encoding (base64 protocols: text, the
channel an ASCII digit, the data base64). --send writes TEXT on channel
CH once the server spoke first (its first message), in order; --close
sends v5's CLOSE [255, CH]. Reads until the server closes (or, with
--wait-for, until channel CH has shown TEXT). Prints one JSON object:
protocol (null when the server named none), http status, the channels'
data (text, lossy) and each channel's first message (hex)."""
import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def connect(url, args):
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    raw = socket.create_connection((u.hostname, u.port), timeout=args.timeout)
    s = ctx.wrap_socket(raw, server_hostname=u.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    head = [f"GET {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Upgrade: websocket",
            "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if args.protocols:
        head.append("Sec-WebSocket-Protocol: " + ", ".join(args.protocols.split(",")))
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    resp, _, rest = buf.partition(b"\r\n\r\n")
    lines = resp.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    if status == 101:
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if hdr.get("sec-websocket-accept") != want:
            sys.exit("bad Sec-WebSocket-Accept")
    return s, status, hdr, rest, resp.decode(errors="replace")


def send_frame(s, op, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", 0x80 | op, 0x80 | n)
    elif n < 65536:
        h = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    else:
        h = struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n)
    s.sendall(h + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload)))


class Reader:
    def __init__(self, s, rest):
        self.s, self.buf = s, rest

    def need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self):
        """(opcode, payload) of the next whole message or control frame."""
        data, op0 = b"", None
        while True:
            b0, b1 = self.need(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.need(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.need(8))[0]
            if b1 & 0x80:
                sys.exit("the server masked a frame")
            p = self.need(n)
            op = b0 & 0x0F
            if op >= 8:
                return op, p
            op0 = op if op0 is None else op0
            data += p
            if b0 & 0x80:
                return op0, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--protocols", default="")
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("--close", action="append", default=[])
    ap.add_argument("--wait-for")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()

    s, status, hdr, rest, head = connect(args.url, args)
    proto = hdr.get("sec-websocket-protocol")
    out = {"status": status, "protocol": proto, "channels": {}, "first": {}, "text": None}
    if status != 101:
        out["head"] = head
        print(json.dumps(out))
        return
    b64 = proto is not None and "base64" in proto
    rd = Reader(s, rest)
    pending = list(args.send)
    wait_ch, _, wait_text = (args.wait_for or "").partition(":")
    deadline = time.monotonic() + args.timeout

    def put(ch, data):
        if b64:
            send_frame(s, 1, str(ch).encode() + base64.b64encode(data))
        else:
            send_frame(s, 2, bytes([ch]) + data)

    try:
        while time.monotonic() < deadline:
            op, p = rd.message()
            if op == 8:
                try:
                    send_frame(s, 8, p[:2])
                except OSError:
                    pass  # it closed the connection already
                break
            if op == 9:
                send_frame(s, 10, p)
                continue
            if op not in (1, 2) or not p:
                continue
            out["text"] = op == 1 if out["text"] is None else out["text"]
            if b64:
                ch, data = p[0] - ord("0"), base64.b64decode(p[1:])
            else:
                ch, data = p[0], p[1:]
            key = str(ch)
            if key not in out["first"]:
                out["first"][key] = data.hex()
            out["channels"][key] = out["channels"].get(key, "") + data.decode(errors="replace")
            # The server spoke: what the client says goes out now.
            for item in pending:
                c, _, text = item.partition(":")
                put(int(c), text.encode().decode("unicode_escape").encode("latin-1"))
            pending = []
            for c in args.close:
                put(255, bytes([int(c)]))
            args.close = []
            if wait_ch and wait_text in out["channels"].get(wait_ch, ""):
                send_frame(s, 8, b"\x03\xe8")
                break
    except (EOFError, OSError) as e:
        out["end"] = type(e).__name__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
