"""One evaluation cycle: judge every enabled rule at "now", open, refresh and resolve alerts,
and deliver what opened and what resolved.

    from explorer.alerts.cycle import run_cycle
    result = run_cycle()            # now: the newest span in the trace source

`manage.py watch` runs it after each cycle of the live worker (`after_live_cycle`, the step
run_worker hands every explorer.orders.live.WorkerCycle to); `manage.py alerts --evaluate`
runs it alone (after `orders --refresh`, for set-ups without the live worker).

What fails in one rule, one alert or one delivery is logged (with the order), counted in the
result's `errors` and passed on to the live worker's; the other rules, alerts and deliveries
go on. An alert whose journey cannot be read for its text opens with less text; one the
database refuses opens at a later cycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from explorer.alerts.config import KINDS
from explorer.alerts.delivery import deliver
from explorer.alerts.models import Alert, AlertRule, Delivery
from explorer.alerts.rules import (
    DESCRIBED_KINDS,
    RULES,
    Evaluation,
    Finding,
    Situation,
    describe_order,
)
from explorer.composition import get_source
from explorer.configuration import explorer_config
from explorer.orders.live import WorkerCycle
from explorer.orders.service import now_in
from explorer.sources.base import SourceError, TraceSource
from explorer.store.models import storable

log = logging.getLogger("explorer.alerts")
SUBJECT_LENGTH = 400  # Alert.subject's max_length
# With no new span and no status change the rules would judge the same again: the live step
# then waits this long (wall clock) before a cycle, so edited rules still take effect.
IDLE_SECONDS = 60.0
# While orders keep changing, the rules run at most this often (wall clock): under a stream of
# spans the live worker cycles several times a second, and judging every rule after each
# cycle would slow the worker that keeps the statuses current.
BUSY_SECONDS = 5.0


@dataclass(slots=True)
class CycleResult:
    now_ns: int | None  # None: the source holds no span, nothing was judged
    opened: list[Alert] = field(default_factory=list)
    refreshed: int = 0
    resolved: list[Alert] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # rules that could not be judged
    errors: list[str] = field(default_factory=list)  # what failed unexpectedly, one line each

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]

    def line(self) -> str:
        failed = len(self.failed_deliveries)
        return (
            f"alerts: {len(self.opened)} opened, {self.refreshed} still open, "
            f"{len(self.resolved)} resolved; {len(self.deliveries) - failed} delivered, "
            f"{failed} failed"
            + "".join(f"; {p}" for p in self.problems)
            + (f"; {len(self.errors)} errors" if self.errors else "")
        )


def run_cycle(
    now_ns: int | None = None, source: TraceSource | None = None, send: bool = True
) -> CycleResult:
    """Evaluate the rules at `now_ns` (default: the newest span in the source), update the
    stored alerts and (with `send`) deliver the ones that opened or resolved."""
    source = source or get_source()
    now = now_in(source, now_ns)
    result = CycleResult(now)
    if now is None:
        return result
    config = explorer_config()
    situation = Situation(source, config, now)
    rules = {kind: AlertRule.settings_for(kind) for kind in KINDS}
    for kind, rule in rules.items():
        if not rule.enabled:
            continue  # a disabled rule neither opens nor resolves anything
        try:
            evaluation = RULES[kind](rule, situation)
        except SourceError as exc:  # judged next cycle; resolving now would be wrong
            result.problems.append(f"{kind} not judged: {exc}")
            log.warning("alerts: the %s rule could not be judged: %s", kind, exc)
            continue
        except Exception as exc:  # a bug or odd data: the other rules go on
            log.exception("alerts: the %s rule failed", kind)
            result.problems.append(f"{kind} not judged: {type(exc).__name__}")
            result.errors.append(f"rule {kind}: {type(exc).__name__}: {exc}")
            continue
        _apply(evaluation, situation, result)
    if send:
        result.deliveries = deliver(
            result.opened + result.resolved, rules, config.names, result.errors
        )
    return result


def _apply(evaluation: Evaluation, situation: Situation, result: CycleResult) -> None:
    seen = timezone.now()
    open_alerts = {a.subject: a for a in Alert.objects.open().filter(kind=evaluation.kind)}
    found = {subject_key(f.subject): f for f in evaluation.found}
    undecided = {subject_key(s) for s in evaluation.undecided}
    still = [a.pk for subject, a in open_alerts.items() if subject in found]
    Alert.objects.filter(pk__in=still).update(last_seen_at=seen)
    result.refreshed += len(still)
    for subject, finding in found.items():
        if subject in open_alerts:
            if finding.kind not in DESCRIBED_KINDS:  # figures, or the state, may have moved
                Alert.objects.filter(pk=open_alerts[subject].pk).update(
                    facts=storable(finding.facts)
                )
            continue
        alert = _open(finding, situation, seen, result.errors)
        if alert is not None:
            result.opened.append(alert)
    for subject, alert in open_alerts.items():
        if subject not in found and subject not in undecided:
            alert.resolved_at = seen
            alert.save(update_fields=["resolved_at"])
            result.resolved.append(alert)


def subject_key(subject: str) -> str:
    """A subject as the alert stores it (what the open alert is found again by)."""
    return storable(subject)[:SUBJECT_LENGTH]


def _open(finding: Finding, situation: Situation, at, errors: list[str]) -> Alert | None:
    """The alert of a finding, stored; None when another cycle opened it first, or the
    database refused it (logged, in `errors`: it opens at a later cycle)."""
    if finding.order_id:
        try:
            describe_order(finding, situation)
        except Exception as exc:  # the alert opens all the same, with less text
            errors.append(_error_line(finding, "could not be described", exc))
    try:
        with transaction.atomic():
            return Alert.objects.create(
                kind=finding.kind,
                subject=subject_key(finding.subject),
                order_id=storable(finding.order_id)[:200],
                container=storable(finding.container)[:200],
                operation=storable(finding.operation)[:300],
                customer_id=storable(finding.customer_id)[:200],
                customer_type=storable(finding.customer_type)[:64],
                facts=storable(finding.facts),
                opened_at=at,
                last_seen_at=at,
            )
    except IntegrityError:  # another cycle running at the same time opened it first
        return None
    except DatabaseError as exc:
        errors.append(_error_line(finding, "could not be stored", exc))
        return None


def _error_line(finding: Finding, what: str, exc: Exception) -> str:
    """Log a finding that failed, with the traceback; its error line."""
    line = f"{finding.kind} alert of {finding.subject[:80]!r} {what}: {type(exc).__name__}: {exc}"
    log.error("alerts: %s", line, exc_info=exc)
    return line


def after_live_cycle(
    source: TraceSource | None = None,
    say: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[WorkerCycle], CycleResult | None]:
    """The alert cycle as the step after each cycle of the live worker (for run_worker's
    after_cycle): judged at the worker's "now", at most every BUSY_SECONDS, and skipped while
    nothing moved (for at most IDLE_SECONDS). Whatever fails is logged and added to the live
    cycle's `errors`, never stops the worker; a cycle that failed as a whole is tried again
    after BUSY_SECONDS, not at every cycle of the worker. `say` gets the cycle's line when
    something opened, resolved or failed."""
    last: dict[str, float | int | None] = {"now_ns": None, "at": None}

    def step(live: WorkerCycle) -> CycleResult | None:
        if live.now_ns is None:
            return None
        idle = (
            live.now_ns == last["now_ns"]
            and not live.recomputed
            and not live.changes
            and last["at"] is not None
            and clock() - last["at"] < IDLE_SECONDS
        )
        if idle or (last["at"] is not None and clock() - last["at"] < BUSY_SECONDS):
            return None
        try:
            result = run_cycle(live.now_ns, source)
        except Exception as exc:  # the database, the source, or a bug
            log.exception("alerts: the cycle failed, trying again in %s s", BUSY_SECONDS)
            live.errors.append(f"alert cycle: {type(exc).__name__}: {exc}")
            last.update(at=clock())
            return None
        last.update(now_ns=live.now_ns, at=clock())
        live.errors.extend(result.errors)
        if say is not None and (
            result.opened or result.resolved or result.problems or result.failed_deliveries
        ):
            say(result.line())
        return result

    return step
