"""The rule-generator interface, its options, and the family's registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from auditor import plugins
from auditor.errors import UsageError
from auditor.model import MissingBlock, Origin, RangeSet
from auditor.registry import Registry
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact, Provenance, combined
from auditor.service import Service


@dataclass(frozen=True)
class RuleOptions:
    service: Service
    chain: str = "INPUT"
    declared: tuple[RangeSet, ...] = field(default=(), compare=False)
    """The declared sources the blocks are missing from: a ruleset among them says which
    chains decide, and the rules go there (:mod:`auditor.rules.placement`)."""
    to: str | None = field(default=None, compare=False)
    """``--to``: the address the service listens on, as the declared rulesets were read for
    (a generator that evaluates a declared ruleset again evaluates it for the same)."""
    scope: tuple[str, ...] = ()
    """The scopes given (``--scope``): the object the rules go into, where the platform has
    named objects, and the object ``--prune`` removes extra entries from."""
    prune: tuple[MissingBlock, ...] = field(default=(), compare=False)
    """With ``--prune``: the extra entries of the scope, which a prune artifact removes."""
    provenance: Provenance = field(default=Provenance(), compare=False)


def source_path(rs: RangeSet) -> str:
    """The path of a declared source's file: its name, without a ``file:`` or
    ``file+FORMAT:`` in front."""
    from auditor.allowlists.base import file_path

    return file_path(rs.info.name)


def audited_bytes(rs: RangeSet) -> bytes | None:
    """The declared source's file as it was audited, read again for what its reader does not
    keep (a rule's table, a set's use, a group's id); None when it is not a file any more, or
    its content changed since (another SHA-256): the rules then never guess."""
    from pathlib import Path

    from auditor.model import sha256

    path = Path(rs.info.name)
    if not path.is_file():
        path = Path(source_path(rs))
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        return None
    if data is None or rs.info.sha256 is None or sha256(data) != rs.info.sha256:
        return None
    return data


def in_scope(group: str, scope: Sequence[str]) -> bool:
    """Whether a group is one the scope names, as ``--scope`` resolves names: the whole name,
    without ``cidr:``, or the part after a ``/`` (an nftables set, a table's file name)."""
    for name in scope:
        bare = name.removeprefix("cidr:")
        if group in (name, bare) or group.endswith("/" + bare):
            return True
    return False


@dataclass(frozen=True)
class Stale:
    """The scope's entries a prune removes: each one whose addresses are all extra, as its
    CIDRs (an entry written as a range is several), with its origin; and notes on the entries
    kept because they also hold expected addresses."""

    blocks: tuple[MissingBlock, ...]
    kept: tuple[str, ...]


def stale(options: RuleOptions) -> Stale:
    """The scope's wholly extra entries, as the declared source that holds the scope lists
    them. The extra addresses (``options.prune``) are merged into minimal CIDRs, which need
    not be the entries a device holds: two stale /25s are one extra /24, and ``no`` of the
    /24 would match neither. A platform whose export the tool does not read removes these
    entries instead. Without the scope's source (rules from a report), the extra CIDRs."""
    from auditor import ipspace

    extra = ipspace.IPSpace.from_intervals(
        (b.family, b.network, b.network + b.size - 1) for b in options.prune
    )
    blocks: dict[str, MissingBlock] = {}
    kept: list[str] = []
    found = False
    for rs in options.declared:
        for entry in rs.scope_entries:
            if entry.group is None or not in_scope(entry.group, options.scope):
                continue
            found = True
            inside = extra.covered(entry.family, entry.first, entry.last)
            if inside == entry.size:
                for network, prefixlen in ipspace.cidr_blocks(
                    entry.family, entry.first, entry.last
                ):
                    block = MissingBlock(entry.family, network, prefixlen, (entry.origin,))
                    blocks.setdefault(block.cidr, block)
            elif inside:
                where = sanitize.clean(f"{entry.origin}: {entry.text}")
                kept.append(f"kept: {where} is only partly extra")
    if not found:
        return Stale(tuple(sanitize.sorted_blocks(options.prune)), ())
    return Stale(tuple(sanitize.sorted_blocks(blocks.values())), tuple(dict.fromkeys(kept)))


class Generator(ABC):
    """One platform. Capabilities are class attributes, and the base enforces them: call
    :meth:`generate`, which checks the options and the blocks before :meth:`render` runs."""

    name: ClassVar[str]
    description: ClassVar[str]
    families: ClassVar[tuple[int, ...]] = (4, 6)
    """The address families the platform's rules can hold; a block of another is refused."""
    max_comment_len: ClassVar[int] = 0
    """Longest comment, in UTF-8 bytes; :meth:`comment` cuts to it (0: no comments)."""
    max_name_len: ClassVar[int] = 0
    """Longest chain or object name; a longer name given is refused, never cut, since a cut
    name would be another chain (0: no limit)."""
    prunes: ClassVar[bool] = False
    """Whether the platform writes a prune artifact (``--prune``) for the extra entries of
    a scope; a platform that cannot is refused before anything is read."""
    max_entries: ClassVar[int] = 0
    """Most CIDRs one object (a set, an object-group) holds; more of one family are refused
    (0: no limit)."""

    def check(self, options: RuleOptions) -> None:
        """Raise UsageError for an option this platform cannot express: what
        :meth:`check_options` refuses, then a chain name over :attr:`max_name_len`."""
        self.check_options(options)
        self.check_name("chain", options.chain)

    def check_options(self, options: RuleOptions) -> None:
        """The platform's own checks of the options (names it cannot use); none by default."""
        return None

    def check_name(self, what: str, name: str) -> None:
        if self.max_name_len and len(name) > self.max_name_len:
            raise UsageError(
                f"{what} name {name!r} is {len(name)} characters long;"
                f" {self.name} allows {self.max_name_len}",
                hint=f"use a shorter {what} name",
            )

    def check_blocks(self, blocks: Sequence[MissingBlock]) -> None:
        """Raise UsageError for blocks the platform cannot hold: another address family, or
        more of one family than :attr:`max_entries`."""
        counts = Counter(b.family for b in blocks)
        for family in sorted(set(counts) - set(self.families)):
            first = min((b for b in blocks if b.family == family), key=_order).cidr
            spoken = " and ".join(f"IPv{f}" for f in self.families)
            raise UsageError(
                f"{self.name} rules cannot hold IPv{family} addresses ({counts[family]} missing"
                f" CIDR(s), e.g. {first})",
                hint=f"{self.name} writes {spoken} rules only; choose a platform for the"
                f" IPv{family} CIDRs",
            )
        for family, count in sorted(counts.items()):
            if self.max_entries and count > self.max_entries:
                raise UsageError(
                    f"{count} missing IPv{family} CIDRs do not fit in one {self.name} object"
                    f" (at most {self.max_entries})",
                    hint="narrow the expected sources with filters",
                )

    def generate(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """The rules for ``blocks``, once the options and the blocks passed the checks of what
        the platform declares it can express."""
        self.check(options)
        self.check_blocks(blocks)
        return self.render(blocks, options)

    def generate_file(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """What ``--output-file`` holds: a file that loads as its header says. By default the
        same text as :meth:`generate`; a platform whose text holds several forms of the rules
        (a restore file, then the same rules as commands) writes only the loadable one."""
        return self.generate(blocks, options)

    @abstractmethod
    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        """The rules as artifacts (apply, rollback, prune; per family where the platform
        loads one family at a time), after the checks."""

    def checked_artifacts(
        self, blocks: Sequence[MissingBlock], options: RuleOptions, family: int | None = None
    ) -> list[Artifact]:
        """:meth:`artifacts` once the options and blocks passed the checks; ``family`` keeps
        the artifacts of one family (and those that hold both)."""
        self.check(options)
        self.check_blocks(blocks)
        if family is not None:
            blocks = [b for b in blocks if b.family == family]
        arts = self.artifacts(blocks, options)
        return [a for a in arts if family is None or a.family in (None, family)]

    def generate_with_artifacts(
        self, blocks: Sequence[MissingBlock], options: RuleOptions, family: int | None = None
    ) -> tuple[str, list[Artifact]]:
        """:meth:`generate` and :meth:`checked_artifacts` at once: a platform whose text is
        its artifacts under separators makes them once for both."""
        arts = self.checked_artifacts(blocks, options, family)
        if type(self).render is Generator.render:
            return combined(self.name, arts, options.provenance), arts
        mine = [b for b in blocks if family is None or b.family == family]
        return self.render(mine, options), arts

    def render(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> str:
        """The rules as one text (called by :meth:`generate`, after the checks): by default
        every artifact, each under its separator."""
        arts = self.artifacts(blocks, options)
        return combined(self.name, arts, options.provenance)

    def prune_section(self, arts: Sequence[Artifact], options: RuleOptions) -> str:
        """The prune artifacts for standard output, each under its separator, after the
        rules (for a platform whose :meth:`render` writes its own text); empty without any."""
        if not arts:
            return ""
        return "\n" + combined(self.name, arts, options.provenance)

    def comment(self, parts: Iterable[str], prefix: str = sanitize.TAG) -> str:
        """A sanitised comment cut to :attr:`max_comment_len` bytes (empty: omit it)."""
        return sanitize.comment(parts, self.max_comment_len, prefix)

    def origins_comment(self, origins: Iterable[Origin], prefix: str = sanitize.TAG) -> str:
        """The origins of a block as a comment, as :meth:`comment`."""
        return sanitize.origins_comment(origins, self.max_comment_len, prefix)

    def limits(self) -> list[str]:
        """What the platform takes, for ``auditor formats``: the families, the longest name
        and comment, the CIDRs an object holds, the platform's own limits
        (:meth:`own_limits`), and whether it prunes."""
        out = [" and ".join(f"IPv{f}" for f in self.families)]
        if self.max_name_len:
            out.append(f"names up to {self.max_name_len} characters")
        if self.max_comment_len:
            out.append(f"comments up to {self.max_comment_len} bytes")
        if self.max_entries:
            out.append(f"{self.max_entries} CIDRs a family")
        out += self.own_limits()
        out.append("--prune" if self.prunes else "no --prune")
        return out

    def own_limits(self) -> list[str]:
        """Limits of the platform beyond the common ones (entries a rule, a group, a call)."""
        return []

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        """The blocks the rules cannot let in, each with why (empty when they all can)."""
        return []


def _order(block: MissingBlock) -> tuple[int, int]:
    return (block.network, block.prefixlen)


GENERATORS: Registry[Generator] = plugins.GENERATORS
"""Every rule platform, one line each in :mod:`auditor.plugins`."""


def generator_for(name: str) -> Generator:
    """A generator by name, in any case; ``nft`` is nftables."""
    return GENERATORS.create(name)
