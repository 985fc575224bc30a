"""GET /metrics: the explorer's figures for Prometheus in the OpenMetrics text format
(prometheus_client; what it says: explorer/web/metrics_figures.py; docs/grafana.md).

A scraper has no session: the page asks for no login and no second factor, and is not audited
(a scrape every 15 s would bury the audit log). Instead it answers only addresses inside
EXPLORER_METRICS_NETWORKS (and, as every page, EXPLORER_ALLOWED_NETWORKS) that send
`Authorization: Bearer <EXPLORER_METRICS_TOKEN>`: 403 outside them or while no token is set,
401 without the token or with another one. A scrape is kept CACHE_SECONDS, so that several
Prometheus servers or a fast scrape interval cost one computation."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Max
from django.http import HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client.core import CollectorRegistry
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest

from accounts.addresses import request_client_address
from accounts.network import in_networks, parse_networks
from explorer.caching import LocalCache
from explorer.configuration import explorer_config
from explorer.orders.models import OrderStatus
from explorer.orders.service import now_in
from explorer.sources.base import SourceError
from explorer.web import common
from explorer.web.metrics_figures import collect

log = logging.getLogger("explorer.web")

CACHE_SECONDS = 5.0
_scrapes: LocalCache[bytes] = LocalCache("metrics scrapes", max_weight=1, seconds=CACHE_SECONDS)


@login_not_required
@require_safe
def metrics(request):
    refusal = refusal_of(request)
    if refusal is not None:
        return refusal
    return HttpResponse(_scrapes.get_or_compute("scrape", scrape), content_type=CONTENT_TYPE_LATEST)


def refusal_of(request) -> HttpResponse | None:
    """Why the request may not scrape (a 403 or 401 answer), or None."""
    address = request_client_address(request)
    try:
        allowed = parse_networks(settings.EXPLORER_METRICS_NETWORKS, "EXPLORER_METRICS_NETWORKS")
    except ValueError as exc:
        log.error("/metrics refused: %s", exc)
        return _refused(403, str(exc))
    if address is None or not in_networks(address, allowed):
        log.warning("/metrics refused %s: outside EXPLORER_METRICS_NETWORKS", address)
        return _refused(403, f"address {address} is outside EXPLORER_METRICS_NETWORKS")
    token = settings.EXPLORER_METRICS_TOKEN
    if not token:
        return _refused(403, "/metrics is off: EXPLORER_METRICS_TOKEN is not set")
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _refused(401, "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        log.warning("/metrics refused %s: wrong bearer token", address)
        return _refused(401, "wrong bearer token")
    return None


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="explorer metrics"'
    return response


def scrape() -> bytes:
    """The metrics now, in the OpenMetrics text format."""
    registry = CollectorRegistry(auto_describe=False)
    families = list(collect(explorer_config(), snapshot_now()))
    registry.register(_Families(families))
    return generate_latest(registry)


def snapshot_now() -> int | None:
    """The moment the snapshot's stuck and lost are decided at: the orders service's now
    (the newest span in the source), or the newest row's when the source cannot say; None
    while there is no snapshot."""
    newest = OrderStatus.objects.aggregate(newest=Max("as_of_ns"))["newest"]
    if newest is None:
        return None
    try:
        now = now_in(common.source())
    except SourceError as exc:  # a remote backend that is down: the snapshot's own time
        log.warning("/metrics: the trace source did not say its newest span: %s", exc)
        now = None
    return now if now is not None else newest


class _Families:
    """A collector of families computed once."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)
