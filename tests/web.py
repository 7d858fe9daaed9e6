"""A local HTTP server for the source tests (127.0.0.1, a free port, a thread): the demo photos and every
way a download can fail. Routes (the query string is ignored for routing, kept for per-URL state):

  /img/<name>        the demo photo <name> (image/jpeg)
  /redirect/<name>   302 to /img/<name>
  /flaky/<name>      500 on the first request of each full URL, then the photo
  /down.jpg          503 always            /missing.jpg   404
  /slow.jpg          answers after SLOW s  /huge.jpg      declares 64 MiB   /stream-huge.jpg   8 MiB, no length
  /page.html         an HTML page          /fake.jpg      HTML sent as image/jpeg
  /loop              302 to itself         /held.jpg      the first photo after HOLD s (concurrency count)
"""
from __future__ import annotations

import http.server
import os
import threading
import time
import urllib.parse

from helpers import DEMO_DATA

IMAGES = os.path.join(DEMO_DATA, "images")
NAMES = sorted(os.listdir(IMAGES))
SLOW, HOLD = 5.0, 0.2
HTML = b"<!doctype html><html><body>Not found</body></html>"


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.agents: set[str] = set()
        self.active = self.max_active = 0


def photo(name: str) -> bytes:
    with open(os.path.join(IMAGES, name), "rb") as f:
        return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes = b"", ctype: str = "image/jpeg", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        headers.setdefault("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):  # noqa: N802 - http.server's name
        s = self.state
        with s.lock:
            s.hits[self.path] = n = s.hits.get(self.path, 0) + 1
            s.agents.add(self.headers.get("User-Agent", ""))
        route, _, name = urllib.parse.urlsplit(self.path).path.lstrip("/").partition("/")
        getattr(self, "route_" + route.replace(".", "_").replace("-", "_"), self.route_missing)(name, n)

    def route_img(self, name, n):
        self.reply(200, photo(name)) if name in NAMES else self.route_missing(name, n)

    def route_redirect(self, name, n):
        self.reply(302, Location=f"/img/{name}")

    def route_flaky(self, name, n):
        self.reply(500, b"busy", "text/plain") if n == 1 else self.route_img(name, n)

    def route_down_jpg(self, name, n):
        self.reply(503, b"down", "text/plain")

    def route_missing(self, name, n):
        self.reply(404, HTML, "text/html")

    def route_slow_jpg(self, name, n):
        time.sleep(SLOW)
        self.reply(200, photo(NAMES[0]))

    def route_huge_jpg(self, name, n):
        self.reply(200, b"", Content_Length=str(64 << 20))

    def route_stream_huge_jpg(self, name, n):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for _ in range(8):
                self.wfile.write(b"\xff\xd8\xff" + b"\0" * ((1 << 20) - 3))
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route_page_html(self, name, n):
        self.reply(200, HTML, "text/html; charset=utf-8")

    def route_fake_jpg(self, name, n):
        self.reply(200, HTML, "image/jpeg")

    def route_loop(self, name, n):
        self.reply(302, Location="/loop")

    def route_held_jpg(self, name, n):
        s = self.state
        with s.lock:
            s.active += 1
            s.max_active = max(s.max_active, s.active)
        time.sleep(HOLD)
        with s.lock:
            s.active -= 1
        self.route_img(NAMES[0], n)


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client giving up mid-answer (timeouts, size limits) is what the tests provoke


class Server:
    """``with Server() as srv``: ``srv.url(path)``, ``srv.state`` (hits per full path, user agents)."""

    def __init__(self):
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = QuietServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
