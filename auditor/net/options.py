"""How feeds are fetched (:class:`NetOptions`); light, so a run without network sources can
build its options without importing the HTTP machinery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NetOptions:
    """How feeds are fetched. There is deliberately no switch that disables TLS verification."""

    timeout: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 256 * 1024 * 1024
    ca_bundle: str | None = None
    cache_dir: Path | None = None
    offline: bool = False
    retries: int = 3
    max_retry_after: float = 30.0
    user_agent: str | None = None
    """None sends ``allowlist-auditor/VERSION python-requests/VERSION``."""
