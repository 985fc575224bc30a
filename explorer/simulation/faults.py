"""The kinds of faults the simulation injects, their default rates, and which orders get them."""

from __future__ import annotations

import random
from collections.abc import Iterable

from explorer.simulation.telemetry import SimulationError

# In the order of the truth file. Each is a different way an order goes wrong at Alexandrite.
FAULT_KINDS = (
    "lost_message",  # a message is published and never consumed: the order stops
    "duplicate_delivery",  # a consumer processes the same message twice
    "slow_price",  # MES API's price calculation is much slower than usual
    "crm_5xx",  # CRM API answers 503 and the CRM retries
    "db_timeout",  # a database statement times out (error status) and is retried
    "state_mismatch",  # the Shop side records a state MES has not reached
    "disallowed_transition",  # MES skips a state the graph requires
)
DEFAULT_FAULT_RATES = {
    "lost_message": 0.02,
    "duplicate_delivery": 0.02,
    "slow_price": 0.03,
    "crm_5xx": 0.03,
    "db_timeout": 0.02,
    "state_mismatch": 0.02,
    "disallowed_transition": 0.02,
}


def parse_fault_rates(options: Iterable[str]) -> dict[str, float]:
    """The default rates overridden by options like 'lost_message=0.03' (or 'all=0')."""
    rates = dict(DEFAULT_FAULT_RATES)
    for option in options:
        kind, sep, value = option.partition("=")
        kind = kind.strip()
        if not sep or (kind not in rates and kind != "all"):
            raise SimulationError(
                f"--fault-rate {option!r}: expected KIND=RATE with KIND one "
                f"of all, {', '.join(FAULT_KINDS)}"
            )
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise SimulationError(f"--fault-rate {option!r}: the rate must be a number from 0 to 1")
        for name in FAULT_KINDS if kind == "all" else (kind,):
            rates[name] = rate
    if sum(rates.values()) > 1.0 + 1e-9:
        raise SimulationError(
            f"the fault rates add up to {sum(rates.values()):.2f}; each order "
            f"gets at most one fault, so they must add up to at most 1"
        )
    return rates


def assign_faults(orders: int, rates: dict[str, float], rng: random.Random) -> list[str | None]:
    """For each order index its fault kind or None. Exactly round(rate * orders) orders get each
    kind, and no order gets two, so every injected fault shows (a lost message would otherwise
    hide the faults planned for later states)."""
    positions = list(range(orders))
    rng.shuffle(positions)
    faults: list[str | None] = [None] * orders
    taken = 0
    for kind in FAULT_KINDS:
        count = round(rates.get(kind, 0.0) * orders)
        for index in positions[taken : taken + count]:
            faults[index] = kind
        taken += count
    return faults
