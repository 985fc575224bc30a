"""The simulated Alexandrite: the order lifecycle across Shop, CRM and MES, recorded with the
OpenTelemetry SDK into OTLP JSON-lines files (and optionally exported over OTLP/HTTP).

    simulate(SimulationConfig(orders=500, days=14, seed=1, out=Path("data/simulation")))

By default every order runs to its end (the files go on past `days`). With `until_days` the
simulation stops at the end of that day, the simulated "now": steps after it never happen,
spans still open then are never exported, orders in progress stay in progress, and the truth
file's final_state is the state the exported spans show at the cut-off.

The same configuration always gives byte-identical files: ids come from the seed, time from a
simulated clock that starts at EPOCH_NS (a Monday), and nothing is iterated in hash order.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Span

from explorer.simulation.faults import (
    DEFAULT_FAULT_RATES,
    FAULT_KINDS,
    assign_faults,
    parse_fault_rates,
)
from explorer.simulation.instrument import Instrumentation
from explorer.simulation.lifecycle import (
    DAY,
    HOUR,
    PARTNER_SHARE,
    VIP_SHARE,
    Customer,
    Lifecycle,
    Order,
)
from explorer.simulation.telemetry import (
    CutOffProcessor,
    HeldUntilDue,
    OtlpJsonLinesExporter,
    SeededIdGenerator,
    SimulationError,
    SyncBatchProcessor,
    otlp_http_exporter,
)

__all__ = [
    "DEFAULT_FAULT_RATES",
    "EPOCH_NS",
    "FAULT_KINDS",
    "LiveConfig",
    "SimulationConfig",
    "SimulationError",
    "SimulationResult",
    "parse_fault_rates",
    "simulate",
    "simulate_live",
]

EPOCH_NS = 1_740_960_000 * 10**9  # Monday 2025-03-03 00:00:00 UTC
MAX_ORDERS = 1_000_000
_LOST_SITES = {"shop": ("submitted", "priced", "approved"), "partner_api": ("priced", "approved")}
_DUPLICATE_SITES = ("priced", "approved", "status-0", "status-1", "status-2", "status-3", "closed")
_DB_TIMEOUT_SITES = ("submit", "start")


@dataclass(frozen=True)
class SimulationConfig:
    out: Path
    orders: int = 500
    days: int = 14
    seed: int = 1
    fault_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FAULT_RATES))
    otlp_endpoint: str | None = None
    truth: Path | None = None
    batch_size: int = 512
    until_days: int | None = None  # stop at the end of this day (None: run every order out)


@dataclass(frozen=True)
class LiveConfig:
    """The live demo (simulate_live): Alexandrite goes on from the end of day `from_days`,
    where files cut off with --until-days stopped, in accelerated time, exporting over OTLP as
    the spans end; new orders keep coming at the files' pace (orders / days a day)."""

    endpoint: str
    token: str | None = None
    from_days: int = 14
    speed: float = 60.0  # simulated seconds per real second: 60 = an hour a minute
    # Go on after this moment (ns since the Unix epoch) when it is later than the end of
    # from_days: what an earlier live run sent is simulated again (the same spans) but not sent.
    resume_ns: int | None = None

    def sends_after_ns(self) -> int:
        """The moment after which spans are sent, and the accelerated clock starts."""
        return max(EPOCH_NS + self.from_days * DAY, self.resume_ns or 0)


@dataclass
class SimulationResult:
    files: list[Path]
    spans: int
    truth: dict[str, Any]


