"""Fetched sources end to end against a real HTTPS server on 127.0.0.1: the cache, the stale
fallback, and the integrity checks (version rollback, shrink)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from httpd import FeedServer, Reply

from auditor.model import Completeness, RangeSet
from auditor.net.errors import FetchError
from auditor.net.options import NetOptions
from auditor.sources.base import FeedError
from auditor.sources.catalog import load_catalog
from auditor.sources.load import LoadOptions, SourceLoader


def aws_doc(token: int, prefixes: list[str]) -> bytes:
    items = [
        {"ip_prefix": p, "region": "eu-west-1", "service": "EC2", "network_border_group": "x"}
        for p in prefixes
    ]
    doc = {"syncToken": str(token), "createDate": "2024-01-01-00-00-00", "prefixes": items}
    doc["ipv6_prefixes"] = []
    return json.dumps(doc).encode()


MakeLoader = Callable[..., SourceLoader]


def load_once(loader: SourceLoader, spec: str, options: LoadOptions) -> RangeSet:
    """One run: load, then commit what the run accepted and close, as the CLI does."""
    with loader:
        return loader.load(spec, options)


FOUR = ["192.0.2.0/26", "192.0.2.64/26", "192.0.2.128/26", "192.0.2.192/26"]


@pytest.fixture
def make_loader(https_server: FeedServer, tmp_path: Path) -> MakeLoader:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "providers:\n"
        f"  aws:\n    url: {https_server.url('/ip-ranges.json')}\n"
        f"  m365:\n    url: {https_server.url('/endpoints')}?clientrequestid={{clientrequestid}}\n"
        "  twofiles:\n    description: v4 and v6 lists\n    parser: text\n    refresh: 3600\n"
        f"    url: [{https_server.url('/v4')}, {https_server.url('/v6')}]\n"
    )

    def make(clock: float | None = None) -> SourceLoader:
        net = NetOptions(ca_bundle=https_server.ca_bundle, cache_dir=tmp_path / "cache", timeout=5)
        loader = SourceLoader(load_catalog([catalog]), net)
        if clock is not None:
            loader.clock = lambda: clock
        return loader

    return make


def test_fresh_then_revalidated(https_server: FeedServer, make_loader: MakeLoader) -> None:
    https_server.route("/ip-ranges.json", Reply(body=aws_doc(1, FOUR), etag='"v1"'))
    first = load_once(make_loader(), "aws", LoadOptions())
    assert first.info.cache == "fresh" and first.completeness is Completeness.COMPLETE
    assert first.info.url == https_server.url("/ip-ranges.json")
    assert first.info.version == "syncToken 1" and first.info.retrieved_at
    second = load_once(make_loader(), "aws", LoadOptions())
    assert second.info.cache == "revalidated"
    assert https_server.requests[1].headers["If-None-Match"] == '"v1"'
    assert second.space == first.space


def test_html_page_falls_back_to_the_cached_copy_as_stale(
    https_server: FeedServer,
    make_loader: MakeLoader,
) -> None:
    https_server.route(
        "/ip-ranges.json",
        [
            Reply(body=aws_doc(1, FOUR)),
            Reply(body=b"<!DOCTYPE html><title>Sign in</title>", content_type="text/html"),
        ],
    )
    load_once(make_loader(), "aws", LoadOptions())
    rs = load_once(make_loader(), "aws", LoadOptions())
    assert rs.completeness is Completeness.STALE
    assert "HTML" in rs.reasons[0] and "cached copy" in rs.reasons[0]
    assert rs.space.cidr_lines() == "192.0.2.0/24\n"
    # the page was not cached: offline still has the good copy
    offline = SourceLoader(
        make_loader().catalog,
        NetOptions(offline=True, cache_dir=make_loader().net_options.cache_dir),
    ).load("aws", LoadOptions())
    assert offline.info.cache == "cached" and offline.completeness is Completeness.COMPLETE
    assert offline.space.cidr_lines() == "192.0.2.0/24\n"


def test_failed_fetch_without_cache_fails(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route("/ip-ranges.json", Reply(status=404))
    with pytest.raises(FetchError, match="404"):
        load_once(make_loader(), "aws", LoadOptions())


def test_server_error_with_cache_is_stale(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(1, FOUR)), Reply(status=500, body=b"down")]
    )
    load_once(make_loader(), "aws", LoadOptions())
    loader = make_loader()
    loader.net_options = NetOptions(
        ca_bundle=https_server.ca_bundle,
        cache_dir=loader.net_options.cache_dir,
        timeout=5,
        retries=0,
    )
    rs = load_once(loader, "aws", LoadOptions())
    assert rs.completeness is Completeness.STALE and rs.info.cache == "stale"
    assert "500" in rs.reasons[0]


def test_shrink_is_refused_and_the_cache_kept(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json",
        [
            Reply(body=aws_doc(1, FOUR)),
            Reply(body=aws_doc(2, FOUR[:1])),
            Reply(body=aws_doc(3, FOUR[:1])),
        ],
    )
    load_once(make_loader(), "aws", LoadOptions())
    with pytest.raises(FeedError) as e:
        load_once(make_loader(), "aws", LoadOptions())
    assert "shrank by 75.0%" in str(e.value) and "--accept-shrink" in str(e.value)
    cached = make_loader().fetcher().cached(https_server.url("/ip-ranges.json"))
    assert cached is not None and json.loads(cached.body)["syncToken"] == "1"
    rs = load_once(make_loader(), "aws", LoadOptions(accept_shrink=True))
    assert rs.completeness is Completeness.COMPLETE
    assert any(f.kind == "shrink" for f in rs.findings)
    cached = make_loader().fetcher().cached(https_server.url("/ip-ranges.json"))
    assert cached is not None and json.loads(cached.body)["syncToken"] == "3"


def test_shrink_within_the_limit_passes(https_server: FeedServer, make_loader: MakeLoader) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(1, FOUR)), Reply(body=aws_doc(2, FOUR[:3]))]
    )
    load_once(make_loader(), "aws", LoadOptions())
    rs = load_once(make_loader(), "aws", LoadOptions(max_shrink=30))
    assert rs.completeness is Completeness.COMPLETE and rs.info.version == "syncToken 2"


def test_version_going_backwards_is_a_warning(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(20, FOUR)), Reply(body=aws_doc(10, FOUR))]
    )
    load_once(make_loader(), "aws", LoadOptions())
    rs = load_once(make_loader(), "aws", LoadOptions())
    rollback = [f for f in rs.findings if f.kind == "version-rollback"]
    assert rollback and "10 < cached 20" in rollback[0].message


def test_offline_copy_past_max_age_is_stale(
    https_server: FeedServer, make_loader: MakeLoader, tmp_path: Path
) -> None:
    https_server.route("/ip-ranges.json", Reply(body=aws_doc(1, FOUR)))
    load_once(make_loader(), "aws", LoadOptions())
    later = make_loader(clock=time.time() + 8 * 86400)
    later.net_options = NetOptions(offline=True, cache_dir=tmp_path / "cache")
    rs = load_once(later, "aws", LoadOptions())
    assert rs.completeness is Completeness.STALE
    assert "8 days old" in rs.reasons[0] and "--max-age" in rs.reasons[0]
    assert len(https_server.requests) == 1  # offline never asked


def test_two_urls_merge_and_refresh_skips_the_network(
    https_server: FeedServer, make_loader
) -> None:
    https_server.route("/v4", Reply(body=b"192.0.2.0/24\n"))
    https_server.route("/v6", Reply(body=b"2001:db8::/32\n"))
    rs = load_once(make_loader(), "twofiles", LoadOptions())
    assert rs.space.cidr_lines() == "192.0.2.0/24\n2001:db8::/32\n"
    assert [e.origin.path for e in rs.entries] == ["v4", "v6"]
    again = load_once(make_loader(), "twofiles", LoadOptions())
    assert again.info.cache == "cached" and again.completeness is Completeness.COMPLETE
    assert len(https_server.requests) == 2  # refresh: 3600 reused both copies


def test_m365_client_request_id_and_rate_limit(
    https_server: FeedServer,
    make_loader: MakeLoader,
    tmp_path: Path,
) -> None:
    body = json.dumps(
        [{"id": 1, "serviceArea": "Exchange", "category": "Optimize", "required": True,
          "ips": ["192.0.2.0/24"]}]
    ).encode()  # fmt: skip
    https_server.route("/endpoints", Reply(body=body))
    load_once(make_loader(), "m365:serviceArea=Exchange", LoadOptions())
    again = load_once(make_loader(), "m365", LoadOptions())
    assert again.info.cache == "cached"  # within the catalog's refresh: 3600, no second call
    targets = [r.path for r in https_server.requests]
    assert len(targets) == 1
    guid = targets[0].split("clientrequestid=")[1]
    assert guid == (tmp_path / "cache" / "client-id").read_text().strip()
    assert len(guid) == 36 and guid.count("-") == 4


def aws_mixed(token: int, ec2: list[str], s3: list[str]) -> bytes:
    items = [
        {"ip_prefix": p, "region": "eu-west-1", "service": svc, "network_border_group": "x"}
        for svc, prefixes in (("EC2", ec2), ("S3", s3))
        for p in prefixes
    ]
    doc = {"syncToken": str(token), "createDate": "2024-01-01-00-00-00", "prefixes": items}
    doc["ipv6_prefixes"] = []
    return json.dumps(doc).encode()


S3 = [f"198.51.100.{i * 16}/28" for i in range(10)]


def test_shrink_of_the_whole_feed_is_caught_whatever_the_filter(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json",
        [Reply(body=aws_mixed(1, FOUR, S3)), Reply(body=aws_mixed(2, FOUR, S3[:2]))],
    )
    load_once(make_loader(), "aws", LoadOptions())
    # EC2 did not shrink, but the feed lost most of S3: the new copy is refused for every spec
    with pytest.raises(FeedError, match="shrank by"):
        load_once(make_loader(), "aws:service=EC2", LoadOptions())
    cached = make_loader().fetcher().cached(https_server.url("/ip-ranges.json"))
    assert cached is not None and json.loads(cached.body)["syncToken"] == "1"


def test_one_copy_per_run_for_every_spec(https_server: FeedServer, make_loader: MakeLoader) -> None:
    https_server.route(
        "/ip-ranges.json",
        [Reply(body=aws_mixed(1, FOUR, S3)), Reply(body=aws_mixed(2, FOUR[:1], S3))],
    )
    load_once(make_loader(), "aws", LoadOptions())
    with make_loader() as loader:
        with pytest.raises(FeedError, match="shrank by"):
            loader.load("aws:service=S3", LoadOptions())
        with pytest.raises(FeedError, match="shrank by"):  # the same verdict, not a new baseline
            loader.load("aws:service=EC2", LoadOptions())
    assert len(https_server.requests) == 2  # one request per run


def test_stale_never_hides_partial(https_server: FeedServer, make_loader: MakeLoader) -> None:
    https_server.route("/v4", [Reply(body=b"192.0.2.0/24\n192.0.2.300/32\n"), Reply(status=404)])
    https_server.route("/v6", Reply(body=b"2001:db8::/32\n"))
    first = load_once(make_loader(), "twofiles", LoadOptions())
    assert first.completeness is Completeness.PARTIAL
    later = make_loader(clock=time.time() + 7200)  # past the catalog's refresh of an hour
    rs = load_once(later, "twofiles", LoadOptions())
    assert rs.completeness is Completeness.PARTIAL  # not stale, which --allow-stale forgives
    assert any("404" in r for r in rs.reasons) and any("could not be read" in r for r in rs.reasons)


def test_stale_fallback_is_bounded_by_max_age(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route("/ip-ranges.json", [Reply(body=aws_doc(1, FOUR)), Reply(status=404)])
    load_once(make_loader(), "aws", LoadOptions())
    later = make_loader(clock=time.time() + 30 * 86400)
    with pytest.raises(FetchError) as e:
        load_once(later, "aws", LoadOptions())
    assert "404" in str(e.value) and "30 days old" in str(e.value)


def test_rollback_keeps_the_newer_cached_copy(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json",
        [
            Reply(body=aws_doc(20, FOUR)),
            Reply(body=aws_doc(10, FOUR)),
            Reply(body=aws_doc(9, FOUR)),
        ],
    )
    load_once(make_loader(), "aws", LoadOptions())
    load_once(make_loader(), "aws", LoadOptions())
    rs = load_once(make_loader(), "aws", LoadOptions())
    rollback = [f for f in rs.findings if f.kind == "version-rollback"]
    assert rollback and "9 < cached 20" in rollback[0].message  # still compared with 20
