"""Shared test settings: hypothesis profiles (CI runs the same profile as a developer), and
the ``torch`` marker, which skips a test cleanly where torch cannot be imported."""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("quick", max_examples=30, deadline=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

HAS_TORCH = importlib.util.find_spec("torch") is not None
if not HAS_TORCH:  # every test there is torch-marked, and the modules import torch at the top
    collect_ignore_glob = ["test_oracle_*.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAS_TORCH:
        return
    skip = pytest.mark.skip(reason="needs torch, which is not installed here")
    for item in items:
        if "torch" in item.keywords:
            item.add_marker(skip)
