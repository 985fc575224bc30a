"""`manage.py receive`: the OTLP receiver (explorer/receiver; docs/receiver.md)."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass

import grpc
from django.core.management.base import BaseCommand, CommandError

from explorer.composition import configured
from explorer.management.arguments import source_and_config
from explorer.management.pipeline import cycle_steps, start_worker
from explorer.management.stopping import stop_on_signals, wait_for_stop
from explorer.management.supervisor import Supervisor
from explorer.receiver.config import ReceiverConfig, ReceiverConfigError, load
from explorer.receiver.grpc_server import grpc_server
from explorer.receiver.http_server import ReceiverHTTPServer, http_server
from explorer.receiver.service import Receiver
from explorer.sources.config import EMBEDDED


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CommandError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _log_to_stderr(verbosity: int) -> None:
    """Senders, refusals, failures and the live worker's cycles on stderr (verbosity 2: every
    commit too), unless the deployment configured logging itself."""
    for name in ("explorer.receiver", "explorer.live"):
        log = logging.getLogger(name)
        if not log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)
            log.propagate = False
        log.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


@dataclass(slots=True)
class _Servers:
    """What `receive` listens with: the HTTP server and where, and the gRPC one if any."""

    http: ReceiverHTTPServer
    http_host: str
    http_port: int
    grpc_server: grpc.Server | None = None
    grpc: tuple[str, int] | None = None  # the address bound

    def stop(self) -> None:
        self.http.shutdown()
        if self.grpc_server is not None:
            self.grpc_server.stop(grace=5).wait()


class Command(BaseCommand):
    help = (
        "Receive OTLP traces over HTTP (POST /v1/traces) and gRPC, and store them "
        "(EXPLORER_RECEIVER_MODE full or index). Stops on SIGTERM or Ctrl-C."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--http",
            default="127.0.0.1:4318",
            metavar="HOST:PORT",
            help="OTLP/HTTP address (default 127.0.0.1:4318; port 0: any free)",
        )
        parser.add_argument(
            "--grpc",
            default="127.0.0.1:4317",
            metavar="HOST:PORT",
            help="OTLP/gRPC address (default 127.0.0.1:4317); 'off' for none",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not run the live worker (order statuses) in this process: "
            "another `receive` or `manage.py watch` runs it",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            metavar="N",
            help="receiver processes sharing the ports (one per core); only "
            "the first runs the live worker (default 1)",
        )
        parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
        parser.add_argument(
            "--source",
            help="trace source the worker judges orders from "
            "(default: the embedded store in full mode, the "
            "configured backend in index mode)",
        )

    def handle(self, *args, **options):
        _log_to_stderr(options["verbosity"])
        config = self._config(options)
        worker_source = None if options["no_worker"] else self._worker_source(config, options)
        # Everything loaded so far lives as long as the process: the cyclic collector need not
        # walk it again and again while requests make and drop spans by the hundred thousand.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        if options["processes"] < 1:
            raise CommandError("--processes must be at least 1")
        from django.db import connection

        receiver = Receiver(config, sqlite=connection.vendor == "sqlite")
        receiver.start()
        servers = self._listen(receiver, config, options)
        stop = threading.Event()
        stop_on_signals(stop, receiver.committed)  # the second wakes the live worker to see it
        supervisor = None
        if worker_source is not None:
            supervisor = self._start_worker(worker_source, receiver, stop)
        serving = threading.Thread(
            target=servers.http.serve_forever, name="receiver-http", daemon=True
        )
        serving.start()
        others = self._start_others(options, servers.http_host, servers.http_port, servers.grpc)
        self.stdout.flush()
        wait_for_stop(stop)
        for other in others:
            other.terminate()
        servers.stop()
        receiver.stop()
        if supervisor is not None:
            supervisor.join(timeout=30)
        for other in others:
            other.wait()
        self.stdout.write("receiver stopped")

    @staticmethod
    def _config(options: dict) -> ReceiverConfig:
        """The receiver's configuration; without tokens it may listen on loopback only."""
        try:
            config = load()
        except ReceiverConfigError as exc:
            raise CommandError(str(exc)) from exc
        hosts = [host_port(options["http"])[0]]
        if options["grpc"] != "off":
            hosts.append(host_port(options["grpc"])[0])
        if not config.tokens and not all(_loopback(h) for h in hosts):
            raise CommandError(
                "EXPLORER_RECEIVER_TOKENS is empty: without tokens the receiver listens on "
                "loopback only (give each sender a token to listen elsewhere)"
            )
        return config

    def _listen(self, receiver: Receiver, config: ReceiverConfig, options: dict) -> _Servers:
        """The OTLP/HTTP server (not serving yet) and the OTLP/gRPC one (started), on the
        ports asked for (shared with the other processes under --processes N)."""
        http_host, http_port = host_port(options["http"])
        grpc_address = None if options["grpc"] == "off" else host_port(options["grpc"])
        reuse_port = options["reuse_port"] or options["processes"] > 1
        try:
            http = http_server(receiver, http_host, http_port, reuse_port)
        except OSError as exc:
            raise CommandError(f"cannot listen on {options['http']}: {exc}") from exc
        servers = _Servers(http, http_host, http.server_address[1])
        if grpc_address:
            try:
                servers.grpc_server, bound = grpc_server(receiver, *grpc_address, reuse_port)
            except RuntimeError as exc:
                raise CommandError(f"cannot listen on {options['grpc']}: {exc}") from exc
            servers.grpc_server.start()
            servers.grpc = (grpc_address[0], bound)
        scheme = "https" if config.tls else "http"
        self.stdout.write(
            f"receiving OTLP/HTTP on {scheme}://{http_host}:{servers.http_port}/v1/traces"
        )
        if servers.grpc:
            self.stdout.write(f"receiving OTLP/gRPC on {servers.grpc[0]}:{servers.grpc[1]}")
        self.stdout.write(
            f"mode {config.mode}; senders: "
            f"{', '.join(sorted(config.tokens)) or 'anonymous (loopback only)'}"
        )
        return servers

    def _start_worker(
        self, source_name: str, receiver: Receiver, stop: threading.Event
    ) -> Supervisor:
        """The live worker with the alert rules after each cycle, as under `watch`, woken by
        the receiver's commits; its health is the receiver's too (GET /health)."""
        source, judging = source_and_config(source_name)
        steps = cycle_steps(source, self.stdout.write)
        supervisor = start_worker(source, judging, stop, steps, wake=receiver.committed)
        receiver.worker_health = supervisor.health
        self.stdout.write(f"live worker: order statuses from {source.name}")
        return supervisor

    @staticmethod
    def _start_others(
        options: dict, http_host: str, http_port: int, grpc_address: tuple[str, int] | None
    ) -> list[subprocess.Popen]:
        """The other processes of --processes N: the same command on the ports now bound,
        without the worker. Stateless like this one, so any may take any request."""
        grpc = f"{grpc_address[0]}:{grpc_address[1]}" if grpc_address else "off"
        command = [
            sys.executable,
            sys.argv[0],
            "receive",
            "--http",
            f"{http_host}:{http_port}",
            "--grpc",
            grpc,
            "--no-worker",
            "--reuse-port",
            "--verbosity",
            str(options["verbosity"]),
        ]
        return [subprocess.Popen(command) for _ in range(options["processes"] - 1)]

    @staticmethod
    def _worker_source(config: ReceiverConfig, options: dict) -> str:
        """The source the live worker reads: where this mode puts the spans."""
        if options["source"]:
            return options["source"]
        if config.mode == "full":
            return EMBEDDED  # the pages read the stored reference under this name too
        from django.conf import settings

        name = getattr(settings, "EXPLORER_DEFAULT_BACKEND", EMBEDDED)
        if configured().get(name, {}).get("kind", "store") == "store":
            raise CommandError(
                "EXPLORER_RECEIVER_MODE=index keeps no spans: set EXPLORER_DEFAULT_BACKEND to "
                "the Tempo or Jaeger backend the Collector also sends to (or --no-worker)"
            )
        return name
