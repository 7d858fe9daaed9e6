"""Requests to internal addresses (SSRF): by default the fetcher never connects to a
loopback, private, link-local, unique-local, multicast or unspecified address -- not directly, not after a
redirect, not after a DNS answer that changes between check and connect -- and the refused server sees no
request at all. ``image.fetch.allow_private_addresses: true`` opts in (an internal mirror)."""
from __future__ import annotations

import dataclasses
import http.server
import socket
import threading

import pytest

from configs.schema import ConfigError, FetchConfig, load_config
from helpers import DEMO_CONFIG
from transforms.core import addresses
from transforms.core.fetch import FetchError, fetch_url
from web import NAMES, photo

CFG = FetchConfig(connect_timeout=1.0, read_timeout=0.5, total_timeout=2.0, retries=0)


def _serve(host: str, hits: list, redirect_to: str = ""):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            if redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = photo(NAMES[0])
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def inner():
    """An 'internal' server on 127.0.0.2 and the hits it received."""
    hits: list = []
    httpd = _serve("127.0.0.2", hits)
    yield f"http://127.0.0.2:{httpd.server_port}", hits
    httpd.shutdown()


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                                "169.254.169.254", "0.0.0.0", "224.0.0.1", "::1", "fc00::1", "fd12::1",
                                "fe80::1", "::", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
                                "100.64.0.1"])
def test_internal_addresses_are_not_public(ip):
    assert not addresses.is_public(ip)


@pytest.mark.parametrize("ip", ["8.8.8.8", "93.184.216.34", "172.32.0.1", "2606:4700::1111"])
def test_public_addresses_are(ip):
    assert addresses.is_public(ip)


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost"])
def test_a_loopback_url_is_refused_before_any_request(inner, host):
    base, hits = inner
    url = base.replace("127.0.0.2", host) + "/x.jpg"
    with pytest.raises(FetchError) as e:
        fetch_url(url, CFG)
    assert e.value.reason == "private_address" and "allow_private_addresses" in e.value.detail
    assert hits == []


def test_the_opt_in_fetches_from_an_internal_mirror(inner):
    base, hits = inner
    assert fetch_url(base + "/x.jpg", dataclasses.replace(CFG, allow_private_addresses=True)) == photo(NAMES[0])
    assert hits == ["/x.jpg"]


def test_a_redirect_to_an_internal_address_is_refused(inner, monkeypatch):
    """127.0.0.1 plays a public host here; its redirect to 127.0.0.2 (internal) is checked and refused."""
    base, hits = inner
    outer_hits: list = []
    outer = _serve("127.0.0.1", outer_hits, redirect_to=base + "/secret")
    monkeypatch.setattr(addresses, "is_public", lambda ip: ip == "127.0.0.1")
    try:
        with pytest.raises(FetchError) as e:
            fetch_url(f"http://127.0.0.1:{outer.server_port}/a.jpg", CFG)
    finally:
        outer.shutdown()
    assert e.value.reason == "private_address"
    assert outer_hits == ["/a.jpg"] and hits == []


def test_the_checked_address_is_the_one_connected_to(inner, monkeypatch):
    """DNS rebinding: a name that answers 'public' once and 'internal' after. One lookup per connection,
    so the connection goes where the check looked."""
    base, hits = inner
    port = int(base.rsplit(":", 1)[1])
    public_hits: list = []
    public = _serve("127.0.0.1", public_hits)
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    real = socket.getaddrinfo
    lookups: list = []

    def rebinding(host, *args, **kw):
        if host == "rebind.test":
            lookups.append(host)
            return real(next(answers), *args, **kw)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(addresses, "is_public", lambda ip: ip == "127.0.0.1")
    try:
        assert fetch_url(f"http://rebind.test:{public.server_port}/a.jpg", CFG) == photo(NAMES[0])
        with pytest.raises(FetchError) as e:       # a new connection: a new lookup, checked again
            fetch_url(f"http://rebind.test:{port}/b.jpg", CFG)
    finally:
        public.shutdown()
    assert e.value.reason == "private_address"
    assert public_hits == ["/a.jpg"] and hits == [] and len(lookups) == 2


def test_the_key_is_named_exactly_and_off_by_default():
    assert load_config(DEMO_CONFIG).image.fetch.allow_private_addresses is False
    cfg = load_config(DEMO_CONFIG, ["image.fetch.allow_private_addresses=true"])
    assert cfg.image.fetch.allow_private_addresses is True
    with pytest.raises(ConfigError, match="allow_private_address"):
        load_config(DEMO_CONFIG, ["image.fetch.allow_private_address=true"])
