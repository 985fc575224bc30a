"""How an order differs from the typical one of its type, said in the page's language.

explorer.journeys.typical is framework-free: each Difference carries its English `detail` and,
for the pages, which sentence it is and its facts; this module says that sentence with gettext
(the customer type by its name in journey_names, numbers with the language's decimal mark)."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.translation import gettext as _

from explorer.journeys.story import duration_words
from explorer.web.common import page_language
from explorer.web.formatting import format_count
from explorer.web.templatetags.journey_names import customer_type_name


def _times(factor: float, language: str) -> str:
    """'6.7' or '23' (a factor of ten or more is whole), with the language's marks."""
    return format_count(round(factor, 1) if factor < 10 else round(factor), language)


def _share(share: float) -> str:
    return f"{share:.0%}"


def difference_detail(difference: Mapping) -> str:
    """The sentence of a Difference (its as_dict()) in the page's language; its English
    `detail` for one that names no sentence (a report of an older version)."""
    facts = difference.get("facts") or {}
    sentence = difference.get("sentence") or ""
    language = page_language()
    try:
        kind_of_order = str(customer_type_name(facts.get("customer_type", "")))
        if sentence == "slow_state":
            duration, typical = float(facts["duration_ns"]), float(facts["typical_ns"])
            return _(
                "%(state)s took %(duration)s, %(times)s times the typical %(typical)s "
                "of %(type)s orders"
            ) % {
                "state": facts["state"],
                "duration": duration_words(duration, language),
                "times": _times(duration / typical, language),
                "typical": duration_words(typical, language),
                "type": kind_of_order,
            }
        share = {"share": _share(float(facts.get("share", 0))), "type": kind_of_order}
        if sentence == "usual_state":
            return _("%(share)s of other %(type)s orders pass through %(state)s") % {
                **share,
                "state": facts["state"],
            }
        if sentence == "rare_state":
            return _("only %(share)s of other %(type)s orders pass through %(state)s") % {
                **share,
                "state": facts["state"],
            }
        if sentence == "usual_operation":
            return _("%(share)s of other complete %(type)s orders run it") % share
        if sentence == "rare_operation":
            return _("only %(share)s of other %(type)s orders run it") % share
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        pass  # facts not as written: the English detail is still true
    return str(difference.get("detail", ""))
