"""The feed parsers on small inline documents: the items, paths, tags and versions they record,
the feeds they refuse, filter selection over their tags, and the generic JSON selector."""

from __future__ import annotations

import json
import pkgutil
from typing import Any

import pytest

from auditor.errors import UsageError
from auditor.model import Completeness, RangeSet, Severity, SourceInfo
from auditor.sources import feeds
from auditor.sources.base import (
    PARSERS,
    Feed,
    FeedContext,
    FeedError,
    FeedVersion,
    Filters,
    parser_for,
)
from auditor.sources.feeds.json_feed import Step, parse_selector

Item = tuple[str, str, dict[str, list[str]]]


def ctx(provider: str, selector: str | None = None) -> FeedContext:
    return FeedContext(f"{provider}-feed", provider, selector=selector)


def parse(provider: str, doc: Any, selector: str | None = None) -> Feed:
    """Parse ``doc``: bytes and str are the body as served, anything else is dumped as JSON."""
    if isinstance(doc, bytes):
        data = doc
    elif isinstance(doc, str):
        data = doc.encode("utf-8")
    else:
        data = json.dumps(doc).encode("utf-8")
    return parser_for(provider).parse(data, ctx(provider, selector))


def refused(provider: str, doc: Any, selector: str | None = None) -> FeedError:
    with pytest.raises(FeedError) as exc:
        parse(provider, doc, selector)
    assert exc.value.message.startswith(f"{provider}: "), exc.value.message
    assert exc.value.source == f"{provider}-feed"
    return exc.value


def items(feed: Feed) -> list[Item]:
    """(text, path, tags) per item, tags as key -> values in the feed's order."""
    out = []
    for i, text in enumerate(feed.texts):
        tags: dict[str, list[str]] = {}
        tid = feed.tag_ids[i]
        for key, value in feed.tagsets[tid] if tid >= 0 else ():
            tags.setdefault(key, []).append(value)
        out.append((text, feed.paths[i], tags))
    return out


def select(feed: Feed, provider: str, filters: Filters | None = None) -> RangeSet:
    info = SourceInfo(f"{provider}-feed", "expected", provider)
    return feed.select(filters or {}, ctx(provider), info)


def cidrs(rs: RangeSet) -> list[str]:
    return list(rs.space.cidrs_text())


# --- one good document per parser --------------------------------------------------------------

GOOGLE = {
    "syncToken": "1753409788780",
    "creationTime": "2025-07-24T19:16:28.780563",
    "prefixes": [
        {"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"},
        {"ipv6Prefix": "2600:1900:8000::/44", "service": "Google Cloud", "scope": "asia-east1"},
        {"ipv4Prefix": "8.8.8.0/24"},
    ],
}

AZURE = {
    "changeNumber": 375,
    "cloud": "Public",
    "values": [
        {
            "name": "AzureCloud.westeurope",
            "id": "AzureCloud.westeurope",
            "properties": {
                "changeNumber": 12,
                "region": "westeurope",
                "regionId": 18,
                "platform": "Azure",
                "systemService": "",
                "addressPrefixes": ["13.69.0.0/17", "2603:1020:200::/46"],
                "networkFeatures": None,
            },
        },
        {
            "name": "ActionGroup",
            "id": "ActionGroup",
            "properties": {
                "changeNumber": 53,
                "region": "",
                "systemService": "ActionGroup",
                "addressPrefixes": [],
            },
        },
        {
            "name": "Storage.WestEurope",
            "id": "Storage.WestEurope",
            "properties": {
                "region": "westeurope",
                "systemService": "AzureStorage",
                "addressPrefixes": ["20.38.108.0/23"],
            },
        },
    ],
}

M365 = [
    {
        "id": 1,
        "serviceArea": "Exchange",
        "urls": ["outlook.office.com"],
        "ips": ["13.107.6.152/31", "2603:1006::/40"],
        "tcpPorts": "80,443",
        "category": "Optimize",
        "required": True,
    },
    {
        "id": 8,
        "serviceArea": "Exchange",
        "urls": ["*.outlook.com"],
        "tcpPorts": "80,443",
        "category": "Default",
        "required": False,
    },
    {
        "id": 9,
        "serviceArea": "SharePoint",
        "ips": ["13.107.136.0/22"],
        "category": "Allow",
        "required": False,
    },
    {
        "id": 56,
        "serviceArea": "Common",
        "urls": ["*.msftidentity.com"],
        "category": "Allow",
        "required": True,
    },
]

GITHUB = {
    "verifiable_password_authentication": False,
    "ssh_key_fingerprints": {"SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"},
    "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9"],
    "hooks": ["192.30.252.0/22", "2a0a:a440::/29"],
    "web": ["140.82.112.0/20"],
    "dependabot": [],
    "domains": {"website": ["*.github.com"]},
}

ATLASSIAN = {
    "creationDate": "2026-06-17T04:08:46.684598",
    "syncToken": 1781669326,
    "items": [
        {
            "network": "52.82.172.0",
            "mask_len": 22,
            "cidr": "52.82.172.0/22",
            "mask": "255.255.252.0",
            "region": ["global"],
            "product": ["email"],
            "direction": ["egress"],
            "perimeter": "commercial",
        },
        {
            "cidr": "104.192.136.0/21",
            "region": ["us-east-1", "us-west-2"],
            "product": ["jira", "confluence"],
            "direction": ["egress", "ingress"],
            "perimeter": "commercial",
        },
        {"cidr": "3.33.0.0/16"},
    ],
}

FASTLY = {"addresses": ["23.235.32.0/20"], "ipv6_addresses": ["2a04:4e40::/32"]}

