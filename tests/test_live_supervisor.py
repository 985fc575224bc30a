"""A dead or stuck live worker is visible and replaced (issue 26): the supervisor of `receive`
and `watch` starts a worker thread again when it died or stopped cycling, its health() is the
receiver's, and the home page says when the worker's last completed cycle is too old."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from explorer.management.supervisor import Supervisor
from explorer.orders import live
from explorer.orders.models import LiveMark

# --- The supervisor ---------------------------------------------------------------------------


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_supervisor_starts_a_dead_worker_thread_again(caplog):
    runs = []

    def worker(own_stop: threading.Event, stats: live.WorkerStats) -> None:
        runs.append(stats)
        if len(runs) == 1:
            stats.errors = 2
            raise SystemExit("the thread dies")  # nothing run_worker would catch
        while not own_stop.wait(0.01):
            stats.cycles += 1
            stats.last_cycle_ns = time.time_ns()
            stats.progressed()

    stop = threading.Event()
    supervisor = Supervisor(worker, stop, stale_s=5, check_s=0.02)
    with caplog.at_level(logging.ERROR, "explorer.live"):
        supervisor.start()
        wait_for(lambda: supervisor.restarts == 1 and supervisor.health()["cycles"] > 0)
    health = supervisor.health()
    assert health["ok"] and health["alive"] and health["restarts"] == 1
    assert health["errors"] == 2 and 0 <= health["last_cycle_age_s"] < 5
    assert "the worker thread died; starting it again (restart 1)" in caplog.text
    stop.set()
    supervisor.join(5)
    assert not supervisor.thread.is_alive()


def test_the_supervisor_replaces_a_worker_that_stopped_cycling():
    release = threading.Event()
    runs = []

    def worker(own_stop: threading.Event, stats: live.WorkerStats) -> None:
        runs.append(stats)
        if len(runs) == 1:
            release.wait(30)  # stuck in a cycle: never looks at own_stop
            return
        while not own_stop.wait(0.01):
            stats.last_cycle_ns = time.time_ns()
            stats.progressed()

    stop = threading.Event()
    supervisor = Supervisor(worker, stop, stale_s=0.3, check_s=0.02)
    supervisor.start()
    assert not supervisor.health()["ok"] or supervisor.health()["last_cycle_age_s"] is None
    wait_for(lambda: supervisor.restarts == 1)
    wait_for(lambda: supervisor.health()["ok"])
    assert len(supervisor.abandoned) == 1
    release.set()
    stop.set()
    supervisor.join(5)


def test_health_is_not_ok_when_the_last_cycle_is_too_old():
    stop = threading.Event()
    supervisor = Supervisor(lambda own_stop, stats: own_stop.wait(30), stop, stale_s=60)
    supervisor.start()
    assert supervisor.health()["ok"]  # just started, no cycle yet
    supervisor.stats.last_cycle_ns = time.time_ns() - 61 * 10**9
    health = supervisor.health()
    assert not health["ok"] and health["last_cycle_age_s"] > 60
    stop.set()
    supervisor.join(5)


# --- The home page ----------------------------------------------------------------------------

BANNER = {
    "en": "The live worker last finished a cycle at",
    "ru": "Фоновый обработчик последний раз завершил цикл",
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_home_page_says_when_the_worker_stopped(client, login_as, db, settings, language):
    settings.EXPLORER_LIVE_STALE_SECONDS = 60
    login_as("analyst")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    LiveMark.objects.create(name=live.CYCLE_DONE, value_ns=time.time_ns() - 30 * 10**9)
    for url in ("/", "/orders-now/"):
        assert BANNER[language] not in client.get(url).content.decode()
    LiveMark.objects.filter(name=live.CYCLE_DONE).update(value_ns=time.time_ns() - 3600 * 10**9)
    for url in ("/", "/orders-now/"):
        page = client.get(url).content.decode()
        assert BANNER[language] in page, url


def test_no_banner_where_no_worker_ever_ran_nor_for_roles_without_the_lists(
    client, login_as, db, settings
):
    login_as("analyst")
    assert BANNER["en"] not in client.get("/").content.decode()
    LiveMark.objects.create(name=live.CYCLE_DONE, value_ns=1)
    login_as("onboarding")
    page = client.get("/")
    assert page.status_code == 200 and BANNER["en"] not in page.content.decode()
