"""What an alert says, in plain language, in the active language (English or Russian): what
happened and what to do next. Containers are named as the C4 model names them, never by id.

Written from the alert's stored facts at the moment it is shown or sent, so the page follows
the viewer's language and a renamed container shows its new name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from django.utils.translation import get_language, ngettext, override
from django.utils.translation import gettext as _

from explorer.alerts.models import Alert

MINUTE_NS = 60 * 10**9


def kind_title(kind: str) -> str:
    return {
        "lost_message": _("Lost order"),
        "stuck": _("Stuck order"),
        "state_violation": _("State-graph violation"),
        "sla_breach": _("SLA breach"),
        "anomaly": _("Atypically slow operation"),
    }.get(kind, kind)


def moment(ns: int | None) -> str:
    if ns is None:
        return "?"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def how_long(ns: int) -> str:
    """A duration in whole days, hours or minutes."""
    minutes = max(int(ns // MINUTE_NS), 0)
    if minutes >= 24 * 60:
        days = round(minutes / (24 * 60), 1)
        shown = _decimal(f"{days:g}")
        return ngettext("%(n)s day", "%(n)s days", int(days) if days == int(days) else 2) % {
            "n": shown
        }
    if minutes >= 120:  # "the last 60 minutes" reads better than "the last 1 hour"
        return ngettext("%(n)s hour", "%(n)s hours", minutes // 60) % {"n": minutes // 60}
    return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}


def _decimal(text: str) -> str:
    """A decimal point as the language writes it (Russian: a comma)."""
    return text.replace(".", ",") if (get_language() or "").startswith("ru") else text


def _percent(share: float) -> str:
    return _decimal(f"{share * 100:.1f}".rstrip("0").rstrip(".")) + " %"


def _names(ids, names: Mapping[str, str]) -> str:
    return _(", ").join(names.get(i, i) for i in ids) if ids else ""


def _violation(v: dict, names: Mapping[str, str]) -> str:
    values = {
        "container": names.get(v.get("container") or "", v.get("container") or "?"),
        "state": v.get("state") or "?",
        "previous": v.get("previous") or "?",
        "other": ", ".join(
            names.get(o.strip(), o.strip()) for o in (v.get("other") or "?").split(",")
        ),
    }
    texts = {
        "transition_not_allowed": _(
            "%(container)s moved it from %(previous)s to %(state)s, "
            "which the state graph does not allow"
        ),
        "state_skipped": _(
            "%(container)s moved it from %(previous)s to %(state)s, skipping %(other)s"
        ),
        "transition_backwards": _("%(container)s moved it back from %(previous)s to %(state)s"),
        "state_repeated": _("%(container)s set %(state)s again"),
        "wrong_system": _("%(container)s set %(state)s, which only %(other)s may set"),
        "systems_disagree": _(
            "%(container)s set %(state)s believing the order was in "
            "%(other)s, but it was in %(previous)s"
        ),
    }
    return texts.get(v.get("kind", ""), _("%(container)s set %(state)s")) % values


def summary(alert: Alert, names: Mapping[str, str]) -> str:
    """The alert's text in the active language: what happened and what to do."""
    if alert.resolved_at is not None:
        return _("Resolved: %(what)s") % {"what": _resolution(alert, names)}
    told = _SUMMARIES.get(alert.kind)
    return told(alert, alert.facts or {}, names) if told else str(alert)


def _lost_message(alert: Alert, facts: dict, names: Mapping[str, str]) -> str:
    """A message about the order was never consumed: who should have."""
    order = alert.order_id
    messages = facts.get("messages") or []
    if not messages:
        return _(
            "Order %(order)s is lost: a message about it was never consumed. Open the "
            "order's journey to see which one."
        ) % {"order": order}
    first = messages[0]
    values = {
        "order": order,
        "destination": first.get("destination", "?"),
        "producer": names.get(first.get("producer", ""), first.get("producer", "?")),
        "at": moment(first.get("at_ns")),
        "consumers": _names(first.get("consumers"), names),
    }
    if values["consumers"]:
        return (
            _(
                "Order %(order)s is lost: the message to %(destination)s was published by "
                "%(producer)s on %(at)s and never consumed. Check the consumer in "
                "%(consumers)s (is it running, is its queue backed up?), then open the "
                "order's journey."
            )
            % values
        )
    return (
        _(
            "Order %(order)s is lost: the message to %(destination)s was published by "
            "%(producer)s on %(at)s and never consumed. Check who consumes "
            "%(destination)s, then open the order's journey."
        )
        % values
    )


