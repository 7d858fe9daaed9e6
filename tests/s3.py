"""A local S3-compatible server for the object-storage tests: moto's standalone server (``moto[server]``,
the test extra) as its own process on a free 127.0.0.1 port; buckets made and read with boto3.

The build reaches it the way a MinIO or Ceph user reaches theirs: Beam's ``--s3_endpoint_url`` plus the
standard AWS credential variables (``S3Server.env``); the loader reads ``AWS_ENDPOINT_URL``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import boto3

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``with S3Server() as s3:`` starts the server, ``s3.bucket()`` makes an empty bucket, exit stops it."""

    def __init__(self, start_timeout: float = 60.0):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach the server: credentials, region, and the endpoint for boto3."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    @property
    def beam_args(self) -> list[str]:
        """Beam's own flags for the endpoint (the credentials come from the environment)."""
        return [f"--s3_endpoint_url={self.endpoint}", "--s3_region_name=us-east-1"]

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def __enter__(self) -> "S3Server":
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"moto server did not answer on port {self.port} in {self.start_timeout}s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def bucket(self, prefix: str = "b") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=name)
        return name

    def upload_folder(self, folder: str, url: str) -> None:
        """Copy a local folder tree to ``s3://bucket/prefix``."""
        bucket, _, prefix = url[len("s3://"):].partition("/")
        client = self.client()
        for root, _, names in os.walk(folder):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), folder).replace(os.sep, "/")
                client.upload_file(os.path.join(root, n), bucket, f"{prefix}/{rel}".lstrip("/"))

    def objects(self, url: str) -> dict[str, bytes]:
        """Every object under ``s3://bucket/prefix``: relative name -> bytes."""
        bucket, _, prefix = url[len("s3://"):].partition("/")
        client, found = self.client(), {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for o in page.get("Contents", []):
                found[o["Key"][len(prefix) + 1:]] = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        return found
