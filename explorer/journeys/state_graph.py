"""The order state graph (states.json) and the response-time SLA (sla.json), loaded and validated.

Both are data an architect edits, so loading checks them and every problem comes back as one
ConfigError naming the file and what is wrong. Framework-free; it needs only the event names of
explorer.traces.vocabulary.

states.json:
    {"event": {"name": "order.state_changed", "previous": "order.state.previous",
               "new": "order.state.new"},
     "states": [{"name": "INITIATED", "owners": ["shop_api"], "initial": true, "limit": "1d"},
                ..., {"name": "CLOSED", "owners": ["crm_api"], "final": true}],
     "transitions": [["INITIATED", "FILE_UPLOADED"], ...]}
sla.json:
    {"containers": {"shop_api": {"default_ms": 800, "endpoints": {"POST /api/orders": 500}}}}
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explorer.traces.vocabulary import NEW_STATE_KEY, PREVIOUS_STATE_KEY, STATE_EVENT

DEFAULT_EVENT = {"name": STATE_EVENT, "previous": PREVIOUS_STATE_KEY, "new": NEW_STATE_KEY}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_NS = {
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
}


class ConfigError(ValueError):
    """A states.json or sla.json that cannot be used; the message names the file and the problem."""


def parse_duration_ns(text: Any) -> int:
    """'90s', '30m', '4h', '2d', '1w' or '250ms' as nanoseconds; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"bad duration {text!r}: expected a positive number and a unit "
            f"(ms, s, m, h, d, w), like '90s', '30m', '4h' or '2d'"
        )
    return int(match.group(1)) * _UNIT_NS[match.group(2)]


@dataclass(frozen=True, slots=True)
class State:
    name: str
    owners: tuple[str, ...]
    limit_ns: int | None = None
    initial: bool = False
    final: bool = False
    description: str = ""


@dataclass(frozen=True)
class StateGraph:
    """States in their declared order, allowed transitions, and the names of the state event."""

    states: tuple[State, ...]
    transitions: tuple[tuple[str, str], ...]
    event_name: str = DEFAULT_EVENT["name"]
    previous_key: str = DEFAULT_EVENT["previous"]
    new_key: str = DEFAULT_EVENT["new"]
    _by_name: dict[str, State] = field(init=False, repr=False, compare=False)
    _allowed: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {s.name: s for s in self.states})
        object.__setattr__(self, "_allowed", frozenset(self.transitions))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    def knows(self, state: str) -> bool:
        return state in self._by_name

    def is_allowed(self, previous: str, new: str) -> bool:
        return (previous, new) in self._allowed

    def is_initial(self, state: str) -> bool:
        return state in self._by_name and self._by_name[state].initial

    def is_final(self, state: str) -> bool:
        return state in self._by_name and self._by_name[state].final

    def limit_ns(self, state: str) -> int | None:
        """How long an order may stay in `state` before it is stuck (None: no limit)."""
        known = self._by_name.get(state)
        return known.limit_ns if known else None

    def owners(self, state: str) -> list[str]:
        """The element ids of the containers allowed to set `state` (empty if unknown)."""
        known = self._by_name.get(state)
        return list(known.owners) if known else []

    def path_between(self, start: str, end: str) -> list[str] | None:
        """The states strictly between `start` and `end` on a shortest allowed path, or None
        when `end` cannot be reached from `start` (breadth-first, in declaration order)."""
        previous: dict[str, str | None] = {start: None}
        todo = deque([start])
        while todo:
            state = todo.popleft()
            for a, b in self.transitions:
                if a != state or b in previous:
                    continue
                previous[b] = state
                if b == end:
                    between: list[str] = []
                    step = previous[b]
                    while step is not None and step != start:
                        between.append(step)
                        step = previous[step]
                    return between[::-1]
                todo.append(b)
        return None


@dataclass(frozen=True, slots=True)
class ContainerSla:
    default_ms: float
    endpoints: dict[str, float]


