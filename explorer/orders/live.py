"""Keep the order-status snapshot current by itself (docs/live.md).

Spans that arrive mark their orders as changed (explorer.orders.arrivals). A cycle of the
worker then

1. collects the source's new arrivals (collect_arrivals),
2. computes the changed orders again in batches (refresh_changed_orders), judged through the
   orders service against the stored reference, which it stores again on a schedule
   (refresh_reference_if_due),
3. re-judges the orders whose status changes only because time passes (rejudge: a state held
   over its limit becomes stuck, a message in flight for IN_FLIGHT_NS becomes lost),

and hands its WorkerCycle (every status change) to the steps that follow (run_worker's
`after_cycle`, e.g. alert rules; explorer/management/pipeline.py). "Now" is the newest span in
the source, as everywhere (explorer.orders.service.now_in).

The worker cannot die on what it reads: an order whose judging fails is logged with its id,
counted, and tried again after RETRY_FIRST_S, then twice as long each time up to RETRY_MAX_S
(OrderArrival.failures and retry_at_ns), while the other orders go on; an `order.id` that names
no order (explorer.journeys.intake) is logged with its trace and not marked; a step or a whole
cycle that fails is logged and counted, and the next cycle runs. After each completed cycle
the worker stores the wall-clock time as LiveMark CYCLE_DONE, which the home page reads to say
when the worker stopped (explorer/management/supervisor.py restarts a dead or stuck one).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)
from django.db.models import F, Q
from django.utils import timezone

from explorer.journeys.conformance import IN_PROGRESS, LOST, STUCK
from explorer.journeys.intake import shown_id
from explorer.journeys.report import Reference
from explorer.orders.arrivals import (
    IN_SLICE,
    Refusals,
    add_to_mark,
    collect_arrivals,
    get_mark,
    set_mark,
    settle,
)
from explorer.orders.models import (
    _OPEN,
    BASELINE,
    BaselineSnapshot,
    OrderArrival,
    OrderStatus,
)
from explorer.orders.service import JudgingConfig, judge_reference, judge_rows, now_in
from explorer.orders.status import OrderStatusRow
from explorer.sources.base import SourceError, TraceSource

__all__ = [
    "CYCLE_DONE",
    "CYCLE_SECONDS",
    "WORKER_CYCLES",
    "WORKER_ERRORS",
    "WorkerCycle",
    "WorkerStats",
    "StatusChange",
    "refresh_changed_orders",
    "refresh_reference_if_due",
    "rejudge",
    "run_cycle",
    "run_worker",
    "last_cycle_done_ns",
    "worker_errors",
]

log = logging.getLogger("explorer.live")

# LiveMark names: when a worker last finished a cycle (wall clock; the home page reads it);
# the errors the workers counted (a count, in value_ns). For /metrics
# (explorer/web/metrics_figures.py): how long the last completed cycle took (ns), and the
# cycles completed (a count).
CYCLE_DONE = "worker_cycle_done"
WORKER_ERRORS = "worker_errors"
CYCLE_SECONDS = "worker_cycle_ns"
WORKER_CYCLES = "worker_cycles"
# An order whose judging failed is tried again after this long, twice as long after each
# further failure, at most RETRY_MAX_S apart (wall clock, s).
RETRY_FIRST_S = 10.0
RETRY_MAX_S = 3600.0
# Woken by committed spans, the worker waits this long for more before its next cycle.
WAKE_GAP_S = 0.2
# A worker waiting for `wake` sees its stop event this often.
STOP_CHECK_S = 0.5


@dataclass(slots=True, frozen=True)
class StatusChange:
    """An order whose status changed: `before` None for an order not listed before."""

    order_id: str
    before: str | None
    after: str
    now_ns: int  # the newest span time it was judged at


@dataclass(slots=True)
class WorkerCycle:
    """What one cycle of the worker did."""

    now_ns: int | None = None  # None: the source holds no span
    marked: int = 0  # orders marked changed by the store's new arrivals
    recomputed: int = 0  # orders computed again
    rejudged: int = 0  # orders whose status changed only because time passed
    reference_stored: bool = False
    changes: list[StatusChange] = field(default_factory=list)
    seconds: float = 0.0
    refused: int = 0  # order ids that name no order (explorer.journeys.intake), not marked
    # What failed, one line each ("order A-1: ValueError: ..."): the worker's own orders,
    # then whatever the after_cycle steps add.
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One log line."""
        return (
            f"{self.marked} orders marked, {self.recomputed} computed again, "
            f"{self.rejudged} re-judged, {len(self.changes)} status changes"
            f"{', reference stored' if self.reference_stored else ''}"
            f"{f', {self.refused} order ids refused' if self.refused else ''}"
            f"{f', {len(self.errors)} errors' if self.errors else ''} "
            f"in {self.seconds:.2f} s"
        )


