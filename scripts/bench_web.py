"""Benchmark of the web explorer (issue 7) against a real server on 127.0.0.1, see bench.py.

Builds its own data in WORKDIR/web (its own SQLite database): the demo's simulation
(`simulate --orders 500 --days 14 --until-days 14 --seed 7`, ingested, order
snapshot refreshed), three 50,000-span traces and one
1,000,000-span trace stored beside it (a month before the simulation, outside every journey's
window), and a support user with a confirmed TOTP device. Then it serves the explorer with
gunicorn (2 worker processes, on a socket it bound to a free port), logs in through the real
login and second-factor pages and measures, with the normal middleware (intranet-only, OTP,
CSP):

- journey_page_ms: the order page of a demo order, after a first request (journey_page_ms_cold),
  the median of 30 requests (target <= 150).
- trace_page_ms_50k / trace_page_kb_50k: the first response for a 50,000-span trace (median
  over the three) and its size (targets <= 1,000 ms, <= 1,500 KB).
- trace_page_ms_1m: the first response for the 1,000,000-span trace (target <= 3,000).
- trace_scroll_end_ms_1m: in Chromium (Playwright, /usr/bin/chromium), from scrolling the
  1,000,000-span trace's waterfall, freshly loaded, to its end until its last row is drawn
  (its window fetched), median of three (target <= 1,000); absent without Chromium.
- flamegraph_ms_1m: in Chromium, the first paint of that trace's flame graph, freshly loaded
  (from navigation to the first frame after the boxes are drawn), median of three (target
  <= 1,000); after flamegraph_columns_ms_1m, the first request for its boxes, which reads the
  trace once into columns in that worker (both workers are warmed before the three loads).
- journey_command_ms: `manage.py journey ORDER --json` for that order, the whole process
  (interpreter and Django start-up included).
- rps_journey: journey pages per second from a load generator in a second process (threads,
  keep-alive HTTP), 600 requests or 30 s, whichever comes first (target >= 50);
  rps_journey_errors counts answers other than 200.
- metrics_scrape_ms: a worker's first /metrics scrape with the bearer token, as Prometheus
  makes it (target <= 200).
BENCH_SCALE shrinks the simulation and the big traces.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ORDERS = max(int(500 * SCALE), 20)
SPANS_50K = max(int(50_000 * SCALE), 2_001)
SPANS_1M = max(int(1_000_000 * SCALE), 20_001)
COPIES_50K = 3
WARM_REQUESTS = 30
LOAD_REQUESTS = 600
LOAD_SECONDS = 30
LOAD_THREADS = 4
WORKERS = 2
STEP_TIMEOUT = 600  # seconds any one preparation step may take
USERNAME = "bench-support"
METRICS_TOKEN = "bench-metrics-" + os.urandom(8).hex()  # /metrics' bearer token
MS = 10**6
DAY_NS = 86_400 * 10**9


def log(message: str) -> None:
    print(f"bench_web: {message}", file=sys.stderr, flush=True)


def server_environment(folder: Path) -> dict[str, str]:
    env = {**os.environ}
    env.update(
        EXPLORER_DATA_DIR=str(folder),
        DATABASE_URL=f"sqlite:///{folder / 'web.sqlite3'}",
        DJANGO_SETTINGS_MODULE="explorer.settings",
        DJANGO_SECRET_KEY="bench-web-" + os.urandom(16).hex(),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PYTHONPATH=str(ROOT),
        EXPLORER_METRICS_TOKEN=METRICS_TOKEN,
    )
    env.pop("DJANGO_DEBUG", None)
    return env


def run_step(env: dict, *args: str) -> str:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr[-3000:]}")
    log(f"{Path(args[0]).name} {args[1]}: {time.perf_counter() - started:.1f} s")
    return done.stdout


# --- Data (run in a subprocess: `python scripts/bench_web.py prepare`) ---------------------


def big_trace(trace_id: str, spans: int, start_ns: int):
    """A shop-api SERVER root over order units of 10 spans (processing, database, S3,
    RabbitMQ publish, consumer, MES call and its server side), one after another."""
    from explorer.traces.model import Event, Resource, Span, SpanKind, StatusCode, Trace

    resources = {
        name: Resource(name, {"service.name": name, "host.name": f"{name}-1"})
        for name in ("shop-api", "crm-api", "mes-api")
    }
    shop, crm, mes = resources.values()
    business = {
        "order.id": f"A-BIG-{trace_id[:6]}",
        "customer.id": "C-00042",
        "customer.type": "b2b_partner",
    }
    database = {**business, "db.system.name": "postgresql", "db.namespace": "shop"}
    queue = {
        **business,
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "orders.created",
    }
    units = max((spans - 1) // 10, 1)
    root = Span(
        trace_id,
        "0" * 16,
        None,
        "POST /api/orders",
        SpanKind.SERVER,
        start_ns,
        start_ns + units * 45 * MS + 2 * MS,
        shop,
        dict(business),
    )
    out = [root]
    counter = 1

    def span(parent, name, kind, resource, begin, end, attributes, t):
        nonlocal counter
        made = Span(
            trace_id,
            f"{counter:016x}",
            parent.span_id,
            name,
            kind,
            t + begin * MS,
            t + end * MS,
            resource,
            attributes,
        )
        counter += 1
        out.append(made)
        return made

    for unit in range(units):
        t = start_ns + MS + unit * 45 * MS
        process = span(root, "OrderService.process", SpanKind.INTERNAL, shop, 0, 40, business, t)
        span(process, "INSERT shop.orders", SpanKind.CLIENT, shop, 1, 4, database, t)
        span(process, "PUT", SpanKind.CLIENT, shop, 4, 12, business, t)
        publish = span(process, "orders.created publish", SpanKind.PRODUCER, shop, 12, 13, queue, t)
        consume = span(publish, "orders.created process", SpanKind.CONSUMER, crm, 14, 38, queue, t)
        call = span(consume, "POST", SpanKind.CLIENT, crm, 15, 30, business, t)
        served = span(call, "POST /api/mes/orders", SpanKind.SERVER, mes, 16, 29, business, t)
        served.events = [Event("order.state_changed", t + 21 * MS, {"order.state.new": "IN_WORK"})]
        if unit % 50 == 7:
            served.status_code, served.status_message = StatusCode.ERROR, "operator pool"
        span(served, "INSERT mes.assignments", SpanKind.CLIENT, mes, 17, 20, database, t)
        span(served, "PriceCalculator.calculate", SpanKind.INTERNAL, mes, 20, 28, business, t)
        span(consume, "UPDATE shop.orders", SpanKind.CLIENT, crm, 31, 36, database, t)
    return Trace(trace_id, out)


def prepare() -> None:
    """Stores the big traces and the user; prints what the benchmark needs as JSON."""
    import django

    django.setup()
    from django.db.models import Min

    from explorer.store.ingest import store_traces
    from explorer.store.models import StoredTrace
    from explorer.store.source import StoreSource

    first = StoredTrace.objects.aggregate(first=Min("start_ns"))["first"]
    start = first - 30 * DAY_NS  # outside the baseline window of every demo order
    ids_50k = [f"{0x50 + n:02x}" * 16 for n in range(COPIES_50K)]
    for n, trace_id in enumerate(ids_50k):
        store_traces([big_trace(trace_id, SPANS_50K, start + n * 3600 * 10**9)])
    id_1m = "1f" * 16
    store_traces([big_trace(id_1m, SPANS_1M, start - DAY_NS)])

    orders = StoreSource().attribute_values("order.id")
    orders = [o for o in orders if not o.startswith("A-BIG-")]
    small = (
        StoredTrace.objects.filter(span_count__lt=100)
        .order_by("start_ns")
        .values_list("trace_id", flat=True)
        .first()
    )
    print(
        json.dumps(
            {
                "order": orders[len(orders) // 2],
                "traces_50k": ids_50k,
                "trace_1m": id_1m,
                "small_trace": small,
                **bench_user(),
            }
        )
    )


def bench_user(role: str = "support") -> dict:
    """Creates the benchmark's user of this role with a TOTP device (Django set up); what
    log_in needs to log it in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.testing import make_user

    password = os.urandom(12).hex()
    user = make_user(role, username=USERNAME, password=password)
    device = TOTPDevice.objects.get(user=user)
    return {"password": password, "key": device.key, "step": device.step, "digits": device.digits}


