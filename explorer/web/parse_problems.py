"""Problems with an uploaded file, said in the page's language.

The parsers give each problem a code and parameters beside its English text
(explorer.traces.problems); here the code picks a sentence in the page's language and the
parameters (field names, values as found, numbers) fill it. A problem is kept in this
language-free form with the upload, so the same upload reads in either language."""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

from explorer.traces.parsers.common import ParseProblem

SENTENCES = {
    "must_be": _("%(what)s must be %(expected)s, got %(got)s"),
    "time_out_of_range": _("%(what)s is not a time the explorer can keep: %(got)s"),
    "missing_field": _("missing field %(field)s"),
    "wrong_type": _("a value of the wrong type"),
    "too_deep": _("values nested too deeply"),
    "unknown_value": _("%(what)s: unknown value %(got)s"),
    "empty_value": _("%(what)s is empty"),
    "unknown_process": _("processID %(got)s is not among the processes"),
    "jaeger_shape": _("spans must be a list and processes an object"),
    "not_a_trace": _("not a trace: %(got)s"),
    "not_trace_data": _("not trace data: neither OTLP (JSON or protobuf), Jaeger nor Zipkin"),
    "unknown_format_name": _("unknown format name %(got)s"),
    "empty_input": _("empty input: no trace data"),
    "unreadable_file": _("the file cannot be read"),
    "broken_gzip": _("broken gzip data"),
    "inflate_limit": _("compressed data inflates past the limit of %(limit)s bytes; refused"),
    "inflate_ratio": _(
        "compressed data inflates past %(ratio)s times its compressed size of %(size)s bytes; "
        "refused"
    ),
    "document_too_large": _(
        "one document of more than %(limit)s bytes: too large to read (split it into JSON "
        "lines, one export request or trace a line)"
    ),
    "truncated_json": _("truncated JSON: the document ends too early"),
    "invalid_json": _("invalid JSON (line %(line)s, column %(column)s)"),
    "unreadable": _("this part cannot be read"),
}
EXPECTED = {
    "object": _("an object"),
    "list": _("a list"),
    "string": _("a string"),
    "non_empty_string": _("a non-empty string"),
    "integer": _("an integer"),
    "integers": _("integers"),
    "int64": _("a 64-bit integer"),
    "number": _("a number"),
    "boolean": _("true or false"),
    "base64": _("base64"),
    "key_value_list": _("a list of key-value objects"),
    "object_list": _("a list of objects"),
    "microseconds": _("a number of microseconds"),
}
_POSITION = re.compile(r"^(line|byte) (\d+)$")


def stored_problem(problem: ParseProblem, source: str) -> dict:
    """The problem as the upload keeps it, named after the file the user sent (`source`)."""
    return {
        "source": source,
        "position": problem.position,
        "code": problem.code,
        "params": dict(problem.params),
    }


def said(problem: dict | str) -> str:
    """A kept problem in the active language (an upload kept before problems had codes holds
    its English text, said as it is)."""
    if isinstance(problem, str):
        return problem
    params = dict(problem["params"])
    if "expected" in params:
        params["expected"] = str(EXPECTED.get(params["expected"], params["expected"]))
    sentence = SENTENCES.get(problem["code"], SENTENCES["unreadable"])
    try:
        text = str(sentence) % params
    except (KeyError, TypeError, ValueError):  # a code whose parameters changed
        text = str(SENTENCES["unreadable"])
    where = params.get("where")
    if where:
        text = f"{where}: {text}"
    return f"{_place(problem['source'], problem['position'])}: {text}"


def _place(source: str, position: str) -> str:
    found = _POSITION.match(position or "")
    if found is None:
        return f"{source}, {position}" if position else source
    number = found.group(2)
    if found.group(1) == "line":
        return str(_("%(file)s, line %(number)s")) % {"file": source, "number": number}
    return str(_("%(file)s, byte %(number)s")) % {"file": source, "number": number}
