"""The ``image`` section: how an input image is loaded and resized, and ``image.fetch``, the bounded
HTTP client for http(s) uris.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from configs.schema.base import ConfigError, Section, between, one_of


@dataclass(frozen=True)
class FetchConfig(Section):
    """The bounded HTTP client the load stage uses for http(s) uris (transforms/core/fetch.py)."""
    connect_timeout: float = between(0.001, 3600.0, default=5.0)   # s to open a connection
    read_timeout: float = between(0.001, 3600.0, default=10.0)     # s the server may stay silent
    total_timeout: float = between(0.001, 3600.0, default=60.0)    # s for one image, redirects, retries and backoff
    max_bytes: int = between(1, 2**34, default=32 * 2**20)   # larger bodies are too_large (reading stops at the limit)
    max_redirects: int = between(0, 30, default=5)   # redirects followed per image
    retries: int = between(0, 10, default=2)   # extra attempts after a 5xx or a timeout (not a 4xx, not a refusal)
    backoff: float = between(0.0, 60.0, default=0.5)   # s before the first retry, doubled for each next one
    concurrency: int = between(1, 1024, default=16)    # requests at once per worker process
    user_agent: str = "inpaint-pairs/0.1 (training-pair builder; Apache Beam)"   # printable ASCII naming the project
    respect_noai: bool = True       # X-Robots-Tag noai / noimageai -> reject opted_out
    allow_private_addresses: bool = False   # fetch from loopback/private/link-local hosts; off: load/private_address

    def __post_init__(self):
        super().__post_init__()
        if not self.user_agent.strip() or not self.user_agent.isprintable() or not self.user_agent.isascii():
            raise ConfigError(f"{self._KEY}.user_agent: must be printable ASCII on one line, naming the project")


@dataclass(frozen=True)
class ImageConfig(Section):
    """How an input image is loaded and resized; smaller inputs and decompression bombs are rejects."""
    size: int = between(16, 8192, default=512)   # output side (short side for short_side, both for short_side_crop)
    resize: str = one_of("short_side_crop", "short_side", "none",
                         default="short_side_crop")   # PIPE's release: short side to size, centre crop to size x size
    min_side: int = between(1, 8192, default=64)            # reject smaller inputs
    max_pixels: int = between(1, 10**10, default=89_478_485)   # reject larger (decompression bombs); Pillow's limit
    fetch: FetchConfig = field(default_factory=FetchConfig)   # http(s) uris: the bounded download
