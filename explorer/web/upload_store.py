"""The on-disk store of uploaded trace files (the pages are in explorer.web.uploads).

The file is parsed as it is read (explorer.traces.parsers.iter_file: JSON lines one at a
time, gzip inflated within EXPLORER_INFLATE_MAX_BYTES / _RATIO, a single document or line of
more than EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES refused) into a store on disk, not in process
memory: every trace read is appended to one pack file, EXPLORER_UPLOAD_DIR/<user id>/<random
key>/traces.pack, and an index holds where each trace is, how many there are and the
summaries the list page shows (the first MAX_LISTED).
A trace that came in several pieces is merged once, at the end, and appended whole (its
pieces stay in the pack, counted). However many traces a file holds, an upload is three files
(the pack, the index, the file as sent while it is read) and each trace is written and read
a constant number of times. A page reads only the trace it shows. Uploads expire after
EXPLORER_UPLOAD_SECONDS; a user's uploads together take at most EXPLORER_UPLOAD_QUOTA_BYTES on
disk, counted in the blocks their files take (older uploads of the user are dropped to make
room; a single upload that does not fit is refused). An upload that fails for any reason
leaves nothing behind. Only the uploading session knows the key; the trace page views
(explorer.web.traces) show an upload exactly as they show stored traces.
"""

from __future__ import annotations

import pickle  # noqa: S403 - only files this module wrote, in a folder only the server writes
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _

from explorer.sources.base import TraceNotFound, TraceQuery, TraceSummary
from explorer.sources.memory import MemorySource
from explorer.sources.summary import merged_trace
from explorer.traces.decompress import Limits
from explorer.traces.model import Trace
from explorer.traces.parsers import iter_file
from explorer.web.parse_problems import stored_problem

SESSION_KEY = "web_uploads"
KEEP_PER_SESSION = 10
MAX_PROBLEMS = 20
MAX_LISTED = 10_000  # traces on the list page of one upload (and summarised)
INDEX = "index.pickle"
PACK = "traces.pack"
BLOCK = 4096  # the file system block usage() finds on most: what a write is rounded up to


class QuotaExceeded(Exception):
    """Writing the parsed traces would pass the user's quota."""


def _root() -> Path:
    return Path(settings.EXPLORER_UPLOAD_DIR)


def user_dir(user) -> Path:
    return _root() / str(int(user.pk))


def usage(path: Path) -> int:
    """Bytes of disk the file or folder takes: whole blocks, as the file system counts them
    (a one-byte file takes a block)."""
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def _expired(folder: Path, now: float) -> bool:
    return folder.stat().st_mtime + settings.EXPLORER_UPLOAD_SECONDS < now


def drop_expired(now: float | None = None) -> None:
    """Delete every upload older than EXPLORER_UPLOAD_SECONDS (of every user)."""
    now = time.time() if now is None else now
    root = _root()
    if not root.is_dir():
        return
    for user in root.iterdir():
        for upload in user.iterdir() if user.is_dir() else ():
            if _expired(upload, now):
                shutil.rmtree(upload, ignore_errors=True)


def _older_uploads(folder: Path, current: Path) -> list[Path]:
    """The user's other uploads, oldest first."""
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and p != current),
        key=lambda p: p.stat().st_mtime,
    )


