"""Parsers from every supported trace format into the normalised model.

The public API (everything else in this package is an implementation detail):

    parse_bytes(data, *, fmt=None, source="<input>") -> ParseResult
        Parse one in-memory document (or JSON-lines text). `fmt` is one of FORMATS or None to
        detect the format from the content.

    iter_file(path, *, fmt=None, limits=Limits(), max_document=None) -> Iterator[ParseResult]
        Stream a file: one ParseResult per document (per line for JSON lines), so memory stays
        bounded by the largest document however many there are; with `max_document`, a
        document or line of more bytes is an error result, never held whole. Gzip (one member
        or several) is inflated as it is read, within `limits`. Problems never raise: they
        come back as ParseResult.errors naming the file and the line or byte position.

A ParseResult holds traces (spans grouped by trace id and repaired by
explorer.traces.normalise), `errors` (documents rejected, with where and why) and `warnings`
(documents accepted with repairs).
"""

from explorer.traces.parsers.common import FORMATS, ParseProblem, ParseResult
from explorer.traces.parsers.reading import iter_file, parse_bytes

__all__ = ["FORMATS", "ParseProblem", "ParseResult", "iter_file", "parse_bytes"]
