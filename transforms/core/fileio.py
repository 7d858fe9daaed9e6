"""Small I/O helpers over Beam's FileSystems, so local paths, gs:// and s3:// work the same.

Every final file is written under a temporary name in the same folder, then renamed: no partial file
ever carries a final name. Temporary names start with '.tmp-' and are the only files this project removes.
"""
from __future__ import annotations

import functools
import json
import os
import posixpath
import re
import threading
import uuid
from typing import Callable

from apache_beam.io.filesystems import FileSystems

TMP_PREFIX = ".tmp-"
_OPTIONS: list = []   # the PipelineOptions of use_options (create_exclusive builds its S3 client from them)


def use_options(options) -> None:
    """Hand Beam ``PipelineOptions`` (``--s3_endpoint_url``, ``--s3_access_key_id``, GCS flags, ...) to this
    process's FileSystems, as Beam's workers do with theirs; s3:// needs them (Beam raises "Must provide
    one of client or options" without). Credentials not given fall back to the AWS/GCP environment."""
    FileSystems.set_options(options)
    _OPTIONS[:] = [options]


class _SharedS3Clients:
    """Stands in for the ``boto3`` module inside Beam's S3 client wrapper, whose every file operation runs
    ``boto3.session.Session().client(**settings)``: a new session loads botocore's service models again
    (~0.3 s of JSON each; a 7-image demo build to S3 made 156 of them, 48 s of its 65 s). Here each distinct
    ``settings`` gets one client per process. botocore clients are thread-safe; Beam's wrapper around the
    client, with its download state, is still made per operation."""

    def __init__(self, boto3):
        self._boto3, self._clients, self._lock = boto3, {}, threading.Lock()
        self.session = self                       # boto3.session.Session() -> self

    def Session(self):  # noqa: N802 - boto3's name
        return self

    def client(self, **settings):
        key = tuple(sorted(settings.items()))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._boto3.session.Session().client(**settings)
            return self._clients[key]

    def __getattr__(self, name):
        return getattr(self._boto3, name)


def _share_s3_clients() -> _SharedS3Clients | None:
    """Install ``_SharedS3Clients`` in Beam's S3 client module once per process (None without boto3)."""
    try:
        from apache_beam.io.aws.clients.s3 import boto3_client
    except ImportError:
        return None
    if boto3_client.boto3 is None:
        return None
    if not isinstance(boto3_client.boto3, _SharedS3Clients):
        boto3_client.boto3 = _SharedS3Clients(boto3_client.boto3)
    return boto3_client.boto3


def _s3_options():
    from apache_beam.options.pipeline_options import PipelineOptions, S3Options
    return (_OPTIONS[0] if _OPTIONS else PipelineOptions([])).view_as(S3Options)


def _s3_client(**more):
    o = _s3_options()
    return _share_s3_clients().client(
        service_name="s3", endpoint_url=o.s3_endpoint_url, region_name=o.s3_region_name,
        aws_access_key_id=o.s3_access_key_id, aws_secret_access_key=o.s3_secret_access_key,
        aws_session_token=o.s3_session_token, verify=o.s3_verify, **more)


@functools.cache
def _quick():
    """botocore settings of the probe: one attempt, short timeouts (one object, so one shared client)."""
    from botocore.config import Config
    return Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15)


