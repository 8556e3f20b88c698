"""What the Generator base enforces before a platform renders: families, name and comment
lengths, entries per object; and that every plugin base is abstract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from auditor import ipspace
from auditor.allowlists.base import Reader
from auditor.errors import UsageError
from auditor.model import MissingBlock, Origin
from auditor.reports.base import Report
from auditor.rules import RuleOptions
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator
from auditor.service import Service
from auditor.sources.base import FeedParser


class V4Only(Generator):
    """A platform of IPv4 objects of at most three entries, short names and comments."""

    name = "v4-only"
    description = "test platform"
    families = (4,)
    max_name_len = 8
    max_comment_len = 24
    max_entries: ClassVar[int] = 3

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        comments = [self.origins_comment(b.origins) for b in blocks]
        body = "\n".join(f"{b.cidr} {c}" for b, c in zip(blocks, comments, strict=True)) + "\n"
        return [Artifact("apply", 4, body, "txt", "load FILE", cidrs=len(blocks))]


def block(cidr: str, source: str = "feed.txt") -> MissingBlock:
    parsed = ipspace.parse(cidr)
    return MissingBlock(
        parsed.family, parsed.first, parsed.prefixlen or 0, (Origin(source, 1, None),)
    )


def options(chain: str = "INPUT") -> RuleOptions:
    return RuleOptions(service=Service.parse("tcp/25"), chain=chain)


def test_blocks_of_a_family_the_platform_cannot_hold_are_refused() -> None:
    blocks = [block("192.0.2.0/24"), block("2001:db8::/32"), block("2001:db8:1::/48")]
    with pytest.raises(UsageError) as e:
        V4Only().generate(blocks, options())
    assert e.value.message == (
        "v4-only rules cannot hold IPv6 addresses (2 missing CIDR(s), e.g. 2001:db8::/32)"
    )
    assert e.value.hint is not None and "IPv4 rules only" in e.value.hint
    [art] = V4Only().checked_artifacts([block("192.0.2.0/24")], options())
    assert art.body.startswith("192.0.2.0/24 ")


def test_a_name_over_the_limit_is_refused_not_cut() -> None:
    with pytest.raises(UsageError) as e:
        V4Only().generate([block("192.0.2.0/24")], options("NINECHARS"))
    assert e.value.message == "chain name 'NINECHARS' is 9 characters long; v4-only allows 8"
    V4Only().check(options("EIGHTCHR"))  # at the limit: fine


def test_comments_are_cut_to_the_limit_in_bytes() -> None:
    blocks = [block("192.0.2.0/24", "a-very-long-source-name.txt")]
    [art] = V4Only().checked_artifacts(blocks, options())
    comment = art.body.split(" ", 1)[1].rstrip("\n")
    assert len(comment.encode()) <= V4Only.max_comment_len
    assert comment.endswith("...") and comment.startswith("allowlist-auditor")


def test_more_entries_than_one_object_holds_are_refused() -> None:
    blocks = [block(f"192.0.2.{i * 16}/28") for i in range(4)]
    with pytest.raises(UsageError, match=r"4 missing IPv4 CIDRs do not fit .* \(at most 3\)"):
        V4Only().generate(blocks, options())
    [art] = V4Only().checked_artifacts(blocks[:3], options())
    assert art.body.count("\n") == 3
    assert "192.0.2.32/28" in V4Only().generate(blocks[:3], options())


def test_the_real_platforms_pass_the_same_checks() -> None:
    from auditor.rules import generator_for

    for name in ("iptables", "nftables"):
        gen = generator_for(name)
        with pytest.raises(UsageError, match="characters long"):
            gen.generate([block("192.0.2.0/24")], options("C" * 40))
        assert "192.0.2.0/24" in gen.generate([block("192.0.2.0/24")], options())


@pytest.mark.parametrize("base", [Generator, Reader, Report, FeedParser])
def test_plugin_bases_are_abstract(base: type) -> None:
    incomplete = type("Incomplete", (base,), {"name": "incomplete", "description": "x"})
    with pytest.raises(TypeError, match="abstract"):
        incomplete()
