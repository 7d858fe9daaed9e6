"""The ``image`` section: how an input image is loaded and resized, and ``image.fetch``, the bounded
HTTP client for http(s) uris.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from configs.schema.base import ConfigError, _choice, _range


@dataclass(frozen=True)
class FetchConfig:
    """The bounded HTTP client the load stage uses for http(s) uris (transforms/core/fetch.py)."""
    connect_timeout: float = 5.0    # s to open a connection
    read_timeout: float = 10.0      # s the server may stay silent
    total_timeout: float = 60.0     # s for one image, redirects, retries and backoff included
    max_bytes: int = 32 * 2**20     # larger bodies are too_large (streamed: reading stops at the limit)
    max_redirects: int = 5
    retries: int = 2                # extra attempts after a 5xx or a timeout (never after a 4xx or a refused connection)
    backoff: float = 0.5            # s before the first retry, doubled for each next one
    concurrency: int = 16           # requests at once per worker process
    user_agent: str = "inpaint-pairs/0.1 (training-pair builder; Apache Beam)"
    respect_noai: bool = True       # X-Robots-Tag noai / noimageai -> reject opted_out
    allow_private_addresses: bool = False   # fetch from loopback/private/link-local hosts (an internal mirror)

    def __post_init__(self):
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            _range(f"image.fetch.{name}", getattr(self, name), 0.001, 3600.0)
        _range("image.fetch.max_bytes", self.max_bytes, 1, 2**34)
        _range("image.fetch.max_redirects", self.max_redirects, 0, 30)
        _range("image.fetch.retries", self.retries, 0, 10)
        _range("image.fetch.backoff", self.backoff, 0.0, 60.0)
        _range("image.fetch.concurrency", self.concurrency, 1, 1024)
        if not self.user_agent.strip() or not self.user_agent.isprintable() or not self.user_agent.isascii():
            raise ConfigError("image.fetch.user_agent: must be printable ASCII on one line, naming the project")


@dataclass(frozen=True)
class ImageConfig:
    size: int = 512                 # output side (short side for short_side, both for short_side_crop)
    resize: str = "short_side_crop"  # PIPE's release: short side to size, centre crop to size x size
    min_side: int = 64              # reject smaller inputs
    max_pixels: int = 89_478_485    # reject larger inputs (decompression bombs); Pillow's own limit
    fetch: FetchConfig = field(default_factory=FetchConfig)   # http(s) uris: the bounded download

    def __post_init__(self):
        _choice("image.resize", self.resize, ("short_side_crop", "short_side", "none"))
        _range("image.size", self.size, 16, 8192)
        _range("image.min_side", self.min_side, 1, 8192)
        _range("image.max_pixels", self.max_pixels, 1, 10**10)
