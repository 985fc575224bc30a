"""Example orders for tours, chosen by a selector the explorer evaluates on its own data.

A shipped tour names what kind of order illustrates it, not an order id, so it survives a
different simulation or real data:

    {"source": "shop", "customer_type": "retail", "status": "complete", "clean": "yes"}

find_example_order() picks the first matching order (in order-id order) from a trace source,
judged through the orders service (explorer.orders.service).
"""

from __future__ import annotations

from collections.abc import Mapping

from explorer.journeys.conformance import Conformance
from explorer.journeys.journey import Journey, channel_of
from explorer.orders.service import JudgingConfig, judge_states_of_orders, now_policy
from explorer.sources.base import ListsAttributeValues, SourceError, TraceSource
from explorer.traces.vocabulary import CUSTOMER_TYPE_KEY, ORDER_KEY

# What each key compares (all values are strings):
#   source            "shop" or "partner_api": the channel the order came through
#   customer_type     retail, b2b_partner, vip
#   status            complete, in_progress, stuck, lost
#   state             the order's current state
#   lost_from         the container that sent the message that was never consumed
#   lost_destination  the queue or topic of that message
#   clean             "yes": no state violation, no error, no lost message
SELECTOR_KEYS = (
    "source",
    "customer_type",
    "status",
    "state",
    "lost_from",
    "lost_destination",
    "clean",
)
MAX_CANDIDATES = 2_000


def order_facts(journey: Journey, conformance: Conformance) -> dict[str, str]:
    """The values a selector compares, for one order."""
    lost = conformance.unconsumed[-1] if conformance.unconsumed else None
    clean = not (
        conformance.violations
        or conformance.unconsumed
        or any(s.outcome == "error" for s in journey.steps)
    )
    return {
        "source": channel_of(journey),
        "customer_type": journey.customer_type or "",
        "status": conformance.status,
        "state": conformance.state or "",
        "lost_from": lost.container if lost else "",
        "lost_destination": lost.destination if lost else "",
        "clean": "yes" if clean else "no",
    }


def matches(facts: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(facts.get(key) == value for key, value in selector.items())


def _candidates(source: TraceSource, selector: Mapping[str, str]) -> list[str]:
    """Order ids worth assembling, sorted; narrowed by customer type through the index."""
    customer_type = selector.get("customer_type")
    if customer_type:
        found = source.find_traces(CUSTOMER_TYPE_KEY, customer_type, limit=MAX_CANDIDATES * 20)
        ids = {s.attributes[ORDER_KEY] for s in found if s.attributes.get(ORDER_KEY)}
    else:
        if not isinstance(source, ListsAttributeValues):
            raise SourceError(f"{source.name}: cannot list orders to choose an example from")
        ids = set(source.attribute_values(ORDER_KEY, limit=MAX_CANDIDATES))
    return sorted(ids)[:MAX_CANDIDATES]


def find_example_order(
    source: TraceSource,
    selector: Mapping[str, str],
    config: JudgingConfig,
    now_ns: int | None = None,
) -> str | None:
    """The first order (by id) whose journey matches every key of the selector, or None.

    Raises ValueError for an unknown key and SourceError when the source cannot answer."""
    unknown = sorted(set(selector) - set(SELECTOR_KEYS))
    if unknown:
        raise ValueError(
            f"unknown selector key(s) {', '.join(unknown)}; known: {', '.join(SELECTOR_KEYS)}"
        )
    now = now_policy(now_ns).in_source(source)
    if now is None:
        return None  # an empty source
    candidates = _candidates(source, selector)
    for judged in judge_states_of_orders(source, candidates, config, now_policy(now)):
        if matches(order_facts(judged.journey, judged.conformance), selector):
            return judged.order_id
    return None
