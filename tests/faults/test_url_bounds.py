"""The HTTP fetcher (transforms/core/fetch.py) against a hostile local server: every way a server can make a
download unbounded (size, time, redirects, schemes, compression) ends as a load reject with its reason,
quickly; and one build whose images are served over HTTP accounts for every image."""
from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time

import pytest

from configs.schema import FetchConfig
from faults.kit import CocoSet, assert_accounting, build, encode, outcomes, scene
from transforms.core.fetch import FetchError, fetch_url, read_uri

JPG = encode(scene())
MB = 1 << 20
HITS: dict[str, int] = {}


def _gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (64 * MB), 9)  # ~64 KB on the wire


ROUTES = {  # path -> (status, headers, body or a generator of body chunks)
    "/ok.jpg": (200, {"Content-Type": "image/jpeg"}, JPG),
    "/declared-huge": (200, {"Content-Type": "image/jpeg", "Content-Length": str(64 * MB)}, b""),
    "/chunked-huge": (200, {"Content-Type": "image/jpeg"}, lambda: (b"\0" * MB for _ in range(64))),
    "/gzip-bomb": (200, {"Content-Type": "image/jpeg", "Content-Encoding": "gzip"}, _gzip_bomb()),
    "/silent": (200, {"Content-Type": "image/jpeg"}, lambda: (time.sleep(3), iter([JPG]))[1]),
    "/drip": (200, {"Content-Type": "image/jpeg"}, lambda: ((time.sleep(0.2), b"\xff")[1] for _ in range(12))),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
    "/to-ftp": (302, {"Location": "ftp://127.0.0.1/x.jpg"}, b""),
    "/to-ok": (301, {"Location": "/ok.jpg"}, b""),
    "/no-location": (302, {}, b""),
    "/page.jpg": (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>404</html>"),
    "/gone.jpg": (404, {}, b""),
    "/broken.jpg": (500, {}, b""),
    "/noai.jpg": (200, {"Content-Type": "image/jpeg", "X-Robots-Tag": "noai"}, JPG),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's name
        HITS[self.path] = HITS.get(self.path, 0) + 1
        status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        chunks = body() if callable(body) else None
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if chunks is None:
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hanging up mid-body is what half of these routes are for


@pytest.fixture(scope="module")
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


FAST = FetchConfig(connect_timeout=1.0, read_timeout=0.5, total_timeout=1.5, max_bytes=4 * MB,
                   max_redirects=3, retries=2, backoff=0.05, allow_private_addresses=True)  # server on loopback


@pytest.mark.parametrize("path, reason", [
    ("/declared-huge", "too_large"),
    ("/chunked-huge", "too_large"),
    ("/gzip-bomb", "too_large"),
    ("/silent", "timeout"),
    ("/loop", "too_many_redirects"),
    ("/to-file", "bad_scheme"),
    ("/to-ftp", "bad_scheme"),
    ("/no-location", "http_302"),
    ("/page.jpg", "not_an_image"),
    ("/gone.jpg", "http_404"),
    ("/broken.jpg", "http_500"),
    ("/noai.jpg", "opted_out"),
])
def test_a_hostile_server_ends_in_a_reason_within_the_bounds(server, path, reason):
    start = time.monotonic()
    with pytest.raises(FetchError) as e:
        fetch_url(server + path, FAST)
    assert e.value.reason == reason, e.value
    assert time.monotonic() - start < FAST.total_timeout + 1.0


def test_a_dripping_server_is_cut_at_the_total_timeout(server):
    cfg = FetchConfig(read_timeout=0.5, total_timeout=0.6, retries=0, allow_private_addresses=True)
    start = time.monotonic()
    with pytest.raises(FetchError) as e:
        fetch_url(server + "/drip", cfg)  # 12 bytes over 2.4 s
    assert e.value.reason == "timeout" and time.monotonic() - start < cfg.total_timeout + 1.0


def test_a_server_error_is_retried_and_a_client_error_is_not(server):
    HITS.clear()
    for path in ("/broken.jpg", "/gone.jpg"):
        with pytest.raises(FetchError):
            fetch_url(server + path, FAST)
    assert HITS == {"/broken.jpg": FAST.retries + 1, "/gone.jpg": 1}


def test_a_redirect_within_bounds_is_followed(server):
    assert fetch_url(server + "/to-ok", FAST) == JPG


def test_a_refused_connection_is_a_reason_not_a_hang():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(FetchError) as e:
            fetch_url(f"http://127.0.0.1:{port}/x.jpg", FAST)
    assert e.value.reason == "connection_error"


@pytest.mark.parametrize("uri", ["ftp://127.0.0.1/x.jpg", "gopher://127.0.0.1/x", "s4://bucket/x.jpg"])
def test_uris_of_other_schemes_are_refused(uri):
    with pytest.raises(FetchError) as e:
        read_uri(uri, FAST)
    assert e.value.reason == "bad_scheme"


def test_a_build_over_http_accounts_for_every_image(server, tmp_path):
    coco = CocoSet(tmp_path / "in")
    names = ["ok.jpg", "page.jpg", "gone.jpg", "to-file", "declared-huge", "noai.jpg"]
    for name in names:
        coco.add(None, name)
    out = str(tmp_path / "out")
    report = build(coco, out, f"source.images={server}", "image.fetch.read_timeout=0.5",
                   "image.fetch.total_timeout=1.5", "image.fetch.max_bytes=4194304", "image.fetch.backoff=0.05",
                   "image.fetch.allow_private_addresses=true")
    assert_accounting(out, report)
    got = outcomes(out)
    assert got.pop("f-000000000001-100") == "pair"
    assert got == {"f-000000000002": "load/not_an_image", "f-000000000003": "load/http_404",
                   "f-000000000004": "load/bad_scheme", "f-000000000005": "load/too_large",
                   "f-000000000006": "load/opted_out"}
