"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

    from tests.browser_support import log_in, screenshot   # fixtures `browser`, `page` via conftest

    @pytest.mark.browser
    @pytest.mark.django_db(transaction=True)
    def test_home(page, live_server):
        log_in(page, live_server.url, "support")   # password, then the TOTP code
        page.goto(live_server.url + "/")
        screenshot(page, "home")

The live server listens on 127.0.0.1 on a free port, in this process (so fixtures that
patch the trace source apply to it). Screenshots go to test-artifacts/. Tests skip with the
reason when Chromium or Playwright is missing; nothing is ever downloaded.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "correct horse battery staple 9"  # noqa: S105 - test users only
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (scripts/setup.sh installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an asyncio loop in this thread for the session, which makes
    # Django refuse ORM calls from it; the calls are synchronous all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    """A fresh browser context and page; a screenshot of the last state is always saved as
    test-artifacts/<test name>-end.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        screenshot(tab, f"{request.node.name}-end")
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150] + ".png")
    try:
        page.screenshot(path=str(path))
    except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
        path.with_suffix(".txt").write_text(f"screenshot failed: {exc}", encoding="utf-8")
    return path


# Awaited in page.evaluate before reading a picture's transform: svg-pan-zoom applies a zoom or
# pan on the next animation frame, so a transform read sooner is the previous view's.
AFTER_DRAWING = (
    "await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));"
)


def totp_code(user) -> str:
    """The current code of the user's TOTP device, as an authenticator app shows it; waits
    for the next period when this one's code was used already (django-otp refuses reuse)."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise ValueError(f"{user} has no confirmed TOTP device")
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if device.last_t is not None and totp.t() <= device.last_t:
        time.sleep(device.step - (time.time() - device.t0) % device.step + 0.1)
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def make_browser_user(role: str | None, username: str | None = None, extra_perms=()):
    """A user of `role` with PASSWORD and a confirmed TOTP device."""
    from accounts.testing import make_user

    return make_user(role, username=username, extra_perms=extra_perms, password=PASSWORD)


def log_in(
    page,
    base_url: str,
    role: str | None = None,
    *,
    user=None,
    username: str | None = None,
    extra_perms=(),
):
    """Log in through the real pages: user name and password, then the TOTP code. Returns
    the user (a new one of `role` unless `user` is given, whose password must be PASSWORD)."""
    user = user or make_browser_user(role, username, extra_perms)
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/second-factor/.*"))
    page.fill("input[name=code]", totp_code(user))
    page.click("form:has(input[name=code]) button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/" not in url)
    return user
