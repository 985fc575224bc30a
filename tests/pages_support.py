"""The explorer as a new employee meets it: a simulated Alexandrite served by a real
`manage.py runserver` of its own, its demo users, and the checks the page suite makes on every
page view (tests/test_pages_browser.py, scripts/screenshots.py).

    site = build_site(folder, DataSet("demo", seed=7))    # simulate, ingest, orders --refresh...
    server = Server.start(folder)                          # runserver on a free port
    log_in(page, server.url, site.users["analyst"])        # password, then the TOTP code
    findings = page_findings(page, vocabulary, "ru")       # what is wrong on this page view

The server runs in its own process with its own data folder and database, so one data set is
built once and serves every test of the session (pytest-django's live server would flush the
database after each transactional test).
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO_FILE = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
CHECKS_JS = Path(__file__).resolve().parent / "pages_checks.js"
LANGUAGES = ("en", "ru")
SIZES = ((1366, 768), (420, 900))


@dataclass(frozen=True)
class DataSet:
    """A simulated Alexandrite: the demo's seed (scripts/demo.sh) or another."""

    name: str
    seed: int
    orders: int = 200
    days: int = 7


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    totp_key: str  # base32, as create_demo_users prints it


@dataclass
class Site:
    folder: Path
    traces: Path
    users: dict[str, Account]
    tours: dict[str, int]  # slug -> steps


def server_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXPLORER_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        EXPLORER_DATA_DIR=str(folder),
        DJANGO_SECRET_KEY="pages-suite-" + "x" * 40,
        PYTHONUNBUFFERED="1",
    )
    return env


# The demo's steps (scripts/demo.sh) in one process: Django starts once, not six times.
BUILD = """
import os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "explorer.settings")
django.setup()
from django.core.management import call_command
out, orders, days, seed = sys.argv[1:5]
call_command("migrate", verbosity=0)
call_command("simulate", "--orders", orders, "--days", days, "--until-days", days,
             "--seed", seed, "--out", out)
call_command("ingest", out)
call_command("orders", "--refresh")
call_command("tours", "import", "--shipped")
call_command("create_demo_users")
"""


def build_site(folder: Path, data: DataSet) -> Site:
    """The demo's steps on `data`: simulate cut off at the last day, ingest, the order
    snapshot, the shipped tours, one demo user per role."""
    traces = folder / "traces"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD,
            str(traces),
            str(data.orders),
            str(data.days),
            str(data.seed),
        ],
        cwd=ROOT,
        env=server_env(folder),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"building {data} failed:\n{done.stdout}\n{done.stderr}")
    tours = {m[1]: int(m[2]) for m in re.finditer(r"imported (\S+) \((\d+) steps", done.stdout)}
    return Site(folder, traces, demo_accounts(done.stdout), tours)


def stale_translations() -> str | None:
    """Why the server would speak an older Russian than django.po, if it would: the .mo is
    compiled by scripts/setup.sh, not committed, and a merge or an edit leaves it behind."""
    compiled = PO_FILE.with_suffix(".mo")
    if not compiled.exists() or compiled.stat().st_mtime < PO_FILE.stat().st_mtime:
        return f"{compiled} is older than {PO_FILE.name}: run manage.py compilemessages"
    return None


def demo_accounts(printed: str) -> dict[str, Account]:
    """The accounts create_demo_users printed, by role."""
    found = re.finditer(
        r"user:\s+(\S+)\s+role:\s+(\S+)\s+password:\s+(\S+)\s+TOTP key:\s+([A-Z2-7 ]+)\n", printed
    )
    return {m[2]: Account(m[1], m[3], m[4].replace(" ", "")) for m in found}


def totp_code(account: Account, at: float | None = None) -> str:
    from django_otp.oath import TOTP

    key = base64.b32decode(account.totp_key + "=" * (-len(account.totp_key) % 8))
    totp = TOTP(key)
    if at is not None:
        totp.time = at
    return f"{totp.token():06d}"


