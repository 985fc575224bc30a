"""Shared fixtures. Peer reference data lives in ../shared/reference (absent in a user's clone)."""

from pathlib import Path

import pytest

# One Playwright session for the whole run, and the PostgreSQL fixtures: registered once, here.
pytest_plugins = ["tests.browser_support", "tests.postgresql_support"]

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"


def pytest_configure(config):
    # WhiteNoise warns on every request when the collected static folder is missing.
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every test starts with empty caches (explorer.caching.reset_caches)."""
    from explorer.caching import reset_caches

    reset_caches()
    yield
    reset_caches()


@pytest.fixture(scope="session")
def simulation():
    """simulation(**options): the simulated Alexandrite with these SimulationConfig options,
    run once per session (tests/simulation_support.py)."""
    from tests.simulation_support import simulated

    return simulated


def reference_cases(name: str, pattern: str) -> list:
    """File names in a folder of ../shared/reference, to parametrise over (one test per peer
    case); a single skipped case when the folder is absent."""
    folder = REFERENCE / name
    found = sorted(p.name for p in folder.glob(pattern)) if folder.is_dir() else []
    return found or [
        pytest.param(
            None,
            marks=pytest.mark.skip(
                reason=f"peer reference data {folder} is absent (only present beside the project)"
            ),
        )
    ]


def reference_dir(name: str) -> Path:
    """A folder of ../shared/reference, or skip the test with the reason."""
    folder = REFERENCE / name
    if not folder.is_dir():
        pytest.skip(f"peer reference data {folder} is absent (only present beside the project)")
    return folder


@pytest.fixture
def login_as(db, client):
    """login_as("support") logs `client` in, second factor verified, as a new user of that role
    (see accounts/testing.py; username= and extra_perms= are passed on)."""
    from accounts.testing import login_as as log_in

    return lambda role=None, **kwargs: log_in(client, role, **kwargs)


@pytest.fixture
def model():
    """The default Alexandrite C4 model (explorer/alexandrite/model.dsl)."""
    from explorer.c4.loader import DEFAULT_MODEL, load_model

    return load_model(DEFAULT_MODEL)


@pytest.fixture
def mapping(model):
    """The default telemetry mapping onto that model."""
    from explorer.c4.mapping import DEFAULT_MAPPING, load_mapping

    return load_mapping(DEFAULT_MAPPING, model)
