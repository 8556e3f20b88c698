"""The HTML report: a valid document that stands alone, escapes what inputs control, draws its
bars to scale, says how it was made, and is delivered like every other report."""

from __future__ import annotations

import json
import os
import re
import socket
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import html5lib
import netaddr
import pytest
from httpd import Reply
from typer.testing import CliRunner

from auditor import __version__
from auditor.cli import app
from auditor.reports import ReportContext, report_for
from auditor.reports.base import Drift, DriftChange
from auditor.reports.view import clean

from .helpers import (
    ALLOW,
    HOSTILE_NAMES,
    META,
    MORE_NODES,
    NODES,
    RULES,
    Case,
    compare,
    failed_declared_case,
    failed_expected_case,
    hostile_case,
    in_sync_case,
    load,
    partial_source_case,
    small_case,
)

CASES = [
    small_case,
    hostile_case,
    in_sync_case,
    partial_source_case,
    failed_declared_case,
    failed_expected_case,
]

MORE_HOSTILE = (
    "</style><script>alert(1)</script>",
    "\"quoted\" & 'single' <b>bold</b>",
    "aws:service=EC2<img src=x onerror=alert(1)>",
    "Zürich-東京-😀.txt",
    "line\r\nbreak</title>.txt",
)
HOSTILE_RULES = (
    (
        "iptables</h3><script>",
        "# from </style><script>alert('x')</script> \"q\" é\n"
        '-A INPUT -s 192.0.2.0/26 -m comment --comment "<b>Zürich</b>" -j ACCEPT\n'
        "\tindented\n",
    ),
)


def html(result: object, **ctx: object) -> str:
    return report_for("html").render(result, ReportContext(**ctx))  # type: ignore[arg-type]


def parse(text: str) -> ET.Element:
    """The document as html5lib reads it in strict mode: any parse error fails."""
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)
    assert isinstance(tree, ET.Element)
    return tree


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def section(root: ET.Element, key: str) -> ET.Element | None:
    return next((e for e in root.iter("section") if e.get("id") == key), None)


def text_of(e: ET.Element) -> str:
    return "".join(e.itertext())


def very_hostile_case() -> object:
    """Every hostile name as an expected source, a declared source with one, and a scope."""
    expected = [
        load(name, "expected", f"192.0.2.{i}\n-all\n", lenient=True)
        for i, name in enumerate(HOSTILE_NAMES + MORE_HOSTILE, 1)
    ]
    declared = [load(MORE_HOSTILE[0] + ".yaml", "declared", "mail:\n  - 192.0.2.0/30\n", "yaml")]
    return compare(expected, declared, scope=("mail",))


DRIFT = Drift(
    since="2024-04-30T12:00:00Z",
    changes=(
        DriftChange("newly missing", "192.0.2.0/26", "nodes.txt:2", "2024-05-01"),
        DriftChange("resolved", "198.51.100.7/32", MORE_HOSTILE[0], "2024-04-01"),
    ),
)


@pytest.mark.parametrize("case", CASES)
def test_the_document_parses_strictly(case: Case) -> None:
    for ctx in ({}, {"rules": RULES, "meta": META, "drift": DRIFT}):
        root = parse(html(case(), **ctx))
        assert root.find("head/title") is not None
        assert root.find("head/meta").get("charset") == "utf-8"  # type: ignore[union-attr]


FORBIDDEN = {"script", "link", "img", "iframe", "object", "embed", "base", "image", "use", "source"}
LINKS = ("src", "href", "action", "formaction", "poster", "srcset", "data", "background")


@pytest.mark.parametrize("case", [*CASES, very_hostile_case])
def test_nothing_refers_outside_the_file(case: Case) -> None:
    text = html(case(), rules=HOSTILE_RULES, meta=META, drift=DRIFT)
    root = parse(text)
    styles = []
    for e in root.iter():
        assert local(e.tag) not in FORBIDDEN
        for name, value in e.attrib.items():
            name = local(name)
            assert not name.startswith("on"), (name, value)
            if name in LINKS:
                assert name == "href" and value.startswith("#"), (name, value)
            assert not re.match(r"\s*(?:[a-z][a-z0-9+.-]*:)?//", value, re.I), (name, value)
            if name == "style":
                styles.append(value)
        if local(e.tag) == "style":
            styles.append(text_of(e))
    assert styles  # the sheet, and the inline bars of partial coverage
    for css in styles:
        assert "@import" not in css
        assert all(m.startswith("url(data:") for m in re.findall(r"url\(\s*\S{0,5}", css))


