"""One colour per service, the same on every page (waterfall, flame graph, legends).

Paul Tol's "muted" palette, safe for the common kinds of colour blindness. The services the
telemetry mapping names (`service.name` rules, in the mapping's order) take the first colours,
so Alexandrite's own services always look alike; any other service takes one of the colours the
mapping leaves free, by a hash of its name (the same name, the same colour, on every page and
after a restart). Pages use the classes `svc-0` .. `svc-8` (static/web/web.css sets `--svc`):
the CSP forbids inline styles.
"""

from __future__ import annotations

import zlib

from explorer.configuration import explorer_config

PALETTE = (
    "#332288",  # indigo
    "#88ccee",  # cyan
    "#44aa99",  # teal
    "#117733",  # green
    "#999933",  # olive
    "#ddcc77",  # sand
    "#cc6677",  # rose
    "#882255",  # wine
    "#aa4499",  # purple
)


def mapped_services() -> list[str]:
    """The service names the telemetry mapping matches exactly, in its order, once each."""
    names: list[str] = []
    for rule in explorer_config().mapping.services:
        for key, expected in rule.match:
            if key == "service.name" and isinstance(expected, str) and expected not in names:
                names.append(expected)
    return names


def colour_index(service: str, mapped: list[str]) -> int:
    """The palette index of a service, given the mapping's services."""
    if service in mapped:
        return mapped.index(service) % len(PALETTE)
    free = len(PALETTE) - len(mapped)
    crc = zlib.crc32(service.encode("utf-8", "surrogatepass"))
    return len(mapped) + crc % free if free > 0 else crc % len(PALETTE)


def colour_classes(services) -> dict[str, str]:
    """{service: "svc-N"} for these services."""
    mapped = mapped_services()
    return {service: f"svc-{colour_index(service, mapped)}" for service in services}