ORACLE = {
    "last_updated_timestamp": "2025-07-21T07:13:25.457838",
    "regions": [
        {
            "region": "us-ashburn-1",
            "cidrs": [
                {"cidr": "129.80.0.0/16", "tags": ["OCI"]},
                {"cidr": "134.70.24.0/21", "tags": ["OSN", "OBJECT_STORAGE"]},
            ],
        },
        {"region": "eu-frankfurt-1", "cidrs": [{"cidr": "130.61.0.0/16", "tags": ["OCI"]}]},
    ],
}

ZSCALER_HUBS = {
    "cloudName": "zscaler.net",
    "type": "recommended",
    "hubPrefixes": ["8.25.203.0/24", "2400:7aa0:131b::/48"],
}

ZSCALER_CENR = {
    "zscaler.net": {
        "continent : EMEA": {
            "city : Abu Dhabi II": [
                {"range": "2a03:eec0:3900::/40", "vpn": "", "hostname": ""},
                {"range": "159.254.250.0/23", "vpn": "", "hostname": ""},
            ],
        },
        "continent : Americas": {"city : Atlanta II": [{"range": "104.129.204.0/23"}]},
    },
    "svpnIPs": ["165.225.240.56"],
}

OKTA = {
    "us_cell_1": {"ip_ranges": ["3.33.136.245/32", "3.33.145.223/32"]},
    "emea_cell_2": {"ip_ranges": ["18.184.0.0/16"]},
}

DATADOG = {
    "version": 62,
    "modified": "2026-02-24T00:00:00",
    "agents": {"prefixes_ipv4": ["3.233.144.0/20"], "prefixes_ipv6": ["2600:1f18:24e6:b900::/56"]},
    "synthetics": {
        "prefixes_ipv4": ["13.244.85.86/32"],
        "prefixes_ipv4_by_location": {"aws:af-south-1": ["13.244.85.86/32"]},
        "prefixes_ipv6": [],
        "prefixes_ipv6_by_location": {},
    },
}

STRIPE = {"WEBHOOKS": ["3.18.12.63", "3.130.192.231"], "api": ["13.112.224.240"]}

# name -> (document, selector) with a valid shape and at least one prefix
GOOD: dict[str, tuple[Any, str | None]] = {
    "aws": (
        {
            "syncToken": "1753414690",
            "createDate": "2025-07-25-03-38-10",
            "prefixes": [
                {
                    "ip_prefix": "3.4.12.4/32",
                    "region": "eu-west-1",
                    "service": "AMAZON",
                    "network_border_group": "eu-west-1",
                }
            ],
            "ipv6_prefixes": [],
        },
        None,
    ),
    "google": (GOOGLE, None),
    "azure": (AZURE, None),
    "m365": (M365, None),
    "github": (GITHUB, None),
    "text": ("192.0.2.0/24\n", None),
    "atlassian": (ATLASSIAN, None),
    "fastly": (FASTLY, None),
    "oracle": (ORACLE, None),
    "zscaler": (ZSCALER_CENR, None),
    "okta": (OKTA, None),
    "datadog": (DATADOG, None),
    "stripe": (STRIPE, None),
    "json": ({"list": ["192.0.2.0/24"]}, "list"),
}

JSON_PARSERS = sorted(set(GOOD) - {"text"})


def test_every_registered_parser_has_a_case_and_every_module_is_registered() -> None:
    assert set(GOOD) == set(PARSERS)
    modules = [m.name for m in pkgutil.iter_modules(feeds.__path__) if not m.name.startswith("_")]
    assert sorted(modules) == sorted(PARSERS[name].__module__.rsplit(".", 1)[1] for name in PARSERS)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_parser_parses_and_selects_its_good_document(name: str) -> None:
    doc, selector = GOOD[name]
    parser = parser_for(name)
    assert parser.name == name
    assert parser.description
    assert name == name.lower() and " " not in name and "_" not in name
    feed = parse(name, doc, selector)
    assert feed.parser == name
    assert set(feed.filters) <= set(parser.filters)
    rs = select(feed, name)
    assert rs.completeness is Completeness.COMPLETE
    assert len(rs.entries) == len(feed)


def test_google_items_paths_tags_and_version() -> None:
    feed = parse("google", GOOGLE)
    assert items(feed) == [
        (
            "34.1.208.0/20",
            "prefixes[0].ipv4Prefix",
            {"scope": ["africa-south1"], "service": ["Google Cloud"]},
        ),
        (
            "2600:1900:8000::/44",
            "prefixes[1].ipv6Prefix",
            {"scope": ["asia-east1"], "service": ["Google Cloud"]},
        ),
        ("8.8.8.0/24", "prefixes[2].ipv4Prefix", {}),
    ]
    assert feed.version == FeedVersion("syncToken", "1753409788780", "2025-07-24T19:16:28.780563")
    assert feed.filters == ("service", "scope")
    assert feed.lines == [0, 0, 0]


def test_google_crawler_lists_have_only_a_creation_time_as_version() -> None:
    feed = parse(
        "google",
        {"creationTime": "2026-08-20T14:46:45.000000", "prefixes": [{"ipv6Prefix": "2001::/64"}]},
    )
    assert feed.version == FeedVersion("creationTime", "2026-08-20T14:46:45.000000")
    assert feed.version.order == (1, "2026-08-20T14:46:45.000000")


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ({"ipv4Prefix": "1.2.3.0/24", "ipv6Prefix": "2001:db8::/32"}, "has both of"),
        ({"service": "Google Cloud"}, "has neither of"),
    ],
)
def test_google_prefix_needs_exactly_one_address(prefix: dict[str, str], problem: str) -> None:
    doc = {
        "creationTime": "2025-01-01T00:00:00",
        "prefixes": [{"ipv4Prefix": "8.8.4.0/24"}, prefix],
    }
    err = refused("google", doc)
    assert f"prefixes[1] {problem} ipv4Prefix and ipv6Prefix" in err.message