# --- Server and client ----------------------------------------------------------------------


class Server:
    """gunicorn on a socket bound here to a free port of 127.0.0.1; always stopped."""

    def __init__(self, env: dict, workers: int, log_file: Path) -> None:
        self.log = log_file.open("ab")
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        fd = self.socket.fileno()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "explorer.wsgi:application",
                "--bind",
                f"fd://{fd}",
                "--workers",
                str(workers),
                "--timeout",
                "300",
                "--access-logfile",
                "-" if os.environ.get("BENCH_WEB_ACCESS_LOG") else "/dev/null",
                "--error-logfile",
                "-",
            ],
            cwd=ROOT,
            env=env,
            pass_fds=(fd,),
            start_new_session=True,
            stdout=self.log,
            stderr=self.log,
        )

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: gunicorn + workers
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.socket.close()
        self.log.close()


def login_page(session, url: str):
    """The login page, once the server's workers answer (up to a minute)."""
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            page = session.get(f"{url}/accounts/login/", timeout=30)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    page.raise_for_status()
    return page


def log_in(url: str, data: dict):
    """A requests session logged in through the login and second-factor pages."""
    import requests
    from django_otp.oath import TOTP

    session = requests.Session()
    page = login_page(session, url)
    answer = session.post(
        f"{url}/accounts/login/",
        timeout=30,
        data={
            "csrfmiddlewaretoken": _csrf(page.text),
            "username": USERNAME,
            "password": data["password"],
        },
    )
    if "second-factor" not in answer.url:
        raise RuntimeError(f"the login did not lead to the second factor: {answer.url}")
    totp = TOTP(bytes.fromhex(data["key"]), step=data["step"], digits=data["digits"])
    code = f"{totp.token():0{data['digits']}d}"
    done = session.post(
        answer.url, timeout=30, data={"csrfmiddlewaretoken": _csrf(answer.text), "code": code}
    )
    if done.status_code != 200 or "second-factor" in done.url:
        raise RuntimeError(f"the second factor was refused ({done.status_code} {done.url})")
    return session


