"""The source spec grammar: every string has exactly one reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import UsageError
from auditor.sources.catalog import load_catalog
from auditor.sources.spec import parse_spec

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("text", "kind", "location", "provider", "filters"),
    [
        ("-", "stdin", None, None, ()),
        ("aws", "provider", None, "aws", ()),
        (
            "aws:service=AMAZON_SES,region=eu-west-1",
            "provider",
            None,
            "aws",
            (("service", ("AMAZON_SES",)), ("region", ("eu-west-1",))),
        ),
        (
            "aws:region=eu-west-1|eu-central-1",
            "provider",
            None,
            "aws",
            (("region", ("eu-west-1", "eu-central-1")),),
        ),
        ("aws:region=a,region=b,region=a", "provider", None, "aws", (("region", ("a", "b")),)),
        (
            "azure:from=tags.json,tag=AzureCloud",
            "provider",
            "tags.json",
            "azure",
            (("tag", ("AzureCloud",)),),
        ),
        (
            "azure:from=https://mirror.example/t.json",
            "provider",
            "https://mirror.example/t.json",
            "azure",
            (),
        ),
        ("https://example.net/ranges.txt", "url", "https://example.net/ranges.txt", None, ()),
        ("HTTPS://example.net/a", "url", "HTTPS://example.net/a", None, ()),
        ("text:https://example.net/r", "text", "https://example.net/r", None, ()),
        ("text:local.txt", "text", "local.txt", None, ()),
        ("file:aws", "file", "aws", None, ()),
        ("./aws", "file", "./aws", None, ()),
        ("data/examples/nodes.txt", "file", "data/examples/nodes.txt", None, ()),
        ("nodes.txt", "file", "nodes.txt", None, ()),
        ("spf:b.spf.service-now.com", "spf", "b.spf.service-now.com", None, ()),
        ("aws:", "provider", None, "aws", ()),
        ("aws:FROM=x.json", "provider", "x.json", "aws", ()),
        ("file:///etc/hosts", "file", "/etc/hosts", None, ()),
    ],
)
def test_readings(
    text: str, kind: str, location: str | None, provider: str | None, filters: tuple[object, ...]
) -> None:
    spec = parse_spec(text, CATALOG)
    assert (spec.kind, spec.location, spec.provider, spec.filters) == (
        kind,
        location,
        provider,
        filters,
    )
    assert spec.text == text


def test_json_selector_splits_at_the_last_hash() -> None:
    spec = parse_spec("json:https://h.example/a#b.json#prefixes[].ip_prefix", CATALOG)
    assert spec.location == "https://h.example/a#b.json"
    assert spec.selector == "prefixes[].ip_prefix"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("http://example.net/ranges.txt", "only https"),
        ("json:feed.json", "needs a selector"),
        ("json:feed.json#", "needs a selector"),
        ("aws:service", "cannot read the filter"),
        ("aws:service=", "cannot read the filter"),
        ("aws:=EC2", "cannot read the filter"),
        ("aws:region=a||b", "empty alternative"),
        ("aws:from=x,from=y", "from= given twice"),
        ("aws:from=http://x/y", "only https"),
        ("file:", "a local path is expected"),
        ("file://host/x", "a local path is expected"),
        ("text:-", "plain '-' only"),
        ("json:-#a", "plain '-' only"),
        ("aws:from=-", "plain '-' only"),
        ("https://[::1/x", "invalid URL"),
        ("https:///x", "no host"),
        ("file+:x.cidr", "cannot read the format name"),
        ("file+Postfix_CIDR:x.cidr", "cannot read the format name"),
        ("file+postfix-cidr:", "a local path is expected after file+postfix-cidr:"),
        ("text:", "missing after the prefix"),
        ("spf:", "domain is missing"),
        ("awz", "neither a provider nor an existing file"),
    ],
)
def test_errors(text: str, words: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_spec(text, CATALOG)
    assert words in str(e.value)


def test_unknown_word_lists_providers() -> None:
    with pytest.raises(UsageError) as e:
        parse_spec("cloudfare", CATALOG)
    assert "cloudflare" in str(e.value) and "./NAME" in str(e.value)


def test_existing_file_with_a_plain_name_is_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "allowlist").write_text("192.0.2.0/24\n")
    assert parse_spec("allowlist", CATALOG).kind == "file"
    # a provider name that is also a file here is ambiguous: say so, never guess
    (tmp_path / "okta").write_text("192.0.2.0/24\n")
    with pytest.raises(UsageError, match="both a provider and a file"):
        parse_spec("okta", CATALOG)
    assert parse_spec("okta:", CATALOG).kind == "provider"
    assert parse_spec("./okta", CATALOG).kind == "file"


@pytest.mark.parametrize(
    ("text", "kind", "location", "fmt"),
    [
        ("file+postfix-cidr:client_access", "file", "client_access", "postfix-cidr"),
        ("file+POSTFIX-CIDR:client_access", "file", "client_access", "postfix-cidr"),
        ("file+text:/etc/x.cidr", "file", "/etc/x.cidr", "text"),
        ("file+iptables-save:///etc/rules.v4", "file", "/etc/rules.v4", "iptables-save"),
        ("file+nftables:-", "stdin", None, "nftables"),
        ("file:x.txt", "file", "x.txt", None),
        ("nodes.txt", "file", "nodes.txt", None),
    ],
)
def test_a_format_per_source(text: str, kind: str, location: str | None, fmt: str | None) -> None:
    spec = parse_spec(text, CATALOG)
    assert (spec.kind, spec.location, spec.fmt, spec.text) == (kind, location, fmt, text)


def test_reads_stdin() -> None:
    from auditor.sources.spec import reads_stdin

    assert reads_stdin("-") and reads_stdin("file+text:-")
    assert not reads_stdin("file+text:-x") and not reads_stdin("./-") and not reads_stdin("aws")


@pytest.mark.parametrize("text", ["AWS", "Aws:", "AWS:service=EC2,region=eu-west-1"])
def test_provider_names_are_case_insensitive(text: str) -> None:
    spec = parse_spec(text, CATALOG)
    assert (spec.kind, spec.provider, spec.text) == ("provider", "aws", text)