def s3_problem(path: str) -> str | None:
    """What keeps ``path`` (s3://bucket/...) out of reach, from one quick request (one attempt, 5 s to
    connect): the endpoint does not answer, no credentials, no such bucket. None when the bucket answers,
    or only refuses to be listed (reading its objects may still be allowed). Beam's own retries would take
    minutes to say the same."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    bucket = path[len("s3://"):].split("/", 1)[0]
    endpoint = _s3_options().s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS's default endpoint"
    try:
        _s3_client(config=_quick()).head_bucket(Bucket=bucket)
    except NoCredentialsError:
        return ("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or pass "
                "--s3_access_key_id and --s3_secret_access_key")
    except ClientError as e:
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"no bucket {bucket!r} at {endpoint}" if status == 404 else None
    except BotoCoreError as e:   # connection refused, timeouts, a malformed endpoint
        return f"the S3 endpoint {endpoint} does not answer ({type(e).__name__}: {e})"[:400]
    return None


def create_exclusive(path: str, data: bytes) -> bool:
    """Create ``path`` holding ``data`` only if no file has that name: True if this call created it, False
    if it existed. Local files: O_CREAT | O_EXCL, fsynced. s3://: a conditional put (``If-None-Match: *``,
    which S3 and S3-compatible stores that implement it honour atomically). Other stores (gs://): check,
    then write: a race between two creators within that window is possible (docs/RUNNERS.md, "Object storage")."""
    if "://" not in path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            _fsync(f)
        return True
    if path.startswith("s3://"):
        from botocore.exceptions import ClientError
        bucket, _, key = path[len("s3://"):].partition("/")
        try:
            _s3_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True
    if FileSystems.exists(path):
        return False
    write_atomic(path, data)
    return True


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def present(path: str) -> bool:
    """True when ``path`` names something to read: a file or folder, a glob matching at least one file, or
    on an object store a prefix with objects under it (stores have no folders)."""
    if any(c in path for c in "*?["):
        return bool(FileSystems.match([path], limits=[1])[0].metadata_list)
    if FileSystems.exists(path):
        return True
    return "://" in path and bool(FileSystems.match([path.rstrip("/") + "/*"], limits=[1])[0].metadata_list)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def open_read(path: str):
    return FileSystems.open(path)


def read_json(path: str):
    return json.loads(read_bytes(path))


def _tmp_name(path: str) -> str:
    folder, name = FileSystems.split(path)
    return FileSystems.join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}")


def _fsync(f) -> None:
    """Flush ``f`` to the disk when it is a local file (object stores commit on close)."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):
        return
    f.flush()
    os.fsync(fd)


def write_atomic(path: str, write: Callable | bytes) -> None:
    """Write ``path`` via a temporary sibling; ``write`` is bytes or a function taking the open file. A local
    file is fsynced before its rename: after a power cut the final name holds all its bytes or is absent."""
    tmp = _tmp_name(path)
    try:
        with FileSystems.create(tmp) as f:
            if isinstance(write, (bytes, bytearray)):
                f.write(write)
            else:
                write(f)
            _fsync(f)
        FileSystems.rename([tmp], [path])  # replaces an existing file (os.rename; copy+delete on object stores)
    except BaseException:
        if FileSystems.exists(tmp):
            FileSystems.delete([tmp])
        raise


def write_plain(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` directly (no rename): only for files under a temporary name of ours,
    which no reader takes for a finished file and a rerun removes."""
    with FileSystems.create(path) as f:
        f.write(data)


def write_json(path: str, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def glob_escape(path: str) -> str:
    """``path`` with its glob characters made literal (``out[v2]`` -> ``out[[]v2]``), so a folder name
    with brackets, ``*`` or ``?`` matches itself (glob and fnmatch both read ``[x]`` as the character x)."""
    return "".join(f"[{c}]" if c in "[*?" else c for c in path)


def list_names(folder: str, pattern: str = "*") -> list[str]:
    """File names (not paths) in ``folder`` matching a glob pattern; [] when the folder is absent. The
    folder is taken literally (glob characters in it are escaped); only ``pattern`` is a glob."""
    results = FileSystems.match([FileSystems.join(glob_escape(folder), pattern)])
    return sorted(posixpath.basename(m.path.replace("\\", "/")) for m in results[0].metadata_list)


_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"[0-9a-f]{12}-(.+)")


def tmp_target(name: str) -> str | None:
    """The final file name a temporary file of ours was written for, or None if ``name`` is not ours."""
    m = _TMP_NAME.fullmatch(name)
    return m.group(1) if m else None


def temporaries(folder: str) -> list[tuple[str, str, float | None]]:
    """(path, the final name it was written for, modified time or None) of each temporary file of ours in
    ``folder`` (``tmp_target``); [] when the folder is absent."""
    found = []
    for m in FileSystems.match([FileSystems.join(glob_escape(folder), TMP_PREFIX + "*")])[0].metadata_list:
        target = tmp_target(posixpath.basename(m.path.replace("\\", "/")))
        if target:
            found.append((m.path, target, m.last_updated_in_seconds))
    return found


def delete(paths: list[str]) -> None:
    """Delete these files. Beam's local filesystem matches each path as a glob before deleting, so local
    paths are escaped (an output folder may be called ``out[v2]``); object stores delete keys as given."""
    if paths:
        FileSystems.delete([p if "://" in p else glob_escape(p) for p in paths])


_share_s3_clients()   # every process that imports this (driver and workers) reuses its S3 clients