def test_hostile_names_are_text() -> None:
    """Names, origins, messages, rules and drift items come out as the text they are: no
    element, attribute or style of theirs, nothing on a line of its own."""
    text = html(very_hostile_case(), rules=HOSTILE_RULES, meta=META, drift=DRIFT)
    root = parse(text)
    tags = {local(e.tag) for e in root.iter()}
    assert "script" not in tags and "img" not in tags and "b" not in tags
    (style,) = root.iter("style")
    assert "script" not in text_of(style) and "Zürich" not in text_of(style)
    assert text_of(root.find("head/title")) == "Allowlist audit: drift"  # type: ignore[arg-type]
    body = text_of(root.find("body"))  # type: ignore[arg-type]
    for name in HOSTILE_NAMES + MORE_HOSTILE:
        assert clean(name) in body, name
        if clean(name) != name:  # a line break, an escape sequence, a bidi override
            assert name not in body
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    (pre,) = root.iter("pre")
    assert text_of(pre) == HOSTILE_RULES[0][1].rstrip("\n")  # lines and tabs kept, as text
    rules = section(root, "rules")
    assert rules is not None
    assert "Rules: iptables</h3><script>" in text_of(rules)
    drift = section(root, "drift")
    assert drift is not None and MORE_HOSTILE[0] in text_of(drift)


def _partial_rows(root: ET.Element) -> list[tuple[str, str, str]]:
    """(entry, bar width, percent shown) of each row of the partial coverage table."""
    partial = section(root, "partial")
    assert partial is not None
    rows = []
    for tr in partial.iter("tr"):
        cells = tr.findall("td")
        if not cells:
            continue
        _, fill = cells[1].iter("div")  # the bar, then its filled part
        style = fill.get("style") or ""
        width = re.fullmatch(r"width: ([0-9]+\.[0-9]{2})%", style)
        assert width is not None, style
        rows.append((text_of(cells[0]), width.group(1), text_of(cells[4])))
    return rows


def _addresses(text: str) -> netaddr.IPSet:
    """An entry as netaddr reads it: a CIDR (host bits cleared), a range or an address."""
    if "-" in text:
        first, last = text.split("-")
        return netaddr.IPSet(netaddr.IPRange(first, last))
    return netaddr.IPSet([netaddr.IPNetwork(text).cidr])


def _allowed() -> netaddr.IPSet:
    return netaddr.IPSet(
        netaddr.IPNetwork(line.strip("- ")).cidr for line in ALLOW.splitlines() if "- " in line
    )


def test_partial_bars_are_as_wide_as_the_coverage() -> None:
    root = parse(html(small_case()))
    rows = _partial_rows(root)
    assert len(rows) >= 2
    allowed = _allowed()
    for entry, width, shown in rows:
        addresses = _addresses(entry)
        share = Fraction((addresses & allowed).size * 100, addresses.size)
        assert 0 < share < 100, entry
        # rounded down to hundredths: never 100.00 for a partial entry
        assert Fraction(width) <= share < Fraction(width) + Fraction(1, 100), (entry, width)
        assert shown == f"{width}%" or (shown == "<0.01%" and width == "0.00")


def test_the_chart_draws_each_sources_share_to_scale() -> None:
    root = parse(html(small_case()))
    chart = section(root, "coverage")
    assert chart is not None
    allowed = _allowed()
    sources = {"nodes.txt": NODES, "more-nodes.txt": MORE_NODES}
    drawn = 0
    for g in chart.iter("{http://www.w3.org/2000/svg}g"):
        label = text_of(g.find("{http://www.w3.org/2000/svg}text"))  # type: ignore[arg-type]
        name, fam = re.fullmatch(r"(.*) \((IPv[46])\)", label).groups()  # type: ignore[union-attr]
        whole, part = g.findall("{http://www.w3.org/2000/svg}rect")
        entries = [e for e in sources[name].splitlines() if e and not e.startswith("#")]
        space = netaddr.IPSet()
        for e in entries:
            space |= _addresses(e)
        space = netaddr.IPSet(c for c in space.iter_cidrs() if f"IPv{c.version}" == fam)
        share = Fraction((space & allowed).size, space.size)
        assert int(part.get("width")) == int(share * int(whole.get("width")))  # type: ignore[arg-type]
        drawn += 1
    assert drawn == 3  # nodes.txt IPv4 and IPv6, more-nodes.txt IPv4


def test_the_drift_section_is_there_only_with_drift() -> None:
    assert section(parse(html(small_case())), "drift") is None
    root = parse(html(small_case(), drift=DRIFT))
    drift = section(root, "drift")
    assert drift is not None
    rows = [[text_of(td) for td in tr.findall("td")] for tr in drift.iter("tr")][1:]
    assert rows == [
        ["newly missing", "192.0.2.0/26", "nodes.txt:2", "2024-05-01"],
        ["resolved", "198.51.100.7/32", MORE_HOSTILE[0], "2024-04-01"],
    ]
    first = section(parse(html(small_case(), drift=Drift(since=""))), "drift")
    assert first is not None and "first run" in text_of(first)
    quiet = section(parse(html(small_case(), drift=Drift(since="2024-04-30T12:00:00Z"))), "drift")
    assert quiet is not None and "No change." in text_of(quiet)


def test_rules_and_run_are_shown_only_when_given() -> None:
    root = parse(html(small_case()))
    assert section(root, "rules") is None and section(root, "run") is None
    root = parse(html(small_case(), rules=RULES, meta=META))
    rules = section(root, "rules")
    assert rules is not None and text_of(rules.find("pre")) == RULES[0][1].rstrip("\n")  # type: ignore[arg-type]
    run = section(root, "run")
    assert run is not None
    assert "auditor diff -e nodes.txt -d allow.yaml --scope mail" in text_of(run)