def _csrf(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("no CSRF token on the form")
    return found.group(1)


def timed_get(session, url: str) -> tuple[float, int]:
    """(milliseconds, body size in bytes) of one page that must answer 200."""
    started = time.perf_counter()
    answer = session.get(url, timeout=300)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise RuntimeError(f"GET {url}: {answer.status_code}")
    return elapsed, len(answer.content)


def metrics_scrape_ms(url: str) -> float:
    """A worker's first /metrics scrape, as Prometheus makes it (computed, not the scrape a
    worker keeps for 5 s)."""
    import requests

    scraper = requests.Session()
    scraper.headers["Authorization"] = f"Bearer {METRICS_TOKEN}"
    return round(timed_get(scraper, f"{url}/metrics")[0], 1)


CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium_page(url: str, session) -> Iterator:
    """A page of headless Chromium at 1366x768 with the session's cookies; None without
    Chromium or Playwright."""
    if not Path(CHROMIUM).exists():
        yield None
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield None
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            context.add_cookies(
                [{"name": c.name, "value": c.value, "url": url} for c in session.cookies]
            )
            yield context.new_page()
        finally:
            browser.close()


def scroll_to_end_ms(url: str, session, trace_id: str) -> float | None:
    """Milliseconds from scrolling a trace's waterfall to its end until its last row shows,
    in headless Chromium with the session's cookies (median of three); None without it."""
    with chromium_page(url, session) as page:
        if page is None:
            return None
        times = []
        for _ in range(3):  # a fresh page each time: no window of rows fetched before
            page.goto(f"{url}/traces/{trace_id}/", timeout=120_000)
            page.wait_for_selector("#waterfall.is-virtual tr.span-row")
            last = page.evaluate("document.getElementById('waterfall').waterfall.total()") - 1
            started = time.perf_counter()
            page.evaluate(
                "(() => { const s = document.getElementById('waterfall-scroll');"
                " s.scrollTop = s.scrollHeight; })()"
            )
            page.wait_for_selector(
                f"#waterfall tr.span-row[data-index='{last}']", state="visible", timeout=30_000
            )
            times.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(times), 1)


def flamegraph_ms(url: str, session, trace_id: str) -> dict[str, float]:
    """{flamegraph_columns_ms_1m, flamegraph_ms_1m}: the first (cold) request for the
    boxes of the trace's flame graph, then the first paint of the graph in headless Chromium
    (median of three fresh loads, every worker warmed); the paint is absent without it."""
    boxes = f"{url}/traces/{trace_id}/flame/boxes/?width=1366"
    results = {"flamegraph_columns_ms_1m": round(timed_get(session, boxes)[0], 1)}
    with ThreadPoolExecutor(WORKERS) as pool:  # the other worker reads the trace too
        list(pool.map(lambda _: timed_get(session, boxes), range(2 * WORKERS)))
    with chromium_page(url, session) as page:
        if page is None:
            return results
        times = []
        for _ in range(3):
            page.goto(f"{url}/traces/{trace_id}/flame/", timeout=120_000)
            page.wait_for_selector("#flame[data-painted-ms]", state="attached", timeout=60_000)
            times.append(float(page.get_attribute("#flame", "data-painted-ms") or "nan"))
        results["flamegraph_ms_1m"] = round(statistics.median(times), 1)
    return results


