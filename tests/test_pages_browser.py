"""Every page of docs/pages.md as staff meet it (issue 28's "Done when"): each role that may
see it, English and Russian, 1366x768 and 420x900, on the demo's simulated Alexandrite (seed 7)
and on another seed. A page view fails on:

(a) sideways scroll of the document; (b) a visible text ending in an ellipsis that holds a
digit (HTML and SVG, and text cut by CSS text-overflow); (c) a line of a diagram crossing a
text box other than its own label's; (d) on a Russian page, an English word of the explorer's
own texts (tests/pages_support.Vocabulary says which); (e) on the order page, the current step
or its sentence out of view after pressing Next; and on any answer but 200 or a script error.

One server per data set (tests/pages_support.py), one browser context per language and size,
each role logged in once; every finding is listed with page, role, language and size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from accounts.roles import ROLE_PERMISSIONS, ROLES
from tests.browser_support import ARTIFACTS
from tests.pages_support import (
    LANGUAGES,
    SIZES,
    DataSet,
    Finding,
    Server,
    Site,
    Vocabulary,
    build_site,
    data_vocabulary,
    log_in,
    page_findings,
    report,
    stale_translations,
)

pytestmark = pytest.mark.browser

# Each data set shows one of two representative objects of a kind (an order stopped or
# complete, a tour's first or last step): both are seen, and the suite stays near 3 minutes.
DATA_SETS = [DataSet("demo", seed=7), DataSet("seed-28", seed=28)]
NEXT_PRESSES = 4
ANONYMOUS = "anonymous"
# The names create_demo_users gives its users ("Demo Analyst"): data the header shows.
DEMO_NAMES = [f"Demo {role.capitalize()}" for role in ROLES]


@dataclass(frozen=True)
class Objects:
    """Representative objects of the data set, found through the pages as a user would."""

    order: str  # stuck or lost on the demo, complete on the other
    customers: dict[str, str]  # role -> the path of the order's customer as the role sees it
    trace: str
    tour_step: str  # /tours/<slug>/<n>/: the first step on the demo, the summary on the other


@dataclass(frozen=True)
class PageKind:
    may_see: Callable[[set[str]], bool]  # from a role's permissions (accounts/roles.py)
    paths: Callable[[Objects, str], list[str]]  # of the objects, for a role


def needs(codename: str) -> Callable[[set[str]], bool]:
    return lambda granted: codename in granted


def sees_alerts(granted: set[str]) -> bool:
    """explorer/alerts/views.visible_kinds: analysts see every alert, support the orders'."""
    return "view_analytics" in granted or {"view_journeys", "view_customer_ids"} <= granted


PAGE_KINDS = {
    "login": PageKind(lambda granted: False, lambda o, role: ["/accounts/login/"]),
    "home": PageKind(needs("view_tours"), lambda o, role: ["/"]),
    "order-list": PageKind(
        needs("view_analytics"), lambda o, role: ["/orders/?status=in_progress"]
    ),
    "order": PageKind(needs("view_journeys"), lambda o, role: [f"/orders/{o.order}/"]),
    # support sees customer ids unmasked, the others a pseudonym: each has its own link
    "customer": PageKind(needs("view_journeys"), lambda o, role: [o.customers[role]]),
    "trace": PageKind(needs("view_journeys"), lambda o, role: [f"/traces/{o.trace}/"]),
    "compare": PageKind(
        needs("view_journeys"), lambda o, role: [f"/compare/?a={o.trace}&b=typical"]
    ),
    "map": PageKind(needs("view_analytics"), lambda o, role: ["/map/"]),
    "drift": PageKind(needs("view_analytics"), lambda o, role: ["/drift/"]),
    "sla": PageKind(needs("view_analytics"), lambda o, role: ["/sla/"]),
    "anomalies": PageKind(needs("view_analytics"), lambda o, role: ["/anomalies/"]),
    "upload": PageKind(needs("upload_traces"), lambda o, role: ["/upload/"]),
    "tour": PageKind(needs("view_tours"), lambda o, role: [o.tour_step]),
    "alerts": PageKind(sees_alerts, lambda o, role: ["/alerts/"]),
    "settings": PageKind(needs("view_tours"), lambda o, role: ["/settings/"]),
}