# --- through the command line ---------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "nodes.txt").write_text(NODES, encoding="utf-8")
    (tmp_path / "allow.yaml").write_text(ALLOW, encoding="utf-8")
    return tmp_path


def diff(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["diff", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


SECRETS = ("s3cret", "t0ken", "pr1vate")


def test_metadata_names_the_run_with_its_secrets_elided(files: Path, https_server: object) -> None:
    """A feed fetched with a password and a token in its URL: every report's metadata names
    the run (version, command line, host, start, duration) without them."""
    https_server.route("/feed.txt", Reply(body=b"192.0.2.0/25\n"))  # type: ignore[attr-defined]
    url = https_server.url("/feed.txt")  # type: ignore[attr-defined]
    secret_url = url.replace("https://", "https://ops:s3cret@") + "?region=eu&access_token=t0ken"
    args = [
        "-e",
        "nodes.txt",
        "-e",
        f"text:{secret_url}",
        "-d",
        "allow.yaml",
        "--ca-bundle",
        str(https_server.ca_bundle),  # type: ignore[attr-defined]
    ]
    shown = f"text:{url.replace('https://', 'https://***@')}?region=eu&access_token=***"
    code, out, err = diff(*args, "-o", "json")
    assert code == 1, err
    meta = json.loads(out)["meta"]
    assert meta["command"] == ["auditor", "diff", *args[:3], shown, *args[4:], "-o", "json"]
    assert meta["version"] == __version__ and meta["tool"] == "allowlist-auditor"
    assert meta["host"] == socket.gethostname()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["started_at"])
    assert 0 <= meta["duration_s"] < 60
    assert not any(s in json.dumps(meta) for s in SECRETS)

    code, out, _ = diff(*args, "-o", "md")
    run_md = out[out.index("\n## Run\n") :]
    assert shown in run_md and not any(s in run_md for s in SECRETS)
    assert f"**Host:** `{socket.gethostname()}`" in run_md

    code, out, _ = diff(*args, "-o", "html")
    assert code == 1
    root = parse(out)
    run = section(root, "run")
    assert run is not None
    said = text_of(run)
    assert shown in said and not any(s in said for s in SECRETS)
    assert __version__ in said and socket.gethostname() in said
    inputs = section(root, "inputs")  # the fetched feed: where from and when
    assert inputs is not None and "retrieved" in text_of(inputs).lower()


def test_the_output_file_is_replaced_atomically_and_kept_by_a_failed_run(files: Path) -> None:
    target = files / "CHG0031337.html"
    target.write_text("previous\n")
    os.link(target, files / "reader-holds-this")  # a reader's open copy of the old file
    code, _, err = diff(
        "-e", "nodes.txt", "-d", "allow.yaml", "-o", "html", "--output-file", str(target)
    )
    assert code == 1, err
    written = target.read_bytes()
    parse(written.decode("utf-8"))
    assert written.endswith(b"</html>\n")
    # renamed over, not written in place: the old file's readers keep what they had
    assert (files / "reader-holds-this").read_text() == "previous\n"
    assert sorted(p.name for p in files.iterdir()) == [
        "CHG0031337.html",
        "allow.yaml",
        "nodes.txt",
        "reader-holds-this",
    ]
    code, out, err = diff(
        "-e", "nodes.txt", "-e", "gone.txt", "-d", "allow.yaml", "-o", "html",
        "--output-file", str(target),
    )  # fmt: skip
    assert code == 2
    assert target.read_bytes() == written
    assert "keeps its previous content" in err
    assert "Allowlist audit: incomplete" in out  # said on stdout instead, as every report
    assert sorted(p.name for p in files.iterdir())[0] == "CHG0031337.html"
    assert len(list(files.iterdir())) == 4


def test_same_run_same_bytes_but_the_metadata(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the same reading time
    args = ["-e", "nodes.txt", "-d", "allow.yaml", "--scope", "mail", "-r", "iptables"]
    args += ["-r", "nginx"]  # its text holds the apply and the rollback
    first = diff(*args, "-o", "html")[1]
    second = diff(*args, "-o", "html")[1]
    cut = re.compile(r'<section id="run">.*?</section>', re.S)
    assert cut.sub("", first) == cut.sub("", second)
    assert cut.search(first) and "2023-11-14T22:13:20Z" in cut.search(first).group()  # type: ignore[union-attr]
    root = parse(first)
    rules = section(root, "rules")
    assert rules is not None and "-I INPUT -s 192.0.2.0/26" in text_of(rules)
    headings = [text_of(h) for h in rules.iter("h3")]
    assert headings == ["Rules: iptables", "Rules: nginx"]
    nginx = text_of(list(rules.iter("pre"))[1])
    assert "allow 192.0.2.0/26;" in nginx and "rollback: nginx-all-rollback.sh" in nginx
