"""Read an image's bytes from wherever its uri points: http(s) through a bounded client, a member of a tar
shard, a file:// URL, or any Beam FileSystems path.

The HTTP client (urllib3) bounds everything a remote server could make unbounded: connect and read
timeouts and a total deadline per image, the body size (streamed; reading stops at the limit), the
redirects followed, the retries (5xx and timeouts only, exponential backoff) and the requests at once per
worker process (a semaphore). Every failure raises ``FetchError`` whose ``reason`` is the reject reason:
``http_<code>``, ``timeout``, ``too_large``, ``not_an_image``, ``bad_scheme``, ``too_many_redirects``,
``connection_error``, ``opted_out`` (X-Robots-Tag noai), ``private_address`` (the host resolves to a loopback,
private, link-local, unique-local, multicast or unspecified address: transforms/core/addresses.py; checked on
the address connected to, every redirect too, unless ``image.fetch.allow_private_addresses``), and for tar
members ``file_missing``/``read_error``. Every other read (local file, tar member, FileSystems path) is bounded by
``max_bytes`` too (``too_large``) and reads regular files only: a FIFO, device or socket is ``not_a_file``.
"""
from __future__ import annotations

import os
import re
import stat
import threading
import time
import urllib.parse
import urllib.request

import urllib3
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from configs.schema import FetchConfig
from transforms.core import addresses, fileio
from transforms.core.records import StageError

REDIRECTS = (301, 302, 303, 307, 308)
_MEMBER = re.compile(r"^(?P<path>.+)#tar:(?P<offset>\d+)\+(?P<size>\d+)$")
_TEXTUAL = ("html", "xml", "json", "javascript", "css")
_LOCK = threading.Lock()
_POOLS: dict[tuple, urllib3.PoolManager] = {}          # per worker process, per (user agent, concurrency)
_SLOTS: dict[int, threading.BoundedSemaphore] = {}     # per worker process, per concurrency


class FetchError(StageError):
    """A per-image failure to get the bytes: a StageError that also says whether to try again."""

    def __init__(self, reason: str, detail: str = "", retry: bool = False):
        super().__init__(reason, detail)
        self.retry = retry


def member_uri(path: str, offset: int, size: int) -> str:
    """The uri of ``size`` bytes at ``offset`` of the (uncompressed) tar at ``path``."""
    return f"{path}#tar:{offset}+{size}"


def is_http(uri: str) -> bool:
    return uri[:8].lower().startswith(("http://", "https://"))


def file_url_path(uri: str) -> str:
    """``file:///a/b%20c.jpg`` -> ``/a/b c.jpg``; any other uri unchanged."""
    if uri[:7].lower() != "file://":
        return uri
    return urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)


def read_uri(uri: str, cfg: FetchConfig) -> bytes:
    """The bytes ``uri`` points at; any failure raises FetchError with the reject reason."""
    if is_http(uri):
        return fetch_url(uri, cfg)
    m = _MEMBER.match(uri)
    if m:
        if int(m["size"]) > cfg.max_bytes:
            raise FetchError("too_large", f"tar member of {m['size']} bytes > image.fetch.max_bytes={cfg.max_bytes}")
        return read_member(m["path"], int(m["offset"]), int(m["size"]))
    scheme = urllib.parse.urlsplit(uri).scheme
    if len(scheme) > 1 and "://" not in uri:     # data:, mailto:, javascript: (not a C: drive)
        raise FetchError("bad_scheme", f"{scheme}: only http(s), file:// and Beam FileSystems paths are read")
    path = file_url_path(uri)
    try:
        FileSystems.get_filesystem(path)
    except ValueError:
        raise FetchError("bad_scheme", f"{path[:60]}: not http(s), file:// or a Beam FileSystems path "
                                       f"(is the filesystem's extra installed?)") from None
    return read_path(path, cfg.max_bytes)


def read_path(path: str, max_bytes: int) -> bytes:
    """The bytes of a local or FileSystems file, at most ``max_bytes`` (more is ``too_large``); a local path
    must be a regular file (checked before opening: a FIFO would block, /dev/zero never ends); a folder stays ``read_error``."""
    if "://" not in path:
        try:
            st = os.stat(path)
        except OSError as e:
            reason = "file_missing" if isinstance(e, FileNotFoundError) else "read_error"
            raise FetchError(reason, f"{path}: {type(e).__name__}") from None
        if stat.S_ISDIR(st.st_mode):
            raise FetchError("read_error", f"{path}: IsADirectoryError")
        if not stat.S_ISREG(st.st_mode):
            raise FetchError("not_a_file", f"{path}: not a regular file (a FIFO, device or socket)")
        if st.st_size > max_bytes:
            raise FetchError("too_large", f"{path}: {st.st_size} bytes > image.fetch.max_bytes={max_bytes}")
    try:
        with fileio.open_read(path) as f:
            data = f.read(max_bytes + 1)
    except Exception as e:  # noqa: BLE001 - any filesystem's "not there" or "cannot read"
        reason = "file_missing" if not fileio.exists(path) else "read_error"
        raise FetchError(reason, f"{path}: {type(e).__name__}") from None
    if len(data) > max_bytes:
        raise FetchError("too_large", f"{path}: more than image.fetch.max_bytes={max_bytes} bytes")
    return data


