"""The live pipeline that `manage.py receive` and `manage.py watch` both start: the live
worker (explorer.orders.live) on the source and configuration, followed in each cycle by the
alert rules and their delivery (explorer.alerts.cycle.after_live_cycle), in a thread a
Supervisor starts again when it dies or stops cycling (docs/live.md).

It lives with the commands, above the pages and services, because it joins two of them: the
orders app (which cannot import the alerts) and the alerts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence

from django.conf import settings

from explorer.alerts.cycle import after_live_cycle
from explorer.alerts.models import Alert
from explorer.configuration import explorer_config
from explorer.management.supervisor import Supervisor
from explorer.orders.live import WorkerCycle, run_worker
from explorer.orders.retention import PruningStep
from explorer.orders.service import JudgingConfig
from explorer.sources.base import TraceSource

Step = Callable[[WorkerCycle], object]


def cycle_steps(
    source: TraceSource, say: Callable[[str], None], first: Sequence[Step] = ()
) -> list[Step]:
    """What runs after each worker cycle, in order, with its result: `first` (e.g. a command's
    report), then the alert rules and their delivery, then retention's pruning (every
    EXPLORER_RETENTION_INTERVAL_SECONDS); `say` gets their lines."""
    pruning = PruningStep(source, explorer_config, alerted=alerted_orders)
    return [*first, after_live_cycle(source, say), pruning]


def alerted_orders(order_ids: Collection[str]) -> set[str]:
    """Which of the orders ever had an alert (retention keeps their traces longer)."""
    found: set[str] = set()
    ids = sorted(order_ids)
    for first in range(0, len(ids), 500):
        rows = Alert.objects.filter(order_id__in=ids[first : first + 500])
        found.update(rows.values_list("order_id", flat=True))
    return found


def start_worker(
    source: TraceSource,
    config: JudgingConfig,
    stop: threading.Event,
    steps: Sequence[Step],
    *,
    interval_s: float | None = None,
    wake: threading.Event | None = None,
) -> Supervisor:
    """The live worker started under a Supervisor, cycles `interval_s` apart (None:
    EXPLORER_LIVE_INTERVAL_SECONDS) or sooner when `wake` is set (the receiver's commits),
    until `stop` is set. A long interval is no sign of a stuck worker: the supervisor then
    waits at least three intervals."""
    stale_s = settings.EXPLORER_LIVE_STALE_SECONDS
    supervisor = Supervisor(
        lambda own_stop, stats: run_worker(
            own_stop, interval_s, source, config, steps, wake=wake, stats=stats
        ),
        stop,
        stale_s=stale_s if interval_s is None else max(stale_s, 3 * interval_s),
    )
    supervisor.start()
    return supervisor
