"""Refuse requests to internal addresses (SSRF): the fetcher's urllib3 pools connect only to public addresses.

The check runs on the address actually connected to: the connection resolves the host once, checks every
address it resolves to, and connects to that checked address (never a second DNS lookup between check and
connect, so DNS rebinding cannot slip past). TLS keeps the host name for SNI and certificate checks. Each
redirect opens its own connection, so every hop is checked.

Refused: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 --
cloud metadata --, fe80::/10), multicast, unspecified (0.0.0.0, ::), reserved, and IPv4-mapped IPv6 forms of
all of these.
"""
from __future__ import annotations

import ipaddress
import socket

from urllib3 import connection as u3conn
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError


class PrivateAddress(Exception):
    """A host resolved to an address the fetcher does not connect to; ``detail`` names host and address."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def is_public(ip: str) -> bool:
    """True for a global unicast address; False for loopback, private, link-local, unique-local, multicast,
    unspecified or reserved ones (IPv4-mapped IPv6 is judged by its IPv4 address)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    bad = (addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
           or addr.is_unspecified or addr.is_reserved or getattr(addr, "is_site_local", False))
    return addr.is_global and not bad


def public_addresses(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` results for ``host`` (TCP), all of them public; raises PrivateAddress if any is not."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        if not is_public(sockaddr[0]):
            raise PrivateAddress(f"{host} resolves to {sockaddr[0]}, an internal address "
                                 f"(set image.fetch.allow_private_addresses: true for an internal mirror)")
    return infos


def _connect_checked(conn) -> socket.socket:
    """Resolve ``conn``'s host once, check every address, connect to the first that answers."""
    try:
        infos = public_addresses(conn._dns_host, conn.port)
    except socket.gaierror as e:
        raise NameResolutionError(conn.host, conn, e) from e
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for opt in conn.socket_options or ():
                sock.setsockopt(*opt)
            sock.settimeout(conn.timeout if isinstance(conn.timeout, (int, float)) else None)
            sock.connect(sockaddr)
            return sock
        except socket.timeout as e:
            sock.close()
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from e
        except OSError as e:
            sock.close()
            error = e
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


class PublicHTTPConnection(u3conn.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class PublicHTTPSConnection(u3conn.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_checked(self)


class PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


POOL_CLASSES = {"http": PublicHTTPConnectionPool, "https": PublicHTTPSConnectionPool}