def test_azure_items_tags_and_version() -> None:
    feed = parse("azure", AZURE)
    assert items(feed) == [
        (
            "13.69.0.0/17",
            "values[0].properties.addressPrefixes[0]",
            {"region": ["westeurope"], "tag": ["AzureCloud.westeurope"]},
        ),
        (
            "2603:1020:200::/46",
            "values[0].properties.addressPrefixes[1]",
            {"region": ["westeurope"], "tag": ["AzureCloud.westeurope"]},
        ),
        (
            "20.38.108.0/23",
            "values[2].properties.addressPrefixes[0]",
            {
                "region": ["westeurope"],
                "systemService": ["AzureStorage"],
                "tag": ["Storage.WestEurope"],
            },
        ),
    ]
    assert feed.version == FeedVersion("changeNumber (Public)", "375")
    assert str(feed.version) == "changeNumber (Public) 375"
    # an empty region or systemService is no tag; a value without prefixes is still a tag name
    assert feed.values("systemService") == ["ActionGroup", "AzureStorage"]
    assert feed.values("region") == ["westeurope"]


def test_azure_change_number_must_be_a_number() -> None:
    err = refused("azure", AZURE | {"changeNumber": "375"})
    assert "changeNumber is a string, expected a number" in err.message


def test_azure_no_prefix_in_any_value_is_an_error() -> None:
    doc = json.loads(json.dumps(AZURE))
    for value in doc["values"]:
        value["properties"]["addressPrefixes"] = []
    err = refused("azure", doc)
    assert "lists no prefix" in err.message


def test_m365_tags_and_url_only_sets() -> None:
    feed = parse("m365", M365)
    exchange = {
        "category": ["Optimize"],
        "id": ["1"],
        "port": ["443", "80"],
        "required": ["true"],
        "serviceArea": ["Exchange"],
    }
    sharepoint = {
        "category": ["Allow"],
        "id": ["9"],
        "required": ["false"],
        "serviceArea": ["SharePoint"],
    }
    assert items(feed) == [
        ("13.107.6.152/31", "[0].ips[0]", exchange),
        ("2603:1006::/40", "[0].ips[1]", exchange),
        ("13.107.136.0/22", "[2].ips[0]", sharepoint),
    ]
    assert feed.version is None
    assert feed.findings == ()
    # the URL-only sets are counted over what is selected, when it is selected
    [note] = select(feed, "m365").findings
    assert (note.kind, note.severity) == ("url-only", Severity.INFO)
    assert note.message == (
        "2 of 4 endpoint sets list only URLs, no IP ranges; skipped as URL-only"
    )
    [note] = select(feed, "m365", {"serviceArea": ("Exchange",)}).findings
    assert note.message.startswith("1 of the 2 selected endpoint sets list only URLs")
    # nothing URL-only among the selected sets: no note at all
    assert select(feed, "m365", {"serviceArea": ("SharePoint",)}).findings == ()
    # a URL-only set is a valid id, and selecting only it says why nothing is left
    with pytest.raises(FeedError) as e:
        select(feed, "m365", {"id": ("56",)})
    assert e.value.message == "no prefix matches id=56"
    assert "every selected part lists no range: 1 of the 1 selected" in str(e.value.hint)


def test_m365_required_must_be_a_boolean() -> None:
    doc = [dict(M365[0], required="true")]
    err = refused("m365", doc)
    assert "[0].required is a string, expected true/false" in err.message


def test_m365_an_object_at_the_top_is_an_error() -> None:
    err = refused("m365", {"endpoints": M365})
    assert "the top level is an object, expected an array" in err.message


def test_github_sections_and_the_keys_that_are_not_addresses() -> None:
    feed = parse("github", GITHUB)
    assert items(feed) == [
        ("192.30.252.0/22", "hooks[0]", {"section": ["hooks"]}),
        ("2a0a:a440::/29", "hooks[1]", {"section": ["hooks"]}),
        ("140.82.112.0/20", "web[0]", {"section": ["web"]}),
    ]
    assert feed.findings == ()
    assert feed.version is None


def test_github_a_new_list_without_addresses_is_named_and_skipped() -> None:
    feed = parse("github", GITHUB | {"runner_labels": ["ubuntu-latest", "macos-14"]})
    [note] = feed.findings
    assert (note.kind, note.severity) == ("ignored-key", Severity.INFO)
    assert "runner_labels" in note.message
    assert feed.values("section") == ["hooks", "web"]


def test_github_a_malformed_entry_in_a_section_becomes_a_finding_not_a_lost_section() -> None:
    feed = parse("github", {"api": ["192.30.252.0/22", "192.30.252.0/33", "api.github.com"]})
    assert feed.texts == ["192.30.252.0/22", "192.30.252.0/33", "api.github.com"]
    rs = select(feed, "github")
    assert rs.completeness is Completeness.PARTIAL
    assert [str(f.origin) for f in rs.findings if f.kind == "bad-entry"] == [
        "github-feed (api[1])",
        "github-feed (api[2])",
    ]


def test_github_a_non_string_in_a_section_is_an_error() -> None:
    err = refused("github", {"hooks": ["192.30.252.0/22", 42]})
    assert "hooks[1] is a number, expected a string" in err.message


def test_github_without_any_section_is_an_error() -> None:
    err = refused("github", {"verifiable_password_authentication": True, "ssh_keys": ["ssh-rsa A"]})
    assert "lists no prefix" in err.message


def test_atlassian_list_tags_repeat_and_missing_tags_are_no_tags() -> None:
    feed = parse("atlassian", ATLASSIAN)
    assert items(feed) == [
        (
            "52.82.172.0/22",
            "items[0].cidr",
            {
                "direction": ["egress"],
                "perimeter": ["commercial"],
                "product": ["email"],
                "region": ["global"],
            },
        ),
        (
            "104.192.136.0/21",
            "items[1].cidr",
            {
                "direction": ["egress", "ingress"],
                "perimeter": ["commercial"],
                "product": ["confluence", "jira"],
                "region": ["us-east-1", "us-west-2"],
            },
        ),
        ("3.33.0.0/16", "items[2].cidr", {}),
    ]
    assert feed.version == FeedVersion("syncToken", "1781669326", "2026-06-17T04:08:46.684598")