def roles_for(kind: str) -> list[str]:
    """The roles that may see a kind of page; the login page is seen before logging in."""
    if kind == "login":
        return [ANONYMOUS]
    may_see = PAGE_KINDS[kind].may_see
    return [role for role, granted in ROLE_PERMISSIONS.items() if may_see(set(granted))]


@dataclass
class Explorer:
    """One data set served, its roles logged in, one tab per language and size."""

    data: DataSet
    server: Server
    vocabulary: Vocabulary
    objects: Objects
    sessions: dict[str, list] = field(default_factory=dict)  # role -> its cookies
    tabs: dict[tuple[str, tuple[int, int]], object] = field(default_factory=dict)

    def tab(self, role: str, language: str, size: tuple[int, int]):
        tab = self.tabs[language, size]
        tab.context.clear_cookies()
        cookie = {"name": "django_language", "value": language, "url": self.server.url}
        tab.context.add_cookies([cookie, *self.sessions.get(role, [])])
        return tab


def sessions_of(browser, site: Site, base_url: str) -> dict[str, list]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    sessions = {}
    try:
        tab = context.new_page()
        for role, account in site.users.items():
            context.clear_cookies()
            log_in(tab, base_url, account)
            sessions[role] = context.cookies()
    finally:
        context.close()
    return sessions


def links(tab, pattern: str) -> list[str]:
    """The paths of the page's links matching a regular expression, in page order."""
    return tab.evaluate(
        """(pattern) => Array.from(document.querySelectorAll('a[href]'))
            .map((a) => new URL(a.href).pathname).filter((p) => new RegExp(pattern).test(p))""",
        pattern,
    )


def first_link(tab, base_url: str, path: str, pattern: str) -> str:
    tab.goto(base_url + path)
    found = links(tab, pattern)
    assert found, f"{path} links to nothing like {pattern}"
    return found[0].strip("/").split("/")[-1]


def find_objects(explorer: Explorer, site: Site, first: bool) -> Objects:
    tab = explorer.tab("analyst", "en", SIZES[0])
    base = explorer.server.url
    order = r"^/orders/[^/]+/$"
    complete = first_link(tab, base, "/orders/?status=complete", order)
    if first:
        try:
            chosen = first_link(tab, base, "/orders/?status=stuck", order)
        except AssertionError:
            chosen = first_link(tab, base, "/orders/?status=lost", order)
    else:
        chosen = complete
    trace = first_link(tab, base, f"/orders/{complete}/", r"^/traces/[^/]+/$")
    customers = {}
    for role in roles_for("customer"):
        tab = explorer.tab(role, "en", SIZES[0])
        customer = first_link(tab, base, f"/orders/{chosen}/", r"^/customers/[^/]+/$")
        customers[role] = f"/customers/{customer}/"
    tour = min(site.tours)
    step = 1 if first else site.tours[tour]
    return Objects(chosen, customers, trace, f"/tours/{tour}/{step}/")


@pytest.fixture(scope="session", params=DATA_SETS, ids=lambda d: d.name)
def explorer(request, browser, tmp_path_factory):
    data: DataSet = request.param
    stale = stale_translations()
    if stale:
        pytest.fail(stale)  # every Russian page would show the English of the new texts
    folder = tmp_path_factory.mktemp(f"pages-{data.name}")
    site = build_site(folder, data)
    server = Server.start(folder)
    contexts = []
    try:
        vocabulary = data_vocabulary(site.traces, people=DEMO_NAMES)
        explorer = Explorer(data, server, vocabulary, None)  # type: ignore[arg-type]
        explorer.sessions = sessions_of(browser, site, server.url)
        for language in LANGUAGES:
            for width, height in SIZES:
                context = browser.new_context(viewport={"width": width, "height": height})
                context.set_default_timeout(30_000)
                contexts.append(context)
                explorer.tabs[language, (width, height)] = context.new_page()
        explorer.objects = find_objects(explorer, site, data == DATA_SETS[0])
        yield explorer
    finally:
        for context in contexts:
            context.close()
        server.stop()


