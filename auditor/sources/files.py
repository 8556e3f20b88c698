"""Load a list from a file or standard input, in a format chosen by name, suffix or content."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
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


def is_open_stream(spec: str) -> bool:
    """``/dev/stdin``, ``/dev/fd/N`` (``<(cmd)``): a descriptor the shell opened, which may be
    a pipe that can be read only once."""
    return _OPEN_STREAMS.fullmatch(spec) is not None


def _open(spec: str) -> int:
    """A read-only descriptor; other paths than open streams are opened without blocking, so
    that a FIFO without a writer cannot hang the run before it is refused."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not is_open_stream(spec):
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
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise InputError("is a directory, not a file", source=spec)
        if not stat.S_ISREG(st.st_mode) and not is_open_stream(spec):
            os.close(fd)
            raise InputError(
                f"is {_kind(st.st_mode)}, not a regular file",
                source=spec,
                hint="give a file, or pipe the data and give - to read standard input",
            )
        with os.fdopen(fd, "rb") as fh:
            if stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
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


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32 LE"),  # before UTF-16 LE: it starts alike
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32 BE"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE"),
)


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """(codec, label) when the start is unmistakably UTF-16 text without a BOM: every other
    byte NUL (ASCII text), the others not; None otherwise."""
    sample = data[:4096]
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if not odd.strip(b"\x00") and b"\x00" not in even:
        return "utf-16-le", "UTF-16 LE"
    if not even.strip(b"\x00") and b"\x00" not in odd:
        return "utf-16-be", "UTF-16 BE"
    return None


def utf16_to_utf8(data: bytes, source: str) -> tuple[bytes, str | None]:
    """UTF-16 text (Windows PowerShell 5.1 writes it with ``>`` and ``Out-File``), or UTF-32
    with a byte order mark (``Out-File -Encoding UTF32``), as UTF-8, with what it was read as;
    any other input is returned as it is, with None."""
    with_bom = [(bom, codec, label) for bom, codec, label in _WIDE_BOMS if data.startswith(bom)]
    if with_bom:
        bom, codec, label = with_bom[0]
        body, label = data[len(bom) :], label + " text (it starts with a byte order mark)"
    else:
        found = _utf16_without_bom(data)
        if found is None:
            return data, None
        body, (codec, label) = data, found
        label += " text (no byte order mark, but every other byte is NUL)"
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as e:
        unit = 4 if "32" in codec else 2
        line = body[: e.start - e.start % unit].decode(codec, "replace").count("\n") + 1
        raise InputError(
            f"invalid {label.split(' text')[0]} at byte {e.start + len(data) - len(body)}",
            source=source,
            line=line,
            hint=f"the file looks like {label.split(' ')[0]} but is damaged or truncated; save it"
            " as UTF-8",
        ) from None
    return text.encode("utf-8"), label


# Lines of one address-like word at most (hex digits, dots, colons, slashes, dashes,
# brackets), with # or ; comments, but no #! line. No reader claims such a head by its content:
# each looks for a keyword, a second column (an access action, a chain's policy, an ipset
# type), a #! line naming nft, or text a comment hides after a lone carriage return (which
# splits lines for some). A plain list's format is therefore found without importing the
# other readers (tests hold every reader's sniff to this).
_LONE_LINE = rb"[ \t]*(?:[0-9A-Fa-f:./\[\]-]+[ \t]*)?(?:(?:#(?:[^!\r\n][^\r\n]*)?|;[^\r\n]*))?\r?"
_LONE_WORDS = re.compile(rb"(?:" + _LONE_LINE + rb"\n)*" + _LONE_LINE)


def lone_words(data: bytes) -> bool:
    """The head of ``data`` is lines of one address-like word at most, and comments."""
    return _LONE_WORDS.fullmatch(data[:HEAD_CHECKED].removeprefix(b"\xef\xbb\xbf")) is not None