def _blocks(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


Piece = tuple[int, int]  # (offset, length) of a pickled trace in the pack


class _PackWriter:
    """Appends parsed traces to the pack of an upload folder, counting what it writes against
    a budget; past it, `make_room()` frees more (an older upload dropped: the bytes freed) or
    raises QuotaExceeded."""

    def __init__(self, folder: Path, budget: int, make_room: Callable[[], int]) -> None:
        self.folder = folder
        self.budget = budget
        self.make_room = make_room
        self.pack_size = 0
        self.pieces: dict[str, list[Piece]] = {}
        self.pack = (folder / PACK).open("w+b")

    def _fit(self, index_size: int = 0) -> None:
        """Make room for the pack (and the index) as they are now, in whole blocks."""
        while _blocks(self.pack_size) + _blocks(index_size) > self.budget:
            self.budget += self.make_room()

    def _append(self, value: object) -> Piece:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self.pack_size
        self.pack_size += len(data)
        self._fit()
        self.pack.seek(offset)
        self.pack.write(data)
        return offset, len(data)

    def _read(self, piece: Piece) -> Trace:
        offset, length = piece
        self.pack.seek(offset)
        return pickle.loads(self.pack.read(length))  # noqa: S301 - written just above

    def add(self, trace: Trace) -> None:
        if trace.spans:
            self.pieces.setdefault(trace.trace_id, []).append(self._append(trace))

    def finish(self, name: str, problems: list[dict]) -> list[TraceSummary]:
        """Merge each trace's pieces (one trace in memory at a time) and write the index of
        where each trace is, with the summaries of the first MAX_LISTED (all the list page
        shows: the index stays small however many traces there are)."""
        summaries: list[TraceSummary] = []
        where: dict[str, Piece] = {}
        for trace_id, pieces in self.pieces.items():
            listed = len(summaries) < MAX_LISTED
            if len(pieces) == 1 and not listed:
                where[trace_id] = pieces[0]
                continue
            trace = merged_trace(trace_id, map(self._read, pieces))
            where[trace_id] = pieces[0] if len(pieces) == 1 else self._append(trace)
            if listed:
                summaries += MemorySource([trace], name="upload").search(TraceQuery(limit=1))
        self.pack.close()
        index = {"name": name, "summaries": summaries, "problems": problems, "where": where}
        data = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
        self._fit(len(data))
        (self.folder / INDEX).write_bytes(data)
        return summaries

    def close(self) -> None:
        self.pack.close()


def _load(path: Path):
    return pickle.loads(path.read_bytes())  # noqa: S301 - written by _PackWriter only


class UploadSource:
    """The traces of one upload, read from its folder one at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        index = _load(folder / INDEX)
        self.name = f"upload {index['name']}"
        self.summaries: list[TraceSummary] = index["summaries"]  # the first MAX_LISTED
        self.problems: list[dict | str] = index["problems"]  # parse_problems.said
        self.where: dict[str, Piece] = index["where"]
        self.count = len(self.where)

    def get_trace(self, trace_id: str) -> Trace:
        piece = self.where.get(trace_id)
        if piece is None:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not here")
        offset, length = piece
        with (self.folder / PACK).open("rb") as pack:
            pack.seek(offset)
            return pickle.loads(pack.read(length))  # noqa: S301 - written by _PackWriter only

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self.summaries[: query.limit]


def upload_source(request, key: str) -> UploadSource:
    """The traces of an upload of this session; 404 for another session's or an expired one."""
    if key not in request.session.get(SESSION_KEY, []):
        raise Http404(_("No such upload in this session."))
    folder = user_dir(request.user) / key
    complete = (folder / INDEX).is_file() and (folder / PACK).is_file()  # not: one file a trace
    if not complete or _expired(folder, time.time()):
        shutil.rmtree(folder, ignore_errors=True)
        raise Http404(_("The upload has expired; upload the file again."))
    return UploadSource(folder)


def _parse_into(
    raw: Path, folder: Path, name: str, budget: int, make_room: Callable[[], int]
) -> tuple[list, list[dict]]:
    """Parse the saved upload into the folder: (summaries, problems). A document or line that
    cannot be read is a problem; the others are read on."""
    writer = _PackWriter(folder, budget, make_room)
    problems: list[dict] = []  # explorer.web.parse_problems: said in the page's language
    limits = Limits(settings.EXPLORER_INFLATE_MAX_BYTES, settings.EXPLORER_INFLATE_MAX_RATIO)
    try:
        for result in iter_file(
            raw, limits=limits, max_document=settings.EXPLORER_UPLOAD_DOCUMENT_MAX_BYTES
        ):
            problems += [stored_problem(p, name) for p in result.errors][
                : MAX_PROBLEMS - len(problems)
            ]
            for trace in result.traces:
                writer.add(trace)
        return writer.finish(name, problems), problems
    finally:
        writer.close()


def parse_within_quota(raw: Path, folder: Path, name: str, quota: int):
    """Parse into the room the user's other uploads leave; when that runs out, drop the oldest
    of them and go on (QuotaExceeded once there is none left to drop)."""
    others = _older_uploads(folder.parent, folder)

    def make_room() -> int:
        if not others:
            raise QuotaExceeded
        oldest = others.pop(0)
        freed = usage(oldest)
        shutil.rmtree(oldest, ignore_errors=True)
        return freed

    budget = quota - usage(raw) - sum(map(usage, others))
    return _parse_into(raw, folder, name, budget, make_room)


def store_upload(file, folder: Path, name: str) -> tuple[list, list[dict]]:
    """Save the uploaded file into a new upload folder and parse it there within the user's
    quota: (summaries, problems). The file as sent is deleted once read; on any failure
    (QuotaExceeded, an error, the worker stopped) the folder goes whole."""
    folder.mkdir(parents=True)
    raw = folder / "upload.raw"
    try:
        save_file(file, raw)
        return parse_within_quota(raw, folder, name, settings.EXPLORER_UPLOAD_QUOTA_BYTES)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        raw.unlink(missing_ok=True)


def save_file(file, path: Path) -> None:
    with path.open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