def playback_findings(tab, where: tuple[str, str]) -> list[Finding]:
    """(e): press Next a few times from the first step; each time the current step on the
    diagram and its sentence must be in view (at least a quarter of the step's box)."""
    if not tab.locator("#pb-next").is_visible():
        return [Finding("playback", *where, "no visible Next control (#pb-next)")]
    found = []
    tab.click("#pb-first")
    for press in range(1, NEXT_PRESSES + 1):
        tab.click("#pb-next")
        seen = tab.evaluate(IN_VIEW_JS)
        for name, share in seen["shares"].items():
            if share < 0.25:
                found.append(
                    Finding(
                        "playback",
                        *where,
                        f"after Next x{press}: {name} {share:.0%} in view "
                        f"(box {seen['boxes'][name]}); step {seen['sentence']!r}",
                    )
                )
    return found


# Fragments loaded after the page (explorer.js marks them busy) and the waterfall's rows in.
SETTLED_JS = "() => !document.querySelector('[aria-busy=true], tr.placeholder')"

# How much of the current step (its edge or stop mark on the picture shown) and of the step's
# sentence is on screen: the box cut by the viewport, by every clipping ancestor and, for the
# step, by the sticky playback controls. Measured
# once the next frame is drawn: svg-pan-zoom applies a new view in an animation frame, so
# until then the DOM holds the previous step's view, which is never painted (on a busy machine
# the click's answer can come before that frame).
IN_VIEW_JS = """async () => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  function share(el, bottom) {
    if (!el) { return [0, "absent"]; }
    const r = el.getBoundingClientRect();
    let x0 = Math.max(r.left, 0), y0 = Math.max(r.top, 0);
    let x1 = Math.min(r.right, window.innerWidth), y1 = Math.min(r.bottom, bottom);
    for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflow !== "visible" && a !== document.body && a !== document.documentElement) {
        const c = a.getBoundingClientRect();
        x0 = Math.max(x0, c.left); y0 = Math.max(y0, c.top);
        x1 = Math.min(x1, c.right); y1 = Math.min(y1, c.bottom);
      }
    }
    const area = Math.max(r.width, 1) * Math.max(r.height, 1);
    const seen = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
    const box = [r.left, r.top, r.width, r.height].map(Math.round).join(",");
    return [Math.min(1, seen / area), box];
  }
  const shown = (selector) => [...document.querySelectorAll(selector)]
    .find((n) => n.getClientRects().length);  // not the hidden picture's
  const step = shown("svg .pb-current.edge, svg g.pb-current:not(.node)") ||
               shown("svg .pb-current");
  const sentence = document.getElementById("pb-sentence");
  // the sticky controls cover what is under them (the sentence is part of them)
  const bar = document.querySelector(".playback-bar");
  const covered = bar ? Math.min(bar.getBoundingClientRect().top, innerHeight) : innerHeight;
  const [s1, b1] = share(step, covered), [s2, b2] = share(sentence, innerHeight);
  return {shares: {"the current step": s1, "the step's sentence": s2},
          boxes: {"the current step": b1, "the step's sentence": b2},
          sentence: sentence ? sentence.textContent.trim().slice(0, 120) : ""};
}"""


def view_findings(explorer: Explorer, kind: str, role: str, language: str, size) -> list[Finding]:
    page_kind = PAGE_KINDS[kind]
    tab = explorer.tab(role, language, size)
    found: list[Finding] = []
    for path in page_kind.paths(explorer.objects, role):
        where = (f"{explorer.data.name} {path}", f"{role}, {language}, {size[0]}x{size[1]}")
        errors: list[str] = []

        def script_error(error, errors=errors):
            errors.append(str(error))

        tab.on("pageerror", script_error)
        try:
            response = tab.goto(explorer.server.url + path)
            tab.wait_for_function(SETTLED_JS)
        finally:
            tab.remove_listener("pageerror", script_error)
        if response is None or response.status != 200:
            status = response.status if response else "no answer"
            found.append(Finding("status", *where, f"answered {status}"))
            continue
        found += page_findings(tab, where, explorer.vocabulary, language)
        if kind == "order":
            found += playback_findings(tab, where)
        found += [Finding("script", *where, error) for error in errors]
    return found


@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_page_is_whole_readable_and_russian(explorer, kind):
    findings = [
        finding
        for role in roles_for(kind)
        for language in LANGUAGES
        for size in SIZES
        for finding in view_findings(explorer, kind, role, language, size)
    ]
    if findings:
        ARTIFACTS.mkdir(exist_ok=True)
        text = report(findings)
        (ARTIFACTS / f"pages-{explorer.data.name}-{kind}.txt").write_text(text, encoding="utf-8")
    assert not findings, report(findings)