@dataclass(slots=True)
class WorkerStats:
    """What a running worker did, for its supervisor (in this process): cycles and errors
    counted, and when it last showed progress (time.monotonic: a cycle or a batch done)."""

    cycles: int = 0
    errors: int = 0
    last_cycle_ns: int | None = None  # wall clock, as LiveMark CYCLE_DONE
    started_at: float = field(default_factory=time.monotonic)
    progress_at: float = field(default_factory=time.monotonic)

    def progressed(self) -> None:
        self.progress_at = time.monotonic()


# --- Computing again ----------------------------------------------------------------------


def refresh_changed_orders(
    source: TraceSource,
    config: JudgingConfig,
    now_ns: int | None = None,
    batch: int | None = None,
    stop: threading.Event | None = None,
    progressed: Callable[[], None] | None = None,
) -> WorkerCycle:
    """Compute the pending orders again, `batch` at a time (EXPLORER_LIVE_BATCH), each batch
    stored in one transaction, until none is due (or `stop` is set; `progressed` is called
    after each batch); judged at `now_ns` (default: the newest span) against the stored
    reference, stored first if there is none that serves. An order that fails is logged,
    counted in `errors` and tried again later (retry_later); the others go on."""
    result = WorkerCycle(now_ns=now_in(source, now_ns))
    now = result.now_ns
    if now is None:
        return result
    size = batch or settings.EXPLORER_LIVE_BATCH
    reference: Reference | None = None
    while stop is None or not stop.is_set():
        pending = dict(
            OrderArrival.objects.filter(pending=True)
            .filter(Q(retry_at_ns__isnull=True) | Q(retry_at_ns__lte=time.time_ns()))
            .order_by("arrived_ns", "order_id")
            .values_list("order_id", "arrived_ns")[:size]
        )
        if not pending:
            break
        if reference is None:
            reference = _usable_reference(source, config, now)
            result.reference_stored = reference.stored_at is None
        _refresh_batch(source, config, pending, reference, now, result)
        if progressed is not None:
            progressed()
    return result


def _refresh_batch(
    source: TraceSource,
    config: JudgingConfig,
    pending: dict[str, int],
    reference: Reference,
    now: int,
    result: WorkerCycle,
) -> None:
    """Judge and store one batch of pending orders (id -> arrival read), each order on its
    own: one that cannot be judged or stored waits for its retry. When no order could be
    read from the source or the database, they are down (not the orders' fault): the error
    is raised, the cycle fails and the next one tries again, with no order put back."""
    # Marked before ids were checked (or by an older version): settled, never judged.
    refusals = Refusals()
    refused = [o for o in pending if not refusals.usable(o, "the orders marked changed")]
    result.refused += refusals.count
    rows: list[OrderStatusRow] = []
    errors: dict[str, Exception] = {}
    for order_id in [o for o in pending if o not in refused]:
        try:
            rows += judge_rows(source, config, [order_id], reference.baseline, now)
        except Exception as exc:  # one order must not stop the others
            errors[order_id] = exc
    if errors and not rows and all(_unreachable(e) for e in errors.values()):
        raise next(iter(errors.values()))
    failed = {o: _failure(o, "could not be judged", exc) for o, exc in errors.items()}
    before_at = {
        row.order_id: row.status_at(now)
        for row in OrderStatus.objects.filter(order_id__in=list(pending))
    }
    try:
        with transaction.atomic():
            OrderStatus.save_rows(rows, timezone.now())
            settle({o: at for o, at in pending.items() if o not in failed})
    except Exception:  # the database refused a row, or a bug: row by row
        settle({o: pending[o] for o in refused})
        rows = _save_one_by_one(rows, pending, failed)
    retry_later(failed, result)
    OrderArrival.objects.filter(order_id__in=[row.order_id for row in rows], failures__gt=0).update(
        failures=0, retry_at_ns=None
    )
    result.recomputed += len(rows)
    for row in rows:
        after = row.status_at(now)
        if before_at.get(row.order_id) != after:
            result.changes.append(
                StatusChange(row.order_id, before_at.get(row.order_id), after, now)
            )


