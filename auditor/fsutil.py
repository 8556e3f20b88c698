"""Atomic file writes (a temp file in the same directory, fsync, rename, fsync the directory)
and the header-plus-body files of the caches."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write(path: Path, data: bytes | Iterable[bytes], mode: int = 0o644) -> None:
    """``data``, or its pieces as they come, replaces ``path`` only once all of it is written."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                fh.writelines(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def headed(header: dict[str, object], body: bytes) -> bytes:
    """A file of one JSON header line, then the body. The header gets the body's length and
    SHA-256, so a torn or edited file is recognised when it is read back."""
    full = {**header, "length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    return json.dumps(full, ensure_ascii=True, sort_keys=True).encode("ascii") + b"\n" + body


def read_headed(data: bytes, fmt: int) -> tuple[dict[str, object], bytes] | None:
    """The header and body of a file written by :func:`headed` in format ``fmt``, or None when
    it is not one, is of another format, or its body does not match its length and digest."""
    line, newline, body = data.partition(b"\n")
    if not newline:
        return None
    try:
        header = json.loads(line)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("format") != fmt:
        return None
    length = header.get("length")
    if (
        not isinstance(length, int)
        or isinstance(length, bool)
        or length != len(body)
        or header.get("sha256") != hashlib.sha256(body).hexdigest()
    ):
        return None
    return header, body


def finite_time(value: object) -> float | None:
    """A header's timestamp as a float, or None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/allowlist-auditor``, else ``~/.cache/allowlist-auditor``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG Base Directory specification requires.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "allowlist-auditor"
