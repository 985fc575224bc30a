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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
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
    OtlpJsonLinesExporter,
    SeededIdGenerator,
    SimulationError,
    SyncBatchProcessor,
    otlp_http_exporter,
)

__all__ = ["DEFAULT_FAULT_RATES", "EPOCH_NS", "FAULT_KINDS", "SimulationConfig",
           "SimulationError", "SimulationResult", "parse_fault_rates", "simulate"]

EPOCH_NS = 1_740_960_000 * 10**9  # Monday 2025-03-03 00:00:00 UTC
MAX_ORDERS = 1_000_000
_LOST_SITES = {"shop": ("submitted", "priced", "approved"), "partner_api": ("priced", "approved")}
_DUPLICATE_SITES = ("priced", "approved", "status-0", "status-1", "status-2", "status-3",
                    "closed")
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


@dataclass
class SimulationResult:
    files: list[Path]
    spans: int
    truth: dict[str, Any]


def _customers(orders: int, rng: random.Random) -> tuple[list[Customer], list[Customer]]:
    """B2B partners (few, many orders each) and shop customers (some come back)."""
    partners = [Customer(f"C-{n:05d}", "b2b_partner")
                for n in range(1, max(2, min(60, orders // 40 + 2)) + 1)]
    shop = [Customer(f"C-{n:05d}", "vip" if rng.random() < VIP_SHARE else "retail")
            for n in range(len(partners) + 1, len(partners) + max(2, orders * 6 // 10) + 1)]
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
    if not 1 <= config.orders <= MAX_ORDERS:
        raise SimulationError(f"--orders must be from 1 to {MAX_ORDERS}, not {config.orders}")
    if not 1 <= config.days <= 3650:
        raise SimulationError(f"--days must be from 1 to 3650, not {config.days}")
    if config.until_days is not None and not config.days <= config.until_days <= 3650:
        raise SimulationError(f"--until-days must be from --days ({config.days}) to 3650, "
                              f"not {config.until_days}")
    unknown = sorted(set(config.fault_rates) - set(FAULT_KINDS))
    if unknown:
        raise SimulationError(f"unknown fault kinds: {', '.join(unknown)}")
    rng = random.Random(f"alexandrite:{config.seed}")
    faults = assign_faults(config.orders, config.fault_rates, rng)
    partners, shop = _customers(config.orders, rng)
    truth: dict[str, Any] = {"orders": {}, "faults": {kind: [] for kind in FAULT_KINDS}}

    # A state counts once the span that recorded it is exported (with a cut-off, a span still
    # open at the cut-off never is); spans end in order, so the last one exported wins.
    recorded: dict[int, tuple[str, str]] = {}  # span id -> (order id, state), until it ends

    def on_state(order: Order, span: Span) -> None:
        recorded[span.get_span_context().span_id] = (order.id, order.state)

    def on_end(span: ReadableSpan, kept: bool) -> None:
        found = recorded.pop(span.context.span_id, None)
        if found is not None and kept:
            truth["orders"][found[0]]["final_state"] = found[1]

    def on_fault(order: Order, kind: str) -> None:
        happened = truth["faults"][kind]
        if not happened or happened[-1] != order.id:
            happened.append(order.id)

    file_exporter = OtlpJsonLinesExporter(config.out, EPOCH_NS)
    exporters = [(f"the file export into {config.out}", file_exporter)]
    if config.otlp_endpoint:
        exporters.append(otlp_http_exporter(config.otlp_endpoint))
    until = None if config.until_days is None else config.until_days * DAY
    batches = SyncBatchProcessor(exporters, config.batch_size)
    processor = CutOffProcessor(batches, None if until is None else EPOCH_NS + until, on_end)
    lifecycle = Lifecycle(Instrumentation(SeededIdGenerator(config.seed), processor), EPOCH_NS,
                          on_fault, on_state)
    for index, (created, source) in enumerate(_creation_times(config, rng)):
        customer = rng.choice(partners if source == "partner_api" else shop)
        order = Order(f"A-{100001 + index}", customer, source, faults[index], rng)
        if order.fault == "lost_message":
            order.fault_site = rng.choice(_LOST_SITES[source])
        elif order.fault == "duplicate_delivery":
            order.fault_site = rng.choice(_DUPLICATE_SITES)
        elif order.fault == "db_timeout":
            order.fault_site = rng.choice(_DB_TIMEOUT_SITES)
        truth["orders"][order.id] = {"customer_id": customer.id, "customer_type": customer.type,
                                     "source": source, "final_state": None}
        lifecycle.start(order, created)
    try:
        lifecycle.run(until)
    finally:
        processor.shutdown()
    for kind in FAULT_KINDS:
        truth["faults"][kind].sort()
    if config.truth is not None:
        try:
            Path(config.truth).write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise SimulationError(f"{config.truth}: cannot write the truth file: "
                                  f"{exc.strerror or exc}") from None
    return SimulationResult(file_exporter.files, batches.exported, truth)
