"""A moto server on loopback for the AWS tests: S3 and Glue (and anything else moto serves).

One server per test module or session; `reset` empties every backend between tests. Spark's JVM
and PyArrow's C++ S3 client cannot see moto's in-process mocks, hence a real HTTP server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import requests
from moto.server import ThreadedMotoServer

from schemahub_lib.settings import Settings, load_settings

REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on 127.0.0.1 with a free port; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(endpoint: str) -> None:
    """Forget every bucket, table, job, ... the server holds."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


def client(service: str, endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


def aws_settings(endpoint: str, bucket: str, catalog_name: str, prefix: str = "lake") -> Settings:
    """aws-profile Settings on the emulator: every endpoint overridden (CloudWatch too, so the
    jobs' metrics stay on loopback), path-style S3."""
    return load_settings(
        env={},
        profile="aws",
        warehouse=f"s3://{bucket}/{prefix}",
        catalog_name=catalog_name,
        aws_region=REGION,
        glue_endpoint=endpoint,
        s3_endpoint=endpoint,
        s3_path_style=True,
        cloudwatch_endpoint=endpoint,
    )
