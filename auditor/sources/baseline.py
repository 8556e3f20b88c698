"""The last accepted copy of each local feed, so that a mirror given as a path gets the same
integrity checks as a fetched feed (RELIABILITY 4, feed integrity): its version must not go
backwards, and it must not lose more than ``--max-shrink`` of a family's addresses.

A fetched feed's baseline is its cache entry, keyed by URL. A local copy has no cache entry,
so it gets one of its own here, in the same cache directory, keyed by its absolute path: the
name a catalog or a cron job uses, not the file a symbolic link happens to point to, because
swapping what that name holds is exactly what the checks must see.

One file per path: a JSON header line (the path, when it was accepted, the body's length and
SHA-256), then the body. A file that fails any check counts as no baseline, never as an empty
one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auditor import fsutil
from auditor.errors import InputError
from auditor.model import Finding, Severity

_FORMAT = 1


@dataclass(frozen=True)
class Baseline:
    path: str
    """The absolute path of the local feed."""
    body: bytes
    accepted_at: float


def key(location: str) -> str:
    """The absolute form of a local feed's path, without resolving links."""
    return os.path.abspath(location)


def _file(cache_dir: Path, path: str) -> Path:
    return (
        cache_dir / "mirrors" / hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()
    )


def read(cache_dir: Path, location: str) -> Baseline | None:
    path = key(location)
    try:
        data = _file(cache_dir, path).read_bytes()
    except OSError:
        return None
    read = fsutil.read_headed(data, _FORMAT)
    if read is None:
        return None
    header, body = read
    accepted_at = fsutil.finite_time(header.get("accepted_at"))
    if header.get("path") != path or accepted_at is None:
        return None
    return Baseline(path, body, accepted_at)


def write(cache_dir: Path, location: str, body: bytes, accepted_at: float) -> None:
    """Keep ``body`` as the baseline of ``location``; atomic, so a crash keeps the old one."""
    path = key(location)
    data = fsutil.headed({"format": _FORMAT, "path": path, "accepted_at": accepted_at}, body)
    target = _file(cache_dir, path)
    try:
        cache_dir.parent.mkdir(parents=True, exist_ok=True)
        cache_dir.mkdir(mode=0o700, exist_ok=True)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fsutil.atomic_write(target, data, mode=0o600)
    except OSError as e:
        raise InputError(
            f"cannot keep the accepted copy of {path} in the cache: {e.strerror or e}",
            source=location,
            hint=f"check that --cache-dir ({cache_dir}) is writable and not full",
        ) from e


def check_shrink(
    where: str,
    source: str,
    sizes: Mapping[int, tuple[int, int]],
    max_shrink: float,
    accept_shrink: bool,
    kept: str = "the cached copy",
) -> list[Finding]:
    """The shrink guard: per family (old size, new size), a loss over --max-shrink percent
    fails the source (FeedError) unless --accept-shrink, which makes it a warning."""
    findings: list[Finding] = []
    for family, (old_size, new_size) in sorted(sizes.items()):
        if not old_size or new_size >= old_size:
            continue
        lost = 100.0 * (old_size - new_size) / old_size
        if lost <= max_shrink:
            continue
        message = (
            f"{where}: IPv{family} addresses shrank by {lost:.1f}% since {kept} "
            f"({old_size} -> {new_size}), over the limit of {max_shrink:g}%"
        )
        if not accept_shrink:
            from auditor.sources.base import FeedError  # the parsers: only when it fails

            raise FeedError(
                message,
                source=source,
                hint="if the provider really removed them, run again with --accept-shrink;"
                f" {kept} was kept",
            )
        findings.append(Finding("shrink", Severity.WARNING, message + " (accepted)"))
    return findings