def log_in(page, base_url: str, account: Account) -> None:
    """Through the real login and second-factor pages; each account logs in once per site."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/second-factor/.*"))
    page.fill("input[name=code]", totp_code(account))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/" not in url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    @classmethod
    def start(cls, folder: Path, **env: str) -> Server:
        """runserver on a free port, with `env` added to its environment."""
        port = free_port()
        log = folder / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--insecure", "--noreload"]
                + [f"127.0.0.1:{port}"],
                cwd=ROOT,
                env={**server_env(folder), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = cls(process, f"http://127.0.0.1:{port}", log)
        server.wait_until_up()
        return server

    def wait_until_up(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/accounts/login/", timeout=5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"runserver did not answer in {seconds} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- (d) English words of the page's own chrome on a Russian page -------------------------


def po_entries(path: Path = PO_FILE) -> list[tuple[str, str]]:
    """(msgid, msgstr) of every entry of a .po file, plural forms joined by newlines."""
    entries: list[tuple[str, str]] = []
    current: dict[str, list[str]] = {}
    key = ""

    def flush() -> None:
        if "msgid" in current:
            ids = "\n".join(
                ["".join(current["msgid"])] + ["".join(current.get("msgid_plural", []))]
            )
            strs = "\n".join("".join(v) for k, v in current.items() if k.startswith("msgstr"))
            entries.append((ids.strip(), strs.strip()))

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#") or not line:
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"(.*)"$', line)
        if match:
            if match[1] in ("msgctxt", "msgid") and "msgid" in current:
                flush()
                current = {}
            key = match[1]
            current[key] = [unescape(match[2])]
        elif line.startswith('"') and key:
            current[key].append(unescape(line[1:-1]))
    flush()
    return entries


def unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


WORD = re.compile(r"[A-Za-z]+")
# Numbers written the English way: a unit after a number ("5 s", "0.9/h", "+4.7 d"; "ms" and
# "min" are words of the .po), the explorer's own abbreviation "err", a decimal point before a
# unit or percent ("5.0 s", "0.0%"; "09.03 21:40" is a Russian date)
ENGLISH_UNIT = re.compile(r"\d\s?/?\s?(s|h|d|µs|ns)\b")
DECIMAL_POINT = re.compile(r"\d\.\d+(?=\s?[%/]|\s?[^\W\d_])")
ABBREVIATIONS = frozenset({"err"})
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{\{[^}]*\}\}|%[sd]|<[^>]+>")
# Code quoted in a text, the query language's `order.dwell()` or `order.%(name)s`: not words
# of either language.
CODE = re.compile(r"\b[a-z_]+\.[\w%().]+")


def diagram_entries() -> list[tuple[str, str]]:
    """(English, Russian) of the diagrams' own words (explorer/diagrams/words.py translates
    without gettext: "Legend", "[Person]"), from any table of it: a dict of str to a str or
    to a tuple of plural forms."""
    try:
        from explorer.diagrams import words
    except ImportError:
        return []
    pairs = []
    for name, table in vars(words).items():
        if isinstance(table, dict) and not name.startswith("__"):
            for english, russian in table.items():
                russian = " ".join(russian) if isinstance(russian, tuple) else russian
                if (
                    isinstance(english, str)
                    and isinstance(russian, str)
                    and (russian == english or re.search("[а-яё]", russian, re.IGNORECASE))
                ):
                    pairs.append((english, russian))
    return pairs


def chrome_words(entries: list[tuple[str, str]] | None = None) -> frozenset[str]:
    """English words of the explorer's own texts: the words of every msgid whose Russian
    differs (django.po and the diagrams' words), less the words the Russian keeps too (SLA,
    JSON, p95...), placeholders and quoted code."""
    entries = po_entries() + diagram_entries() if entries is None else entries

    def words(text: str) -> list[str]:
        return WORD.findall(PLACEHOLDER.sub(" ", CODE.sub(" ", text)))

    kept = {w.lower() for _, msgstr in entries for w in words(msgstr)}
    english = {
        w.lower()
        for msgid, msgstr in entries
        if msgid and msgstr and msgstr != msgid
        for w in words(msgid)
    }
    return frozenset(w for w in english - kept if len(w) > 1)


@dataclass
class Vocabulary:
    """What a Russian page may show in English: the data's names (services, operations,
    attribute keys) and the model's names and technologies; everything else English that is
    one of `chrome`, and numbers written the English way, are findings."""

    chrome: frozenset[str]
    data_phrases: list[str] = field(default_factory=list)  # longest first
    data_tokens: frozenset[str] = frozenset()  # identifiers in the data's names

    @cached_property
    def data_pattern(self) -> re.Pattern[str]:
        names = "|".join(re.escape(p) for p in self.data_phrases)
        return re.compile(rf"(?<!\w)(?:{names})(?!\w)")

    def english_words(self, text: str) -> list[str]:
        text = self.data_pattern.sub(" ", text)
        words = []
        for token in text.split():
            token = token.strip(".,;:()[]«»\"'")
            if (
                any(c.isdigit() for c in token)  # ids, numbers
                or token.isupper()  # state names, acronyms
                or token.endswith("…")  # a name shortened (the whole one on hover)
                or token in self.data_tokens  # order_items, orders.submitted
            ):
                continue
            words += [w for w in WORD.findall(token) if w.lower() in self.chrome | ABBREVIATIONS]
        words += ENGLISH_UNIT.findall(text) + DECIMAL_POINT.findall(text)
        return words


def data_vocabulary(traces: Path, people: list[str]) -> Vocabulary:
    from explorer.c4.loader import DEFAULT_MODEL, load_model
    from explorer.traces.parsers import iter_file

    phrases: set[str] = set(people)
    for path in sorted(traces.iterdir()):
        for result in iter_file(path):
            for trace in result.traces:
                for span in trace.spans:
                    phrases.update((span.name, span.service))
                    phrases.update(k for k in span.attributes)
    model = load_model(DEFAULT_MODEL)
    phrases.add(model.name)
    for element in model.elements.values():
        phrases.update((element.name, element.technology))
    for relationship in model.relationships:
        phrases.add(relationship.technology)
    useful = sorted((p for p in phrases if p and len(p) > 2), key=len, reverse=True)
    identifiers = {
        token.strip(".,;:()[]")
        for phrase in useful
        for token in phrase.split()
        if re.search(r"[a-z][._/][a-z]", token)
    }
    return Vocabulary(chrome_words(), useful, frozenset(identifiers))


# --- the checks of one page view -------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    check: str  # scroll, cut, crossing, english, playback, status, script
    page: str  # data set and path
    view: str  # role, language, size
    what: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.page} as {self.view}: {self.what}"


def report(findings: list[Finding]) -> str:
    """The findings by check, then by page and what was found, with every view it was in."""
    checks = sorted({f.check for f in findings})
    counts = ", ".join(f"{c} {sum(f.check == c for f in findings)}" for c in checks)
    lines = [f"{len(findings)} findings ({counts}):"]
    for check in checks:
        views: dict[tuple[str, str], list[str]] = {}
        for f in findings:
            if f.check == check:
                views.setdefault((f.page, f.what), []).append(f.view)
        lines.append(f"-- {check}: {len(views)} distinct")
        lines += [
            f"[{check}] {page}: {what}  <- {'; '.join(v)}" for (page, what), v in views.items()
        ]
    return "\n".join(lines)


def page_findings(page, where: tuple[str, str], vocabulary: Vocabulary, language: str):
    """The findings (a) to (d) of the page as it is now; `where` is (page, view)."""
    seen = page.evaluate(CHECKS_JS.read_text(encoding="utf-8"))
    found = [Finding("scroll", *where, text) for text in seen["scroll"]]
    found += [Finding("cut", *where, text) for text in seen["cut"]]
    found += [Finding("crossing", *where, text) for text in seen["crossings"]]
    if language == "ru":
        for text in seen["texts"]:
            words = vocabulary.english_words(text)
            if words:
                shown = text[:100]
                found.append(Finding("english", *where, f"{' '.join(words)!r} in {shown!r}"))
    return found
