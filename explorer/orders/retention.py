"""Retention: which stored traces go, and when (EXPLORER_RETENTION_*, docs/store.md#retention).

An order is as old as its newest stored trace, and its traces go together:
- traces of an order that went well, and a trace of no order, once older than trace_days;
- traces of a problem order (lost or stuck at "now", off the state graph, anomalous, an
  alert about it, a SERVER span over its SLA) once older than problem_days; an order the
  snapshot never judged counts as one, since nothing says it went well;
- order status rows (and their arrival marks), hourly figures and the records of removed
  traces once older than status_days.

"Now" is the newest span in the source, as everywhere (explorer.orders.service.now_in). The
store's side (batches, short transactions, records, space) is explorer.store.retention's.
`manage.py prune` runs it; the live worker runs it every interval_s (pruning_step).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from explorer.journeys.conformance import LOST, STUCK
from explorer.journeys.sla import breaches
from explorer.journeys.state_graph import Sla
from explorer.orders.models import OrderArrival, OrderStatus
from explorer.orders.retention_policy import RetentionPolicy
from explorer.orders.service import JudgingConfig
from explorer.sources.base import ReadsStoredLayouts, TraceNotFound, TraceSource
from explorer.store import retention as store
from explorer.store.retention import OldTrace, Position
from explorer.traces.model import Span

log = logging.getLogger("explorer.retention")

# Why a trace was removed, and why one old enough was kept.
ORDER_WENT_WELL, NO_ORDER, PAST_PROBLEM_DAYS = "order_went_well", "no_order", "past_problem_days"
RECENT, ALERT, VIOLATION, ANOMALOUS, SLA = "order_recent", "alert", "violation", "anomalous", "sla"
UNJUDGED = "unjudged"
# Returns which of the order ids had an alert (the alerts app answers; orders cannot ask it).
Alerted = Callable[[Collection[str]], set[str]]


def no_alerts(order_ids: Collection[str]) -> set[str]:
    return set()


@dataclass(slots=True)
class PruneReport:
    """What a prune removed (or, dry, would remove) and kept, by reason."""

    removed: Counter = field(default_factory=Counter)  # traces by reason
    kept: Counter = field(default_factory=Counter)  # traces past trace_days kept, by reason
    spans: int = 0  # spans of the traces removed
    status_rows: int = 0
    hourly_rows: int = 0
    records: int = 0  # records of removed traces past status_days
    pages_freed: int = 0
    finished: bool = True  # False: stopped at the deadline, the next run goes on
    resume_at: Position | None = None

    def lines(self, dry_run: bool = False) -> list[str]:
        verb = "would remove" if dry_run else "removed"
        lines = [f"{verb}: {sum(self.removed.values())} traces, {self.spans} spans"]
        lines += [f"  {reason}: {count}" for reason, count in sorted(self.removed.items())]
        lines.append(f"kept past the trace horizon: {sum(self.kept.values())} traces")
        lines += [f"  {reason}: {count}" for reason, count in sorted(self.kept.items())]
        lines.append(
            f"{verb}: {self.status_rows} order status rows, {self.hourly_rows} hourly rows, "
            f"{self.records} records of removed traces"
        )
        if self.pages_freed:
            lines.append(f"space given back: {self.pages_freed} pages")
        if not self.finished:
            lines.append("stopped at the time limit: the next run goes on")
        return lines


@dataclass(slots=True)
class _Judge:
    """Whether orders were problems, asked once per order in a run."""

    source: TraceSource
    config: JudgingConfig
    now_ns: int
    alerted: Alerted
    known: dict[str, str | None] = field(default_factory=dict)  # order -> reason, None: went well

    def reasons(self, order_ids: Iterable[str]) -> dict[str, str | None]:
        asked = sorted(set(order_ids) - set(self.known))
        if asked:
            self.known.update(self._judge(asked))
        return self.known

    def _judge(self, order_ids: list[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = dict.fromkeys(order_ids, UNJUDGED)
        for row in OrderStatus.objects.filter(order_id__in=order_ids):
            status = row.status_at(self.now_ns)
            if status in (LOST, STUCK):
                found[row.order_id] = status
            elif row.violations:
                found[row.order_id] = VIOLATION
            elif row.anomalous:
                found[row.order_id] = ANOMALOUS
            else:
                found[row.order_id] = None
        for order_id in self.alerted([o for o, reason in found.items() if reason is None]):
            found[order_id] = ALERT
        for order_id in self._over_sla([o for o, reason in found.items() if reason is None]):
            found[order_id] = SLA
        return found

    def _over_sla(self, order_ids: list[str]) -> set[str]:
        """The orders with a SERVER span slower than its SLA: only traces longer than the
        smallest limit are read."""
        sla = self.config.sla
        if sla is None or not order_ids:
            return set()
        limits = [
            limit
            for container in sla.containers.values()
            for limit in (container.default_ms, *container.endpoints.values())
        ]
        if not limits:
            return set()
        found = set()
        longer = store.traces_longer_than(order_ids, int(min(limits) * 1e6))
        for order_id, trace_ids in longer.items():
            if any(self._breached(sla, trace_id) for trace_id in trace_ids):
                found.add(order_id)
        return found

    def _breached(self, sla: Sla, trace_id: str) -> bool:
        """Whether a span of the trace answered slower than its SLA: read a chunk at a time
        (a trace of a million spans never whole), stopping at the first such span."""
        try:
            if isinstance(self.source, ReadsStoredLayouts):
                chunks: Iterable[list[Span]] = self.source.iter_spans(trace_id)
            else:
                chunks = [self.source.get_trace(trace_id).spans]
            container_of = self.config.container_of
            return any(breaches(sla, ((container_of(s), s) for s in spans)) for spans in chunks)
        except TraceNotFound:  # removed meanwhile: nothing left to keep
            return False


def _weigh(
    batch: list[OldTrace], judge: _Judge, cutoffs: tuple[int, int, int], report: PruneReport
) -> tuple[list[OldTrace], dict[int, str]]:
    """The traces of the batch that go (with their orders); counts each trace's reason."""
    trace_cut, problem_cut, _ = cutoffs
    order_of = store.orders_of([t.pk for t in batch])
    newest = store.newest_ends(set(order_of.values()))
    banded = {o for o in set(order_of.values()) if problem_cut <= newest.get(o, 0) < trace_cut}
    reasons = judge.reasons(banded) if banded else {}
    going = []
    for trace in batch:
        order_id = order_of.get(trace.pk)
        if order_id is None:
            keep, reason = trace.end_ns >= trace_cut, NO_ORDER
        elif newest.get(order_id, 0) >= trace_cut:
            keep, reason = True, RECENT
        elif newest.get(order_id, 0) < problem_cut:
            keep, reason = False, PAST_PROBLEM_DAYS
        else:
            found = reasons.get(order_id)
            keep, reason = found is not None, found or ORDER_WENT_WELL
        if keep:
            report.kept[RECENT if order_id is None else reason] += 1
        else:
            report.removed[reason] += 1
            going.append(trace)
    return going, order_of