def test_atlassian_a_tag_of_the_wrong_type_is_an_error() -> None:
    doc = {"syncToken": "1", "creationDate": "x", "items": [{"cidr": "1.2.3.0/24", "product": "x"}]}
    err = refused("atlassian", doc)
    assert "items[0].product is a string, expected an array" in err.message


@pytest.mark.parametrize("token", ["", "12a", -1, 1.5, True])
def test_atlassian_sync_token_must_be_a_counter(token: object) -> None:
    err = refused("atlassian", ATLASSIAN | {"syncToken": token})
    assert "syncToken is" in err.message


def test_fastly_both_lists() -> None:
    feed = parse("fastly", FASTLY)
    assert items(feed) == [
        ("23.235.32.0/20", "addresses[0]", {}),
        ("2a04:4e40::/32", "ipv6_addresses[0]", {}),
    ]
    assert feed.filters == ()
    assert feed.version is None


def test_oracle_region_and_each_tag() -> None:
    feed = parse("oracle", ORACLE)
    assert items(feed) == [
        ("129.80.0.0/16", "regions[0].cidrs[0].cidr", {"region": ["us-ashburn-1"], "tag": ["OCI"]}),
        (
            "134.70.24.0/21",
            "regions[0].cidrs[1].cidr",
            {"region": ["us-ashburn-1"], "tag": ["OBJECT_STORAGE", "OSN"]},
        ),
        (
            "130.61.0.0/16",
            "regions[1].cidrs[0].cidr",
            {"region": ["eu-frankfurt-1"], "tag": ["OCI"]},
        ),
    ]
    assert feed.version == FeedVersion("last_updated_timestamp", "2025-07-21T07:13:25.457838")


def test_zscaler_hub_list_has_no_filters() -> None:
    feed = parse("zscaler", ZSCALER_HUBS)
    assert items(feed) == [
        ("8.25.203.0/24", "hubPrefixes[0]", {}),
        ("2400:7aa0:131b::/48", "hubPrefixes[1]", {}),
    ]
    assert feed.filters == ()
    with pytest.raises(UsageError) as exc:
        select(feed, "zscaler", {"city": ("Atlanta II",)})
    assert exc.value.message == "zscaler: unknown filter 'city'"
    assert exc.value.hint == "filters of zscaler: none"


def test_zscaler_node_ranges_are_tagged_by_continent_and_city() -> None:
    feed = parse("zscaler", ZSCALER_CENR)
    base = '["zscaler.net"]["continent : EMEA"]["city : Abu Dhabi II"]'
    emea = {"city": ["Abu Dhabi II"], "continent": ["EMEA"]}
    assert items(feed) == [
        ("2a03:eec0:3900::/40", f"{base}[0].range", emea),
        ("159.254.250.0/23", f"{base}[1].range", emea),
        (
            "104.129.204.0/23",
            '["zscaler.net"]["continent : Americas"]["city : Atlanta II"][0].range',
            {"city": ["Atlanta II"], "continent": ["Americas"]},
        ),
    ]
    assert feed.filters == ("continent", "city")
    rs = select(feed, "zscaler", {"city": ("atlanta ii",)})
    assert cidrs(rs) == ["104.129.204.0/23"]


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"cloudName": "zscaler.net"}, "neither a hub list (hubPrefixes) nor node ranges"),
        ({"zscaler.net": {"EMEA": {}}}, "neither a hub list"),
        (
            {"zscaler.net": {"continent : EMEA": {"Abu Dhabi": []}}},
            '["zscaler.net"]["continent : EMEA"]["Abu Dhabi"] is not a \'city : NAME\' key',
        ),
        (
            {"zscaler.net": {"continent : EMEA": {"city : X": {"range": "1.2.3.0/24"}}}},
            '["zscaler.net"]["continent : EMEA"]["city : X"] is an object, expected an array',
        ),
        (
            {"zscaler.net": {"continent : EMEA": {"city : X": [{"ranges": "1.2.3.0/24"}]}}},
            'missing key \'["zscaler.net"]["continent : EMEA"]["city : X"][0].range\'',
        ),
        ({"hubPrefixes": "8.25.203.0/24"}, "hubPrefixes is a string, expected an array"),
    ],
)
def test_zscaler_shape_errors(doc: dict[str, Any], problem: str) -> None:
    assert problem in refused("zscaler", doc).message


def test_okta_cells() -> None:
    feed = parse("okta", OKTA)
    assert items(feed) == [
        ("3.33.136.245/32", "us_cell_1.ip_ranges[0]", {"cell": ["us_cell_1"]}),
        ("3.33.145.223/32", "us_cell_1.ip_ranges[1]", {"cell": ["us_cell_1"]}),
        ("18.184.0.0/16", "emea_cell_2.ip_ranges[0]", {"cell": ["emea_cell_2"]}),
    ]
    assert feed.version is None


def test_okta_a_cell_that_is_not_an_object_is_an_error() -> None:
    assert "us_cell_1 is an array, expected an object" in refused("okta", {"us_cell_1": []}).message


def test_datadog_sections_and_version() -> None:
    feed = parse("datadog", DATADOG)
    assert items(feed) == [
        ("3.233.144.0/20", "agents.prefixes_ipv4[0]", {"section": ["agents"]}),
        ("2600:1f18:24e6:b900::/56", "agents.prefixes_ipv6[0]", {"section": ["agents"]}),
        ("13.244.85.86/32", "synthetics.prefixes_ipv4[0]", {"section": ["synthetics"]}),
    ]
    assert feed.version == FeedVersion("version", "62", "2026-02-24T00:00:00")


def test_datadog_a_section_without_its_ipv6_list_is_an_error() -> None:
    doc = DATADOG | {"logs": {"prefixes_ipv4": ["1.2.3.0/24"]}}
    assert "missing key 'logs.prefixes_ipv6'" in refused("datadog", doc).message


