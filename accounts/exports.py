"""CSV downloads: one streamed, formula-safe writer for the audit log and every page export."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

from explorer.traces.visible import visible


class _Lines:
    """A file-like object that hands each written line back, so csv.writer can stream."""

    def write(self, value):
        return value


def csv_cell(value) -> str:
    """Neutralises spreadsheet formulas and control characters (shown as symbols; tab and
    line breaks kept): cells carry user- and trace-supplied text."""
    text = "" if value is None else visible(str(value))
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(header: list[str], rows: Iterable[Iterable], filename: str):
    """A UTF-8 CSV attachment with a header row, streamed row by row (a trace may have a
    million spans); every cell goes through csv_cell."""
    writer = csv.writer(_Lines())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