def _save_one_by_one(
    rows: list[OrderStatusRow], pending: dict[str, int], failed: dict[str, str]
) -> list[OrderStatusRow]:
    """After a batch the database refused: each row in its own transaction, so that the one
    it refuses waits for its retry and the others are stored. Returns the rows stored. When
    none could be stored for the database being down, that error is raised (the cycle
    fails and the next one tries again)."""
    stored = []
    errors: dict[str, Exception] = {}
    for row in rows:
        try:
            with transaction.atomic():
                OrderStatus.save_rows([row], timezone.now())
                settle({row.order_id: pending[row.order_id]})
        except Exception as exc:
            errors[row.order_id] = exc
        else:
            stored.append(row)
    if errors and not stored and all(_unreachable(e) for e in errors.values()):
        raise next(iter(errors.values()))
    failed.update({o: _failure(o, "could not be stored", exc) for o, exc in errors.items()})
    return stored


def _unreachable(exc: Exception) -> bool:
    """Whether the error says the source or the database is down (or the connection to it),
    not that the order is odd (DataError, IntegrityError: a row the database refuses)."""
    return isinstance(exc, SourceError | OperationalError | InterfaceError)


def _failure(order_id: str, what: str, exc: Exception) -> str:
    """Log an order that failed, with the traceback; its error line."""
    line = f"order {shown_id(order_id)} {what}: {type(exc).__name__}: {exc}"
    log.error("live worker: %s", line, exc_info=exc)
    return line


def retry_later(failed: Mapping[str, str], result: WorkerCycle) -> None:
    """Orders that failed (id -> error line) stay pending, tried again RETRY_FIRST_S after
    their first failure in a row, twice as long after each further one, at most RETRY_MAX_S;
    their errors go to `result.errors`."""
    if not failed:
        return
    result.errors.extend(failed.values())
    now = time.time_ns()
    rows = OrderArrival.objects.filter(order_id__in=list(failed))
    for order_id, failures in rows.values_list("order_id", "failures"):
        wait_s = min(RETRY_FIRST_S * 2 ** min(failures, 32), RETRY_MAX_S)
        OrderArrival.objects.filter(order_id=order_id).update(
            failures=F("failures") + 1, retry_at_ns=now + int(wait_s * 1e9)
        )


def _usable_reference(source: TraceSource, config: JudgingConfig, now_ns: int) -> Reference:
    """The stored reference if it serves at now_ns, else one computed and stored now."""
    stored = BaselineSnapshot.load_reference(source.name, "")
    if stored is not None and stored.serves(now_ns):
        return stored
    return store_reference(source, config, now_ns)


def store_reference(source: TraceSource, config: JudgingConfig, now_ns: int) -> Reference:
    """Compute the reference at now_ns and store it. The stored typical-journey samples of
    orders with no spans since the previous reference are reused; the others are judged
    again."""
    previous = BaselineSnapshot.stored_samples(source.name)
    stored_at = (
        BaselineSnapshot.objects.filter(source=source.name, kind=BASELINE)
        .values_list("computed_at", flat=True)
        .first()
    )
    if stored_at is not None and previous:
        since = int(stored_at.timestamp() * 10**9)
        for order_id in OrderArrival.objects.filter(
            order_id__in=list(previous), arrived_ns__gte=since
        ).values_list("order_id", flat=True):
            previous.pop(order_id, None)
    reference = judge_reference(source, config, now_ns, previous)
    BaselineSnapshot.save_reference(source.name, reference, timezone.now())
    return reference


