"""The durable Binance ban store: a JSON file under the local warehouse, an S3 object on aws."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from schemahub_lib.http import Ban, JsonFileBanStore
from schemahub_lib.landing.context import S3BanStore, load_ban_store
from schemahub_lib.settings import Settings


def test_local_bans_live_under_the_warehouse(settings: Settings) -> None:
    store = load_ban_store(settings)
    assert isinstance(store, JsonFileBanStore)
    assert Path(store.path) == Path(settings.warehouse).resolve() / "_state" / "bans.json"


@pytest.mark.aws
def test_s3_bans_survive_the_process(moto_endpoint: str) -> None:
    from tests.aws.emulator import aws_settings, client

    client("s3", moto_endpoint).create_bucket(Bucket="bans")
    settings = aws_settings(moto_endpoint, "bans", catalog_name="schemahub_bans")
    store = load_ban_store(settings)
    assert isinstance(store, S3BanStore) and store.get("binance x") is None
    until = time.time() + 120
    store.put("binance x", Ban(until, "HTTP 418 from x", time.time()))
    assert store.get("binance x") == Ban(until, "HTTP 418 from x", store.get("binance x").recorded_at)  # type: ignore[union-attr]
    again = S3BanStore(settings)  # a later run, another process
    ban = again.get("binance x")
    assert ban is not None and ban.until_epoch_s == pytest.approx(until) and ban.reason == "HTTP 418 from x"
    body = client("s3", moto_endpoint).get_object(Bucket="bans", Key="lake/_state/bans.json")["Body"].read()
    assert b"binance x" in body


@pytest.fixture(scope="module")
def moto_endpoint():  # type: ignore[no-untyped-def]
    from tests.aws.emulator import moto_server

    with moto_server() as endpoint:
        yield endpoint
