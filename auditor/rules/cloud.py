"""What the cloud platforms (aws, azure, gcloud, terraform) share: the declared export they
write for, read again, and the pieces of the shell scripts they write.

A cloud rule names an object the export holds (a security group id, an NSG and its resource
group, a VPC network, the priorities in use). The reader keeps verdicts, not those fields, so
the generator reads the export again from the file the declared source was read from, and
only when its SHA-256 is still the one the audit read: rules are never written for a file
that changed in between. An export that cannot be read again (standard input, a changed
file) leaves the names to the admin, as shell variables the script refuses to run without.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor import ipspace
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import RuleOptions, audited_bytes
from auditor.service import Service

_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class Export:
    """A declared source of the platform's format, with its document when it could be read
    again unchanged (None otherwise)."""

    rangeset: RangeSet
    document: Any


def exports(options: RuleOptions, fmt: str) -> list[Export]:
    """The declared sources of format ``fmt``, in the order given."""
    out = []
    for rs in options.declared:
        if rs.info.format == fmt:
            out.append(Export(rs, _document(rs)))
    return out


def _document(rs: RangeSet) -> Any:
    data = audited_bytes(rs)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None


def deciding_rules(options: RuleOptions, fmt: str, blocks: Sequence[MissingBlock]) -> list[str]:
    """The texts of the rules that decide the blocks' addresses today (a deny, or the
    implied one) in the declared sources of ``fmt``: where new rules must go ahead of."""
    texts: dict[str, None] = {}
    for rs in options.declared:
        if rs.info.format != fmt:
            continue
        for v in rs.verdicts:
            for b in blocks:
                if b.family != v.family:
                    continue
                first, last = b.network, b.network + b.size - 1
                for seg in v.segments:
                    if seg.last >= first and seg.first <= last and seg.outcome != "accept":
                        texts.setdefault(seg.rule.text, None)
    return list(texts)


def pruned(
    texts: Iterable[str], extra: Sequence[MissingBlock], what: str
) -> tuple[list[str], int, list[str]]:
    """A rule's sources (as the export writes them) without those entirely in ``extra``, how
    many went, and why each source that stays was kept (not ``what``, or only partly extra)."""
    rest: list[str] = []
    gone = 0
    why: list[str] = []
    for text in texts:
        try:
            p = ipspace.parse(text)
        except ValueError:
            why.append(f"{sanitize.clean(text)} is not {what}")
            rest.append(text)
            continue
        if covered(text, extra):
            gone += 1
            continue
        rest.append(text)
        if any(b.family == p.family and b.network <= p.last and p.first < b.network + b.size
               for b in extra):  # fmt: skip
            why.append(f"{sanitize.clean(text)} is only partly extra")
    return rest, gone, why


def covered(cidr_text: str, blocks: Iterable[MissingBlock]) -> bool:
    """Whether every address of ``cidr_text`` is in ``blocks``."""
    p = ipspace.parse(cidr_text)
    rest = [(p.first, p.last)]
    for b in sorted(blocks, key=lambda b: b.network):
        if b.family != p.family:
            continue
        lo, hi = b.network, b.network + b.size - 1
        rest = [piece for a, z in rest for piece in _minus(a, z, lo, hi)]
    return not rest


def _minus(a: int, z: int, lo: int, hi: int) -> list[tuple[int, int]]:
    if hi < a or lo > z:
        return [(a, z)]
    out = []
    if a < lo:
        out.append((a, lo - 1))
    if hi < z:
        out.append((hi + 1, z))
    return out


def service_slug(service: Service) -> str:
    """``tcp-25``, ``tcp-25-465-587``, ``tcp-1024to2048``, ``any``: for rule names."""
    if service.protocol == "any":
        return "any"
    ports = "-".join(str(lo) if lo == hi else f"{lo}to{hi}" for lo, hi in service.ports)
    return f"{service.protocol}-{ports}" if ports else service.protocol


def short(name: str, max_len: int, service: Service) -> str:
    """``name`` if it fits, else its head and a digest of the service (deterministic)."""
    if len(name) <= max_len:
        return name
    import hashlib

    digest = hashlib.sha256(str(service).encode("ascii")).hexdigest()[:10]
    return f"{name[: max_len - 11].rstrip('-_')}-{digest}"


def required(variable: str, what: str) -> str:
    """A script line that stops the script unless ``variable`` is set (``what`` says to
    what); the value is then used as ``"$VARIABLE"``, quoted."""
    if not _VARIABLE.fullmatch(variable):
        raise ValueError(f"{variable!r} is not a shell variable name")
    text = sanitize.clean(what)
    return f': "${{{variable}:?set {variable} to {text}}}"'


def word(value: str) -> str:
    """A shell word: a literal, quoted; ``$NAME`` (a variable of :func:`required`) quoted as
    a variable."""
    if value.startswith("$") and _VARIABLE.fullmatch(value[1:]):
        return f'"{value}"'
    return shlex.quote(value)


def command(args: Sequence[str]) -> str:
    return " ".join(word(a) for a in args)


SCRIPT_START = "set -eu"
