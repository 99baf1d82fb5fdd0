"""Shared fixtures: a clean environment and fast retries for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's DAMSYNC_* settings (the test database URL excepted)."""
    for name in list(os.environ):
        if name.startswith("DAMSYNC_") and name != "DAMSYNC_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    yield