def refresh_reference_if_due(source: TraceSource, config: JudgingConfig, now_ns: int) -> bool:
    """Store the reference again when none is stored, it no longer serves now_ns, or it is
    older than EXPLORER_LIVE_REFERENCE_SECONDS (wall clock) and spans arrived since. Returns
    whether it was stored."""
    row = (
        BaselineSnapshot.objects.filter(source=source.name, kind=BASELINE)
        .values_list("as_of_ns", "computed_at")
        .first()
    )
    if row is not None:
        as_of, computed_at = row
        serves = Reference(None, {}, as_of).serves(now_ns)  # type: ignore[arg-type]
        age_s = (timezone.now() - computed_at).total_seconds()
        since = int(computed_at.timestamp() * 10**9)
        if serves and (
            age_s < settings.EXPLORER_LIVE_REFERENCE_SECONDS
            or not OrderArrival.objects.filter(arrived_ns__gte=since).exists()
        ):
            return False
    store_reference(source, config, now_ns)
    return True


def rejudge(now_ns: int) -> list[StatusChange]:
    """Orders whose stored status differs at now_ns only because time passed (a state over
    its limit: stuck; a message in flight for IN_FLIGHT_NS: lost): their rows now say so."""
    changes: list[StatusChange] = []
    stuck = OrderStatus.objects.stuck_at(now_ns).filter(status=IN_PROGRESS)
    lost = OrderStatus.objects.lost_at(now_ns).filter(status__in=_OPEN)
    for status, rows in ((LOST, lost), (STUCK, stuck)):
        found = list(rows.values_list("pk", "order_id", "status"))
        for first in range(0, len(found), IN_SLICE):
            part = found[first : first + IN_SLICE]
            OrderStatus.objects.filter(pk__in=[pk for pk, _, _ in part]).update(
                status=status, as_of_ns=now_ns
            )
        changes.extend(
            StatusChange(order_id, before, status, now_ns) for _, order_id, before in found
        )
    return changes


# --- The worker ---------------------------------------------------------------------------


def run_cycle(
    source: TraceSource,
    config: JudgingConfig,
    now_ns: int | None = None,
    stop: threading.Event | None = None,
    progressed: Callable[[], None] | None = None,
) -> WorkerCycle:
    """One cycle: collect arrivals, store the reference if due, compute the changed orders
    again, re-judge the others at now."""
    started = time.perf_counter()
    # "Now" before the arrivals: every span it counts is then among the arrivals collected,
    # so an order is never judged at a now that includes a consumer it has not read.
    now = now_in(source, now_ns)
    result = WorkerCycle(now_ns=now)
    refusals = Refusals()
    result.marked = collect_arrivals(source, refusals)
    result.refused += refusals.count
    if now is not None:
        result.reference_stored = refresh_reference_if_due(source, config, now)
        changed = refresh_changed_orders(source, config, now, stop=stop, progressed=progressed)
        result.recomputed = changed.recomputed
        result.reference_stored |= changed.reference_stored
        result.refused += changed.refused
        result.errors += changed.errors
        changes = rejudge(now)
        result.rejudged = len(changes)
        result.changes = changed.changes + changes
    result.seconds = time.perf_counter() - started
    return result