@dataclass(frozen=True)
class Sla:
    """Response-time limits per container (element id) and endpoint (SERVER span name)."""

    containers: dict[str, ContainerSla]

    def limit_ms(self, container: str, endpoint: str) -> float | None:
        sla = self.containers.get(container)
        if sla is None:
            return None
        if endpoint in sla.endpoints:
            return sla.endpoints[endpoint]
        # Zipkin lower-cases span names when it stores them: "post /x" is "POST /x".
        folded = endpoint.casefold()
        return next(
            (limit for name, limit in sla.endpoints.items() if name.casefold() == folded),
            sla.default_ms,
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _check_element(
    source: str, where: str, element: Any, element_ids: Collection[str] | None
) -> str:
    if not isinstance(element, str) or not element:
        raise ConfigError(f"{source}: {where}: {element!r} is not an element id")
    if element_ids is not None and element not in element_ids:
        raise ConfigError(f"{source}: {where}: {element!r} is not an element of the model")
    return element


def parse_state_graph(
    data: Any, source: str = "states.json", element_ids: Collection[str] | None = None
) -> StateGraph:
    """Validate an already-decoded states.json; `element_ids` (if given) are the model's ids."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object with 'states' and 'transitions'")
    event_names = _parse_event(data.get("event", DEFAULT_EVENT), source)
    raw_states = data.get("states")
    if not isinstance(raw_states, list) or not raw_states:
        raise ConfigError(f"{source}: 'states' must be a non-empty list")
    seen: set[str] = set()
    states = [
        _parse_state(raw, f"states[{index}]", source, element_ids, seen)
        for index, raw in enumerate(raw_states)
    ]
    if not any(s.initial for s in states):
        raise ConfigError(f'{source}: no state is marked "initial": true')
    if not any(s.final for s in states):
        raise ConfigError(f'{source}: no state is marked "final": true')
    transitions = _parse_transitions(data.get("transitions"), seen, source)
    return StateGraph(
        tuple(states),
        tuple(transitions),
        event_names["name"],
        event_names["previous"],
        event_names["new"],
    )


def _parse_event(event: Any, source: str) -> dict[str, str]:
    """The names of the state-change event and its attributes (DEFAULT_EVENT's where left out)."""
    if not isinstance(event, dict):
        raise ConfigError(f"{source}: 'event' must be an object with name, previous and new")
    names = {}
    for key, default in DEFAULT_EVENT.items():
        value = event.get(key, default)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{source}: event.{key} must be a non-empty string")
        names[key] = value
    return names


def _parse_state(
    raw: Any, where: str, source: str, element_ids: Collection[str] | None, seen: set[str]
) -> State:
    """One entry of 'states' (`where`: its place in the list, for the messages); its name is
    added to `seen`, the names declared before it."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: {where} has no name")
    where = f"state {name}"
    if name in seen:
        raise ConfigError(f"{source}: {where} is declared twice")
    seen.add(name)
    owners = raw.get("owners")
    if not isinstance(owners, list) or not owners:
        raise ConfigError(f"{source}: {where}: 'owners' must be a non-empty list of element ids")
    owners = tuple(_check_element(source, f"{where} owner", o, element_ids) for o in owners)
    initial, final = raw.get("initial", False), raw.get("final", False)
    if not isinstance(initial, bool) or not isinstance(final, bool):
        raise ConfigError(f"{source}: {where}: 'initial' and 'final' must be true or false")
    limit = raw.get("limit")
    if limit is not None and final:
        raise ConfigError(f"{source}: {where} is final, so it cannot have a limit")
    try:
        limit_ns = None if limit is None else parse_duration_ns(limit)
    except ValueError as exc:
        raise ConfigError(f"{source}: {where}: limit: {exc}") from None
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: {where}: 'description' must be a string")
    return State(name, owners, limit_ns, initial, final, description)


def _parse_transitions(raw_transitions: Any, names: set[str], source: str) -> list[tuple[str, str]]:
    """The [from, to] pairs between known states, each once."""
    if not isinstance(raw_transitions, list):
        raise ConfigError(f"{source}: 'transitions' must be a list of [from, to] pairs")
    transitions: list[tuple[str, str]] = []
    for index, pair in enumerate(raw_transitions):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(s, str) for s in pair)
        ):
            raise ConfigError(
                f"{source}: transitions[{index}] must be a [from, to] pair of state names"
            )
        for state in pair:
            if state not in names:
                raise ConfigError(
                    f"{source}: transitions[{index}] {pair[0]} -> {pair[1]}: unknown state {state}"
                )
        if (pair[0], pair[1]) not in transitions:
            transitions.append((pair[0], pair[1]))
    return transitions


def load_state_graph(path: str | Path, element_ids: Collection[str] | None = None) -> StateGraph:
    """Read and validate states.json; raises ConfigError naming the file and the problem."""
    return parse_state_graph(_read_json(Path(path)), str(path), element_ids)


def _positive_ms(source: str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(
            f"{source}: {where}: bad duration {value!r}: expected a positive number of milliseconds"
        )
    return value


def parse_sla(
    data: Any, source: str = "sla.json", element_ids: Collection[str] | None = None
) -> Sla:
    """Validate an already-decoded sla.json; `element_ids` (if given) are the model's ids."""
    containers = data.get("containers") if isinstance(data, dict) else None
    if not isinstance(containers, dict):
        raise ConfigError(f"{source}: expected a JSON object with a 'containers' object")
    result: dict[str, ContainerSla] = {}
    for element, raw in containers.items():
        _check_element(source, "containers", element, element_ids)
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: container {element} must be an object")
        default_ms = _positive_ms(source, f"{element}.default_ms", raw.get("default_ms"))
        endpoints = raw.get("endpoints", {})
        if not isinstance(endpoints, dict):
            raise ConfigError(
                f"{source}: {element}.endpoints must be an object of endpoint -> milliseconds"
            )
        result[element] = ContainerSla(
            default_ms,
            {
                endpoint: _positive_ms(source, f"{element} endpoint {endpoint!r}", limit)
                for endpoint, limit in endpoints.items()
            },
        )
    return Sla(result)


def load_sla(path: str | Path, element_ids: Collection[str] | None = None) -> Sla:
    """Read and validate sla.json; raises ConfigError naming the file and the problem."""
    return parse_sla(_read_json(Path(path)), str(path), element_ids)
