"""`auditor fetch`, `auditor providers`, and `auditor diff` with fetched sources, in-process,
against a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from conftest import RunCli, WriteFile
from httpd import FeedServer, Reply

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
FETCH_SCHEMA = json.loads((ROOT / "data" / "fetch.schema.json").read_text())
REPORT_SCHEMA = json.loads((ROOT / "data" / "report.schema.json").read_text())


def aws_doc(token: int = 1) -> str:
    def item(prefix: str, service: str) -> dict[str, str]:
        return {"ip_prefix": prefix, "region": "eu-west-1", "service": service,
                "network_border_group": "eu-west-1"}  # fmt: skip

    return json.dumps(
        {
            "syncToken": str(token),
            "createDate": "2024-01-01-00-00-00",
            "prefixes": [item("192.0.2.0/25", "EC2"), item("198.51.100.0/24", "=cmd|x")],
            "ipv6_prefixes": [
                {
                    "ipv6_prefix": "2001:db8::/48",
                    "region": "eu-west-1",
                    "service": "EC2",
                    "network_border_group": "eu-west-1",
                }  # fmt: skip
            ],
        }
    )


@pytest.fixture
def served(https_server: FeedServer, write: WriteFile) -> list[str]:
    """Options that point the aws provider at the local server, trusted through --ca-bundle."""
    catalog = write(
        "catalog.yaml", f"providers:\n  aws:\n    url: {https_server.url('/ip-ranges.json')}\n"
    )
    return ["--catalog", str(catalog), "--ca-bundle", str(https_server.ca_bundle), "--timeout", "5"]


def test_providers_as_json_say_feeds_and_spf_records(run_cli: RunCli) -> None:
    code, out, _ = run_cli("providers", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["kind"] == "providers"
    by_name = {p["name"]: p for p in doc["providers"]}
    assert by_name["servicenow"]["source"] == "spf"
    assert by_name["servicenow"]["spf"] == [
        "b.spf.service-now.com",
        "c.spf.service-now.com",
        "d.spf.service-now.com",
    ]
    assert "parser" not in by_name["servicenow"]
    assert by_name["m365"]["source"] == "feed"
    assert {"port", "use"} <= set(by_name["m365"]["filters"])
    code, out, _ = run_cli("providers", "AWS", "-o", "json")
    assert [p["name"] for p in json.loads(out)["providers"]] == ["aws"]
    code, _, err = run_cli("providers", "-o", "csv")
    assert code == 2 and "unknown output" in err


def test_providers_lists_the_catalog(run_cli: RunCli) -> None:
    code, out, _ = run_cli("providers")
    assert code == 0
    for name in ("aws", "azure", "m365", "cloudflare", "stripe", "zscaler"):
        assert f"\n{name} " in "\n" + out
    assert "https://ip-ranges.amazonaws.com/ip-ranges.json" in out
    assert "filters: service, region, network_border_group" in out
    code, out, _ = run_cli("providers", "azure")
    assert code == 0 and "azure:from=" in out and "docs:" in out
    code, _, err = run_cli("providers", "azur")
    assert code == 2 and "unknown provider 'azur'" in err


def test_fetch_from_a_local_copy(run_cli: RunCli, write: WriteFile) -> None:
    feed = write("ip-ranges.json", aws_doc())
    code, out, err = run_cli("fetch", f"aws:from={feed},service=EC2")
    assert (code, out) == (0, "192.0.2.0/25\n2001:db8::/48\n"), err
    code, out, _ = run_cli("fetch", f"aws:from={feed}", "--family", "6")
    assert (code, out) == (0, "2001:db8::/48\n")


def test_fetch_json_and_csv_carry_origins_and_tags(run_cli: RunCli, write: WriteFile) -> None:
    feed = write("ip-ranges.json", aws_doc(7))
    code, out, _ = run_cli("fetch", f"aws:from={feed}", "--output", "json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, FETCH_SCHEMA)
    assert doc["complete"] is True and doc["sources"][0]["version"] == "syncToken 7"
    assert doc["cidrs"] == ["192.0.2.0/25", "198.51.100.0/24", "2001:db8::/48"]
    first = doc["entries"][0]
    assert first["path"] == "prefixes[0].ip_prefix" and first["tags"]["service"] == ["EC2"]
    code, out, _ = run_cli("fetch", f"aws:from={feed}", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["range"] for r in rows] == ["192.0.2.0/25", "198.51.100.0/24", "2001:db8::/48"]
    # a hostile service name from a feed stays data: quoted by csv, after its key
    assert rows[1]["tags"] == "network_border_group=eu-west-1; region=eu-west-1; service==cmd|x"


def test_fetch_errors(run_cli: RunCli, write: WriteFile) -> None:
    feed = write("ip-ranges.json", aws_doc())
    code, _, err = run_cli("fetch", f"aws:from={feed},service=SES")
    assert code == 2 and "valid values: =cmd|x, EC2" in err
    code, _, err = run_cli("fetch", f"aws:from={feed}", "--output", "xml")
    assert code == 2 and "unknown output" in err
    code, _, err = run_cli("fetch", "http://example.net/list.txt")
    assert code == 2 and "only https" in err
    code, _, err = run_cli("fetch", "--offline", "aws")
    assert code == 2 and "cache" in err


def test_fetch_over_https_then_stale(
    run_cli: RunCli, https_server: FeedServer, served: list[str]
) -> None:
    https_server.route(
        "/ip-ranges.json", [Reply(body=aws_doc().encode()), Reply(status=503, body=b"busy")]
    )
    code, out, err = run_cli("fetch", "aws:service=EC2", *served)
    assert (code, out) == (0, "192.0.2.0/25\n2001:db8::/48\n"), err
    code, out, err = run_cli("fetch", "aws:service=EC2", "--timeout", "1", *served)
    assert code == 2, err
    assert out == ""  # a stale list is not printed as a cidr list that looks current
    assert "stale" in err and "503" in err and "cached copy" in err
    code, out, err = run_cli("fetch", "aws:service=EC2", "--timeout", "1", "-o", "json", *served)
    assert code == 2 and '"complete": false' in out and "192.0.2.0/25" in out
    code, _, err = run_cli("fetch", "aws:service=EC2", "--allow-stale", "--timeout", "1", *served)
    assert code == 0 and "stale" in err
    code, out, err = run_cli("fetch", "--offline", "aws:service=EC2", *served)
    assert code == 0 and "from the cache" in err and out.startswith("192.0.2.0/25")


def test_untrusted_certificate_fails_with_a_hint(
    run_cli: RunCli, https_server: FeedServer, write: WriteFile
) -> None:
    https_server.route("/ip-ranges.json", Reply(body=aws_doc().encode()))
    catalog = write(
        "catalog.yaml", f"providers:\n  aws:\n    url: {https_server.url('/ip-ranges.json')}\n"
    )
    code, out, err = run_cli("fetch", "aws", "--catalog", str(catalog), "--timeout", "5")
    assert code == 2 and out == ""
    assert "--ca-bundle" in err


def test_diff_with_several_fetched_sources(
    run_cli: RunCli, https_server: FeedServer, served: list[str], write: WriteFile
) -> None:
    https_server.route("/ip-ranges.json", Reply(body=aws_doc(42).encode()))
    https_server.route("/relays.txt", Reply(body=b"# relays\n203.0.113.5\n"))
    write("allow.yaml", "- 192.0.2.0/24\n- 203.0.113.5\n")
    code, out, err = run_cli(
        "diff",
        "-e", "aws:service=EC2",
        "-e", https_server.url("/relays.txt"),
        "-d", "allow.yaml",
        "-o", "json",
        *served,
    )  # fmt: skip
    assert code == 1, err
    doc = json.loads(out)
    jsonschema.validate(doc, REPORT_SCHEMA)
    assert [m["cidr"] for m in doc["missing"]] == ["2001:db8::/48"]
    by_name = {i["name"]: i for i in doc["inputs"]}
    assert by_name["aws:service=EC2"]["version"] == "syncToken 42"
    assert by_name["aws:service=EC2"]["cache"] == "fresh"
    assert by_name[https_server.url("/relays.txt")]["format"] == "text"
    code, out, _ = run_cli("diff", "-e", "aws:service=EC2", "-d", "allow.yaml", *served)
    assert code == 1
    assert "version: syncToken 42" in out and f"url: {https_server.url('/ip-ranges.json')}" in out


def test_quiet_prints_nothing(run_cli: RunCli, write: WriteFile) -> None:
    feed = write("ip-ranges.json", aws_doc())
    code, out, _ = run_cli("fetch", "-q", f"aws:from={feed}")
    assert (code, out) == (0, "")


# One real published file per provider, read through the CLI (skipped without the corpus).
PROVIDER_FILES = {
    "aws": "aws_ip-ranges_2026-08.json",
    "gcp": "google_cloud_2026-08-21.json",
    "google": "google_goog_2026-08-21.json",
    "googlebot": "google_googlebot.json",
    "azure": "azure_ServiceTags_Public_2025-11-06.json",
    "m365": "microsoft365_endpoints_worldwide.json",
    "github": "github_meta.json",
    "cloudflare": "cloudflare_ips-v4.txt",
    "atlassian": "atlassian_ip-ranges.json",
    "fastly": "fastly_public-ip-list.json",
    "oracle": "oracle_public_ip_ranges_2026-07-27.json",
    "zscaler": "zscaler_zscaler.net_recommended.json",
    "okta": "okta_ip_ranges_2022-03-07.json",
    "datadog": "datadog_ip-ranges.json",
    "stripe": "stripe_ips_webhooks.json",
}


def test_every_builtin_provider_has_a_case() -> None:
    from auditor.sources.catalog import load_catalog

    cat = load_catalog()
    # SPF-backed providers have no feed file: tests/spf/test_spf_providers.py reads them
    assert {n for n in cat.names() if not cat.get(n).spf} == set(PROVIDER_FILES)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus (../shared/corpus) is absent")
@pytest.mark.parametrize("provider", sorted(PROVIDER_FILES))
def test_every_provider_through_the_cli(run_cli: RunCli, provider: str) -> None:
    path = CORPUS / PROVIDER_FILES[provider]
    code, out, err = run_cli("fetch", f"{provider}:from={path}", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, FETCH_SCHEMA)
    assert doc["cidrs"] and doc["sources"][0]["format"] == load_parser(provider)


def load_parser(provider: str) -> str:
    from auditor.sources.catalog import load_catalog

    return load_catalog().get(provider).parser


def test_output_file_is_kept_when_a_source_fails(run_cli: RunCli, write: WriteFile) -> None:
    good = write("good.txt", "192.0.2.0/24\n")
    target = write("allow.txt", "198.51.100.0/24\n")
    code, out, err = run_cli(
        "fetch", f"text:{good}", "stripe:from=/nonexistent.json", "--output-file", str(target)
    )
    assert code == 2 and "allow.txt keeps its previous content" in err
    assert target.read_text() == "198.51.100.0/24\n"
    assert out == ""  # a cidr list cannot say it is incomplete: nothing that looks complete
    code, _, _ = run_cli("fetch", f"text:{good}", "--output-file", str(target))
    assert code == 0 and target.read_text() == "192.0.2.0/24\n"


def test_a_family_with_nothing_is_an_error(run_cli: RunCli, write: WriteFile) -> None:
    good = write("v4.txt", "192.0.2.0/24\n")
    code, out, err = run_cli("fetch", f"text:{good}", "--family", "6")
    assert code == 2 and out == "" and "no IPv6 address" in err


def test_max_bytes_caps_downloads(
    run_cli: RunCli, https_server: FeedServer, served: list[str]
) -> None:
    https_server.route("/big.txt", Reply(body=b"192.0.2.0/24\n" * 2000))
    url = https_server.url("/big.txt")
    code, _, err = run_cli("fetch", url, "--max-bytes", "1000", *served[2:])
    assert code == 2 and "1000" in err
    code, out, _ = run_cli("fetch", url, *served[2:])
    assert code == 0 and out == "192.0.2.0/24\n"


def test_allow_stale_words_it_as_a_warning(
    run_cli: RunCli, https_server: FeedServer, served: list[str]
) -> None:
    https_server.route("/ip-ranges.json", [Reply(body=aws_doc().encode()), Reply(status=404)])
    assert run_cli("fetch", "aws", *served)[0] == 0
    code, out, err = run_cli("fetch", "aws", "--allow-stale", "-o", "json", *served)
    assert code == 0 and "warning: aws: source is stale" in err and "error:" not in err
    assert json.loads(out)["complete"] is True


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_timeout_must_be_finite_and_positive(run_cli: RunCli, value: str) -> None:
    code, _, err = run_cli("fetch", "aws", "--timeout", value)
    assert code == 2 and "--timeout" in err


def test_a_closed_pipe_is_not_an_internal_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    listing = tmp_path / "list.txt"
    listing.write_text("192.0.2.0/24\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "fetch", f"text:{listing}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written, as with `| head -0`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 2
    assert "internal error" not in err and "Traceback" not in err
