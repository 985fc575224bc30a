"""A real PostgreSQL server for the tests that need one, registered as fixtures in conftest.

`postgres`: a server (Debian's `postgresql` package, see scripts/setup.sh) on a free port of
127.0.0.1 in its own temporary folder, one per test module, as the unprivileged `postgres`
user when the tests run as root; `stop()` and `start()` take it down and bring it back, as a
restart in production does. `migrated`: a migrated, empty database that tests copy
(CREATE DATABASE ... TEMPLATE). `manage(...)`: a `manage.py` command run as a user runs it.
The cluster sorts text by ICU's en-US collation, as a production database created with a
linguistic locale does.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def postgresql_bin() -> Path | None:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = [
        Path(p).parent
        for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if Path(p).with_name("pg_ctl").exists()
    ]
    return max(found, key=lambda p: int(p.parent.name), default=None)


@dataclass
class PostgresServer:
    port: int
    data: Path
    binaries: Path
    as_user: list[str] = field(default_factory=list)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{database}", autocommit=True
        )

    def create_database(self, name: str, template: str = "template0") -> str:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.url(name)

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        command = [*self.as_user, str(self.binaries / "pg_ctl"), "-D", str(self.data), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    def start(self) -> bool:
        """Start the server (waiting until it accepts connections); whether it did."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.data.parent / "server.log")
        return self.pg_ctl("-l", log, "-w", "-t", "30", "-o", options, "start").returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (their transactions roll back), as a
        restart by the service manager does; `immediate` as a crash."""
        done = self.pg_ctl("-m", mode, "-w", "stop")
        assert done.returncode == 0, done.stdout + done.stderr

    def log_text(self) -> str:
        return (self.data.parent / "server.log").read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    binaries = postgresql_bin()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are "
            "absent: `bash scripts/setup.sh` installs Debian's postgresql package"
        )
    # PostgreSQL refuses to run as root: the server runs as `postgres`, owning its folder.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="explorer-pg-"))
    if as_user:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(0, base / "data", binaries, as_user)
    started = False
    try:
        initdb = subprocess.run(
            [
                *as_user,
                str(binaries / "initdb"),
                "-D",
                str(server.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=en-US",
                "--auth=trust",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert initdb.returncode == 0, initdb.stdout + initdb.stderr
        # Trust, over TCP from 127.0.0.1 only; no Unix socket.
        (server.data / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        for _attempt in range(3):  # the free port may be taken before the server binds it
            server.port = free_port()
            started = server.start()
            if started:
                break
        assert started, server.log_text()
        yield server
    finally:
        if started:
            server.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def manage(
    *args: str,
    data_dir: Path,
    database_url: str | None = None,
    check: bool = True,
    **settings: str,
) -> subprocess.CompletedProcess:
    """`manage.py ARGS` as a user runs it, with these environment settings besides."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "EXPLORER_DATA_DIR": str(data_dir),
        **settings,
    }
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def migrated(postgres, tmp_path_factory) -> str:
    """A migrated, empty database that the tests copy (CREATE DATABASE ... TEMPLATE)."""
    url = postgres.create_database("explorer_migrated")
    manage("migrate", "-v0", data_dir=tmp_path_factory.mktemp("migrate"), database_url=url)
    return "explorer_migrated"
