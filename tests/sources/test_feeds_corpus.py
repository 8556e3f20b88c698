"""Every feed parser on the real published feeds in ../shared/corpus/feeds.

Counts and address spaces are checked against a reading of the same file written here with
plain ``json.load`` and stdlib ``ipaddress``, independent of the parsers and of the interval
engine. The corpus is not part of the repository: without it these tests are skipped.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Completeness, RangeSet, SourceInfo
from auditor.sources.base import Feed, FeedContext, FeedVersion, Filters, parser_for

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FEEDS = CORPUS / "feeds"

pytestmark = pytest.mark.skipif(
    not FEEDS.is_dir(), reason=f"the public feed corpus is not at {FEEDS}"
)


@cache
def raw(file: str) -> bytes:
    return (FEEDS / file).read_bytes()


@cache
def doc(file: str) -> Any:
    return json.loads(raw(file))


def context(name: str, file: str, selector: str | None = None) -> FeedContext:
    return FeedContext(file, name, selector=selector)


@cache
def feed(name: str, file: str, selector: str | None = None) -> Feed:
    return parser_for(name).parse(raw(file), context(name, file, selector))


def select(name: str, file: str, filters: Filters | None = None) -> RangeSet:
    info = SourceInfo(file, "expected", name)
    return feed(name, file).select(filters or {}, context(name, file), info)


def collapsed(texts: Iterable[str]) -> set[str]:
    """The minimal CIDRs covering ``texts``, by the standard library."""
    return set(_collapsed(tuple(texts)))


@cache
def _collapsed(texts: tuple[str, ...]) -> frozenset[str]:
    nets = [ipaddress.ip_network(t.strip(), strict=False) for t in texts]
    out: set[str] = set()
    for version in (4, 6):
        same = [n for n in nets if n.version == version]
        out.update(str(n) for n in ipaddress.collapse_addresses(same))
    return frozenset(out)


def space(rs: RangeSet) -> set[str]:
    return set(rs.space.cidrs_text())


# --- independent readings: the prefixes of each file, by plain JSON -----------------------------


def aws_texts(d: Any, **want: str) -> list[str]:
    out = []
    for key, field in (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix")):
        out += [p[field] for p in d[key] if all(p[k] == v for k, v in want.items())]
    return out


def google_texts(d: Any, **want: str) -> list[str]:
    return [
        p.get("ipv4Prefix") or p["ipv6Prefix"]
        for p in d["prefixes"]
        if all(p.get(k) == v for k, v in want.items())
    ]


def azure_texts(d: Any, **want: str) -> list[str]:
    out = []
    for value in d["values"]:
        fields = {"tag": value["name"], **value["properties"]}
        if all(fields[k] == v for k, v in want.items()):
            out += value["properties"]["addressPrefixes"]
    return out


def m365_texts(d: Any, **want: str) -> list[str]:
    out = []
    for entry in d:
        fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in entry.items()}
        if all(fields[k] == v for k, v in want.items()):
            out += entry.get("ips", [])
    return out


def github_texts(d: Any, section: str | None = None) -> list[str]:
    out = []
    for key, value in d.items():
        if key in ("ssh_keys", "domains") or not isinstance(value, list):
            continue
        if section in (None, key):
            out += value
    return out


def atlassian_texts(d: Any, **want: str) -> list[str]:
    def has(item: dict[str, Any], key: str, value: str) -> bool:
        got = item[key]
        return value in got if isinstance(got, list) else got == value

    return [i["cidr"] for i in d["items"] if all(has(i, k, v) for k, v in want.items())]


def fastly_texts(d: Any) -> list[str]:
    return list(d["addresses"]) + list(d["ipv6_addresses"])


def oracle_texts(d: Any, region: str | None = None, tag: str | None = None) -> list[str]:
    return [
        c["cidr"]
        for r in d["regions"]
        for c in r["cidrs"]
        if region in (None, r["region"]) and tag in (None, *c["tags"])
    ]


def zscaler_texts(d: Any, continent: str | None = None, city: str | None = None) -> list[str]:
    if "hubPrefixes" in d:
        return list(d["hubPrefixes"])
    out = []
    for cont_key, cities in d["zscaler.net"].items():
        for city_key, nodes in cities.items():
            if continent in (None, cont_key.split(" : ", 1)[1]):
                if city in (None, city_key.split(" : ", 1)[1]):
                    out += [n["range"] for n in nodes]
    return out


def okta_texts(d: Any, cell: str | None = None) -> list[str]:
    return [t for k, v in d.items() if cell in (None, k) for t in v["ip_ranges"]]


def datadog_texts(d: Any, section: str | None = None) -> list[str]:
    return [
        t
        for k, v in d.items()
        if isinstance(v, dict) and section in (None, k)
        for t in v["prefixes_ipv4"] + v["prefixes_ipv6"]
    ]


def stripe_texts(d: Any, section: str | None = None) -> list[str]:
    return [t for k, v in d.items() if section in (None, k.lower()) for t in v]


def text_lines(data: bytes) -> list[str]:
    out = []
    for line in data.decode("utf-8-sig").splitlines():
        item = line.split("#", 1)[0].strip()
        if item:
            out.append(item)
    return out


Reading = Callable[..., list[str]]

# (parser, file, independent reading of every prefix)
CASES: list[tuple[str, str, Reading]] = [
    ("aws", "aws_ip-ranges_2021-07-28.json", aws_texts),
    ("aws", "aws_ip-ranges_2025-07-25.json", aws_texts),
    ("aws", "aws_ip-ranges_2026-08.json", aws_texts),
    ("google", "google_cloud_2025-07-24.json", google_texts),
    ("google", "google_cloud_2026-08-21.json", google_texts),
    ("google", "google_goog.json", google_texts),
    ("google", "google_goog_2026-08-21.json", google_texts),
    ("google", "google_googlebot.json", google_texts),
    ("google", "google_user-triggered-fetchers.json", google_texts),
    ("azure", "azure_ServiceTags_Public_2025-11-06.json", azure_texts),
    ("azure", "azure_ServiceTags_AzureGovernment.json", azure_texts),
    ("m365", "microsoft365_endpoints_worldwide.json", m365_texts),
    ("github", "github_meta.json", github_texts),
    ("atlassian", "atlassian_ip-ranges.json", atlassian_texts),
    ("fastly", "fastly_public-ip-list.json", fastly_texts),
    ("oracle", "oracle_public_ip_ranges.json", oracle_texts),
    ("oracle", "oracle_public_ip_ranges_2026-07-27.json", oracle_texts),
    ("zscaler", "zscaler_zscaler.net_recommended.json", zscaler_texts),
    ("zscaler", "zscaler_cenr_zscaler.net.json", zscaler_texts),
    ("okta", "okta_ip_ranges_2022-03-07.json", okta_texts),
    ("datadog", "datadog_ip-ranges.json", datadog_texts),
    ("stripe", "stripe_ips_webhooks.json", stripe_texts),
]

TEXT_FILES = [
    "akamai_v4.txt",
    "akamai_v6.txt",
    "cloudflare_ips-v4.txt",
    "cloudflare_ips-v6.txt",
    "plaintext_lord-alfred_all_ipv4_merged.txt",
    "plaintext_lord-alfred_all_ipv6_merged.txt",
    "plaintext_lord-alfred_microsoft_ipv4_merged.txt",
    "plaintext_lord-alfred_openai_ipv4.txt",
    "plaintext_lord-alfred_telegram_ipv6.txt",
]

# Files no parser reads: RFC 8805 geofeeds (CSV) and Azure's retired XML list.
NOT_FEEDS = {"linode_geofeed_rfc8805.csv", "digitalocean_geofeed.csv", "azure_PublicIPs_legacy.xml"}


def test_every_corpus_feed_has_a_case() -> None:
    covered = {f for _, f, _ in CASES} | set(TEXT_FILES) | {"cloudflare_ips_json_array.json"}
    present = {p.name for p in FEEDS.iterdir() if p.suffix in (".json", ".txt", ".csv", ".xml")}
    assert present - NOT_FEEDS == covered


@pytest.mark.parametrize(("name", "file", "reading"), CASES, ids=[f for _, f, _ in CASES])
def test_whole_feed_matches_an_independent_reading(name: str, file: str, reading: Reading) -> None:
    expected = reading(doc(file))
    assert feed(name, file).texts == expected
    rs = select(name, file)
    assert rs.completeness is Completeness.COMPLETE
    assert [f for f in rs.findings if f.kind in ("bad-entry", "host-bits")] == []
    assert len(rs.entries) == len(expected)
    assert space(rs) == collapsed(expected)


@pytest.mark.parametrize("file", TEXT_FILES)
def test_text_feeds_match_an_independent_reading(file: str) -> None:
    expected = text_lines(raw(file))
    parsed = feed("text", file)
    assert parsed.texts == expected
    rs = select("text", file)
    assert rs.completeness is Completeness.COMPLETE
    assert space(rs) == collapsed(expected)


def test_akamai_tab_terminated_lines_keep_their_numbers() -> None:
    parsed = feed("text", "akamai_v4.txt")
    lines = raw("akamai_v4.txt").decode().split("\n")
    assert all(
        lines[n - 1].rstrip("\t") == t for t, n in zip(parsed.texts, parsed.lines, strict=True)
    )
    assert parsed.lines[:3] == [1, 2, 3]


# --- filters, against the same readings ---------------------------------------------------------


def _filtered_cases() -> list[tuple[str, str, Filters, Reading, dict[str, str]]]:
    return [
        (
            "aws",
            "aws_ip-ranges_2026-08.json",
            {"service": ("EC2",), "region": ("eu-west-1",)},
            aws_texts,
            {"service": "EC2", "region": "eu-west-1"},
        ),
        (
            "google",
            "google_cloud_2026-08-21.json",
            {"scope": ("europe-west1",)},
            google_texts,
            {"scope": "europe-west1"},
        ),
        (
            "azure",
            "azure_ServiceTags_Public_2025-11-06.json",
            {"tag": ("AzureCloud.westeurope",)},
            azure_texts,
            {"tag": "AzureCloud.westeurope"},
        ),
        (
            "azure",
            "azure_ServiceTags_Public_2025-11-06.json",
            {"region": ("westeurope",), "systemService": ("AzureStorage",)},
            azure_texts,
            {"region": "westeurope", "systemService": "AzureStorage"},
        ),
        (
            "azure",
            "azure_ServiceTags_AzureGovernment.json",
            {"tag": ("AzureCloud.usgovvirginia",)},
            azure_texts,
            {"tag": "AzureCloud.usgovvirginia"},
        ),
        (
            "m365",
            "microsoft365_endpoints_worldwide.json",
            {"serviceArea": ("Exchange",), "required": ("true",)},
            m365_texts,
            {"serviceArea": "Exchange", "required": "true"},
        ),
        (
            "m365",
            "microsoft365_endpoints_worldwide.json",
            {"category": ("Optimize",)},
            m365_texts,
            {"category": "Optimize"},
        ),
        ("github", "github_meta.json", {"section": ("hooks",)}, github_texts, {"section": "hooks"}),
        (
            "github",
            "github_meta.json",
            {"section": ("actions",)},
            github_texts,
            {"section": "actions"},
        ),
        (
            "atlassian",
            "atlassian_ip-ranges.json",
            {"product": ("jira",), "direction": ("egress",)},
            atlassian_texts,
            {"product": "jira", "direction": "egress"},
        ),
        (
            "atlassian",
            "atlassian_ip-ranges.json",
            {"perimeter": ("fedramp-moderate",)},
            atlassian_texts,
            {"perimeter": "fedramp-moderate"},
        ),
        (
            "oracle",
            "oracle_public_ip_ranges_2026-07-27.json",
            {"region": ("us-ashburn-1",), "tag": ("OSN",)},
            oracle_texts,
            {"region": "us-ashburn-1", "tag": "OSN"},
        ),
        (
            "zscaler",
            "zscaler_cenr_zscaler.net.json",
            {"continent": ("EMEA",)},
            zscaler_texts,
            {"continent": "EMEA"},
        ),
        (
            "zscaler",
            "zscaler_cenr_zscaler.net.json",
            {"city": ("Abu Dhabi II",)},
            zscaler_texts,
            {"city": "Abu Dhabi II"},
        ),
        (
            "okta",
            "okta_ip_ranges_2022-03-07.json",
            {"cell": ("us_cell_1",)},
            okta_texts,
            {"cell": "us_cell_1"},
        ),
        (
            "datadog",
            "datadog_ip-ranges.json",
            {"section": ("webhooks",)},
            datadog_texts,
            {"section": "webhooks"},
        ),
        (
            "stripe",
            "stripe_ips_webhooks.json",
            {"section": ("webhooks",)},
            stripe_texts,
            {"section": "webhooks"},
        ),
    ]


@pytest.mark.parametrize(
    ("name", "file", "filters", "reading", "want"),
    _filtered_cases(),
    ids=[f"{c[0]}-{'-'.join(c[4].values())}" for c in _filtered_cases()],
)
def test_filtered_selection_matches_an_independent_reading(
    name: str, file: str, filters: Filters, reading: Reading, want: dict[str, str]
) -> None:
    expected = reading(doc(file), **want)
    assert expected, "the case must select something"
    rs = select(name, file, filters)
    assert rs.completeness is Completeness.COMPLETE
    assert len(rs.entries) == len(expected)
    assert space(rs) == collapsed(expected)


def test_exact_counts_of_well_known_selections() -> None:
    # numbers read off the files once, so a change to the readings above cannot hide a change
    ec2 = select(
        "aws", "aws_ip-ranges_2026-08.json", {"service": ("EC2",), "region": ("eu-west-1",)}
    )
    assert len(ec2.entries) == 88 + 73
    assert len(select("azure", "azure_ServiceTags_Public_2025-11-06.json").entries) == 93362
    assert len(select("m365", "microsoft365_endpoints_worldwide.json").entries) == 51
    assert len(select("zscaler", "zscaler_cenr_zscaler.net.json").entries) == 935


# --- versions and notes -------------------------------------------------------------------------

VERSIONS: list[tuple[str, str, FeedVersion | None]] = [
    (
        "aws",
        "aws_ip-ranges_2026-08.json",
        FeedVersion("syncToken", "1787297825", "2026-08-21-07-37-05"),
    ),
    (
        "google",
        "google_cloud_2025-07-24.json",
        FeedVersion("syncToken", "1753409788780", "2025-07-24T19:16:28.780563"),
    ),
    ("google", "google_googlebot.json", FeedVersion("creationTime", "2026-08-20T14:46:45.000000")),
    (
        "azure",
        "azure_ServiceTags_Public_2025-11-06.json",
        FeedVersion("changeNumber (Public)", "375"),
    ),
    (
        "azure",
        "azure_ServiceTags_AzureGovernment.json",
        FeedVersion("changeNumber (AzureGovernment)", "401"),
    ),
    (
        "atlassian",
        "atlassian_ip-ranges.json",
        FeedVersion("syncToken", "1781669326", "2026-06-17T04:08:46.684598"),
    ),
    (
        "oracle",
        "oracle_public_ip_ranges.json",
        FeedVersion("last_updated_timestamp", "2025-07-21T07:13:25.457838"),
    ),
    ("datadog", "datadog_ip-ranges.json", FeedVersion("version", "62", "2026-02-24T00:00:00")),
    ("m365", "microsoft365_endpoints_worldwide.json", None),
    ("github", "github_meta.json", None),
    ("zscaler", "zscaler_cenr_zscaler.net.json", None),
]


@pytest.mark.parametrize(("name", "file", "version"), VERSIONS, ids=[v[1] for v in VERSIONS])
def test_versions(name: str, file: str, version: FeedVersion | None) -> None:
    assert feed(name, file).version == version


def test_versions_order_across_snapshots() -> None:
    old = feed("aws", "aws_ip-ranges_2021-07-28.json").version
    new = feed("aws", "aws_ip-ranges_2026-08.json").version
    assert old is not None and new is not None and old.order < new.order
    old = feed("oracle", "oracle_public_ip_ranges.json").version
    new = feed("oracle", "oracle_public_ip_ranges_2026-07-27.json").version
    assert old is not None and new is not None and old.order < new.order


def test_m365_url_only_sets_are_counted() -> None:
    d = doc("microsoft365_endpoints_worldwide.json")
    file = "microsoft365_endpoints_worldwide.json"
    [note] = [f for f in select("m365", file).findings if f.kind == "url-only"]
    url_only = sum("ips" not in e for e in d)
    assert note.message.startswith(f"{url_only} of {len(d)} endpoint sets")
    # over the selected sets only: Exchange
    exchange = [e for e in d if e["serviceArea"] == "Exchange"]
    rs = select("m365", file, {"serviceArea": ("Exchange",)})
    [note] = [f for f in rs.findings if f.kind == "url-only"]
    skipped = sum("ips" not in e for e in exchange)
    assert note.message.startswith(f"{skipped} of the {len(exchange)} selected endpoint sets")
    # the mail-flow sets all list addresses: no note
    rs = select("m365", file, {"use": ("mail-flow",)})
    assert [f for f in rs.findings if f.kind == "url-only"] == []


def test_github_sections_are_every_address_list() -> None:
    d = doc("github_meta.json")
    sections = sorted(k for k, v in d.items() if isinstance(v, list) and k != "ssh_keys" and v)
    parsed = feed("github", "github_meta.json")
    assert parsed.values("section") == sections
    assert parsed.findings == ()


def test_zscaler_filters_follow_the_shape() -> None:
    assert feed("zscaler", "zscaler_cenr_zscaler.net.json").filters == ("continent", "city")
    assert feed("zscaler", "zscaler_zscaler.net_recommended.json").filters == ()


# --- the generic JSON parser on the same files ---------------------------------------------------

SELECTORS: list[tuple[str, str, Reading]] = [
    (
        "aws_ip-ranges_2026-08.json",
        "prefixes[].ip_prefix",
        lambda d: aws_texts(d)[: len(d["prefixes"])],
    ),
    (
        "azure_ServiceTags_Public_2025-11-06.json",
        "values[].properties.addressPrefixes",
        azure_texts,
    ),
    ("okta_ip_ranges_2022-03-07.json", "*.ip_ranges", okta_texts),
    ("github_meta.json", "hooks", lambda d: list(d["hooks"])),
    ("cloudflare_ips_json_array.json", "[]", list),
    ("fastly_public-ip-list.json", "*", fastly_texts),
    (
        "datadog_ip-ranges.json",
        "synthetics.prefixes_ipv4",
        lambda d: d["synthetics"]["prefixes_ipv4"],
    ),
]


@pytest.mark.parametrize(("file", "selector", "reading"), SELECTORS, ids=[s[1] for s in SELECTORS])
def test_json_selector_on_real_feeds(file: str, selector: str, reading: Reading) -> None:
    expected = reading(doc(file))
    parsed = feed("json", file, selector)
    assert parsed.texts == expected
    rs = parsed.select({}, context("json", file, selector), SourceInfo(file, "expected", "json"))
    assert rs.completeness is Completeness.COMPLETE
    assert space(rs) == collapsed(expected)


def test_json_paths_point_back_into_the_document() -> None:
    file = "azure_ServiceTags_Public_2025-11-06.json"
    d = doc(file)
    parsed = feed("json", file, "values[].properties.addressPrefixes")
    for i in (0, 12345, len(parsed) - 1):
        head, _, j = (
            parsed.paths[i].removeprefix("values[").partition("].properties.addressPrefixes[")
        )
        assert (
            d["values"][int(head)]["properties"]["addressPrefixes"][int(j[:-1])] == parsed.texts[i]
        )