def prune_traces(
    source: TraceSource,
    config: JudgingConfig,
    policy: RetentionPolicy,
    now_ns: int,
    *,
    dry_run: bool = False,
    alerted: Alerted = no_alerts,
    deadline: float | None = None,
    after: Position | None = None,
    report: PruneReport | None = None,
) -> PruneReport:
    """Remove the traces the policy no longer keeps, policy.batch per transaction, oldest
    first from `after`; stops at `deadline` (time.monotonic()) with report.resume_at set."""
    report = report if report is not None else PruneReport()
    cutoffs = policy.cutoffs(now_ns)
    judge = _Judge(source, config, now_ns, alerted)
    today = timezone.localdate()
    if not dry_run:
        forget_samples_before(cutoffs[0])
    while True:
        batch = store.traces_started_before(cutoffs[0], after, policy.batch)
        if not batch:
            report.finished, report.resume_at = True, None
            return report
        after = (batch[-1].start_ns, batch[-1].pk)
        going, order_of = _weigh(batch, judge, cutoffs, report)
        if dry_run:
            report.spans += sum(t.span_count for t in going)
        else:
            report.spans += store.remove_traces(going, order_of, today)
        if deadline is not None and time.monotonic() >= deadline:
            report.finished, report.resume_at = False, after
            return report


