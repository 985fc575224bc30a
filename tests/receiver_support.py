"""The real `manage.py receive` process on free ports, with its own database folder, and
readers of what it stored (straight from its SQLite file: the test's own database is another)."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from explorer.store.trace_ids import unpack_trace_id

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-shop-token"  # noqa: S105 - a test token
TOKENS = json.dumps({"shop-collector": TOKEN, "crm-collector": "other-token"})


def receiver_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPLORER_RECEIVER_")}
    env.pop("DATABASE_URL", None)
    env.update(
        EXPLORER_DATA_DIR=str(data_dir), EXPLORER_RECEIVER_TOKENS=TOKENS, PYTHONUNBUFFERED="1"
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    """A migrated database in env's data folder: a copy of one this process migrated once (a
    `manage.py migrate` takes 1.5-2 s, a copy a millisecond; the schema and the data
    migrations' rows depend on neither the folder nor the receiver's settings)."""
    target = Path(env["EXPLORER_DATA_DIR"]) / "explorer.sqlite3"
    if "DATABASE_URL" in env or target.exists():
        _run_migrate(env)
        return
    if not _migrated:
        folder = Path(tempfile.mkdtemp(prefix="explorer-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _run_migrate(receiver_env(folder))
        _migrated.append(folder / "explorer.sqlite3")
    target.parent.mkdir(parents=True, exist_ok=True)
    # the backup API: it reads what the migrating process may have left in the WAL file
    with sqlite3.connect(_migrated[0]) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    source.close()
    copy.close()


_migrated: list[Path] = []  # the database this process migrated once


def _run_migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )


@dataclass
class Running:
    process: subprocess.Popen
    http_port: int
    grpc_port: int
    data_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_receiver(
    env: dict[str, str],
    log_name: str = "receiver.log",
    http_port: int = 0,
    grpc_port: int = 0,
    args: tuple[str, ...] = (),
) -> Running:
    """Start `manage.py receive` and wait until both listeners are up."""
    data_dir = Path(env["EXPLORER_DATA_DIR"])
    log = data_dir / log_name
    out = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "receive",
            "--http",
            f"127.0.0.1:{http_port}",
            "--grpc",
            f"127.0.0.1:{grpc_port}",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = re.findall(
            r"OTLP/HTTP on https?://[^:]+:(\d+)/.*\n.*OTLP/gRPC on [^:]+:(\d+)", text
        )
        worker_ready = "--no-worker" in args or "live worker:" in text.rsplit("receiving", 1)[-1]
        if found and worker_ready:
            http, grpc = found[-1]
            return Running(process, int(http), int(grpc), data_dir, log)
        if process.poll() is not None:
            raise RuntimeError(f"receive exited with {process.returncode}: {text}")
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"receive did not start: {log.read_text(errors='replace')}")


def stored(data_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(data_dir / "explorer.sqlite3") as db:
        return db.execute(sql, params).fetchall()


def stored_spans(data_dir: Path) -> dict[str, int]:
    """trace id -> spans stored, from the receiver's database."""
    rows = stored(data_dir, "SELECT trace_id, span_count FROM store_trace")
    return {unpack_trace_id(trace_id): spans for trace_id, spans in rows}
