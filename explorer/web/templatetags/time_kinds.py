"""Times that say which clock they come from. The explorer shows two: the data's clock (the
traces' own time; its "now" is the end of the newest trace, explorer/store/clock.py, and the
demo's data lies in the past and runs an hour a minute) and the real clock of the server
(when a snapshot was computed, an alert opened or acknowledged...).

    {% load time_kinds %}
    {% data_time span.start_ns %}            <time title="Data time: ...">...</time> (data time)
    {% clock_time alert.opened_at "Y-m-d H:i" %}
    {% data_time as_of_ns as as_of %}        for a sentence ({% blocktranslate with at=as_of %})
    {% data_time t mark=False %}             in a table whose column heading says it:
    <th>Started {% time_kind "data" %}</th>

A value is nanoseconds since the epoch, a datetime or ISO 8601 text; shown in the viewer's
time zone, "—" when there is none.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()

DATA = "data"
CLOCK = "clock"


def _moment(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(value / 1e9, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _words(kind: str) -> tuple[str, str]:
    """(the visible word, the explanation on hover) of a kind of time."""
    if kind == DATA:
        return (
            _("data time"),
            _("Data time: the traces' own clock; its now is the end of the latest trace."),
        )
    return _("clock time"), _("Clock time: the real clock of the explorer's server.")


def _render(kind: str, value, fmt: str, mark: bool) -> SafeString | str:
    moment = _moment(value)
    if moment is None:
        return "—"
    word, explanation = _words(kind)
    local = timezone.localtime(moment)
    shown = format_html(
        '<time class="time time-{}" datetime="{}" title="{}">{}</time>',
        kind,
        moment.astimezone(UTC).isoformat(),
        explanation,
        date_filter(local, fmt),
    )
    if not mark:
        return shown
    return format_html('{} <small class="time-kind">({})</small>', shown, word)


@register.simple_tag
def data_time(value, fmt: str = "Y-m-d H:i:s", mark: bool = True):
    """A time of the data's clock (a span's start, the newest trace...)."""
    return _render(DATA, value, fmt, mark)


@register.simple_tag
def clock_time(value, fmt: str = "Y-m-d H:i:s", mark: bool = True):
    """A time of the real clock (computed, opened, acknowledged...)."""
    return _render(CLOCK, value, fmt, mark)


@register.simple_tag
def time_kind(kind: str):
    """The word for a column of times of one kind: "(data time)" or "(clock time)"."""
    word, explanation = _words(DATA if kind == DATA else CLOCK)
    return format_html('<small class="time-kind" title="{}">({})</small>', explanation, word)
