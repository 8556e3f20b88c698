"""Load a list from a file or standard input, in a format chosen by name, suffix or content."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from auditor.errors import InputError, UsageError

if TYPE_CHECKING:
    # the readers are imported when a file is read: fetching a provider never needs them
    from auditor.allowlists import ReadContext
    from auditor.model import RangeSet

# A list bigger than this is not an allowlist or a feed; refuse it before reading it all.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


# Streams the shell has already opened for this process (``<(cmd)``, ``/dev/stdin``): reading
# them is what the user asked for. Any other path that is not a regular file (a named FIFO
# nobody writes to, a device, a socket) would block or never end, so it is refused.
_OPEN_STREAMS = re.compile(r"/dev/stdin|/dev/fd/[0-9]+|/proc/self/fd/[0-9]+")


def _is_open_stream(spec: str) -> bool:
    return _OPEN_STREAMS.fullmatch(spec) is not None


def _open(spec: str) -> int:
    """A read-only descriptor; other paths than open streams are opened without blocking, so
    that a FIFO without a writer cannot hang the run before it is refused."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not _is_open_stream(spec):
        flags |= getattr(os, "O_NONBLOCK", 0)
    return os.open(spec, flags)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def read_bytes(spec: str, stdin: BinaryIO | None, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole file (or ``-`` for stdin), refusing more than ``max_bytes``."""
    if spec == "-":
        if stdin is None:
            raise UsageError("'-' given but there is no standard input")
        data = stdin.read(max_bytes + 1)
    else:
        try:
            fd = _open(spec)
        except IsADirectoryError:
            raise InputError("is a directory, not a file", source=spec) from None
        except FileNotFoundError:
            raise InputError("no such file", source=spec) from None
        except PermissionError:
            raise InputError("permission denied", source=spec) from None
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", source=spec) from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise InputError("is a directory, not a file", source=spec)
            if not stat.S_ISREG(st.st_mode) and not _is_open_stream(spec):
                raise InputError(
                    f"is {_kind(st.st_mode)}, not a regular file",
                    source=spec,
                    hint="give a file, or pipe the data and give - to read standard input",
                )
            if st.st_size > max_bytes and stat.S_ISREG(st.st_mode):
                raise InputError(
                    f"file is {st.st_size} bytes, over the limit of {max_bytes}",
                    source=spec,
                    hint="is this the right file? raise the limit with --max-bytes",
                )
            try:
                data = fh.read(max_bytes + 1)
            except OSError as e:
                raise InputError(f"cannot read: {e.strerror}", source=spec) from None
    if len(data) > max_bytes:
        raise InputError(
            f"input is over the limit of {max_bytes} bytes",
            source="<stdin>" if spec == "-" else spec,
            hint="is this the right file? raise the limit with --max-bytes",
        )
    return data


def detect_format(spec: str, data: bytes) -> str:
    """The reader for a file: by suffix, else by content (JSON starts with [ or {), else text."""
    suffix = Path(spec).suffix.lower() if spec != "-" else ""
    # a suffix that names a format wins; then content that is unmistakably one (a
    # postscreen_access.cidr or an nginx .conf is not a plain list, an nft -j dump is not a
    # JSON list); the generic suffixes (.txt, .conf, .json) only after that
    from auditor.allowlists import READERS

    generic = ("text", "json")  # .txt, .conf, .json say little about what is inside
    for name, cls in sorted(READERS.items()):
        if suffix and suffix in cls.suffixes and name not in generic:
            return name
    for name, cls in sorted(READERS.items()):
        if cls.sniff(data):
            return name
    for name in generic:
        if suffix and suffix in READERS[name].suffixes:
            return name
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"[", b"{"):
        return "json"
    return "text"


def load(
    spec: str,
    ctx: ReadContext,
    *,
    fmt: str | None = None,
    stdin: BinaryIO | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RangeSet:
    """Read and parse one list. Raises InputError (with file and line) on failure."""
    from auditor.allowlists import reader_for

    if fmt is not None:
        reader = reader_for(fmt)  # an unknown name is a usage error before any reading
    data = read_bytes(spec, stdin, max_bytes)
    if fmt is None:
        reader = reader_for(detect_format(spec, data))
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(
            "file is empty",
            source=ctx.name,
            hint="an empty file is an error; in YAML or JSON write [] to allow nothing",
        )
    try:
        return reader.parse(data, ctx)
    except RecursionError:
        raise InputError(
            "the input is nested too deeply to be read",
            source=ctx.name,
            hint="is this the right file? a real export is not nested thousands of levels",
        ) from None
