"""Comments and networks as they go into rules: the allowlist, the byte caps, the checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.model import MissingBlock, Origin
from auditor.rules import sanitize

from .helpers import HOSTILE_SOURCES


@pytest.mark.parametrize("payload", HOSTILE_SOURCES)
@pytest.mark.parametrize("limit", [128, 255])
def test_hostile_text_keeps_only_safe_characters(payload: str, limit: int) -> None:
    text = sanitize.comment([payload], limit)
    assert set(text) <= sanitize.COMMENT_CHARS
    assert len(text.encode("utf-8")) <= limit
    assert text == text.strip()
    assert "  " not in text


def test_line_breaks_become_spaces_and_the_rest_underscores() -> None:
    assert sanitize.clean('a\nb\r\nc\u2028d"e\x00f$(id)') == "a b c d_e_f_(id)"


def test_empty_and_repeated_parts_are_dropped() -> None:
    assert sanitize.comment(["", "a.txt:1", "a.txt:1", "\n"], 255) == "allowlist-auditor a.txt:1"
    assert sanitize.comment([], 255, prefix="") == ""
    assert sanitize.comment(["\n\r\u2028"], 255, prefix="") == ""


def test_origins_comment_lists_file_and_line() -> None:
    origins = (Origin("nodes.txt", 3), Origin("feed.json", None, "prefixes[2]"))
    text = sanitize.origins_comment(origins, 255)
    assert text == "allowlist-auditor nodes.txt:3, feed.json (prefixes[2])"


@pytest.mark.parametrize("limit", [255, 128])
def test_a_long_comment_is_cut_to_exactly_the_limit_and_marked(limit: int) -> None:
    text = sanitize.comment(["x" * 1000], limit)
    assert len(text.encode()) == limit
    assert text.endswith("...")
    assert sanitize.comment(["x" * (limit - len("allowlist-auditor "))], limit).endswith("x")


@pytest.mark.parametrize("char", ["\u00e9", "\u20ac", "\U0001f600"])
@pytest.mark.parametrize("limit", [128, 255])
def test_cut_never_splits_a_multibyte_character(char: str, limit: int) -> None:
    for pad in range(8):
        text = "a" * (limit - 3 - pad) + char * 10
        result = sanitize.cut(text, limit)
        data = result.encode("utf-8")
        assert len(data) <= limit
        assert data.decode("utf-8") == result
        assert result.endswith("...")
        assert text.startswith(result[:-3])


@given(st.lists(st.text(max_size=400), max_size=8), st.sampled_from([1, 3, 4, 16, 128, 255]))
def test_any_text_gives_a_safe_comment_within_the_limit(parts: list[str], limit: int) -> None:
    text = sanitize.comment(parts, limit)
    assert set(text) <= sanitize.COMMENT_CHARS
    assert len(text.encode("utf-8")) <= limit


@given(st.text(max_size=300), st.integers(min_value=0, max_value=300))
def test_cut_is_a_prefix_within_the_limit(text: str, limit: int) -> None:
    result = sanitize.cut(text, limit)
    assert len(result.encode("utf-8")) <= limit
    if len(text.encode("utf-8")) <= limit:
        assert result == text
    elif limit >= 3:
        assert text.startswith(result[:-3].rstrip()) and result.endswith("...")


@pytest.mark.parametrize(
    ("family", "network", "prefixlen"),
    [
        (5, 0, 0),
        (4, 0, 33),
        (4, 0, -1),
        (6, 0, 129),
        (4, 1 << 32, 32),
        (4, -1, 32),
        (4, 0x0A000005, 8),  # 10.0.0.5/8: host bits set
        (6, 1, 64),
    ],
)
def test_a_block_that_is_not_a_network_is_refused(
    family: int, network: int, prefixlen: int
) -> None:
    with pytest.raises(ValueError, match=r"family|prefix|network|host bits"):
        sanitize.cidr(MissingBlock(family, network, prefixlen, ()))


def test_a_valid_block_gives_its_cidr() -> None:
    assert sanitize.cidr(MissingBlock(4, 0xC0000200, 24, ())) == "192.0.2.0/24"
    assert sanitize.cidr(MissingBlock(6, 0, 0, ())) == "::/0"
