"""The provider catalog: the built-in one is consistent, user catalogs add and override."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.sources.base import PARSERS
from auditor.sources.catalog import load_catalog

ISSUE_PROVIDERS = {
    "aws", "gcp", "google", "googlebot", "azure", "m365", "github", "cloudflare",
    "atlassian", "fastly", "oracle", "zscaler", "okta", "datadog", "stripe",
}  # fmt: skip


def test_builtin_catalog_is_consistent() -> None:
    cat = load_catalog()
    assert ISSUE_PROVIDERS <= set(cat.names())
    for name in cat.names():
        p = cat.get(name)
        assert p.description and p.docs and p.docs.startswith("https://"), name
        if p.spf:  # expanded from SPF records: no feed at all
            assert (p.urls, p.parser, p.filters, p.refresh) == ((), "", (), 0.0), name
            continue
        assert p.parser in PARSERS, name
        assert set(p.filters) <= set(PARSERS[p.parser].filters) or not PARSERS[p.parser].filters
        assert all(u.startswith("https://") for u in p.urls), name
        assert p.docs and p.docs.startswith("https://"), name
        assert p.description
    assert cat.get("azure").urls == ()  # the download address changes weekly
    assert len(cat.get("cloudflare").urls) == 2


def test_user_catalog_overrides_and_adds(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    user = tmp_path / "mirror" / "catalog.yaml"
    user.write_text(
        "providers:\n"
        "  aws:\n"
        "    url: feeds/ip-ranges.json\n"
        "  corp-relays:\n"
        "    description: our relays\n"
        "    url: https://intranet.example/relays.txt\n"
        "    parser: text\n"
    )
    cat = load_catalog([user])
    aws = cat.get("aws")
    assert aws.urls == (str(tmp_path / "mirror" / "feeds" / "ip-ranges.json"),)
    assert aws.parser == "aws" and aws.filters  # other fields kept
    assert aws.defined_in == str(user)
    assert cat.get("corp-relays").urls == ("https://intranet.example/relays.txt",)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            "providers:\n  aws:\n    url: https://a.example/x\n    url: https://b.example/y\n",
            "duplicate key",
        ),
        ("providers:\n  aws:\n    uri: https://a.example/x\n", "unknown field"),
        ("providers:\n  AWS2:\n    parser: aws\n    description: x\n", "invalid provider name"),
        ("providers:\n  json:\n    parser: aws\n    description: x\n", "invalid provider name"),
        ("providers:\n  aws:\n    url: http://a.example/x\n", "is not https"),
        ("providers:\n  new:\n    description: x\n    parser: nope\n", "unknown parser"),
        ("providers:\n  new:\n    description: x\n", "missing field 'parser'"),
        ("providers:\n  aws:\n    filters: [colour]\n", "not offered by parser"),
        ("providers:\n  aws:\n    refresh: -1\n", "refresh"),
        ("providers: []\n", "a catalog is a mapping"),
        ("other: {}\n", "a catalog is a mapping"),
        ("providers:\n  aws: !!python/object:os.system x\n", "invalid YAML"),
        ("providers:\n  aws:\n    description: ''\n", "non-empty string"),
    ],
)
def test_bad_user_catalogs(tmp_path: Path, body: str, words: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(body)
    with pytest.raises(InputError) as e:
        load_catalog([path])
    assert words in str(e.value)
    assert str(path) in str(e.value)


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the catalog"):
        load_catalog([tmp_path / "absent.yaml"])
