"""The product seed file and `schemahub update-seed` (fetching from a loopback server)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemahub_lib.cli import main
from schemahub_lib.commands import seed as seed_command
from schemahub_lib.connectors.base import Product
from schemahub_lib.errors import ConfigError
from schemahub_lib.seed import DEFAULT_SEED, load_seed, read_seed, render_seed, write_seed
from schemahub_lib.settings import REPO_ROOT, load_settings
from tests.connectors.support import Loopback, Reply, fixture_bytes, running


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    with running() as server:
        yield server


def test_the_shipped_default_seed_loads_as_the_default_markets() -> None:
    loaded = load_seed(REPO_ROOT / "mappings" / "product_ids_seed.yaml")
    assert loaded == DEFAULT_SEED
    assert [p.exchange_symbol for p in loaded["kraken"]] == ["XBTUSD", "ETHUSD", "XBTUSDT", "XDGUSD"]
    assert [p.aliases for p in loaded["kraken"]] == [
        ("XXBTZUSD",),
        ("XETHZUSD",),
        ("XBTUSDT",),
        ("XXDGZUSD",),
    ]
    assert [p.exchange_symbol for p in loaded["binance"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    products = {
        "binance": [Product("binance", "币安人生-USDT", "币安人生USDT", "币安人生", "USDT")],
        "kraken": [
            Product("kraken", "ETH2.S-ETH", "ETH2.SETH", "ETH2.S", "ETH", aliases=("ETH2.SETH", "yes"))
        ],
        "coinbase": [],
    }
    path = tmp_path / "sub" / "seed.yaml"
    text = write_seed(path, products, last_updated={"kraken": "2026-01-02T03:04:05Z"})
    assert path.read_text() == text
    assert load_seed(path) == products
    sections = read_seed(path)
    assert sections["kraken"].last_updated == "2026-01-02T03:04:05Z"
    assert "kraken:\n  product_ids:\n    - ETH2.S-ETH\n" in text
    assert 'aliases: [ETH2.SETH, "yes"]' in text  # YAML booleans stay strings
    assert "metadata: {source: kraken, last_updated: '2026-01-02T03:04:05Z', count: 1}" in text
    assert sorted(p.name for p in path.parent.iterdir()) == ["seed.yaml"]  # temp file renamed away


def test_the_seeds_original_single_exchange_format_loads(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(
        "product_ids:\n  - BTC-USD\n  - ETH-USD\n  - LTC-USD\n"
        "metadata:\n  source: coinbase\n  last_updated: 2025-12-15T12:00:00Z\n  count: 3\n"
    )
    assert load_seed(path) == {
        "coinbase": [
            Product("coinbase", "BTC-USD", "BTC-USD", "BTC", "USD"),
            Product("coinbase", "ETH-USD", "ETH-USD", "ETH", "USD"),
            Product("coinbase", "LTC-USD", "LTC-USD", "LTC", "USD"),
        ]
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[a, b]", "expected a mapping of exchange name -> section, got list"),
        ("coinbase: [\n", "not valid YAML"),
        (
            "bitstamp:\n  product_ids: []\n",
            "unknown exchange 'bitstamp'; known: binance, bitfinex, coinbase, kraken, okx",
        ),
        (
            "product_ids: [BTC-USD]\n",
            "metadata.source: a single-exchange seed file names its exchange, one of binance, bitfinex,",
        ),
        ("kraken: 3\n", "kraken: expected a mapping with product_ids, symbols, metadata, got int"),
        (
            "kraken:\n  product_ids: []\n  pairs: {}\n",
            "kraken: unknown keys pairs; valid: product_ids, symbols, metadata",
        ),
        (
            "kraken:\n  product_ids: BTC-USD\n",
            "kraken.product_ids: expected a list of BASE-QUOTE strings, got 'BTC-USD'",
        ),
        ("kraken:\n  product_ids: [BTCUSD]\n", r"kraken.product_ids\[0\]: expected BASE-QUOTE, got 'BTCUSD'"),
        ("kraken:\n  product_ids: [BTC-USD, BTC-USD]\n", "kraken.product_ids: listed twice: BTC-USD"),
        (
            "kraken:\n  product_ids: [BTC-USD]\n  symbols:\n    ETH-USD: {exchange_symbol: ETHUSD}\n",
            "kraken.symbols: ETH-USD not in product_ids",
        ),
        (
            "kraken:\n  product_ids: [BTC-USD]\n  symbols:\n"
            "    BTC-USD: {exchange_symbol: XBTUSD, base: XBT}\n",
            "kraken.symbols.BTC-USD: base/quote XBT/USD do not match the product id BTC-USD",
        ),
        (
            "kraken:\n  product_ids: [BTC-USD]\n  symbols:\n"
            "    BTC-USD: {exchange_symbol: XBTUSD, aliases: XXBTZUSD}\n",
            "kraken.symbols.BTC-USD.aliases: expected a list of strings, got 'XXBTZUSD'",
        ),
        (
            "kraken:\n  product_ids: [BTC-USD]\n  symbols:\n    BTC-USD: {symbol: XBTUSD}\n",
            "kraken.symbols.BTC-USD: unknown keys symbol; valid: exchange_symbol, base, quote, aliases",
        ),
        (
            "kraken:\n  product_ids: [BTC-USD]\n  symbols:\n    BTC-USD: {exchange_symbol: 5}\n",
            "kraken.symbols.BTC-USD.exchange_symbol: expected a non-empty string, got 5",
        ),
        (
            "kraken:\n  product_ids: []\n  metadata: {count: many}\n",
            "kraken.metadata.count: expected a non-negative integer",
        ),
    ],
)
def test_bad_seed_files_name_file_key_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_seed(path)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_seed_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"seed file not found; create it with `schemahub update-seed --write`"
    ):
        load_seed(tmp_path / "none.yaml")


# ----------------------------------------------------------------------------- update-seed


def run(argv: list[str], urls: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    seed_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["update-seed", *argv])
    return int(args.handler(args, load_settings(env={}, exchange_urls=urls or {})))


def serve_products(loopback: Loopback) -> dict[str, str]:
    loopback.route(
        "/products", [Reply(200, fixture_bytes("coinbase/products_full_2021-04-17_cryptofeed.json"))]
    )
    loopback.route(
        "/api/v3/exchangeInfo",
        [
            Reply(
                200, fixture_bytes("binance/exchangeInfo_TRIMMED_7of1695_symbols_2021-10-12_cryptofeed.json")
            )
        ],
    )
    loopback.route(
        "/0/public/AssetPairs",
        [Reply(200, fixture_bytes("kraken/assetpairs_full_2021-04-17_cryptofeed.json"))],
    )
    return {name: loopback.url for name in ("coinbase", "binance", "kraken")}


def test_write_without_a_file_writes_the_default_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seed.yaml"
    assert run(["--write", "--path", str(path)]) == 0
    assert load_seed(path) == DEFAULT_SEED
    counts = ", ".join(f"{name} {len(products)}" for name, products in DEFAULT_SEED.items())
    assert f"wrote {path} ({counts})" in capsys.readouterr().err
    before = path.read_text()
    assert run(["--write", "--path", str(path)]) == 0
    assert path.read_text() == before  # unchanged sections keep their last_updated


def test_fetch_replaces_only_the_named_exchange(tmp_path: Path, loopback: Loopback) -> None:
    path = tmp_path / "seed.yaml"
    write_seed(path, DEFAULT_SEED)
    assert run(["coinbase", "--fetch", "--write", "--path", str(path)], serve_products(loopback)) == 0
    loaded = load_seed(path)
    assert len(loaded["coinbase"]) == 162
    assert (loaded["binance"], loaded["kraken"]) == (DEFAULT_SEED["binance"], DEFAULT_SEED["kraken"])
    assert [s.path for s in loopback.seen] == ["/products"]


def test_fetch_filter_and_merge(tmp_path: Path, loopback: Loopback) -> None:
    path = tmp_path / "seed.yaml"
    write_seed(path, DEFAULT_SEED)
    urls = serve_products(loopback)
    assert (
        run(
            [
                "kraken",
                "binance",
                "--fetch",
                "--merge",
                "--filter-regex",
                r"(BTC|ETH)-(USD|EUR)",
                "--write",
                "--path",
                str(path),
            ],
            urls,
        )
        == 0
    )
    loaded = load_seed(path)
    assert [p.symbol for p in loaded["kraken"]] == [
        "BTC-USD",
        "ETH-USD",
        "BTC-USDT",
        "DOGE-USD",
        "BTC-EUR",
        "ETH-EUR",
    ]
    # Fetched entries refresh existing ones (2021 Kraken keyed DOGE as XDGUSD; not in the filter).
    assert loaded["kraken"][4] == Product("kraken", "BTC-EUR", "XBTEUR", "BTC", "EUR", aliases=("XXBTZEUR",))
    assert [p.symbol for p in loaded["binance"]] == ["BTC-USDT", "ETH-USDT", "SOL-USDT", "BTC-EUR"]
    assert loaded["coinbase"] == DEFAULT_SEED["coinbase"]


def test_fetch_without_merge_replaces_with_the_filtered_list(tmp_path: Path, loopback: Loopback) -> None:
    path = tmp_path / "seed.yaml"
    write_seed(path, DEFAULT_SEED)
    assert (
        run(
            ["binance", "--fetch", "--filter-regex", ".*-USDT", "--write", "--path", str(path)],
            serve_products(loopback),
        )
        == 0
    )
    assert load_seed(path)["binance"] == [
        Product("binance", "BTC-USDT", "BTCUSDT", "BTC", "USDT"),
        Product("binance", "ETH-USDT", "ETHUSDT", "ETH", "USDT"),
    ]


def test_dry_run_shows_the_diff_and_writes_nothing(
    tmp_path: Path, loopback: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seed.yaml"
    write_seed(path, DEFAULT_SEED)
    before = path.read_bytes()
    urls = serve_products(loopback)
    assert (
        run(
            [
                "binance",
                "--fetch",
                "--filter-regex",
                "BTC-EUR",
                "--merge",
                "--write",
                "--dry-run",
                "--path",
                str(path),
            ],
            urls,
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert path.read_bytes() == before
    assert f"--- {path} (current)" in out and f"+++ {path} (new)" in out
    assert "+    - BTC-EUR\n" in out
    assert "+    BTC-EUR: {exchange_symbol: BTCEUR, base: BTC, quote: EUR}\n" in out
    assert "-  metadata: {source: binance" in out and "count: 3}" in out and "count: 4}" in out
    assert "nothing written" in err


def test_without_write_the_seed_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "seed.yaml"
    assert run(["kraken", "--filter-regex", "DOGE-.*", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert not path.exists()
    assert "    DOGE-USD: {exchange_symbol: XDGUSD, base: DOGE, quote: USD, aliases: [XXDGZUSD]}\n" in out
    assert "BTC-USD" not in out


def test_bad_flags_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--filter-regex '\(' is not a valid regular expression"):
        run(["--filter-regex", "(", "--path", str(tmp_path / "s.yaml")])
    with pytest.raises(ConfigError, match="unknown exchange 'bitstamp'; known: binance, bitfinex, coinbase"):
        run(["bitstamp", "--path", str(tmp_path / "s.yaml")])


def test_update_seed_is_registered_on_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "seed.yaml"
    assert main(["update-seed", "--write", "--seed-path", str(path)]) == 0
    assert load_seed(path) == DEFAULT_SEED
    assert main(["update-seed", "nosuch", "--path", str(path)]) == 2
    assert "schemahub update-seed: unknown exchange 'nosuch'; known: " in capsys.readouterr().err


def test_render_is_stable() -> None:
    text = render_seed({"coinbase": DEFAULT_SEED["coinbase"][:1]}, {"coinbase": "2026-01-01T00:00:00Z"})
    assert text == (
        "# Markets to ingest per exchange. Regenerate: schemahub update-seed --fetch --write\n"
        "\n"
        "coinbase:\n"
        "  product_ids:\n"
        "    - BTC-USD\n"
        "  symbols:\n"
        "    BTC-USD: {exchange_symbol: BTC-USD, base: BTC, quote: USD}\n"
        "  metadata: {source: coinbase, last_updated: '2026-01-01T00:00:00Z', count: 1}\n"
    )