def test_stripe_sections_are_lower_cased() -> None:
    feed = parse("stripe", STRIPE)
    assert items(feed) == [
        ("3.18.12.63", "WEBHOOKS[0]", {"section": ["webhooks"]}),
        ("3.130.192.231", "WEBHOOKS[1]", {"section": ["webhooks"]}),
        ("13.112.224.240", "api[0]", {"section": ["api"]}),
    ]
    assert cidrs(select(feed, "stripe", {"section": ("WEBHOOKS",)})) == [
        "3.18.12.63/32",
        "3.130.192.231/32",
    ]


def test_stripe_a_key_that_is_not_a_list_is_an_error() -> None:
    err = refused("stripe", {"WEBHOOKS": ["3.18.12.63"], "updated": "2024-01-01"})
    assert "updated is a string, expected an array" in err.message


# --- text lists --------------------------------------------------------------------------------


def test_text_lines_comments_bom_crlf_and_trailing_whitespace() -> None:
    body = (
        b"\xef\xbb\xbf# Cloudflare\r\n"  # 1
        b"173.245.48.0/20\r\n"  # 2
        b"\r\n"  # 3
        b"103.21.244.0/22\t\r\n"  # 4: Akamai ends lines with a tab
        b"  2400:cb00::/32   # v6\r\n"  # 5
        b"; old style\n"  # 6
        b"198.41.128.0/17;trailing"  # 7: no final newline
    )
    feed = parse("text", body)
    assert list(zip(feed.texts, feed.lines, strict=True)) == [
        ("173.245.48.0/20", 2),
        ("103.21.244.0/22", 4),
        ("2400:cb00::/32", 5),
        ("198.41.128.0/17", 7),
    ]
    assert feed.paths == ["", "", "", ""]
    assert feed.tag_ids == [-1, -1, -1, -1]
    assert feed.version is None and feed.filters == ()
    rs = select(feed, "text")
    assert [e.origin.line for e in rs.entries] == [2, 4, 7, 5]


def test_text_a_line_separator_inside_a_line_does_not_shift_line_numbers() -> None:
    feed = parse("text", "192.0.2.0/24\u2028x\n198.51.100.0/24\n")
    assert feed.lines == [1, 2]
    assert select(feed, "text").completeness is Completeness.PARTIAL


def test_text_invalid_lines_are_findings_of_the_selection() -> None:
    feed = parse("text", "192.0.2.0/24\nnot-an-address\n")
    rs = select(feed, "text")
    assert rs.completeness is Completeness.PARTIAL
    [bad] = [f for f in rs.findings if f.kind == "bad-entry"]
    assert str(bad.origin) == "text-feed:2"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "got an HTML page"),
        (b"  \r\n<html><head><title>Portal</title>", "got an HTML page"),
        (b"192.0.2.0/24\n\x00\x00", "not text (it contains NUL bytes)"),
        (b"192.0.2.0/24\n198.51.100.\xff/24\n", "not UTF-8 (byte 24)"),
        (b"", "lists no prefix"),
        (b"# nothing here\n\n   \n", "lists no prefix"),
        (b'{"addresses": ["1.2.3.0/24"]}', "this is JSON, not a text list"),
        (b'[\n  "173.245.48.0/20"\n]\n', "this is JSON, not a text list"),
    ],
)
def test_text_refused_bodies(body: bytes, problem: str) -> None:
    assert problem in refused("text", body).message


def test_text_invalid_utf8_names_the_line() -> None:
    assert refused("text", b"192.0.2.0/24\n\xc3(\n").line == 2


# --- what every JSON parser refuses ------------------------------------------------------------

# name -> a document of the right shape that lists no prefix
EMPTY: dict[str, Any] = {
    "aws": {"syncToken": "1", "createDate": "x", "prefixes": [], "ipv6_prefixes": []},
    "google": {"syncToken": "1", "creationTime": "x", "prefixes": []},
    "azure": {"changeNumber": 1, "cloud": "Public", "values": []},
    "m365": [
        {"id": 1, "serviceArea": "Common", "category": "Allow", "required": True, "urls": ["a"]}
    ],
    "github": {"verifiable_password_authentication": False, "hooks": []},
    "atlassian": {"syncToken": 1, "creationDate": "x", "items": []},
    "fastly": {"addresses": [], "ipv6_addresses": []},
    "oracle": {"last_updated_timestamp": "x", "regions": [{"region": "r", "cidrs": []}]},
    "zscaler": {"cloudName": "zscaler.net", "hubPrefixes": []},
    "okta": {"us_cell_1": {"ip_ranges": []}},
    "datadog": {"version": 1, "modified": "x", "api": {"prefixes_ipv4": [], "prefixes_ipv6": []}},
    "stripe": {"WEBHOOKS": []},
    "json": {"list": []},
}

# name -> (document missing a key, the path named)
MISSING: dict[str, tuple[Any, str]] = {
    "aws": ({"syncToken": "1", "createDate": "x", "prefixes": []}, "'ipv6_prefixes'"),
    "google": ({"creationTime": "x", "prefix": []}, "'prefixes'"),
    "azure": (
        {"changeNumber": 1, "cloud": "Public", "values": [{"name": "A", "properties": {}}]},
        "'values[0].properties.region'",
    ),
    "m365": ([{"id": 1, "category": "Allow", "required": True}], "'[0].serviceArea'"),
    "atlassian": ({"syncToken": 1, "creationDate": "x", "items": [{"cird": "x"}]}, "items[0].cidr"),
    "fastly": ({"addresses": ["1.2.3.0/24"]}, "'ipv6_addresses'"),
    "oracle": (
        {"last_updated_timestamp": "x", "regions": [{"region": "r", "cidrs": [{"cidr": "x"}]}]},
        "'regions[0].cidrs[0].tags'",
    ),
    "zscaler": ({"zscaler.net": {"continent : EMEA": {"city : X": [{}]}}}, ".range'"),
    "okta": ({"us_cell_1": {"ranges": []}}, "'us_cell_1.ip_ranges'"),
    "datadog": ({"modified": "x"}, "'version'"),
    "json": ({"lists": []}, "'list'"),
}

