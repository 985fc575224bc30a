"""The client address of a Django request, from the settings EXPLORER_TRUSTED_PROXIES and
EXPLORER_ALLOWED_NETWORKS (parsed once per distinct value)."""

from functools import lru_cache

from django.conf import settings

from .network import client_address, in_networks, parse_networks


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...], setting: str):
    return parse_networks(cidrs, setting)


def request_client_address(request) -> str | None:
    """The client address of a request (also django-axes' AXES_CLIENT_IP_CALLABLE)."""
    if hasattr(request, "client_address"):
        return request.client_address
    proxies = _networks(tuple(settings.EXPLORER_TRUSTED_PROXIES), "EXPLORER_TRUSTED_PROXIES")
    return client_address(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""), proxies
    )


def is_allowed_address(address: str | None) -> bool:
    allowed = _networks(tuple(settings.EXPLORER_ALLOWED_NETWORKS), "EXPLORER_ALLOWED_NETWORKS")
    return address is not None and in_networks(address, allowed)
