"""The /_sim/ admin API: clock, faults, rate limits, ground truth and stats over HTTP.

So tests that run the pipeline in a subprocess can drive the simulator:

    GET    /_sim/info                          seed, clock, history start, spike, products, limits
    GET    /_sim/clock                         {"now_ns", "start_ns", "kind"}
    POST   /_sim/clock     {"advance_s": 5} or {"set_s": 1750000100}
    GET    /_sim/faults                        active rules with their seen/fired counters
    POST   /_sim/faults    a rule object, or {"rules": [...]}; answers the rules with ids
    DELETE /_sim/faults                        remove all rules and recorded casualties
    POST   /_sim/limits    {"mode": "off"|"real"|"scale", "scale": 0.01, ...LimitConfig fields}
    GET    /_sim/truth?exchange=&product=[&start_ns=&end_ns=&from_id=&to_id=][&summary=1]
    GET    /_sim/spike                         {"start_ns", "end_ns"} or null
    GET    /_sim/stats                         request counts per exchange, endpoint and status
    POST   /_sim/reset                         faults, stats and limiter state back to start
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol

from schemahub_lib.errors import ConfigError
from schemahub_lib.sim.faults import FaultBook
from schemahub_lib.sim.ratelimit import Limits
from schemahub_lib.sim.scenario import Scenario
from schemahub_lib.sim.truth import load_truth, product_listing
from schemahub_lib.sim.wire import Request, Response, json_response, parse_int


class Counters(Protocol):
    def reset(self) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...


class Controls(Protocol):
    """What the admin API drives: the server's parts, not the server (server.py imports this
    module, so this module must not import server.py)."""

    @property
    def scenario(self) -> Scenario: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def faults(self) -> FaultBook: ...

    @property
    def stats(self) -> Counters: ...

    @property
    def urls(self) -> dict[str, str]: ...


class AdminApi:
    """Handlers for /_sim/<name>."""

    def __init__(self, sim: Controls) -> None:
        self.sim = sim

    def handle(self, name: str, request: Request) -> Response:
        route = getattr(self, f"_{request.method.lower()}_{name.strip('/')}", None)
        if route is None:
            return json_response(404, {"error": f"no admin route {request.method} /_sim/{name}"})
        try:
            payload = json.loads(request.body or b"{}") if request.method == "POST" else {}
            return json_response(200, route(request, payload))
        except (ConfigError, ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})

    def _get_info(self, request: Request, payload: Any) -> Any:
        sc = self.sim.scenario
        return {
            "seed": sc.config.seed,
            "clock": self._get_clock(request, payload),
            "history_start_ns": sc.origin_ns,
            "spike": self._get_spike(request, payload),
            "urls": self.sim.urls,
            "products": product_listing(sc),
            "kraken_since_inclusive": sc.config.kraken_since_inclusive,
            "limits": dataclasses.asdict(self.sim.limits.config),
        }

    def _get_clock(self, request: Request, payload: Any) -> Any:
        clock = self.sim.scenario.clock
        return {"now_ns": clock.now_ns(), "start_ns": clock.start_ns, "kind": clock.kind}

    def _post_clock(self, request: Request, payload: Any) -> Any:
        clock = self.sim.scenario.clock
        if "advance_s" in payload:
            clock.advance(float(payload["advance_s"]))
        elif "set_s" in payload:
            clock.set(float(payload["set_s"]))
        else:
            raise ConfigError('POST /_sim/clock expects {"advance_s": seconds} or {"set_s": epoch seconds}')
        return self._get_clock(request, payload)

    def _get_faults(self, request: Request, payload: Any) -> Any:
        return {"rules": [r.to_dict() for r in self.sim.faults.rules()]}

    def _post_faults(self, request: Request, payload: Any) -> Any:
        rules = payload.get("rules", [payload]) if isinstance(payload, dict) else payload
        return {"rules": [self.sim.faults.add(dict(r)).to_dict() for r in rules]}

    def _delete_faults(self, request: Request, payload: Any) -> Any:
        self.sim.faults.clear()
        return {"rules": []}

    def _post_limits(self, request: Request, payload: Any) -> Any:
        if "off_for" in payload:
            payload["off_for"] = tuple(payload["off_for"])
        config = dataclasses.replace(self.sim.limits.config, **payload)
        if config.mode not in ("real", "off", "scale"):
            raise ConfigError(f"limits mode {config.mode!r}; valid: real, off, scale")
        self.sim.limits.configure(config)
        return dataclasses.asdict(config)

    def _get_truth(self, request: Request, payload: Any) -> Any:
        q = request.query
        bounds = {k: parse_int(q[k]) for k in ("start_ns", "end_ns", "from_id", "to_id") if k in q}
        bad = [k for k, v in bounds.items() if v is None]
        if bad:
            raise ConfigError(f"truth bounds must be integers: {', '.join(bad)}")
        truth = load_truth(
            self.sim.scenario, self.sim.faults, q.get("exchange", ""), q.get("product", ""), **bounds
        )
        return truth.summary() if q.get("summary") in ("1", "true") else truth.to_json()

    def _get_spike(self, request: Request, payload: Any) -> Any:
        spike = self.sim.scenario.spike
        return None if spike is None else {"start_ns": spike.start_ns, "end_ns": spike.end_ns}

    def _get_stats(self, request: Request, payload: Any) -> Any:
        return self.sim.stats.snapshot()

    def _post_reset(self, request: Request, payload: Any) -> Any:
        self.sim.faults.clear()
        self.sim.stats.reset()
        self.sim.limits.configure(self.sim.limits.config)
        return {"reset": True}
