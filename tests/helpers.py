"""Helpers shared by test modules (import them from here, not from conftest)."""

from __future__ import annotations

import os

import pytest


def require(available: bool, what: str, how: str) -> None:
    """Skips a test whose tool `what` is missing on a developer's machine; under CI=true it fails:
    CI installs everything the suite needs, so a missing tool there is a broken CI, never a skip."""
    if available:
        return
    message = f"{what} is not installed; {how}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)