# name -> (document with a value of the wrong type, the problem named)
WRONG: dict[str, tuple[Any, str]] = {
    "aws": (
        {"syncToken": "1", "createDate": "x", "prefixes": {}, "ipv6_prefixes": []},
        "prefixes is an object, expected an array",
    ),
    "google": (
        {"creationTime": "x", "prefixes": [{"ipv4Prefix": 16909060}]},
        "prefixes[0].ipv4Prefix is a number, expected a string",
    ),
    "azure": (
        {
            "changeNumber": 1,
            "cloud": "Public",
            "values": [
                {
                    "name": "A",
                    "properties": {
                        "region": "",
                        "systemService": "",
                        "addressPrefixes": ["1.2.3.0/24", None],
                    },
                }
            ],
        },
        "values[0].properties.addressPrefixes[1] is null, expected a string",
    ),
    "m365": (
        [{"id": "1", "serviceArea": "Common", "category": "Allow", "required": True}],
        "[0].id is a string, expected a number",
    ),
    "github": ({"hooks": ["192.30.252.0/22", ["x"]]}, "hooks[1] is an array, expected a string"),
    "atlassian": (
        {"syncToken": 1, "creationDate": "x", "items": [{"cidr": "1.2.3.0/24", "perimeter": 1}]},
        "items[0].perimeter is a number, expected a string",
    ),
    "fastly": ({"addresses": "1.2.3.0/24", "ipv6_addresses": []}, "addresses is a string"),
    "oracle": (
        {"last_updated_timestamp": "x", "regions": {"r": []}},
        "regions is an object, expected an array",
    ),
    "zscaler": ({"hubPrefixes": [1]}, "hubPrefixes[0] is a number, expected a string"),
    "okta": ({"c": {"ip_ranges": "1.2.3.0/24"}}, "c.ip_ranges is a string, expected an array"),
    "datadog": ({"version": "62", "modified": "x"}, "version is a string, expected a number"),
    "stripe": ({"API": [True]}, "API[0] is true/false, expected a string"),
    "json": ({"list": [1]}, "list[0] is a number, expected a string"),
}


def _selector(name: str) -> str | None:
    return GOOD[name][1]


@pytest.mark.parametrize("name", JSON_PARSERS)
@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html>\n<html><head><title>Log in</title></head></html>",
        b"\r\n  <html><body>Access denied</body></html>",
    ],
)
def test_html_served_with_200_is_refused(name: str, body: bytes) -> None:
    assert "got an HTML page, not the feed" in refused(name, body, _selector(name)).message


@pytest.mark.parametrize("name", JSON_PARSERS)
def test_zero_prefixes_is_refused(name: str) -> None:
    err = refused(name, EMPTY[name], _selector(name))
    assert "the feed lists no prefix" in err.message
    assert err.hint and "failure, not an empty set" in err.hint


@pytest.mark.parametrize("name", sorted(MISSING))
def test_a_missing_key_is_refused_with_its_path(name: str) -> None:
    doc, path = MISSING[name]
    err = refused(name, doc, _selector(name))
    assert "missing key" in err.message
    assert path in err.message


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_type_is_refused_with_its_path(name: str) -> None:
    doc, problem = WRONG[name]
    assert problem in refused(name, doc, _selector(name)).message


@pytest.mark.parametrize("name", JSON_PARSERS)
@pytest.mark.parametrize("top", ["[]", '"prefixes"', "null"])
def test_a_top_level_of_the_wrong_kind_is_refused(name: str, top: str) -> None:
    if name == "m365" and top == "[]":
        top = "{}"
    err = refused(name, top, _selector(name))
    assert "the top level is" in err.message


@pytest.mark.parametrize("name", JSON_PARSERS)
def test_duplicate_keys_are_refused(name: str) -> None:
    # the last "prefixes" would win with json.loads and leave an empty list
    body = '{"prefixes": [{"ipv4Prefix": "8.8.8.0/24"}], "prefixes": []}'
    assert "duplicate key 'prefixes'" in refused(name, body, _selector(name)).message


def test_duplicate_keys_deep_in_a_feed_are_refused() -> None:
    body = '{"creationTime": "x", "prefixes": [{"ipv4Prefix": "8.8.8.0/24", "ipv4Prefix": "1"}]}'
    assert "duplicate key 'ipv4Prefix'" in refused("google", body).message


@pytest.mark.parametrize("name", JSON_PARSERS)
@pytest.mark.parametrize(
    ("constant", "problem"),
    [
        ("NaN", "NaN is not a number JSON allows"),
        ("-Infinity", "-Infinity is not a number JSON allows"),
        ("1e999", "1e999 is out of range"),
    ],
)
def test_nan_and_infinity_are_refused(name: str, constant: str, problem: str) -> None:
    body = f'{{"syncToken": "1", "changeNumber": {constant}, "prefixes": []}}'
    assert problem in refused(name, body, _selector(name)).message


@pytest.mark.parametrize("name", JSON_PARSERS)
def test_invalid_utf8_is_refused(name: str) -> None:
    body = b'{"prefixes": [{"ipv4Prefix": "8.8.8.0/24\xff"}]}'
    assert "the feed is not UTF-8 (byte 40)" in refused(name, body, _selector(name)).message


@pytest.mark.parametrize("name", JSON_PARSERS)
def test_truncated_json_is_refused(name: str) -> None:
    body = '{"prefixes": [{"ipv4Prefix": "8.8.8.0/24"}, {"ipv4P'
    err = refused(name, body, _selector(name))
    assert "not valid JSON" in err.message
    assert err.line == 1


