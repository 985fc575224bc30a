"""The screenshots of docs/pages.md: what a new employee sees in Russian, at 1366x768 and 420x900.

    .venv/bin/python scripts/screenshots.py            # into docs/img/ (or `make screenshots`)
    .venv/bin/python scripts/screenshots.py --out /tmp/shots --orders 200 --days 7

Builds the demo's data set (scripts/demo.sh: seed 7, cut off at the end of the last day) in a
temporary folder, serves it with `manage.py runserver` on a free port and photographs, in
Russian: the order page (its diagram in view, and during playback after pressing Next three
times: where the page leaves the reader), the system map (its diagram) and the trace page.
The order is the first stuck one (the first lost one if none is stuck), the trace its first.
Viewport screenshots, so each image shows what one screen shows; PNG as Chromium writes it
(60-170 KB each).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pages_support import SIZES, DataSet, Server, build_site, log_in  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
NEXT_PRESSES = 3
SETTLED_JS = "() => !document.querySelector('[aria-busy=true], tr.placeholder')"


def first_link(tab, url: str, pattern: str) -> str | None:
    tab.goto(url)
    found = tab.evaluate(
        """(pattern) => Array.from(document.querySelectorAll('a[href]'))
            .map((a) => new URL(a.href).pathname).find((p) => new RegExp(pattern).test(p))""",
        pattern,
    )
    return found or None


def pick_pages(tab, base: str) -> dict[str, str]:
    """The paths photographed: a stuck (or lost) order, its first trace, the map."""
    order = first_link(tab, f"{base}/orders/?status=stuck", r"^/orders/[^/]+/$") or first_link(
        tab, f"{base}/orders/?status=lost", r"^/orders/[^/]+/$"
    )
    if order is None:
        raise SystemExit("the data set has no stuck or lost order")
    trace = first_link(tab, base + order, r"^/traces/[^/]+/$")
    if trace is None:
        raise SystemExit(f"{order} links to no trace")
    return {"order": order, "trace": trace, "map": "/map/"}


def settle(tab) -> None:
    tab.wait_for_load_state("load")
    tab.wait_for_function(SETTLED_JS)


def shoot_page(tab, url: str, path: Path, *, diagram: bool) -> Path:
    """The page in one screen: its top, or with `diagram` its first diagram at the top."""
    tab.goto(url)
    settle(tab)
    if diagram:
        tab.evaluate(
            """() => { const d = document.querySelector('figure.diagram, .diagram, svg');
                       if (d) { d.scrollIntoView({block: 'start'}); } }"""
        )
    tab.screenshot(path=str(path))
    return path


def shoot_order(tab, base: str, path: str, size: str, out: Path) -> list[Path]:
    """The order page with its diagram in view, then after Next x3 as the page leaves it."""
    shots = [shoot_page(tab, base + path, out / f"order-overview-ru-{size}.png", diagram=True)]
    if tab.locator("#pb-next").is_visible():
        tab.click("#pb-first")
        for _ in range(NEXT_PRESSES):
            tab.click("#pb-next")
        tab.wait_for_timeout(400)  # a pan or zoom to the step may be animated
        shots.append(out / f"order-playback-ru-{size}.png")
        tab.screenshot(path=str(shots[-1]))
    return shots


def shoot(browser, server: Server, accounts: dict, out: Path) -> list[Path]:
    shots: list[Path] = []
    cookies = [{"name": "django_language", "value": "ru", "url": server.url}]
    for width, height in SIZES:
        size = f"{width}x{height}"
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        try:
            tab = context.new_page()
            if len(cookies) == 1:  # once: a TOTP code is good for one login only
                log_in(tab, server.url, accounts["analyst"])  # sees the order and the map
                cookies += context.cookies()
            context.add_cookies(cookies)
            pages = pick_pages(tab, server.url)
            shots += shoot_order(tab, server.url, pages["order"], size, out)
            for name in ("map", "trace"):  # the map's diagram; the trace page's top
                path = out / f"{name}-ru-{size}.png"
                shots.append(shoot_page(tab, server.url + pages[name], path, diagram=name == "map"))
        finally:
            context.close()
    return shots


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--orders", type=int, default=500, help="as scripts/demo.sh")
    parser.add_argument("--days", type=int, default=14, help="as scripts/demo.sh")
    parser.add_argument("--seed", type=int, default=7, help="as scripts/demo.sh")
    options = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="explorer-screenshots-") as folder:
        data = DataSet("demo", options.seed, options.orders, options.days)
        site = build_site(Path(folder), data)
        server = Server.start(Path(folder))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    shots = shoot(browser, server, site.users, options.out)
                finally:
                    browser.close()
        finally:
            server.stop()
    for path in shots:
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size // 1024} KB"
        )


if __name__ == "__main__":
    main()
