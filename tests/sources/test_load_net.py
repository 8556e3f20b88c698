"""Fetched sources end to end against a real HTTPS server on 127.0.0.1: the cache, the stale
fallback, and the integrity checks (version rollback, shrink)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from httpd import FeedServer, Reply

from auditor.model import Completeness
from auditor.net import FetchError, NetOptions
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
    first = make_loader().load("aws", LoadOptions())
    assert first.info.cache == "fresh" and first.completeness is Completeness.COMPLETE
    assert first.info.url == https_server.url("/ip-ranges.json")
    assert first.info.version == "syncToken 1" and first.info.retrieved_at
    second = make_loader().load("aws", LoadOptions())
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
    make_loader().load("aws", LoadOptions())
    rs = make_loader().load("aws", LoadOptions())
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
        make_loader().load("aws", LoadOptions())


def test_server_error_with_cache_is_stale(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(1, FOUR)), Reply(status=500, body=b"down")]
    )
    make_loader().load("aws", LoadOptions())
    loader = make_loader()
    loader.net_options = NetOptions(
        ca_bundle=https_server.ca_bundle,
        cache_dir=loader.net_options.cache_dir,
        timeout=5,
        retries=0,
    )
    rs = loader.load("aws", LoadOptions())
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
    make_loader().load("aws", LoadOptions())
    with pytest.raises(FeedError) as e:
        make_loader().load("aws", LoadOptions())
    assert "shrank by 75.0%" in str(e.value) and "--accept-shrink" in str(e.value)
    cached = make_loader().fetcher().cached(https_server.url("/ip-ranges.json"))
    assert cached is not None and json.loads(cached.body)["syncToken"] == "1"
    rs = make_loader().load("aws", LoadOptions(accept_shrink=True))
    assert rs.completeness is Completeness.COMPLETE
    assert any(f.kind == "shrink" for f in rs.findings)
    cached = make_loader().fetcher().cached(https_server.url("/ip-ranges.json"))
    assert cached is not None and json.loads(cached.body)["syncToken"] == "3"


def test_shrink_within_the_limit_passes(https_server: FeedServer, make_loader: MakeLoader) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(1, FOUR)), Reply(body=aws_doc(2, FOUR[:3]))]
    )
    make_loader().load("aws", LoadOptions())
    rs = make_loader().load("aws", LoadOptions(max_shrink=30))
    assert rs.completeness is Completeness.COMPLETE and rs.info.version == "syncToken 2"


def test_version_going_backwards_is_a_warning(
    https_server: FeedServer, make_loader: MakeLoader
) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc(20, FOUR)), Reply(body=aws_doc(10, FOUR))]
    )
    make_loader().load("aws", LoadOptions())
    rs = make_loader().load("aws", LoadOptions())
    rollback = [f for f in rs.findings if f.kind == "version-rollback"]
    assert rollback and "10 < cached 20" in rollback[0].message


def test_offline_copy_past_max_age_is_stale(
    https_server: FeedServer, make_loader: MakeLoader, tmp_path: Path
) -> None:
    https_server.route("/ip-ranges.json", Reply(body=aws_doc(1, FOUR)))
    make_loader().load("aws", LoadOptions())
    later = make_loader(clock=time.time() + 8 * 86400)
    later.net_options = NetOptions(offline=True, cache_dir=tmp_path / "cache")
    rs = later.load("aws", LoadOptions())
    assert rs.completeness is Completeness.STALE
    assert "8 days old" in rs.reasons[0] and "--max-age" in rs.reasons[0]
    assert len(https_server.requests) == 1  # offline never asked


def test_two_urls_merge_and_refresh_skips_the_network(
    https_server: FeedServer, make_loader
) -> None:
    https_server.route("/v4", Reply(body=b"192.0.2.0/24\n"))
    https_server.route("/v6", Reply(body=b"2001:db8::/32\n"))
    rs = make_loader().load("twofiles", LoadOptions())
    assert rs.space.cidr_lines() == "192.0.2.0/24\n2001:db8::/32\n"
    assert [e.origin.path for e in rs.entries] == ["v4", "v6"]
    again = make_loader().load("twofiles", LoadOptions())
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
    make_loader().load("m365:serviceArea=Exchange", LoadOptions())
    again = make_loader().load("m365", LoadOptions())
    assert again.info.cache == "cached"  # within the catalog's refresh: 3600, no second call
    targets = [r.path for r in https_server.requests]
    assert len(targets) == 1
    guid = targets[0].split("clientrequestid=")[1]
    assert guid == (tmp_path / "cache" / "client-id").read_text().strip()
    assert len(guid) == 36 and guid.count("-") == 4