def test_a_utf8_bom_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + json.dumps(FASTLY).encode()
    assert len(parse("fastly", body)) == 2


# --- selection by filters ----------------------------------------------------------------------


def test_unknown_filter_key_lists_the_parsers_filters() -> None:
    feed = parse("google", GOOGLE)
    with pytest.raises(UsageError) as exc:
        select(feed, "google", {"region": ("asia-east1",)})
    assert exc.value.message == "google: unknown filter 'region'"
    assert exc.value.hint == "filters of google: service, scope"


def test_unknown_filter_value_lists_the_valid_values() -> None:
    feed = parse("atlassian", ATLASSIAN)
    with pytest.raises(FeedError) as exc:  # the feed's data decides: the source fails
        select(feed, "atlassian", {"product": ("jria",)})
    assert exc.value.message == "atlassian: no entry has product=jria"
    assert exc.value.hint == "valid values: confluence, email, jira"


def test_a_filter_key_without_any_value_in_the_feed_says_so() -> None:
    feed = parse("google", {"creationTime": "x", "prefixes": [{"ipv4Prefix": "8.8.8.0/24"}]})
    with pytest.raises(FeedError) as exc:
        select(feed, "google", {"scope": ("us-east1",)})
    assert exc.value.hint == "the feed has no values"


def test_filter_values_match_case_insensitively() -> None:
    feed = parse("azure", AZURE)
    rs = select(feed, "azure", {"tag": ("azurecloud.WESTEUROPE",)})
    assert cidrs(rs) == ["13.69.0.0/17", "2603:1020:200::/46"]
    assert rs.groups == ("region=westeurope tag=AzureCloud.westeurope",)


def test_several_values_of_a_key_are_alternatives_and_keys_combine() -> None:
    feed = parse("oracle", ORACLE)
    rs = select(feed, "oracle", {"region": ("us-ashburn-1", "eu-frankfurt-1"), "tag": ("OCI",)})
    assert cidrs(rs) == ["129.80.0.0/16", "130.61.0.0/16"]
    rs = select(feed, "oracle", {"tag": ("object_storage",)})
    assert cidrs(rs) == ["134.70.24.0/21"]


def test_a_list_tag_selects_every_item_that_has_the_value() -> None:
    feed = parse("atlassian", ATLASSIAN)
    rs = select(feed, "atlassian", {"product": ("jira",), "direction": ("ingress",)})
    assert cidrs(rs) == ["104.192.136.0/21"]
    # an item without tags is never selected by a filter, and always without one
    assert "3.33.0.0/16" not in cidrs(select(feed, "atlassian", {"perimeter": ("commercial",)}))
    assert "3.33.0.0/16" in cidrs(select(feed, "atlassian"))


def test_m365_required_and_service_area_filters() -> None:
    feed = parse("m365", M365)
    assert cidrs(select(feed, "m365", {"required": ("TRUE",)})) == [
        "13.107.6.152/31",
        "2603:1006::/40",
    ]
    assert cidrs(select(feed, "m365", {"serviceArea": ("sharepoint",)})) == ["13.107.136.0/22"]
    assert cidrs(select(feed, "m365", {"id": ("9",)})) == ["13.107.136.0/22"]


def test_a_combination_that_matches_nothing_is_a_feed_error() -> None:
    feed = parse("oracle", ORACLE)
    with pytest.raises(FeedError) as exc:
        select(feed, "oracle", {"region": ("eu-frankfurt-1",), "tag": ("OSN",)})
    assert exc.value.message == "no prefix matches region=eu-frankfurt-1 and tag=OSN"
    assert exc.value.hint == "each value exists, but not together; check the combination"


def test_all_items_invalid_is_a_feed_error_naming_the_first() -> None:
    feed = parse("fastly", {"addresses": ["23.235.32.0/33"], "ipv6_addresses": ["nope"]})
    with pytest.raises(FeedError) as exc:
        select(feed, "fastly")
    assert exc.value.message.startswith("no valid prefix in the feed (2 invalid)")
    assert exc.value.source == "fastly-feed (addresses[0])"


# --- the generic JSON parser and its selector --------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "steps"),
    [
        ("hooks", (Step("key", "hooks"),)),
        ("prefixes[].ip_prefix", (Step("key", "prefixes"), Step("each"), Step("key", "ip_prefix"))),
        ("*.ip_ranges", (Step("any"), Step("key", "ip_ranges"))),
        ("[]", (Step("each"),)),
        ("[].[]", (Step("each"), Step("each"))),
        ("continent : EMEA.*", (Step("key", "continent : EMEA"), Step("any"))),
    ],
)
def test_selector_grammar(selector: str, steps: tuple[Step, ...]) -> None:
    assert parse_selector(selector) == steps


