"""The exchange simulator: Coinbase, Binance and Kraken public trade APIs on loopback.

Deterministic markets from a seed, real paths and cursor semantics, real rate limits, faults on
request and ground truth. Start it with `schemahub sim serve` or in-process:

    from schemahub_lib.sim import SimConfig, SimServer

    with SimServer(SimConfig.for_tests(seed=3)) as sim:
        sim.urls["kraken"]           # http://127.0.0.1:P/kraken
        sim.clock.advance(10)        # manual clock: ten more seconds of trades
        sim.faults.add({"kind": "drop", "exchange": "coinbase", "drop": 3})
        sim.truth("kraken", "XBTUSD").trade_id
"""

from schemahub_lib.sim.clock import ManualClock, RealClock
from schemahub_lib.sim.config import LimitConfig, SimConfig
from schemahub_lib.sim.faults import FaultRule
from schemahub_lib.sim.server import SimServer
from schemahub_lib.sim.truth import Truth

__all__ = ["FaultRule", "LimitConfig", "ManualClock", "RealClock", "SimConfig", "SimServer", "Truth"]
