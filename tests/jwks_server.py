#!/usr/bin/python3
"""jwks_server.py - a local HTTPS JWKS issuer for the tests.

Serves DIR/jwks.json on 127.0.0.1:PORT with the given certificate, counts
requests in DIR/count, and misbehaves as DIR/mode says (read on every
request, so a test can change it while the server runs):

  ok          200 with the key set (the default)
  slow:SECS   the same after SECS seconds
  hang        accept and never answer
  redirect    302 to another https URL on this server
  big         200, a 1 MiB chunked body without Content-Length
  bigcl       200, a 1 MiB body with Content-Length
  malformed   200, not JSON
  empty       200, {"keys": []}
  status500   500 with the key set as body

Writes DIR/ready once listening. Test code only; loopback only.
"""
import argparse
import http.server
import os
import ssl
import threading
import time

LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def count(self):
        path = os.path.join(self.server.dir, "count")
        with LOCK:
            try:
                with open(path) as f:
                    n = int(f.read() or "0")
            except FileNotFoundError:
                n = 0
            with open(path + ".tmp", "w") as f:
                f.write(str(n + 1))
            os.replace(path + ".tmp", path)

    def mode(self):
        try:
            with open(os.path.join(self.server.dir, "mode")) as f:
                return f.read().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    def send(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.count()
        mode = self.mode()
        with open(os.path.join(self.server.dir, "jwks.json"), "rb") as f:
            keys = f.read()
        if mode.startswith("slow:"):
            time.sleep(float(mode[5:]))
            mode = "ok"
        if mode == "hang":
            time.sleep(3600)
        elif mode == "redirect":
            self.send(302, b"", [("Location", "https://127.0.0.1:%d/other"
                                  % self.server.server_address[1])])
        elif mode == "big":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            for _ in range(16):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif mode == "bigcl":
            self.send(200, b" " * (1024 * 1024))
        elif mode == "malformed":
            self.send(200, b"this is not a key set {")
        elif mode == "empty":
            self.send(200, b'{"keys": []}')
        elif mode == "status500":
            self.send(500, keys)
        else:
            self.send(200, keys)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.dir = a.dir
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    # --port 0 lets the kernel choose: a fixed port can be taken by a
    # client socket still in TIME_WAIT (libpq does not set SO_REUSEADDR).
    with open(os.path.join(a.dir, "port"), "w") as f:
        f.write(str(srv.server_address[1]))
    with open(os.path.join(a.dir, "ready"), "w") as f:
        f.write(str(os.getpid()))
    srv.serve_forever()


if __name__ == "__main__":
    main()
