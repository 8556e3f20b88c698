from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import Netns, create_netns, delete_netns


@pytest.fixture
def netns() -> Iterator[Netns]:
    """A fresh network namespace per test, deleted afterwards; skips when one cannot be made."""
    ns = create_netns()
    try:
        yield ns
    finally:
        delete_netns(ns)
