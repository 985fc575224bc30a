"""Template filters for readable numbers, durations and times in the page language and the
viewer's time zone: {{ span.duration_ns|duration }}, {{ n|count }}, {{ ns|ns_time }}; and
{{ user.get_username|visible }} for a name someone chose (control and bidi characters shown as
symbols, explorer/traces/visible.py; trace text gets the same through the redaction)."""

from datetime import UTC, datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils import timezone

from explorer.traces.visible import visible_line
from explorer.web.common import page_language
from explorer.web.formatting import format_count, format_duration
from explorer.web.templatetags import time_kinds

register = template.Library()


@register.filter(is_safe=True)
def visible(text):
    """A user- or trace-supplied name with its control and bidi characters as symbols."""
    return "" if text is None else visible_line(str(text))


@register.filter
def duration(ns):
    """Nanoseconds as '850 µs', '12 ms', '3.4 s', '2 d' (Russian units in Russian)."""
    try:
        return format_duration(int(ns), page_language())
    except (TypeError, ValueError):
        return "—"


@register.filter
def duration_ms(ms):
    try:
        return format_duration(float(ms) * 1_000_000, page_language())
    except (TypeError, ValueError):
        return "—"


@register.filter
def duration_s(seconds):
    try:
        return format_duration(float(seconds) * 1_000_000_000, page_language())
    except (TypeError, ValueError):
        return "—"


@register.filter
def count(n):
    try:
        return format_count(n, page_language())
    except (TypeError, ValueError):
        return "—"


@register.filter
def percent(fraction):
    try:
        text = f"{float(fraction) * 100:.1f}"
    except (TypeError, ValueError):
        return "—"
    return (text.replace(".", ",") if page_language() == "ru" else text) + " %"


def ns_datetime(ns) -> datetime | None:
    try:
        ns = int(ns)
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register.filter
def ns_time(ns, fmt="Y-m-d H:i:s"):
    """Nanoseconds since the epoch as a time in the viewer's time zone."""
    moment = ns_datetime(ns)
    if moment is None:
        return "—"
    return date_filter(timezone.localtime(moment), fmt)


@register.filter
def iso_time(text, fmt="Y-m-d H:i:s"):
    """An ISO 8601 time (as the journey reports give them) in the viewer's time zone."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return date_filter(timezone.localtime(moment), fmt)


# {% data_time %}, {% clock_time %} and {% time_kind %} (time_kinds.py) wherever this loads.
register.tags.update(time_kinds.register.tags)
