"""The on-disk store of uploaded trace files (the pages are in explorer.web.uploads).

The file is parsed as it is read (explorer.traces.parsers.iter_file: JSON lines one at a
time, gzip inflated within EXPLORER_INFLATE_MAX_BYTES / _RATIO) into a store on disk, not in
process memory: each trace is written to its own file under
EXPLORER_UPLOAD_DIR/<user id>/<random key>/, with an index of summaries for the list page.
A page reads only the trace it shows. Uploads expire after EXPLORER_UPLOAD_SECONDS; a user's
uploads together take at most EXPLORER_UPLOAD_QUOTA_BYTES on disk (older uploads of the user
are dropped to make room; a single upload that does not fit is refused). Only the uploading
session knows the key; the trace page views (explorer.web.traces) show an upload exactly as
they show stored traces.
"""

from __future__ import annotations

import hashlib
import pickle  # noqa: S403 - only files this module wrote, in a folder only the server writes
import shutil
import time
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

SESSION_KEY = "web_uploads"
KEEP_PER_SESSION = 10
MAX_PROBLEMS = 20
MAX_LISTED = 10_000  # traces on the list page of one upload
INDEX = "index.pickle"


class QuotaExceeded(Exception):
    """Writing the parsed traces would pass the user's quota."""


def _root() -> Path:
    return Path(settings.EXPLORER_UPLOAD_DIR)


def user_dir(user) -> Path:
    return _root() / str(int(user.pk))


def _trace_file(folder: Path, trace_id: str) -> Path:
    return folder / "traces" / f"{hashlib.sha256(trace_id.encode()).hexdigest()[:40]}.pickle"


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


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


class _Writer:
    """Writes parsed traces into an upload folder, counting bytes against a budget."""

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = folder
        self.budget = budget
        self.written = 0
        self.parts: dict[str, list[Path]] = {}
        for part in ("parts", "traces"):
            shutil.rmtree(folder / part, ignore_errors=True)  # a previous, refused attempt
            (folder / part).mkdir(parents=True)

    def _dump(self, path: Path, value: object) -> None:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.written += len(data)
        if self.written > self.budget:
            raise QuotaExceeded
        path.write_bytes(data)

    def add(self, trace: Trace) -> None:
        if not trace.spans:
            return
        parts = self.parts.setdefault(trace.trace_id, [])
        path = self.folder / "parts" / f"{sum(map(len, self.parts.values()))}.pickle"
        self._dump(path, trace)
        parts.append(path)

    def finish(self, name: str, problems: list[str]) -> list[TraceSummary]:
        """Merge each trace's parts into one file (one trace in memory at a time) and write
        the index of summaries."""
        summaries = []
        for trace_id, paths in self.parts.items():
            trace = merged_trace(trace_id, (_load(p) for p in paths))
            for path in paths:
                self.written -= path.stat().st_size
                path.unlink()
            self._dump(_trace_file(self.folder, trace_id), trace)
            summaries += MemorySource([trace], name="upload").search(TraceQuery(limit=1))
        (self.folder / "parts").rmdir()
        self._dump(
            self.folder / INDEX, {"name": name, "summaries": summaries, "problems": problems}
        )
        return summaries


def _load(path: Path):
    return pickle.loads(path.read_bytes())  # noqa: S301 - written by _Writer only


class UploadSource:
    """The traces of one upload, read from its folder one at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        index = _load(folder / INDEX)
        self.name = f"upload {index['name']}"
        self.summaries: list[TraceSummary] = index["summaries"]
        self.problems: list[str] = index["problems"]

    def get_trace(self, trace_id: str) -> Trace:
        path = _trace_file(self.folder, trace_id)
        if not path.is_file():
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not here")
        trace = _load(path)
        if trace.trace_id != trace_id:
            raise TraceNotFound(f"{self.name}: trace {trace_id} is not here")
        return trace

    def search(self, query: TraceQuery) -> list[TraceSummary]:
        return self.summaries[: query.limit]


def upload_source(request, key: str) -> UploadSource:
    """The traces of an upload of this session; 404 for another session's or an expired one."""
    if key not in request.session.get(SESSION_KEY, []):
        raise Http404(_("No such upload in this session."))
    folder = user_dir(request.user) / key
    if not (folder / INDEX).is_file() or _expired(folder, time.time()):
        shutil.rmtree(folder, ignore_errors=True)
        raise Http404(_("The upload has expired; upload the file again."))
    return UploadSource(folder)


def _parse_into(raw: Path, folder: Path, name: str, budget: int) -> tuple[list, list[str]]:
    """Parse the saved upload into the folder: (summaries, problems)."""
    writer = _Writer(folder, budget)
    problems: list[str] = []
    limits = Limits(settings.EXPLORER_INFLATE_MAX_BYTES, settings.EXPLORER_INFLATE_MAX_RATIO)
    for result in iter_file(raw, limits=limits):
        problems += [str(p).replace(str(raw), name) for p in result.errors][
            : MAX_PROBLEMS - len(problems)
        ]
        for trace in result.traces:
            writer.add(trace)
    return writer.finish(name, problems), problems


def parse_within_quota(raw: Path, folder: Path, name: str, quota: int):
    """Parse into the room the user's other uploads leave; when it does not fit, drop the
    oldest of them and parse again (QuotaExceeded once there is none left to drop)."""
    others = _older_uploads(folder.parent, folder)
    while True:
        budget = quota - raw.stat().st_size - sum(_size(p) for p in others)
        try:
            return _parse_into(raw, folder, name, budget)
        except QuotaExceeded:
            if not others:
                raise
            shutil.rmtree(others.pop(0), ignore_errors=True)


def save_file(file, path: Path) -> None:
    with path.open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