def _stuck(alert: Alert, facts: dict, names: Mapping[str, str]) -> str:
    """The order has stayed in a state over its limit: who should move it on."""
    order = alert.order_id
    values = {
        "order": order,
        "state": facts.get("state", "?"),
        "since": moment(facts.get("since_ns")),
        "limit": how_long(facts.get("limit_ns") or 0),
        "setters": _names(facts.get("next_setters"), names) or _("the next system"),
        "next": _(" or ").join(facts.get("next_states") or []) or "?",
    }
    return (
        _(
            "Order %(order)s has been in %(state)s since %(since)s, over its limit of "
            "%(limit)s. Ask %(setters)s why it has not moved on to %(next)s."
        )
        % values
    )


def _state_violation(alert: Alert, facts: dict, names: Mapping[str, str]) -> str:
    """The order broke the state graph: how, and where to correct it."""
    order = alert.order_id
    violations = facts.get("violations")
    if not violations:
        return _(
            "Order %(order)s broke the state graph (%(kinds)s). Open the order's "
            "journey to see where."
        ) % {"order": order, "kinds": ", ".join(facts.get("kinds", []))}
    what = "; ".join(_violation(v, names) for v in violations[:3])
    container = names.get(violations[0].get("container") or "", "?")
    return _(
        "Order %(order)s broke the state graph: %(what)s. Check how %(container)s "
        "recorded the order and correct its state in the system of record."
    ) % {"order": order, "what": what, "container": container}


def _sla_breach(alert: Alert, facts: dict, names: Mapping[str, str]) -> str:
    """An endpoint answered too slowly too often."""
    requests = facts.get("requests") or 0
    return _(
        "%(container)s answered %(endpoint)s within its %(limit)s ms limit for only "
        "%(percent)s of %(requests)s requests in the last %(window)s (target "
        "%(target)s). Check the load on %(container)s and what it calls; the SLA page "
        "shows the slow requests."
    ) % {
        "container": names.get(alert.container, alert.container),
        "endpoint": alert.operation,
        "limit": f"{facts.get('limit_ms', 0):g}",
        "percent": _percent((facts.get("within") or 0) / requests if requests else 1.0),
        "requests": requests,
        "window": how_long((facts.get("window_minutes") or 0) * MINUTE_NS),
        "target": _percent(facts.get("target") or 0),
    }


def _anomaly(alert: Alert, facts: dict, names: Mapping[str, str]) -> str:
    """An operation was atypically slow."""
    return _(
        "%(container)s: %(operation)s was atypically slow for %(slow)s of %(calls)s "
        "calls in the last %(window)s (usually %(median)s ms). Look at the slow traces "
        "on the Anomalies page and at what changed in %(container)s."
    ) % {
        "container": names.get(alert.container, alert.container),
        "operation": alert.operation,
        "slow": facts.get("slow", "?"),
        "calls": facts.get("calls", "?"),
        "median": f"{facts.get('median_ms', 0):g}",
        "window": how_long((facts.get("window_minutes") or 0) * MINUTE_NS),
    }


_SUMMARIES = {
    "lost_message": _lost_message,
    "stuck": _stuck,
    "state_violation": _state_violation,
    "sla_breach": _sla_breach,
    "anomaly": _anomaly,
}


def _resolution(alert: Alert, names: Mapping[str, str]) -> str:
    values = {
        "order": alert.order_id,
        "state": (alert.facts or {}).get("state", "?"),
        "container": names.get(alert.container, alert.container),
        "operation": alert.operation,
    }
    return {
        "lost_message": _(
            "order %(order)s: the lost message was consumed or the order has moved on."
        ),
        "stuck": _("order %(order)s has moved on from %(state)s."),
        "state_violation": _("order %(order)s no longer shows a state-graph violation."),
        "sla_breach": _("%(container)s %(operation)s is back within its SLA target."),
        "anomaly": _("%(container)s: %(operation)s is no longer atypically slow."),
    }.get(alert.kind, str(alert)) % values


def customer_line(alert: Alert) -> str:
    """'Customer: C-00123 (retail)' for an order alert (raw: redact it for the reader)."""
    if not alert.customer_id:
        return ""
    return _("Customer: %(customer)s (%(type)s)") % {
        "customer": alert.customer_id,
        "type": alert.customer_type or "?",
    }


def summary_in(language: str, alert: Alert, names: Mapping[str, str]) -> str:
    with override(language):
        return summary(alert, names)
