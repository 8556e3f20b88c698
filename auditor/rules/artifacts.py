"""What a generator hands over: artifacts (one per family and kind: apply, rollback, prune),
each with the header every artifact starts with, and the two ways they are delivered: one
text with clear separators (standard output), or one file each (``--output-dir``).

The header says what the artifact changes, from which inputs (their SHA-256), by which
version, how to apply it, how to check it first and how to roll it back. Every word of it that
comes from an input goes through :func:`sanitize.clean`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from auditor.rules import sanitize

Kind = Literal["apply", "rollback", "prune"]
KINDS: tuple[Kind, ...] = ("apply", "rollback", "prune")

_WHAT = {
    "apply": "adds what lets the missing CIDRs in",
    "rollback": "removes what the apply artifact added",
    "prune": "REMOVES the extra (stale) entries of the scope: review before use",
}


XML_END = " -->"


@dataclass(frozen=True)
class Syntax:
    """How the artifact's format writes a comment line."""

    start: str = "# "
    end: str = ""

    def line(self, text: str) -> str:
        if self.end == XML_END:
            text = re.sub("-{2,}", "-", text)  # an XML comment cannot hold "--"
        return f"{self.start}{text}{self.end}".rstrip()


HASH = Syntax()
BANG = Syntax("! ")
"""Cisco IOS and ASA configuration."""
SLASHES = Syntax("// ")
XML = Syntax("<!-- ", XML_END)


@dataclass(frozen=True)
class Artifact:
    """One piece of output a person applies as a whole."""

    kind: Kind
    family: int | None
    """4 or 6, or None when one artifact holds both families."""
    body: str
    suffix: str
    """The file name's extension: rules, nft, sh, ps1, conf, cidr, tf, yaml, xml, txt."""
    apply: str
    """How to apply it, with FILE for its file: ``iptables-restore --noflush FILE``."""
    check: str = ""
    """How to check it before applying, when the platform has a way."""
    syntax: Syntax = HASH
    script: bool = False
    """A shell script (``bash -n`` checks it) rather than a file a program loads."""
    cidrs: int = 0
    """How many CIDRs it adds or removes."""

    def file_name(self, platform: str) -> str:
        fam = "all" if self.family is None else f"v{self.family}"
        return f"{platform}-{fam}-{self.kind}.{self.suffix}"

    @property
    def title(self) -> str:
        fam = "IPv4 and IPv6" if self.family is None else f"IPv{self.family}"
        return f"{fam} {self.kind}"


@dataclass(frozen=True)
class Provenance:
    """Where the rules come from, for the header: the program's version and each input."""

    version: str = ""
    inputs: tuple[tuple[str, str | None], ...] = ()
    """(name, sha256) of every input, in the order given."""
    service: str = ""


def header(art: Artifact, platform: str, prov: Provenance, others: Sequence[Artifact]) -> str:
    """The lines every artifact starts with, in its own comment syntax."""
    version = f" {sanitize.clean(prov.version)}" if prov.version else ""
    service = f", {sanitize.clean(prov.service)}" if prov.service else ""
    plural = "" if art.cidrs == 1 else "s"
    lines = [
        f"allowlist-auditor{version}: {platform} {art.title}, {art.cidrs} CIDR{plural}{service}.",
        f"It {_WHAT[art.kind]}.",
    ]
    for name, sha in prov.inputs:
        digest = f" sha256:{sha}" if sha else ""
        lines.append(f"input: {sanitize.clean(name)}{digest}")
    if art.check:
        lines.append(f"check: {art.check}")
    lines.append(f"apply: {art.apply}")
    rollback = [o for o in others if o.kind == "rollback" and o.family == art.family]
    rollback.sort(key=lambda o: o.suffix != art.suffix)  # the one of the same form first
    if art.kind != "rollback":
        if rollback and art.kind == "apply":
            same = "this one" if rollback[0].apply == art.apply else "its header says"
            lines.append(f"roll back: {rollback[0].file_name(platform)} (apply it as {same})")
        else:
            lines.append("roll back: no rollback artifact is made for this one")
    return "\n".join(art.syntax.line(line) for line in lines) + "\n"


def full_text(art: Artifact, platform: str, prov: Provenance, others: Sequence[Artifact]) -> str:
    body = art.body if art.body.endswith("\n") else art.body + "\n"
    text = header(art, platform, prov, others) + body
    if art.script and not text.startswith("#!"):
        text = "#!/bin/sh\n" + text
    return text


def combined(platform: str, arts: Sequence[Artifact], prov: Provenance) -> str:
    """Every artifact in one text, each under a separator a person can paste from."""
    parts = []
    for art in arts:
        banner = art.syntax.line(f"===== {art.title}: {art.file_name(platform)} =====")
        parts.append(f"{banner}\n{full_text(art, platform, prov, arts)}")
    return "\n".join(parts)


_OWN = r"-(v4|v6|all)-(apply|rollback|prune)\.[a-z0-9]+"
"""The names :meth:`Artifact.file_name` gives, after the platform's name."""


def write_dir(
    directory: Path, platform: str, arts: Sequence[Artifact], prov: Provenance
) -> list[Path]:
    """Each artifact in a file of its own under ``directory`` (made if needed), written
    atomically; scripts are made executable. Returns the paths, in artifact order."""
    from auditor.errors import InputError
    from auditor.fsutil import atomic_write

    written: list[Path] = []
    path = directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # files this tool wrote there for the platform before and does not write now (a
        # prune of an earlier run, the other family) would look like part of this change
        names = {art.file_name(platform) for art in arts}
        own = re.compile(re.escape(platform) + _OWN)
        for old in directory.iterdir():
            if own.fullmatch(old.name) and old.name not in names and old.is_file():
                old.unlink()
        for art in arts:
            path = directory / art.file_name(platform)
            text = full_text(art, platform, prov, arts).encode("utf-8")
            atomic_write(path, text, mode=0o755 if art.script else 0o644)
            written.append(path)
    except OSError as e:
        raise InputError(
            f"cannot write the rules: {e.strerror}",
            source=str(e.filename or path),
            hint="give --output-dir a directory that can be made or written to",
        ) from None
    return written


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """``items`` in runs of at most ``size`` (all of them when size is 0), in order."""
    if size <= 0:
        if items:
            yield items
        return
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunk_name(base: str, index: int, count: int, max_len: int = 0) -> str:
    """A deterministic name for run ``index`` of ``count``: ``base`` alone when there is one
    run, else ``base-2`` and so on from the second; the base is cut so that the name fits."""
    suffix = "" if count <= 1 or index == 0 else f"-{index + 1}"
    if max_len:
        base = base[: max(max_len - len(suffix), 1)]
    return base + suffix
