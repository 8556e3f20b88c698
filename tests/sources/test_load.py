"""From spec to RangeSet for local feeds: catalog providers read from files, generic text and
JSON feeds, filters and their errors. Network behaviour is in test_load_net.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.errors import UsageError
from auditor.model import Completeness
from auditor.sources.base import FeedError, merge_feeds
from auditor.sources.catalog import load_catalog
from auditor.sources.load import LoadOptions, SourceLoader


def _item(key: str, prefix: str, region: str, service: str) -> dict[str, str]:
    return {key: prefix, "region": region, "service": service, "network_border_group": region}


AWS = {
    "syncToken": "1700000000",
    "createDate": "2023-11-14-22-13-20",
    "prefixes": [
        _item("ip_prefix", "192.0.2.0/25", "eu-west-1", "AMAZON"),
        _item("ip_prefix", "192.0.2.0/25", "eu-west-1", "EC2"),
        _item("ip_prefix", "198.51.100.0/24", "us-east-1", "EC2"),
    ],
    "ipv6_prefixes": [_item("ipv6_prefix", "2001:db8::/48", "eu-west-1", "EC2")],
}


@pytest.fixture
def loader() -> SourceLoader:
    return SourceLoader(load_catalog())


@pytest.fixture
def aws_file(tmp_path: Path) -> Path:
    path = tmp_path / "ip-ranges.json"
    path.write_text(json.dumps(AWS))
    return path


def test_provider_from_file_with_filters(loader: SourceLoader, aws_file: Path) -> None:
    rs = loader.load(f"aws:from={aws_file},service=ec2,region=eu-west-1", LoadOptions())
    assert rs.completeness is Completeness.COMPLETE
    assert rs.space.cidr_lines() == "192.0.2.0/25\n2001:db8::/48\n"
    entries = list(rs.entries)
    assert [e.origin.path for e in entries] == [
        "prefixes[1].ip_prefix",
        "ipv6_prefixes[0].ipv6_prefix",
    ]
    assert {e.origin.source for e in entries} == {
        f"aws:from={aws_file},service=ec2,region=eu-west-1"
    }
    group = entries[0].group
    assert group is not None and dict(rs.tags[group])["service"] == "EC2"
    assert rs.info.version == "syncToken 1700000000"
    assert rs.info.cache == "file" and rs.info.url == str(aws_file)
    assert rs.info.format == "aws"


def test_alternatives_and_no_filter(loader: SourceLoader, aws_file: Path) -> None:
    both = loader.load(f"aws:from={aws_file},region=eu-west-1|us-east-1,service=EC2", LoadOptions())
    assert both.space.cidr_lines() == "192.0.2.0/25\n198.51.100.0/24\n2001:db8::/48\n"
    everything = loader.load(f"aws:from={aws_file}", LoadOptions())
    assert len(everything.entries) == 4  # each published item keeps its origin


def test_filter_errors_list_what_is_valid(loader: SourceLoader, aws_file: Path) -> None:
    with pytest.raises(FeedError) as fe:
        loader.load(f"aws:from={aws_file},service=AMAZON_SES", LoadOptions())
    assert "service=AMAZON_SES" in str(fe.value) and "AMAZON, EC2" in str(fe.value)
    with pytest.raises(UsageError) as e:  # checked against the catalog before any reading
        loader.load("aws:from=/nonexistent.json,colour=blue", LoadOptions())
    assert "no filter 'colour'" in str(e.value) and "network_border_group" in str(e.value)
    with pytest.raises(FeedError, match="no prefix matches"):
        loader.load(f"aws:from={aws_file},service=AMAZON,region=us-east-1", LoadOptions())


def test_azure_needs_a_location(loader: SourceLoader) -> None:
    with pytest.raises(UsageError) as e:
        loader.load("azure:tag=AzureCloud", LoadOptions())
    assert "azure:from=" in str(e.value)


def test_html_instead_of_a_feed(loader: SourceLoader, tmp_path: Path) -> None:
    page = tmp_path / "portal.json"
    page.write_text("<!DOCTYPE html><html><body>Please log in</body></html>")
    with pytest.raises(FeedError) as e:
        loader.load(f"aws:from={page}", LoadOptions())
    assert "HTML" in str(e.value) and "aws" in str(e.value)


def test_generic_json_and_text(loader: SourceLoader, aws_file: Path, tmp_path: Path) -> None:
    rs = loader.load(f"json:{aws_file}#prefixes[].ip_prefix", LoadOptions())
    assert rs.space.cidr_lines() == "192.0.2.0/25\n198.51.100.0/24\n"
    listing = tmp_path / "list"
    listing.write_text("# relays\n192.0.2.1\n\n2001:db8::1 \n")
    rs = loader.load(f"text:{listing}", LoadOptions())
    assert [e.origin.line for e in rs.entries] == [2, 4]


def test_bad_items_make_the_source_partial(loader: SourceLoader, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(AWS))
    doc["prefixes"][2]["ip_prefix"] = "198.51.100.0/33"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    rs = loader.load(f"aws:from={path}", LoadOptions())
    assert rs.completeness is Completeness.PARTIAL
    bad = [f for f in rs.findings if f.kind == "bad-entry"]
    assert bad and bad[0].origin is not None and bad[0].origin.path == "prefixes[2].ip_prefix"


def test_files_still_load_through_the_readers(loader: SourceLoader, tmp_path: Path) -> None:
    path = tmp_path / "allow.yaml"
    path.write_text("mail:\n  - 192.0.2.0/24\n")
    rs = loader.load(str(path), LoadOptions(role="declared"))
    assert rs.info.format == "yaml" and rs.groups == ("mail",)


def test_merge_keeps_each_documents_origin(loader: SourceLoader, tmp_path: Path) -> None:
    from auditor.sources.base import FeedContext, parser_for

    ctx = FeedContext("cloudflare", "cloudflare")
    text = parser_for("text")
    v4 = text.parse(b"192.0.2.0/24\n", ctx)
    v6 = text.parse(b"# v6\n2001:db8::/32\n", ctx)
    feed = merge_feeds([v4, v6], ["https://h.example/ips-v4", "https://h.example/ips-v6"])
    assert list(feed.texts) == ["192.0.2.0/24", "2001:db8::/32"]
    assert list(feed.paths) == ["ips-v4", "ips-v6"]
    assert list(feed.lines) == [1, 2]


def test_a_feed_from_the_future_is_a_warning(loader: SourceLoader, tmp_path: Path) -> None:
    doc = dict(AWS, createDate="2999-01-01-00-00-00")
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    rs = loader.load(f"aws:from={path}", LoadOptions())
    skew = [f for f in rs.findings if f.kind == "clock-skew"]
    assert skew and "2999-01-01-00-00-00" in skew[0].message
    assert rs.completeness is Completeness.COMPLETE  # a warning, not a failure
    path.write_text(json.dumps(AWS))
    fresh = SourceLoader(load_catalog())  # a new run: one loader reads a location once
    assert fresh.load(f"aws:from={path}", LoadOptions()).findings == ()
