"""The explorer's pages over a receiver's database after the fuzz (tests/test_fuzz_receiver.py):
`python -m tests.fuzz_pages OUT.json SECONDS TRACES.json` with EXPLORER_DATA_DIR set to the
receiver's folder: the lists as every role, then the traces listed in TRACES.json (those of
hostile requests), other traces, every order and customer as support (who sees most), until
SECONDS have passed.

Run in a process of its own because the test's Django database is another: here Django's
test client reads the receiver's own database, logged in as each role (accounts/testing.py).
Writes [{"role", "url", "status", "error"}] to OUT.json: every answer, with the exception's
last lines for a 500.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from urllib.parse import quote, urlencode

PLAIN_ID = set("0123456789abcdef")
# Pages that list or search, for every role.
LISTS = [
    "/",
    "/orders-now/",
    *(f"/orders/?status={s}" for s in ("stuck", "lost", "anomalous", "in_progress", "complete")),
    "/orders/?status=stuck&page=2",
    "/alerts/",
    *(f"/alerts/?kind={k}" for k in ("stuck", "lost", "anomalous", "sla", "error")),
    "/map/",
    "/map/?window=7d",
    "/drift/",
    "/sla/",
    "/sla/?window=7d",
    "/sla/steps/?window=90d",
    "/sla/steps/orders/?over=1",
    "/anomalies/",
    "/anomalies/?window=7d",
    "/trends/?"
    + urlencode({"service": "\u202eevil<script>", "operation": "x\x00", "window": "7d"}),
    "/tours/",
    "/settings/",
    "/download/system-map.svg",
]
SEARCH_TERMS = ["A-100001", "a\nb", "\u202eevil", "\x00", "<script>", "%", "_", "x" * 300, "Ω"]


def path_of(*parts: str) -> str:
    return "/" + "/".join(quote(part, safe="") for part in parts) + "/"


def urls(rng: random.Random, order_ids: list[str], trace_ids: list[str], customers: list[str]):
    """(everyone: URLs for every role, one: URLs for the role that sees most)."""
    everyone = list(LISTS)
    everyone += [f"/search/?{urlencode({'q': term})}" for term in SEARCH_TERMS]
    everyone += [f"/?{urlencode({'q': term, 'status': 'error'})}" for term in SEARCH_TERMS[:4]]
    # Hostile orders and traces come first in both lists: the most likely to fail.
    sample_orders = order_ids[:6] + rng.sample(order_ids, min(2, len(order_ids)))
    sample_traces = trace_ids[:8]
    everyone += [path_of("orders", o) for o in sample_orders]
    everyone += [path_of("traces", t) for t in sample_traces]
    one = [path_of("traces", t) for t in trace_ids]
    one += [path_of("orders", o) for o in order_ids]
    one += [path_of("customers", c) for c in customers]
    for trace in sample_traces:
        base = path_of("traces", trace)
        one += [base + "rows/?offset=0&limit=50", base + "stats/", base + "diagram/"]
        one += [f"/download/trace/{quote(trace, safe='')}.{ext}" for ext in ("json", "csv")]
        one += [f"/compare/?{urlencode({'a': trace, 'b': 'typical'})}"]
    for order in sample_orders:
        quoted = quote(order, safe="")
        one += [f"/download/journey/{quoted}.{ext}" for ext in ("json", "csv")]
        one += [f"/download/journey-diagram/{quoted}.svg", path_of("tours", "follow", order)]
    return everyone, one


def logged_in(role: str):
    """A test client logged in, second factor verified, as a new user of `role` (or a
    superuser)."""
    from django.test import Client

    from accounts.testing import login_as, make_user

    client = Client(raise_request_exception=True)
    if role == "superuser":
        user = make_user(None, username=f"fuzz-superuser-{time.time_ns()}")
        user.is_superuser = True
        user.save()
        login_as(client, user=user)
    else:
        login_as(client, role, username=f"fuzz-{role}-{time.time_ns()}")
    return client


def main(out: str, budget_s: float, hostile_traces: str) -> None:
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    from accounts.roles import ROLES
    from explorer.orders.models import OrderStatus
    from explorer.store.attribute_keys import rows_of
    from explorer.store.models import StoredTrace

    setup_test_environment()  # "testserver" allowed, e-mail kept in memory
    rng = random.Random(0)
    order_ids = sorted(
        set(rows_of("order.id").values_list("value", flat=True))
        | set(OrderStatus.objects.values_list("order_id", flat=True))
    )
    customers = sorted(set(rows_of("customer.id").values_list("value", flat=True)))[:40]
    all_traces = list(StoredTrace.objects.values_list("trace_id", flat=True))
    odd = [t for t in all_traces if len(t) != 32 or not set(t) <= PLAIN_ID]
    hostile_orders = {o for o in order_ids if not o.startswith("A-1") or len(o) != 8}
    order_ids = sorted(hostile_orders) + sorted(set(order_ids) - hostile_orders)
    of_hostile = list(
        rows_of("order.id")
        .filter(value__in=hostile_orders)
        .values_list("trace__trace_id", flat=True)
        .distinct()
    )
    stored = set(all_traces)
    with open(hostile_traces) as listed:  # traces of hostile requests the receiver took
        trace_ids = [t for t in json.load(listed) if t in stored]
    trace_ids += sorted(set(odd) - set(trace_ids))
    trace_ids += sorted(set(rng.sample(of_hostile, min(20, len(of_hostile)))) - set(trace_ids))
    trace_ids += sorted(set(rng.sample(all_traces, min(20, len(all_traces)))) - set(trace_ids))
    everyone, one = urls(rng, order_ids, trace_ids, customers)
    clients = {role: logged_in(role) for role in (*ROLES, "superuser")}
    visits = [(role, url) for role in clients for url in everyone]
    visits += [("support", url) for url in one]
    results = []
    started = time.monotonic()
    for role, url in visits:
        if time.monotonic() - started > budget_s:
            break
        began = time.monotonic()
        try:
            status, error = clients[role].get(url).status_code, ""
        except Exception as exc:  # noqa: BLE001 - what a 500 would be, with its cause
            status = 500
            error = "".join(traceback.format_exception(exc)[-4:])[-1500:]
        results.append(
            {
                "role": role,
                "url": url,
                "status": status,
                "error": error,
                "seconds": round(time.monotonic() - began, 3),
            }
        )
    summary = {
        "orders": len(order_ids),
        "hostile_orders": len(hostile_orders),
        "traces": len(all_traces),
        "pages": results,
        "planned": len(visits),
    }
    with open(out, "w") as file:
        json.dump(summary, file)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
