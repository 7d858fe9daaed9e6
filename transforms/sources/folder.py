"""``folder``: a tree of images under ``source.images``, each with an optional sidecar caption.

Every file with an image extension (any depth, sorted by relative path; hidden files skipped) is one
image; ``a/b.jpg`` takes its caption from ``a/b.txt`` when that exists. Keys are ``<name>-<relative path
without extension>`` with separators made safe (``a/b.jpg`` -> ``a_b``); two paths that end as one key keep
their places, the second with reject 'key_collision'.
"""
from __future__ import annotations

import posixpath

from apache_beam.io.filesystems import FileSystems

from configs.schema import SourceConfig
from transforms.core import fileio
from transforms.core.records import PlanEntry
from transforms.sources.common import IMAGE_EXTS, caption_entry, ext_of, finish, match_paths, require_path


def relative(path: str, root: str) -> str:
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else posixpath.basename(path)


def read_caption(path: str) -> str:
    """A sidecar caption: the text file's content, whitespace collapsed ('' if it cannot be read)."""
    try:
        return " ".join(fileio.read_bytes(path).decode("utf-8", "replace").split())
    except Exception:  # noqa: BLE001 - a caption that cannot be read is an image without caption
        return ""


def plan_folder(cfg: SourceConfig) -> list[PlanEntry]:
    """Images of the tree at ``source.images`` -> plan entries, sorted by relative path."""
    require_path("source.images", cfg.images, folder=True)
    root = cfg.images.rstrip("/") or "/"
    files = [p for p in match_paths(FileSystems.join(root, "**"))
             if not any(part.startswith(".") for part in relative(p, root).split("/"))]
    texts = {relative(p, root) for p in files if ext_of(p) == "txt"}
    images = sorted((relative(p, root), p) for p in files if ext_of(p) in IMAGE_EXTS)
    if cfg.limit:
        images = images[: cfg.limit]
    entries = []
    for rel, path in images:
        stem = posixpath.splitext(rel)[0]
        sidecar = stem + ".txt"
        caption = read_caption(FileSystems.join(root, sidecar)) if sidecar in texts else ""
        entries.append(caption_entry(cfg, (stem,), path, rel, caption, {"file_name": rel}))
    return finish(entries, cfg)
