"""Servers the media tests start for themselves: an S3-compatible one (moto) on 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[tuple[str, str]]:
    """A moto S3 server with a fresh bucket: (endpoint url, bucket)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"gochat-{secrets.token_hex(4)}"
    try:
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
        s3.create_bucket(Bucket=bucket)
        yield url, bucket
    finally:
        server.stop()