def detect_format(spec: str, data: bytes) -> str:
    """The reader for a file: by suffix, else by content (JSON starts with [ or {), else text."""
    suffix = Path(spec).suffix.lower() if spec != "-" else ""
    # a suffix that names a format wins; then content that is unmistakably one (a
    # postscreen_access.cidr or an nginx .conf is not a plain list, an nft -j dump is not a
    # JSON list); the generic suffixes (.txt, .conf, .json) only after that
    from auditor.allowlists import READERS

    generic = ("text", "json")  # .txt, .conf, .json say little about what is inside
    # a list's suffix (or none) and a head no reader claims: neither loop below can answer,
    # and their readers are not imported (no other reader takes the text suffixes)
    if not (lone_words(data) and (not suffix or suffix in READERS["text"].suffixes)):
        # by name, each reader imported when it is asked: the first to claim the file ends
        # the search, and the readers after it are not imported
        names = READERS.names()
        if suffix:
            for name in names:
                if name not in generic and suffix in READERS[name].suffixes:
                    return name
        for name in names:
            if READERS[name].sniff(data):
                return name
    for name in generic:
        if suffix and suffix in READERS[name].suffixes:
            return name
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"[", b"{"):
        return "json"
    return "text"


HEAD_CHECKED = 65536
"""How much of a file is looked at to recognise formats that are not lists (as foreign.HEAD)."""

# Lines of address characters (hex digits, dots, colons, slashes, dashes, brackets, blanks)
# with # or ; comments. The head of an ordinary list matches in one pass, so the patterns of
# auditor.sources.foreign are neither compiled nor run for it. A cut at HEAD_CHECKED may split
# a line, which still matches.
_LIST_LINE = rb"[0-9A-Fa-f:./\[\] \t\r-]*(?:[#;][^\n]*)?"
_PLAIN_LIST = re.compile(rb"(?:" + _LIST_LINE + rb"\n)*" + _LIST_LINE)


def _refuse_foreign(data: bytes, ctx: ReadContext) -> None:
    """A file taken for a plain list that is a configuration, an export or a document of a kind
    no reader reads is refused as a whole, saying what it looks like and what to give."""
    head = data[:HEAD_CHECKED]
    if _PLAIN_LIST.fullmatch(head.removeprefix(b"\xef\xbb\xbf")):
        return  # only address characters and comments: nothing else to recognise
    from auditor.sources.foreign import recognise

    found = recognise(data)
    if found is None or (ctx.lenient and found.lenient_reads_it):
        return
    raise InputError(
        f"this looks like {found.what}, not a list of addresses",
        source=ctx.name,
        line=found.line,
        hint=found.hint,
    )


_SOMETHING = re.compile(rb"[^\xef\xbb\xbf \t\r\n]")


def load(
    spec: str,
    ctx: ReadContext,
    *,
    fmt: str | None = None,
    stdin: BinaryIO | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    read: Callable[[str], bytes] | None = None,
) -> RangeSet:
    """Read and parse one list. Raises InputError (with file and line) on failure. ``read``
    gives a path's bytes when the caller has read them already (a run reads each file once)."""
    from auditor.allowlists import reader_for

    if fmt is not None:
        reader = reader_for(fmt)  # an unknown name is a usage error before any reading
    raw = read(spec) if read is not None and spec != "-" else read_bytes(spec, stdin, max_bytes)
    data, encoding = utf16_to_utf8(raw, ctx.name)
    if fmt is None:
        detected = detect_format(spec, data)
        if detected == "text":
            _refuse_foreign(data, ctx)
        reader = reader_for(detected)
    if not _SOMETHING.search(data):  # a search, not a strip: a big file is not copied
        raise InputError(
            "file is empty",
            source=ctx.name,
            hint="an empty file is an error; in YAML or JSON write [] to allow nothing",
        )
    try:
        result = reader.parse(data, ctx)
    except RecursionError:
        raise InputError(
            "the input is nested too deeply to be read",
            source=ctx.name,
            hint="is this the right file? a real export is not nested thousands of levels",
        ) from None
    if encoding is None:
        return result
    import hashlib
    from dataclasses import replace

    from auditor.model import Finding, Origin, Severity

    note = Finding("encoding", Severity.INFO, f"decoded as {encoding}", Origin(ctx.name))
    # the source is identified by the bytes of the file, not by their UTF-8 conversion
    info = replace(result.info, sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw))
    return replace(result, info=info, findings=(*result.findings, note))