# Runs in a second process: `python -c LOAD URL COOKIE REQUESTS SECONDS THREADS`; threads
# share the requests over keep-alive connections; prints {"done", "errors", "seconds"}.
LOAD = """
import http.client, json, sys, threading, time, urllib.parse
url, cookie = sys.argv[1], sys.argv[2]
total, cap, threads = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
parts = urllib.parse.urlsplit(url)
lock = threading.Lock()
state = {"left": total, "done": 0, "errors": 0}
started = time.perf_counter()
def worker():
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    while True:
        with lock:
            if state["left"] <= 0 or time.perf_counter() - started > cap:
                return
            state["left"] -= 1
        try:
            connection.request("GET", parts.path, headers={"Cookie": cookie})
            answer = connection.getresponse()
            answer.read()
            ok = answer.status == 200
            if answer.getheader("Connection", "").lower() == "close":
                connection.close()
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
        with lock:
            state["done" if ok else "errors"] += 1
pool = [threading.Thread(target=worker) for _ in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print(json.dumps({"done": state["done"], "errors": state["errors"],
                  "seconds": time.perf_counter() - started}))
"""


def measure(workdir: Path) -> dict:
    folder = workdir / "web"
    folder.mkdir(exist_ok=True)
    env = server_environment(folder)
    manage = str(ROOT / "manage.py")
    run_step(env, manage, "migrate", "--no-input", "-v", "0")
    run_step(env, manage, "collectstatic", "--no-input", "-v", "0")  # the waterfall's script
    traces = folder / "traces"
    run_step(
        env,
        manage,
        "simulate",
        "--orders",
        str(ORDERS),
        "--days",
        "14",
        "--until-days",
        "14",
        "--seed",
        "7",
        "--out",
        str(traces),
    )
    run_step(env, manage, "ingest", str(traces))
    run_step(env, manage, "orders", "--refresh")
    data = json.loads(
        run_step(env, str(Path(__file__).resolve()), "prepare").strip().splitlines()[-1]
    )
    results: dict = {}
    started = time.perf_counter()
    run_step(env, manage, "journey", data["order"], "--json")
    results["journey_command_ms"] = round((time.perf_counter() - started) * 1000, 1)
    with Server(env, WORKERS, folder / "gunicorn.log") as server:
        session = log_in(server.url, data)
        # Both workers past their first request (templates, URL patterns, connections).
        for _ in range(4):
            timed_get(session, f"{server.url}/traces/{data['small_trace']}/")
        results["metrics_scrape_ms"] = metrics_scrape_ms(server.url)
        firsts = [timed_get(session, f"{server.url}/traces/{t}/") for t in data["traces_50k"]]
        results["trace_page_ms_50k"] = round(statistics.median(ms for ms, _ in firsts), 1)
        results["trace_page_kb_50k"] = round(max(size for _, size in firsts) / 1024, 1)
        ms, _ = timed_get(session, f"{server.url}/traces/{data['trace_1m']}/")
        results["trace_page_ms_1m"] = round(ms, 1)
        scroll = scroll_to_end_ms(server.url, session, data["trace_1m"])
        if scroll is not None:
            results["trace_scroll_end_ms_1m"] = scroll
        results.update(flamegraph_ms(server.url, session, data["trace_1m"]))

        order_url = f"{server.url}/orders/{data['order']}/"
        ms, _ = timed_get(session, order_url)
        results["journey_page_ms_cold"] = round(ms, 1)
        # Two at a time, so that the other worker makes its first (cold) page too.
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda _: timed_get(session, order_url), range(3 * WORKERS)))
        warm = [timed_get(session, order_url)[0] for _ in range(WARM_REQUESTS)]
        results["journey_page_ms"] = round(statistics.median(warm), 1)

        cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
        load = subprocess.run(
            [
                sys.executable,
                "-c",
                LOAD,
                order_url,
                cookie,
                str(LOAD_REQUESTS),
                str(LOAD_SECONDS),
                str(LOAD_THREADS),
            ],
            capture_output=True,
            text=True,
            timeout=LOAD_SECONDS + 120,
            check=True,
        )
        figures = json.loads(load.stdout.strip().splitlines()[-1])
        results["rps_journey"] = round(figures["done"] / figures["seconds"], 1)
        results["rps_journey_errors"] = figures["errors"]
    log(json.dumps(results))
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["prepare"]:
        prepare()
    else:
        sys.exit("usage: bench_web.py prepare  (the benchmark runs it through scripts/bench.py)")
