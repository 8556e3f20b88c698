"""The lock against overlapping runs: ``fcntl.flock`` on a lock file, which the kernel
releases when the holder ends however it ends (no stale PID file to clean). The holder writes
its pid and start time into the file, so a run that finds it held can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from auditor.errors import AuditorError

_POLL = 0.1


class LockHeld(AuditorError):
    """Another run holds the lock (exit 2)."""


def lock_path(config: Path, state_dir: Path | None) -> Path:
    """``STATE_DIR/lock``, or ``.NAME.lock`` next to the configuration without a state dir."""
    if state_dir is not None:
        return state_dir / "lock"
    return config.resolve().parent / f".{config.name}.lock"


@contextlib.contextmanager
def hold(path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting up to ``wait`` seconds for it;
    LockHeld naming the holder when it stays taken."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise AuditorError(
            f"cannot open the lock file: {e.strerror}",
            source=str(path),
            hint="check that the folder exists and is writable",
        ) from None
    try:
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(
                        f"another run holds the lock ({_holder(fd)})",
                        source=str(path),
                        hint="wait for it to end, or give --lock-wait SECONDS",
                    ) from None
                time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} started {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """What the holder wrote: ``pid 1234 started 2026-12-06T02:00:00Z``."""
    try:
        text = os.pread(fd, 200, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.startswith("pid ") else "pid unknown: it has not written it yet"