def _customers(orders: int, rng: random.Random) -> tuple[list[Customer], list[Customer]]:
    """B2B partners (few, many orders each) and shop customers (some come back)."""
    partners = [
        Customer(f"C-{n:05d}", "b2b_partner")
        for n in range(1, max(2, min(60, orders // 40 + 2)) + 1)
    ]
    shop = [
        Customer(f"C-{n:05d}", "vip" if rng.random() < VIP_SHARE else "retail")
        for n in range(len(partners) + 1, len(partners) + max(2, orders * 6 // 10) + 1)
    ]
    return partners, shop


def _creation_times(config: SimulationConfig, rng: random.Random) -> list[tuple[int, str]]:
    """When each order is created and by which source, in time order: customers shop from
    morning to late evening, partners' systems send in business hours."""
    times = []
    for _ in range(config.orders):
        source = "partner_api" if rng.random() < PARTNER_SHARE else "shop"
        hours = rng.uniform(8, 19) if source == "partner_api" else rng.triangular(7, 23.9, 20)
        times.append((rng.randrange(config.days) * DAY + int(hours * HOUR), source))
    times.sort()
    return times


def simulate(config: SimulationConfig) -> SimulationResult:
    """Run the simulation, write the files (and the truth file), return what was written."""
    return _run(config)


def simulate_live(
    config: SimulationConfig, live: LiveConfig, stop: threading.Event, warn: Callable[[str], None]
) -> SimulationResult:
    """Keep Alexandrite running until `stop` is set: the orders of `config` as its files have
    them up to the end of day live.from_days, and from then on in accelerated time (live.speed),
    every span exported over OTLP/HTTP as soon as it ends (none the files already hold), with
    new orders arriving as in the files' days. A failed export is passed to `warn` and the run
    goes on (the receiver may be restarting)."""
    if not config.days <= live.from_days <= 3650:
        raise SimulationError(
            f"--until-days must be from --days ({config.days}) to 3650, not {live.from_days}"
        )
    if not live.speed > 0:
        raise SimulationError(f"the speed must be above 0, not {live.speed}")
    return _run(config, live, stop, warn)


def _check(config: SimulationConfig) -> None:
    if not 1 <= config.orders <= MAX_ORDERS:
        raise SimulationError(f"--orders must be from 1 to {MAX_ORDERS}, not {config.orders}")
    if not 1 <= config.days <= 3650:
        raise SimulationError(f"--days must be from 1 to 3650, not {config.days}")
    if config.until_days is not None and not config.days <= config.until_days <= 3650:
        raise SimulationError(
            f"--until-days must be from --days ({config.days}) to 3650, not {config.until_days}"
        )
    unknown = sorted(set(config.fault_rates) - set(FAULT_KINDS))
    if unknown:
        raise SimulationError(f"unknown fault kinds: {', '.join(unknown)}")


class _Truth:
    """What really happened, for the truth file: every order's customer, source and final
    state as exported, and the orders each fault hit."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"orders": {}, "faults": {kind: [] for kind in FAULT_KINDS}}
        # A state counts once the span that recorded it is exported (with a cut-off, a span
        # still open at the cut-off never is); spans end in order, so the last one exported
        # wins.
        self.recorded: dict[int, tuple[str, str | None]] = {}  # span id -> (order id, state)

    def add(self, order: Order) -> None:
        self.data["orders"][order.id] = {
            "customer_id": order.customer.id,
            "customer_type": order.customer.type,
            "source": order.source,
            "final_state": None,
        }

    def on_state(self, order: Order, span: Span) -> None:
        self.recorded[span.get_span_context().span_id] = (order.id, order.state)

    def on_end(self, span: ReadableSpan, kept: bool) -> None:
        found = self.recorded.pop(span.context.span_id, None)
        if found is not None and kept:
            self.data["orders"][found[0]]["final_state"] = found[1]

    def on_fault(self, order: Order, kind: str) -> None:
        happened = self.data["faults"][kind]
        if not happened or happened[-1] != order.id:
            happened.append(order.id)

    def sort_faults(self) -> None:
        for kind in FAULT_KINDS:
            self.data["faults"][kind].sort()

    def write(self, path: Path) -> None:
        try:
            Path(path).write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise SimulationError(
                f"{path}: cannot write the truth file: {exc.strerror or exc}"
            ) from None


@dataclass
class _Export:
    """Where the spans go: the files (and an OTLP endpoint), or, live, the receiver only."""

    processor: CutOffProcessor
    batches: SyncBatchProcessor
    files: OtlpJsonLinesExporter | None = None
    until: int | None = None  # the cut-off, after the epoch
    held: HeldUntilDue | None = None  # live: spans held until the clock reaches them


def _export(
    config: SimulationConfig,
    live: LiveConfig | None,
    on_end: Callable[[ReadableSpan, bool], None],
    warn: Callable[[str], None] | None,
) -> _Export:
    if live is None:
        files = OtlpJsonLinesExporter(config.out, EPOCH_NS)
        exporters: list[tuple[str, SpanExporter]] = [(f"the file export into {config.out}", files)]
        if config.otlp_endpoint:
            exporters.append(otlp_http_exporter(config.otlp_endpoint))
        until = None if config.until_days is None else config.until_days * DAY
        # Cut by count after a root ends: a trace stays on one line of the files.
        batches = SyncBatchProcessor(exporters, config.batch_size)
        processor = CutOffProcessor(batches, None if until is None else EPOCH_NS + until, on_end)
        return _Export(processor, batches, files, until)
    # Every trace as soon as its root ends by the clock: the receiver sees it then.
    batches = SyncBatchProcessor([otlp_http_exporter(live.endpoint, live.token)], 1, warn)
    held = HeldUntilDue(batches)
    processor = CutOffProcessor(held, None, on_end, live.sends_after_ns())
    return _Export(processor, batches, held=held)


def _run(
    config: SimulationConfig,
    live: LiveConfig | None = None,
    stop: threading.Event | None = None,
    warn: Callable[[str], None] | None = None,
) -> SimulationResult:
    _check(config)
    rng = random.Random(f"alexandrite:{config.seed}")
    faults = assign_faults(config.orders, config.fault_rates, rng)
    partners, shop = _customers(config.orders, rng)
    truth = _Truth()
    export = _export(config, live, truth.on_end, warn)
    lifecycle = Lifecycle(
        Instrumentation(SeededIdGenerator(config.seed), export.processor),
        EPOCH_NS,
        truth.on_fault,
        truth.on_state,
    )

    def place(index: int, created: int, source: str, fault: str | None) -> None:
        customer = rng.choice(partners if source == "partner_api" else shop)
        order = Order(f"A-{100001 + index}", customer, source, fault, rng)
        if order.fault == "lost_message":
            order.fault_site = rng.choice(_LOST_SITES[source])
        elif order.fault == "duplicate_delivery":
            order.fault_site = rng.choice(_DUPLICATE_SITES)
        elif order.fault == "db_timeout":
            order.fault_site = rng.choice(_DB_TIMEOUT_SITES)
        truth.add(order)
        lifecycle.start(order, created)

    for index, (created, source) in enumerate(_creation_times(config, rng)):
        place(index, created, source, faults[index])
    pace = None
    if live is not None and export.held is not None:
        pace = _live_orders(
            config, live, lifecycle, place, stop or threading.Event(), export.held.release
        )
    try:
        lifecycle.run(export.until, pace)
    finally:
        export.processor.shutdown()
    truth.sort_faults()
    if config.truth is not None:
        truth.write(config.truth)
    files = export.files.files if export.files else []
    return SimulationResult(files, export.batches.exported, truth.data)


def _live_orders(
    config: SimulationConfig,
    live: LiveConfig,
    lifecycle: Lifecycle,
    place: Callable[[int, int, str, str | None], None],
    stop: threading.Event,
    release: Callable[[int], None],
) -> Callable[[int], bool]:
    """Schedule new orders from live.from_days on (a random source of their own, so that
    everything before is exactly what the files hold) and return the pacing of the run: a
    step after the start waits until the wall clock, at live.speed, has reached it, and the
    spans that ended meanwhile by the clock are released (`release(ns)`) as it goes."""
    rng = random.Random(f"alexandrite-live:{config.seed}")
    per_day = config.orders / config.days
    start = live.from_days * DAY  # new orders from here on, whenever sending starts
    paced_from = live.sends_after_ns() - EPOCH_NS
    kinds = [kind for kind in FAULT_KINDS if config.fault_rates.get(kind, 0) > 0]
    weights = [config.fault_rates[kind] for kind in kinds]
    count = config.orders

    def new_order(t: int) -> None:
        nonlocal count
        source = "partner_api" if rng.random() < PARTNER_SHARE else "shop"
        draw = rng.random()
        fault = None
        for kind, weight in zip(kinds, weights, strict=True):
            if draw < weight:
                fault = kind
                break
            draw -= weight
        place(count, t, source, fault)
        count += 1
        lifecycle.at(t + int(rng.expovariate(per_day) * DAY), new_order)

    lifecycle.at(start + int(rng.expovariate(per_day) * DAY), new_order)
    began: list[float] = []

    def pace(t: int) -> bool:
        if t <= paced_from:
            return not stop.is_set()
        if not began:
            began.append(time.monotonic())
        due = began[0] + (t - paced_from) / 1e9 / live.speed
        while not stop.is_set():
            now = time.monotonic()
            # The clock, up to this step: later spans are made by the steps still to come.
            clock = paced_from + int((min(now, due) - began[0]) * live.speed * 1e9)
            release(EPOCH_NS + clock)
            wait = due - now
            if wait <= 0:
                return True
            stop.wait(min(wait, 1.0))
        return False

    return pace