@pytest.mark.parametrize("selector", ["", ".", "a..b", "a.", "a[0]", "a[]b", "a[][]", "[x]", "]"])
def test_malformed_selectors_are_usage_errors(selector: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse("json", {"a": ["1.2.3.0/24"]}, selector)
    assert "is not a step" in exc.value.message
    assert exc.value.hint and "NAME, NAME[], [] or *" in exc.value.hint


def test_json_needs_a_selector() -> None:
    err = refused("json", {"a": ["1.2.3.0/24"]}, None)
    assert "a JSON feed needs a selector" in err.message
    assert err.hint and "json:LOCATION#SELECTOR" in err.hint


def test_json_aws_like_selector_records_paths() -> None:
    doc = {"prefixes": [{"ip_prefix": "3.4.12.4/32"}, {"ip_prefix": "3.5.140.0/22"}]}
    feed = parse("json", doc, "prefixes[].ip_prefix")
    assert items(feed) == [
        ("3.4.12.4/32", "prefixes[0].ip_prefix", {}),
        ("3.5.140.0/22", "prefixes[1].ip_prefix", {}),
    ]
    assert feed.filters == () and feed.version is None


def test_json_arrays_of_strings_are_flattened() -> None:
    doc = {"values": [{"p": {"a": ["1.2.3.0/24", "1.2.4.0/24"]}}, {"p": {"a": []}}]}
    doc["values"].append({"p": {"a": ["2001:db8::/32"]}})
    feed = parse("json", doc, "values[].p.a")
    assert [(t, p) for t, p, _ in items(feed)] == [
        ("1.2.3.0/24", "values[0].p.a[0]"),
        ("1.2.4.0/24", "values[0].p.a[1]"),
        ("2001:db8::/32", "values[2].p.a[0]"),
    ]


def test_json_star_over_objects_and_arrays_with_quoted_keys() -> None:
    doc = {"zscaler.net": {"ip_ranges": ["1.2.3.0/24"]}, "cell two": {"ip_ranges": ["5.6.7.0/24"]}}
    feed = parse("json", doc, "*.ip_ranges")
    assert [(t, p) for t, p, _ in items(feed)] == [
        ("1.2.3.0/24", '["zscaler.net"].ip_ranges[0]'),
        ("5.6.7.0/24", '["cell two"].ip_ranges[0]'),
    ]
    feed = parse("json", [["1.2.3.0/24"], "5.6.7.0/24"], "*")
    assert [(t, p) for t, p, _ in items(feed)] == [("1.2.3.0/24", "[0][0]"), ("5.6.7.0/24", "[1]")]


def test_json_a_string_reached_directly_is_one_item() -> None:
    feed = parse("json", {"a": {"b": "192.0.2.0/24"}}, "a.b")
    assert items(feed) == [("192.0.2.0/24", "a.b", {})]


def test_json_a_top_level_array_of_strings() -> None:
    feed = parse("json", ["173.245.48.0/20", "2400:cb00::/32"], "[]")
    assert feed.paths == ["[0]", "[1]"]


def test_json_a_hostile_key_is_quoted_in_paths() -> None:
    feed = parse("json", {'a"\nb': ["1.2.3.0/24"]}, "*")
    assert feed.paths == ['["a\\"\\nb"][0]']


@pytest.mark.parametrize(
    ("doc", "selector", "problem"),
    [
        ({"prefixes": [{"ip": "x"}]}, "prefixes.ip", "prefixes is an array, expected an object"),
        ({"a": {"b": "x"}}, "a[]", "a is an object, expected an array (use * for every value"),
        ({"a": "1.2.3.0/24"}, "a.*", "a is a string, expected an object or an array"),
        ({"a": [{"b": "x"}, {"c": "y"}]}, "a[].b", "missing key 'a[1].b'"),
        ({"a": {"b": 5}}, "a.b", "a.b is a number, expected a string or an array of strings"),
        ({"a": [["1.2.3.0/24"]]}, "a", "a[0] is an array, expected a string"),
        ({"a": {"b": None}}, "a.b", "a.b is null"),
        ({"a": {"b": {"c": "x"}}}, "a", "a is an object, expected a string or an array"),
        ([{"x": "1.2.3.0/24"}], "x", "the top level is an array, expected an object"),
    ],
)
def test_json_selector_mismatches_name_the_path(doc: Any, selector: str, problem: str) -> None:
    assert problem in refused("json", doc, selector).message


def test_json_a_key_on_an_array_hints_at_brackets() -> None:
    err = refused("json", {"prefixes": [{"ip": "x"}]}, "prefixes.ip")
    assert err.hint == "add [] to the step before to go through the array's elements"


def test_json_a_selector_reaching_only_empty_arrays_is_an_error() -> None:
    err = refused("json", {"a": [{"b": []}, {"b": []}]}, "a[].b")
    assert "lists no prefix" in err.message


def test_json_selection_of_invalid_items_is_partial_with_paths() -> None:
    feed = parse("json", {"a": ["192.0.2.0/24", "192.0.2.300"]}, "a")
    rs = select(feed, "json")
    assert rs.completeness is Completeness.PARTIAL
    [bad] = [f for f in rs.findings if f.kind == "bad-entry"]
    assert str(bad.origin) == "json-feed (a[1])"


def test_host_bits_in_a_feed_are_a_warning_of_the_selection() -> None:
    feed = parse("okta", {"c": {"ip_ranges": ["198.51.100.2/24"]}})
    rs = select(feed, "okta")
    assert cidrs(rs) == ["198.51.100.0/24"]
    [warn] = [f for f in rs.findings if f.kind == "host-bits"]
    assert str(warn.origin) == "okta-feed (c.ip_ranges[0])"


MAIL_FLOW_SET = {
    "id": 10,
    "serviceArea": "Exchange",
    "urls": ["*.mail.protection.outlook.com"],
    "ips": ["40.92.0.0/15", "2a01:111:f400::/48"],
    "tcpPorts": "25",
    "category": "Allow",
    "required": True,
}


def test_m365_port_and_mail_flow_filters() -> None:
    # set 10 (Exchange Online on TCP 25) is where mail flows in: port=25 and use=mail-flow
    feed = parse("m365", [*M365, MAIL_FLOW_SET])
    mail = ["40.92.0.0/15", "2a01:111:f400::/48"]
    assert cidrs(select(feed, "m365", {"port": ("25",)})) == mail
    assert cidrs(select(feed, "m365", {"use": ("mail-flow",)})) == mail
    assert cidrs(select(feed, "m365", {"port": ("443",)})) == ["13.107.6.152/31", "2603:1006::/40"]
    with pytest.raises(FeedError) as info:
        select(feed, "m365", {"port": ("587",)})
    assert "valid values: 25, 443, 80" in (info.value.hint or "")


def test_m365_ports_that_are_not_a_string_are_refused() -> None:
    doc = [{**M365[0], "tcpPorts": [80, 443]}]
    err = refused("m365", doc)
    assert "tcpPorts" in str(err)