def run_worker(
    stop_event: threading.Event,
    interval_s: float | None,
    source: TraceSource,
    config: JudgingConfig,
    after_cycle: Sequence[Callable[[WorkerCycle], object]] = (),
    wake: threading.Event | None = None,
    stats: WorkerStats | None = None,
) -> None:
    """Run cycles until `stop_event` is set, `interval_s` (EXPLORER_LIVE_INTERVAL_SECONDS)
    apart (None: the setting), or sooner when `wake` is set (the receiver sets it when it
    committed spans; at most one cycle per WAKE_GAP_S then); each result goes to the
    `after_cycle` steps in order (e.g. alert rules). `source` and `config`: get_source() and
    explorer_config(). Nothing stops it but `stop_event`: an order that fails waits for its
    retry, a step or a cycle that fails is logged with its traceback and counted, and the next
    cycle runs. After each completed cycle it stores LiveMark CYCLE_DONE (and the errors
    counted, WORKER_ERRORS) and updates `stats` (for a supervisor). Runs in a thread as well
    (with its own database connections)."""
    interval = settings.EXPLORER_LIVE_INTERVAL_SECONDS if interval_s is None else interval_s
    stats = stats if stats is not None else WorkerStats()
    try:
        while not stop_event.is_set():
            close_old_connections()
            _one_cycle(stop_event, source, config, after_cycle, stats)
            stats.progressed()
            _pause(stop_event, wake, interval)
    finally:
        close_old_connections()


def _one_cycle(
    stop_event: threading.Event,
    source: TraceSource,
    config: JudgingConfig,
    after_cycle: Sequence[Callable[[WorkerCycle], object]],
    stats: WorkerStats,
) -> None:
    """A cycle and its steps, whatever they raise; the heartbeat when it completed."""
    try:
        result = run_cycle(source, config, stop=stop_event, progressed=stats.progressed)
    except Exception:  # the database or the source failed, or a bug: the next cycle runs
        log.exception("live worker: the cycle failed, trying again next cycle")
        stats.errors += 1
        _store_heartbeat(1, None)
        return
    if result.recomputed or result.changes or result.reference_stored or result.errors:
        log.info("live worker: %s", result.line())
    for step in after_cycle:
        try:
            step(result)
        except Exception as exc:  # one step must not stop the others, nor the worker
            log.exception("live worker: the step %s failed", getattr(step, "__name__", step))
            result.errors.append(f"step {getattr(step, '__name__', step)}: {exc!r}")
    stats.errors += len(result.errors)
    stats.cycles += 1
    stats.last_cycle_ns = time.time_ns()
    _store_heartbeat(len(result.errors), stats.last_cycle_ns, result.seconds)


def _store_heartbeat(errors: int, done_ns: int | None, seconds: float = 0.0) -> None:
    """Add to the errors counted in LiveMark WORKER_ERRORS (by every worker process) and, for
    a completed cycle, store its end as CYCLE_DONE, how long it took (CYCLE_SECONDS) and count
    it (WORKER_CYCLES); a database that is down is only logged."""
    try:
        # One transaction: one turn at SQLite's write lock for the three marks, which the
        # receiver's writers hold most of the time under load.
        with transaction.atomic():
            if errors:
                add_to_mark(WORKER_ERRORS, errors)
            if done_ns is not None:
                set_mark(CYCLE_DONE, done_ns)
                set_mark(CYCLE_SECONDS, int(seconds * 1e9))
                add_to_mark(WORKER_CYCLES, 1)
    except DatabaseError:
        log.exception("live worker: could not store the heartbeat")


def worker_errors() -> int:
    """The errors every live worker counted (LiveMark WORKER_ERRORS)."""
    return get_mark(WORKER_ERRORS) or 0


def last_cycle_done_ns() -> int | None:
    """When a live worker last finished a cycle (wall clock, ns; LiveMark CYCLE_DONE), or
    None when none ever did."""
    return get_mark(CYCLE_DONE)


def _pause(stop_event: threading.Event, wake: threading.Event | None, interval: float) -> None:
    """Until `interval` passed or `stop_event` is set; when `wake` is set first (spans were
    committed), WAKE_GAP_S more, to gather a few more spans before the next cycle."""
    if wake is None:
        stop_event.wait(interval)
        return
    deadline = time.monotonic() + interval
    while not stop_event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if wake.wait(min(left, STOP_CHECK_S)):
            wake.clear()
            stop_event.wait(WAKE_GAP_S)
            return