def forget_samples_before(cut_ns: int) -> int:
    """The typical-journey samples kept with the rows of orders seen before `cut_ns`
    (explorer.orders.samples): a trace of their journeys may go now (one of no order they
    link to, too), and a sample must be the journey's that is stored. Their traces answer
    instead until the live worker or a refresh computes the rows again. Returns the rows."""
    return OrderStatus.objects.filter(first_seen_ns__lt=cut_ns, sample__isnull=False).update(
        sample=None
    )


def prune_statuses(
    policy: RetentionPolicy, now_ns: int, report: PruneReport, dry_run: bool
) -> None:
    """Order status rows (and arrival marks) of orders last seen before the status horizon,
    hourly figures and records of removed traces older than it."""
    cut = policy.cutoffs(now_ns)[2]
    old = list(OrderStatus.objects.filter(last_seen_ns__lt=cut).values_list("order_id", flat=True))
    report.status_rows = len(old)
    if not dry_run:
        for first in range(0, len(old), store.IN_SLICE):
            part = old[first : first + store.IN_SLICE]
            OrderStatus.objects.filter(order_id__in=part).delete()
            OrderArrival.objects.filter(order_id__in=part, pending=False).delete()
    report.hourly_rows = store.remove_hourly_before(cut, dry_run)
    report.records = store.remove_records_before(cut, dry_run)


def prune(
    source: TraceSource,
    config: JudgingConfig,
    now_ns: int,
    *,
    policy: RetentionPolicy | None = None,
    dry_run: bool = False,
    alerted: Alerted = no_alerts,
) -> PruneReport:
    """Everything the policy (default: the settings') no longer keeps, at now_ns; then the
    space given back (SQLite in incremental mode)."""
    policy = policy or settings.EXPLORER_RETENTION
    report = prune_traces(source, config, policy, now_ns, dry_run=dry_run, alerted=alerted)
    prune_statuses(policy, now_ns, report, dry_run)
    if not dry_run:
        report.pages_freed = store.give_space_back()
    return report


# The live worker's pruning: at most this long per cycle (then the next cycle goes on from
# where it stopped), and at most this many free pages given back per cycle.
STEP_SECONDS = 1.0
STEP_PAGES = 2000


@dataclass(slots=True)
class PruningStep:
    """A step after each live worker cycle (explorer/management/pipeline.py) that prunes
    every policy.interval_s, STEP_SECONDS at a time: writers wait at most one batch's
    transaction, the worker's next cycle at most STEP_SECONDS."""

    source: TraceSource
    config: Callable[[], JudgingConfig]
    alerted: Alerted = no_alerts
    policy: RetentionPolicy | None = None
    say: Callable[[str], None] | None = None
    # time.monotonic() of the next run; None: one interval after the worker's first cycle (a
    # process that starts catches up with its arrivals first).
    next_at: float | None = None
    report: PruneReport | None = None  # of the run under way

    def __call__(self, cycle) -> PruneReport | None:
        policy = self.policy or settings.EXPLORER_RETENTION
        if self.next_at is None:
            self.next_at = time.monotonic() + policy.interval_s
        if not policy.interval_s or cycle.now_ns is None or time.monotonic() < self.next_at:
            return None
        going_on = self.report is not None
        report = prune_traces(
            self.source,
            self.config(),
            policy,
            cycle.now_ns,
            alerted=self.alerted,
            deadline=time.monotonic() + STEP_SECONDS,
            after=self.report.resume_at if self.report else None,
            report=self.report if going_on else None,
        )
        if report.resume_at is not None:
            report.pages_freed += store.give_space_back(STEP_PAGES)
            self.report = report
            return report
        prune_statuses(policy, cycle.now_ns, report, dry_run=False)
        report.pages_freed += store.give_space_back(STEP_PAGES)
        self.report, self.next_at = None, time.monotonic() + policy.interval_s
        if report.removed or report.status_rows:
            log.info("retention: %s", "; ".join(line.strip() for line in report.lines()))
        return report
