"""Mapping files: the shipped ones load; every kind of mistake fails naming file, key path and
what was expected. No JVM: parsing and validation import no Spark."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from schemahub_lib.connectors import CONNECTORS
from schemahub_lib.ddl import load_table_defs
from schemahub_lib.errors import MappingError
from schemahub_lib.mapping import load_mapping, load_mappings, mapping_files, parse_mapping
from tests.conftest import REPO

DEFS = load_table_defs(REPO / "ddl")
FILE = "mappings/coinbase_trades.yaml"
GOOD = """\
source: raw_coinbase_trades
target_table: trades_unified
mappings:
  trade_id: trade_id
  product_id: [symbol, base_asset, quote_asset]
  side: side
  price: price
  size: quantity
  time: trade_ts
constants:
  exchange: COINBASE
transforms:
  trade_id: to_string
  symbol: canonical_symbol
  base_asset: base_asset
  quote_asset: quote_asset
  side: {map: {buy: SELL, sell: BUY}}
symbols:
  patterns: ['^([A-Z0-9]+)-([A-Z0-9]+)$']
"""


def error_for(text: str) -> MappingError:
    with pytest.raises(MappingError) as info:
        parse_mapping(text, FILE, DEFS)
    assert info.value.file == FILE
    assert str(info.value).startswith(f"{FILE}: {info.value.key_path}: ")
    return info.value


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


def test_the_shipped_mappings_are_the_sources_one_per_exchange() -> None:
    specs = load_mappings(REPO / "mappings", DEFS)
    assert [(s.exchange, s.source) for s in specs] == [
        (name, CONNECTORS[name].raw_table) for name in sorted(CONNECTORS)
    ]
    # The seed file sits in the same folder and is not a mapping.
    assert [p.name for p in mapping_files(REPO / "mappings")] == [
        f"{name}_trades.yaml" for name in sorted(CONNECTORS)
    ]
    by = {s.exchange: s for s in specs}
    assert by["coinbase"].rule("side").arg == {"buy": "SELL", "sell": "BUY"}
    assert by["binance"].rule("side").arg == {True: "SELL", False: "BUY"}
    assert by["kraken"].rule("side").arg == {"b": "BUY", "s": "SELL"}
    assert by["kraken"].rule("trade_ts").transform == "from_ns"
    assert by["kraken"].symbols.asset_aliases == {"XBT": "BTC", "XDG": "DOGE"}
    assert by["okx"].rule("side").arg == {"buy": "BUY", "sell": "SELL"}  # OKX's side is the taker's
    assert (by["bitfinex"].rule("side").transform, by["bitfinex"].rule("side").arg) == (
        "sign",
        {"negative": "SELL", "positive": "BUY"},
    )
    assert by["bitfinex"].rule("quantity").transform == "abs"
    assert by["bitfinex"].symbols.asset_aliases == {"UST": "USDT", "UDC": "USDC"}
    assert [s.symbol_source for s in specs] == [CONNECTORS[s.exchange].symbol_column for s in specs]
    for spec in specs:
        assert [r.target.name for r in spec.rules] == [
            c.name for c in spec.target_columns if c.name != "ingest_ts"
        ]
        assert spec.rule("exchange").constant == spec.exchange.upper()


def test_the_example_parses_and_keeps_where_each_rule_was_declared() -> None:
    spec = parse_mapping(GOOD, FILE, DEFS)
    assert spec.exchange == "coinbase"
    assert spec.rule("quantity").key_path == "mappings.size"
    assert spec.rule("side").key_path == "transforms.side"
    assert spec.rule("exchange").key_path == "constants.exchange"
    assert spec.rule("base_asset").source is not None and spec.rule("base_asset").source.name == "product_id"


def test_unknown_raw_column() -> None:
    err = error_for(edit("  size: quantity", "  sise: quantity"))
    assert err.key_path == "mappings.sise"
    assert "unknown column 'sise' in the raw table; expected one of trade_id, product_id" in err.problem


def test_missing_required_target() -> None:
    err = error_for(edit("  size: quantity\n", ""))
    assert err.key_path == "mappings"
    assert err.problem == "no mapping or constant for required trades_unified column(s) quantity"


def test_unknown_transform() -> None:
    err = error_for(edit("  trade_id: to_string", "  trade_id: to_text"))
    assert err.key_path == "transforms.trade_id"
    assert "unknown transform 'to_text'; expected one of to_double, to_string, from_s" in err.problem


def test_type_mismatch_without_a_transform() -> None:
    err = error_for(edit("  trade_id: to_string\n", ""))
    assert err.key_path == "mappings.trade_id"
    assert err.problem == (
        "type mismatch: raw trade_id is long, trades_unified.trade_id is string; "
        "add a transform (transforms.trade_id)"
    )


def test_type_mismatch_of_a_transform_input_and_output() -> None:
    err = error_for(edit("  trade_id: to_string", "  trade_id: to_string\n  trade_ts: from_ms"))
    assert err.key_path == "transforms.trade_ts"
    assert "from_ms takes decimal, double, float, int, long, string, but raw time is timestamp" in err.problem
    err = error_for(edit("  trade_id: to_string", "  trade_id: to_string\n  price: to_string"))
    assert err.key_path == "transforms.price"
    assert "to_string takes" in err.problem and "raw price is double" in err.problem


def test_duplicate_target_in_mappings_and_constants() -> None:
    err = error_for(edit("  size: quantity", "  size: quantity\n  price: quantity"))
    # YAML duplicate key `price` is caught first: it would silently drop a line.
    assert err.key_path == "line 9"
    assert err.problem == "not valid YAML: duplicate key 'price'; each key may appear once"
    err = error_for(edit("  size: quantity", "  size: [quantity, price]"))
    assert err.key_path == "mappings.size"
    assert err.problem == "duplicate target: trades_unified.price is already set by mappings.price"
    err = error_for(edit("  exchange: COINBASE", "  exchange: COINBASE\n  side: BUY"))
    assert err.key_path == "constants.side"
    assert err.problem == "duplicate target: trades_unified.side is already set by mappings.side"


def test_transform_keys_are_unified_columns() -> None:
    err = error_for(edit("  trade_id: to_string", "  trade_id: to_string\n  size: to_double"))
    assert err.key_path == "transforms.size"
    assert err.problem == "keys are unified columns; 'size' is a raw column, did you mean 'quantity'?"
    err = error_for(edit("  trade_id: to_string", "  trade_id: to_string\n  exchange: to_string"))
    assert (err.key_path, err.problem) == ("transforms.exchange", "a constant takes no transform")


def test_unknown_keys_targets_and_tables() -> None:
    err = error_for(GOOD + "extra: 1\n")
    assert (err.key_path, err.problem) == (
        "extra",
        "unknown key; expected one of source, target_table, mappings, constants, transforms, symbols",
    )
    err = error_for(edit("  size: quantity", "  size: qty"))
    assert err.key_path == "mappings.size"
    assert "unknown trades_unified column 'qty'; expected one of exchange, symbol, trade_id" in err.problem
    err = error_for(edit("source: raw_coinbase_trades", "source: raw_coinbase"))
    assert err.key_path == "source"
    assert "expected a table defined in ddl/" in err.problem and "got 'raw_coinbase'" in err.problem
    err = error_for(edit("target_table: trades_unified", "target_table: raw_kraken_trades"))
    assert err.key_path == "target_table"
    assert err.problem == "expected trades_unified (the table unify writes), got 'raw_kraken_trades'"
    err = error_for(edit("  size: quantity", "  size: quantity\n  _source_ingest_ts: ingest_ts"))
    assert err.key_path == "mappings._source_ingest_ts"
    assert err.problem == "ingest_ts is set by unify (the time the row is written); do not map it"


def test_value_tables_constants_and_patterns_are_checked() -> None:
    err = error_for(edit("{buy: SELL, sell: BUY}", "{buy: SELL, sell: BOUGHT}"))
    assert (err.key_path, err.problem) == (
        "transforms.side.map",
        "side must be one of BUY, SELL, got 'BOUGHT'",
    )
    err = error_for(edit("  side: {map: {buy: SELL, sell: BUY}}", "  side: map"))
    assert (err.key_path, err.problem) == ("transforms.side", "map needs an argument: {map: ...}")
    err = error_for(edit("{buy: SELL, sell: BUY}", "{true: SELL, false: BUY}"))
    assert err.key_path == "transforms.side.map.True"
    assert err.problem == "side is string; expected string keys, got True"
    err = error_for(edit("  exchange: COINBASE", "  exchange: 7"))
    assert (err.key_path, err.problem) == (
        "constants.exchange",
        "expected a string value for trades_unified.exchange, got 7",
    )
    err = error_for(edit("'^([A-Z0-9]+)-([A-Z0-9]+)$'", "'^([A-Z0-9]+)-[A-Z0-9]+$'"))
    assert err.key_path == "symbols.patterns[0]"
    assert (
        err.problem
        == "expected a regular expression with 2 groups (base, quote), got '^([A-Z0-9]+)-[A-Z0-9]+$'"
    )


def test_not_yaml_and_not_a_mapping() -> None:
    err = error_for("source: [unclosed\n")
    assert err.key_path.startswith("line ")
    assert err.problem.startswith("not valid YAML")
    err = error_for("- a\n- b\n")
    assert err.key_path == "(top level)"
    assert err.problem.startswith("expected a mapping with keys source, target_table")


def test_a_folder_without_mapping_files_fails(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as info:
        load_mappings(tmp_path, DEFS)
    assert (info.value.file, info.value.key_path) == (str(tmp_path), "(folder)")
    assert info.value.problem == "no mapping files (*_trades.yaml) found"


def test_load_mapping_names_the_file_it_read(tmp_path: Path) -> None:
    path = tmp_path / "coinbase_trades.yaml"
    path.write_text(edit("  size: quantity", "  sise: quantity"))
    with pytest.raises(MappingError) as info:
        load_mapping(path, DEFS)
    assert str(info.value).startswith(f"{path}: mappings.sise: unknown column 'sise'")


def test_mapping_imports_no_spark() -> None:
    """pyspark made unimportable: the mapping package still loads and validates every file."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["pyspark"] = None
        from schemahub_lib.ddl import load_table_defs
        from schemahub_lib.mapping import load_mappings
        specs = load_mappings({str(REPO / "mappings")!r}, load_table_defs({str(REPO / "ddl")!r}))
        assert not [m for m in sys.modules if m.startswith("pyspark") and sys.modules[m] is not None]
        print(len(specs))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(CONNECTORS))


def test_sign_and_abs_are_checked_like_the_other_transforms() -> None:
    bitfinex = (REPO / "mappings" / "bitfinex_trades.yaml").read_text()
    file = "mappings/bitfinex_trades.yaml"

    def problem(old: str, new: str) -> tuple[str, str]:
        assert old in bitfinex
        with pytest.raises(MappingError) as info:
            parse_mapping(bitfinex.replace(old, new), file, DEFS)
        return info.value.key_path, info.value.problem

    assert problem("{negative: SELL, positive: BUY}", "{negative: SELL, positive: BOUGHT}") == (
        "transforms.side.sign",
        "side must be one of BUY, SELL, got 'BOUGHT'",
    )
    assert problem("{negative: SELL, positive: BUY}", "{below: SELL, above: BUY}") == (
        "transforms.side.sign",
        "expected {negative: output, positive: output}, got {'below': 'SELL', 'above': 'BUY'}",
    )
    # The magnitude of a text column makes no sense: the types say so before any data moves.
    path, text = problem("  base_asset: base_asset", "  base_asset: abs")
    assert path == "transforms.base_asset"
    assert text == "type mismatch: abs takes decimal, double, float, int, long, but raw symbol is string"