def read_member(path: str, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset`` of a tar file on any Beam FileSystems path (seeks; reads nothing else)."""
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            f.seek(offset)
            data = f.read(size)
    except Exception as e:  # noqa: BLE001 - any filesystem's "not there" or "cannot read"
        reason = "file_missing" if not fileio.exists(path) else "read_error"
        raise FetchError(reason, f"{path}: {type(e).__name__}") from None
    if len(data) != size:
        raise FetchError("read_error", f"{path}: {len(data)} of {size} bytes at offset {offset} (truncated tar)")
    return data


def _pool(cfg: FetchConfig) -> urllib3.PoolManager:
    key = (cfg.user_agent, cfg.concurrency, cfg.allow_private_addresses)
    with _LOCK:
        if key not in _POOLS:
            pool = urllib3.PoolManager(num_pools=64, maxsize=cfg.concurrency, block=False,
                                       headers={"User-Agent": cfg.user_agent, "Accept": "image/*,*/*;q=0.5"})
            if not cfg.allow_private_addresses:
                pool.pool_classes_by_scheme = addresses.POOL_CLASSES
            _POOLS[key] = pool
        return _POOLS[key]


def _slots(cfg: FetchConfig) -> threading.BoundedSemaphore:
    with _LOCK:
        return _SLOTS.setdefault(cfg.concurrency, threading.BoundedSemaphore(cfg.concurrency))


def check_scheme(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("bad_scheme", f"{scheme or 'no scheme'}: only http and https are fetched")


def check_headers(headers, cfg: FetchConfig) -> None:
    """Refuse from the headers alone: opted out of AI use, a textual type, a declared length over the limit."""
    robots = ",".join(headers.getlist("X-Robots-Tag")).lower()
    if cfg.respect_noai and re.search(r"\bno(image)?ai\b", robots):
        raise FetchError("opted_out", f"X-Robots-Tag: {robots[:100]}")
    ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype.startswith("text/") or any(t in ctype for t in _TEXTUAL):
        raise FetchError("not_an_image", f"Content-Type: {ctype}")
    length = headers.get("Content-Length", "")
    if length.isdigit() and int(length) > cfg.max_bytes:
        raise FetchError("too_large", f"Content-Length {length} > image.fetch.max_bytes={cfg.max_bytes}")


def read_body(resp, cfg: FetchConfig, deadline: float) -> bytes:
    """The (decoded) body, streamed; stops at ``max_bytes`` (too_large) or at the deadline (timeout).
    ``read1`` returns whatever one receive brought, so a server dripping bytes meets the deadline too."""
    chunks, total = [], 0
    while chunk := resp.read1(64 * 1024):
        total += len(chunk)
        if total > cfg.max_bytes:
            raise FetchError("too_large", f"body > image.fetch.max_bytes={cfg.max_bytes}")
        if time.monotonic() > deadline:
            raise FetchError("timeout", f"image.fetch.total_timeout={cfg.total_timeout}s reached mid-body", retry=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _request(url: str, cfg: FetchConfig, deadline: float):
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("timeout", f"image.fetch.total_timeout={cfg.total_timeout}s reached", retry=True)
    timeout = urllib3.Timeout(connect=min(cfg.connect_timeout, left), read=min(cfg.read_timeout, left))
    try:
        return _pool(cfg).request("GET", url, redirect=False, retries=False, preload_content=False,
                                  timeout=timeout)
    except addresses.PrivateAddress as e:
        raise FetchError("private_address", e.detail[:300]) from None
    except urllib3.exceptions.NewConnectionError as e:   # refused, unknown host (a TimeoutError subclass)
        raise FetchError("connection_error", f"{type(e).__name__}: {str(e)[:200]}") from None
    except urllib3.exceptions.TimeoutError as e:
        raise FetchError("timeout", type(e).__name__, retry=True) from None
    except urllib3.exceptions.LocationValueError as e:
        raise FetchError("bad_url", str(e)[:200]) from None
    except urllib3.exceptions.HTTPError as e:
        raise FetchError("connection_error", f"{type(e).__name__}: {str(e)[:200]}") from None


def _response_body(resp, url: str, cfg: FetchConfig, deadline: float) -> bytes | str:
    """The body of a 200, or the next url of a redirect."""
    if resp.status in REDIRECTS:
        location = resp.headers.get("Location")
        if not location:
            raise FetchError(f"http_{resp.status}", "redirect without a Location header")
        return urllib.parse.urljoin(url, location)
    if resp.status != 200:
        raise FetchError(f"http_{resp.status}", url[:200], retry=resp.status >= 500)
    check_headers(resp.headers, cfg)
    try:
        return read_body(resp, cfg, deadline)
    except urllib3.exceptions.TimeoutError as e:
        raise FetchError("timeout", f"{type(e).__name__} mid-body", retry=True) from None
    except urllib3.exceptions.HTTPError as e:
        raise FetchError("connection_error", f"{type(e).__name__} mid-body: {str(e)[:200]}") from None


def get_once(url: str, cfg: FetchConfig, deadline: float) -> bytes:
    """One attempt: GET ``url``, following at most ``max_redirects`` redirects (each one http or https)."""
    for _ in range(cfg.max_redirects + 1):
        check_scheme(url)
        resp = _request(url, cfg, deadline)
        try:
            result = _response_body(resp, url, cfg, deadline)
        finally:
            resp.close()            # a body left unread must not go back to the pool
            resp.release_conn()
        if isinstance(result, bytes):
            return result
        url = result
    raise FetchError("too_many_redirects", f"more than image.fetch.max_redirects={cfg.max_redirects}")


def fetch_url(url: str, cfg: FetchConfig) -> bytes:
    """GET an http(s) image within every bound of ``cfg``; retries 5xx and timeouts with backoff."""
    check_scheme(url)
    deadline = time.monotonic() + cfg.total_timeout
    for attempt in range(cfg.retries + 1):
        try:
            with _slots(cfg):
                return get_once(url, cfg, deadline)
        except FetchError as e:
            pause = cfg.backoff * 2**attempt
            if not e.retry or attempt == cfg.retries or time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")
