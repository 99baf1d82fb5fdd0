"""
Shared fixtures: a clean environment and fast retries for every test; hypothesis profiles.

Property tests without their own ``max_examples`` follow the profile named by
``HYPOTHESIS_PROFILE``: ``quick`` (50 examples, the default, for ``make test``) or ``fuzz``
(5,000 examples, ``make fuzz``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Fuzzed inputs are built from files and event loops: some examples are slow by nature, and
# a wall-clock deadline per example would only measure how busy the machine is.
settings.register_profile(
    "quick", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's DAMSYNC_* settings (the test database URL excepted)."""
    for name in list(os.environ):
        if name.startswith("DAMSYNC_") and name != "DAMSYNC_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    yield
