"""Reports written as they are made: the same bytes as the reports made from the result's own
blocks (:attr:`AuditResult.missing_blocks`, every block made first), on small and big inputs,
and the same origins as the core's sweep."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor import audit, ipspace
from auditor.model import AuditResult, MissingBlock
from auditor.reports import ReportContext, blocks, csv_report, json_report, markdown, text, view

from .helpers import (
    RULES,
    SCHEMA,
    Case,
    compare,
    failed_declared_case,
    failed_expected_case,
    hostile_case,
    in_sync_case,
    load,
    partial_source_case,
    small_case,
    without_meta,
)

FORMATS = ("text", "json", "md", "csv")


def made_first(name: str, result: AuditResult, ctx: ReportContext) -> str:
    """The report from a view of the result's blocks, all made before the first line."""
    v = view.build(result, ctx)
    assert isinstance(v.missing, tuple)
    if name == "text":
        return text.render_plain(v)
    if name == "md":
        return markdown.render(v)
    if name == "json":
        return json_report.dumps(json_report.document(v))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(csv_report.HEADER)
    writer.writerows([csv_report.cell(c) for c in row] for row in csv_report.rows(v))
    return buf.getvalue()


def streamed(name: str, result: AuditResult, ctx: ReportContext) -> str:
    from auditor.reports import report_for

    pieces = list(report_for(name).stream(result, ctx))
    assert all(isinstance(p, str) for p in pieces)
    return "".join(pieces)


def as_rows(made: tuple[MissingBlock, ...] | None) -> list[blocks.Row]:
    return list(blocks.block_rows(made or ()))


def _v4(rng: random.Random, plens: tuple[int, ...]) -> str:
    return str(ipaddress.IPv4Network((rng.getrandbits(32), rng.choice(plens)), strict=False))


def _v6(rng: random.Random, plens: tuple[int, ...]) -> str:
    value = (0x2001 << 112) | (rng.getrandbits(20) << 92) | rng.getrandbits(92)
    return str(ipaddress.IPv6Network((value, rng.choice(plens)), strict=False))


def mixed_case(n: int, seed: int) -> AuditResult:
    """Three expected sources that share and nest entries (IPv4 and IPv6, some lines repeated
    across sources, wide entries over narrow ones, more than 20 origins on a few blocks), a
    declared YAML list with groups that cuts holes in them, and a scope over one group."""
    rng = random.Random(seed)
    shared = [_v4(rng, (32, 30, 28)) for _ in range(n // 20)]
    wide = [_v4(rng, (16, 20)) for _ in range(8)]
    inner = [
        str(ipaddress.IPv4Network(w).network_address + rng.getrandbits(8)) for w in wide
    ] * 25  # the same address on 25 lines: more origins than are listed
    sources = []
    for k in range(3):
        lines = [_v4(rng, (32, 32, 29, 26, 24)) for _ in range(n // 3)]
        lines += [_v6(rng, (128, 64, 56, 48)) for _ in range(n // 12)]
        lines += shared + (wide if k == 1 else inner if k == 2 else [])
        rng.shuffle(lines)
        sources.append(load(f"feed-{2 - k}.txt", "expected", "\n".join(lines) + "\n"))
    cuts = [f"  - {rng.choice(shared)}" for _ in range(n // 40)]
    cuts += [f"  - {_v4(rng, (24, 28))}" for _ in range(n // 40)]
    scoped = [f"  - {w.rsplit('.', 2)[0]}.{rng.randrange(256)}.0/24" for w in wide]
    scoped += [f"  - {_v6(rng, (48,))}" for _ in range(5)]
    allow = "mail:\n" + "\n".join(scoped) + "\nother:\n" + "\n".join(cuts) + "\n"
    return compare(sources, [load("allow.yaml", "declared", allow, "yaml")], scope=("mail",))


def failed_big_case() -> AuditResult:
    from .helpers import failed

    result = mixed_case(400, 9)
    return audit.compare(result.expected, [*result.declared, failed("gone.txt", "declared")])


CASES: list[Case] = [
    small_case,
    hostile_case,
    in_sync_case,
    partial_source_case,
    failed_declared_case,
    failed_expected_case,
    failed_big_case,
    lambda: mixed_case(300, 1),
    lambda: mixed_case(3000, 2),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", FORMATS)
def test_streamed_equals_made_first(name: str, case: Case) -> None:
    result = case()
    ctx = ReportContext(rules=RULES)
    assert streamed(name, result, ctx) == made_first(name, result, ctx)


@pytest.mark.parametrize("case", CASES)
def test_block_rows_are_the_core_blocks(case: Case) -> None:
    """The sweep of BlockList finds what audit.blocks_with_origins finds, block for block."""
    result = case()
    assert list(blocks.missing(result).rows()) == as_rows(result.missing_blocks)
    lazy = blocks.extra_in_scope(result)
    assert (lazy is None) == (result.extra_blocks is None)
    assert list(lazy.rows() if lazy else ()) == as_rows(result.extra_blocks)
    assert tuple(blocks.missing(result)) == result.missing_blocks


@pytest.fixture(scope="module")
def big() -> AuditResult:
    """Over the vector threshold in both families: the array sweep and the list sweep."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ipspace, "VECTOR_ALWAYS", 0)  # numpy whether or not it is loaded yet
        result = mixed_case(90_000, 3)
    assert ipspace.is_vector(result.missing.family(4).starts)
    assert result.missing.count_cidrs(6) > 5000
    return result


def test_big_block_rows_are_the_core_blocks(big: AuditResult) -> None:
    lazy = list(blocks.missing(big).rows())
    assert lazy == as_rows(big.missing_blocks)
    assert any(len(origins) > 3 for *_, origins in lazy)  # "(+N more)" is exercised
    assert any(len(origins) == audit.MAX_ORIGINS for *_, origins in lazy)
    extra = blocks.extra_in_scope(big)
    assert extra is not None and list(extra.rows()) == as_rows(big.extra_blocks)


@pytest.mark.parametrize("name", FORMATS)
def test_big_streamed_equals_made_first(name: str, big: AuditResult) -> None:
    ctx = ReportContext()
    assert streamed(name, big, ctx) == made_first(name, big, ctx)


def test_nested_entries_take_the_heap_sweep() -> None:
    """Thousands of entries inside one wide entry, with holes cut between them: checking every
    candidate a block would be quadratic, so the heap sweep runs, with the same origins."""
    rng = random.Random(5)
    inner = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}/32"]
    inner += [f"10.{a}.{b}.0/25" for a in range(0, 256, 2) for b in range(0, 256, 4)]
    exp = load("feed.txt", "expected", "10.0.0.0/8\n" + "\n".join(inner) + "\n")
    holes = [f"10.{a}.{b}.128/26" for a in range(0, 256, 2) for b in range(0, 256, 4)]
    result = compare([exp], [load("allow.txt", "declared", "\n".join(holes) + "\n")])
    assert ipspace.is_vector(result.missing.family(4).starts)
    assert list(blocks.missing(result).rows()) == as_rows(result.missing_blocks)


def test_json_validates_and_lists_every_block(big: AuditResult) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(
        json.loads(streamed("json", mixed_case(3000, 4), ReportContext(rules=RULES)))
    )
    doc = json.loads(streamed("json", big, ReportContext()))
    assert [b["cidr"] for b in doc["missing"]] == list(big.missing.cidrs_text())
    assert [b["cidr"] for b in doc["extra"]] == list(big.extra.cidrs_text())  # type: ignore[union-attr]


def _files(tmp: Path, n: int) -> tuple[Path, Path]:
    """``n`` disjoint expected /30s in two sources, half of IPv6 /126s, the declared side a
    few of them: about ``n`` missing CIDRs."""
    rng = random.Random(n)
    nets = rng.sample(range(1 << 20), n)
    lines = [
        f"{ipaddress.IPv4Address((k << 2) + (11 << 24))}/30"
        if k % 2
        else f"2001:db8::{k >> 16:x}:{k & 0xFFFF:x}:0/126"
        for k in nets
    ]
    (tmp / "a.txt").write_text("\n".join(lines[: n // 2]) + "\n")
    (tmp / "b.txt").write_text("\n".join(lines[n // 2 :]) + "\n")
    (tmp / "allow.txt").write_text("\n".join(lines[::97]) + "\n")
    return tmp / "a.txt", tmp / "b.txt"


def test_cli_writes_big_reports_as_before(tmp_path: Path) -> None:
    """200k missing CIDRs through the CLI, to --output-file (and to stdout for one format):
    the same bytes as each report made from the result's own blocks."""
    from auditor.allowlists import ReadContext
    from auditor.sources import files

    a, b = _files(tmp_path, 200_000)
    allow = tmp_path / "allow.txt"
    epoch = "1700000000"
    env = {"SOURCE_DATE_EPOCH": epoch, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    cmd = [sys.executable, "-m", "auditor", "diff", "-e", str(a), "-e", str(b), "-d", str(allow)]
    with pytest.MonkeyPatch.context() as m:
        m.setenv("SOURCE_DATE_EPOCH", epoch)
        sets = [files.load(str(p), ReadContext(str(p), role)) for p, role in
                ((a, "expected"), (b, "expected"), (allow, "declared"))]  # fmt: skip
    result = audit.compare(sets[:2], sets[2:])
    assert result.missing.count_cidrs() > 190_000
    for name in FORMATS:
        out = tmp_path / f"report.{name}"
        out.write_text("previous\n")
        run = subprocess.run(
            [*cmd, "-o", name, "--output-file", str(out)], capture_output=True, env=env
        )
        assert run.returncode == 1, run.stderr
        got = without_meta(out.read_bytes().decode("utf-8")).split("\n")  # CSV's CRLF kept
        want = without_meta(made_first(name, result, ReportContext())).split("\n")
        # line by line: a failure shows the first line that differs, not a diff of megabytes
        assert len(got) == len(want)
        assert next(((g, w) for g, w in zip(got, want, strict=True) if g != w), None) is None
    assert not list(tmp_path.glob(".report.*"))  # no temporary file left behind
    run = subprocess.run([*cmd, "-o", "json"], capture_output=True, env=env)
    assert run.returncode == 1, run.stderr
    assert without_meta(run.stdout.decode()) == without_meta((tmp_path / "report.json").read_text())


def names_case() -> AuditResult:
    """Source names that a report words around a line number in unusual ways: a backtick or a
    space at either end (Markdown pads the span), a formula start, a comma and a quote (CSV
    quotes the cell), a trailing digit, a name past the slot width, non-ASCII characters."""
    names = ("`tick", " lead", "trail ", "=sum", 'co,ma"q', "feed7", "x" * 700, "名前.txt")
    expected = [
        load(name, "expected", f"192.0.2.{i}\n2001:db8::{i:x}\n198.51.{i}.0/24\n")
        for i, name in enumerate(names, 1)
    ]
    return compare(expected, [load("allow.txt", "declared", "198.51.3.0/25\n")])


@pytest.mark.parametrize("case", [*CASES, names_case])
@pytest.mark.parametrize("name", FORMATS)
def test_bulk_lines_equal_made_first(name: str, case: Case) -> None:
    """Every case worded by the bulk path (numpy slots), whatever its size."""
    import numpy  # noqa: F401 - the bulk path is taken only with numpy loaded

    result = case()
    ctx = ReportContext(rules=RULES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blocks, "BULK_MIN", -1)
        lazy = blocks.missing(result)
        assert lazy.bulk is not None
        assert streamed(name, result, ctx) == made_first(name, result, ctx)


def v6_case(n: int, seed: int) -> AuditResult:
    """Mostly IPv6: three text sources and a YAML one (origins with paths) that share lines,
    wide entries over narrow ones, one address on 25 lines of a source; declared cuts and a
    scope with IPv6 in it."""
    rng = random.Random(seed)
    shared = [_v6(rng, (128, 120, 64)) for _ in range(n // 10)]
    wide = [_v6(rng, (32, 40)) for _ in range(6)]
    inner = [str(ipaddress.IPv6Network(w).network_address + rng.getrandbits(40)) for w in wide] * 25
    sources = []
    nets = []
    for k in range(3):
        lines = [_v6(rng, (128, 126, 64, 56, 48)) for _ in range(n if k == 0 else n // 3)]
        nets += [x for x in lines if not x.endswith(("/128", "/126"))]
        lines += [_v4(rng, (32, 24)) for _ in range(n // 50)]
        lines += shared + (wide if k == 1 else inner if k == 2 else [])
        rng.shuffle(lines)
        sources.append(load(f"v6-{k}.txt", "expected", "\n".join(lines) + "\n"))
    groups = {f"g{g}": [_v6(rng, (64, 128)) for _ in range(n // 40)] for g in range(3)}
    groups["g1"] += shared[:50]
    yaml = "".join(f"{g}:\n" + "".join(f"  - {x}\n" for x in xs) for g, xs in groups.items())
    sources.append(load("groups.yaml", "expected", yaml, "yaml"))
    cuts = [f"  - {rng.choice(shared)}" for _ in range(n // 40)]
    cuts += [f"  - {_v6(rng, (60, 124))}" for _ in range(n // 40)]
    for net in rng.sample(nets, n // 40):  # a piece of an expected network: held in part
        cuts.append(f"  - {ipaddress.IPv6Network(net).network_address + rng.getrandbits(8)}/124")
    cuts += [f"  - {ipaddress.IPv6Network(w).network_address + (1 << 80)}/48" for w in wide]
    scoped = [f"  - {_v6(rng, (48,))}" for _ in range(20)] + [f"  - {groups['g2'][0]}"]
    allow = "mail:\n" + "\n".join(scoped) + "\nother:\n" + "\n".join(cuts) + "\n"
    return compare(sources, [load("allow.yaml", "declared", allow, "yaml")], scope=("mail",))


@pytest.fixture(scope="module")
def big_v6() -> AuditResult:
    """Above the bulk threshold in IPv6 with numpy loaded: the IPv6 rows are worded in bulk."""
    import numpy  # noqa: F401 - loaded, as it is in a big run

    result = v6_case(30_000, 7)
    assert result.missing.count_cidrs(6) > blocks.BULK_MIN
    return result


def test_big_v6_block_rows_and_reports(big_v6: AuditResult) -> None:
    lazy = blocks.missing(big_v6)
    assert lazy.bulk is not None
    rows = as_rows(big_v6.missing_blocks)
    assert list(lazy.rows()) == rows
    assert any(len(origins) == audit.MAX_ORIGINS for *_, origins in rows)
    assert any(path for *_, origins in rows for _, _, path in origins)  # YAML paths
    assert sum(fam == 6 for _, fam, *_ in rows) > 0.9 * len(rows)
    for name in FORMATS:
        ctx = ReportContext(rules=RULES)
        assert streamed(name, big_v6, ctx) == made_first(name, big_v6, ctx), name


def test_big_v6_partial_and_sizes(big_v6: AuditResult) -> None:
    """IPv6 partial coverage found in bulk is what counting every entry finds; IPv6 sizes
    summed in bulk are the sums of the intervals' sizes."""
    columns = [rs.entries.family(6) for rs in big_v6.expected]
    assert any(ipspace.is_vector(c.first) or ipspace.vectorise(len(c)) for c in columns)
    declared = ipspace.Intervals(*ipspace.as_lists(big_v6.declared_space.family(6)))
    want: dict[tuple[int, int], int] = {}
    for rs in big_v6.expected:
        col = rs.entries.family(6)
        for a, b in zip(ipspace.as_list(col.first), ipspace.as_list(col.last), strict=True):
            n = ipspace.covered(declared, a, b)
            if 0 < n < b - a + 1:
                want.setdefault((a, b), n)
    got = {(c.entry.first, c.entry.last): c.covered for c in big_v6.partial if c.entry.family == 6}
    assert len(want) > 200 and got == want
    for space in (big_v6.expected_space, big_v6.missing, big_v6.declared_space):
        starts, ends = ipspace.as_lists(space.family(6))
        assert space.size(6) == sum(e - s + 1 for s, e in zip(starts, ends, strict=True))


@pytest.mark.parametrize("case", ["big", "big_v6"])
def test_terminal_form_shows_the_same_rows(case: str, request: pytest.FixtureRequest) -> None:
    """The rich form makes only the rows it shows, from blocks read as they come: the same
    text as from the result's own blocks, the count of the rows not shown included."""
    result: AuditResult = request.getfixturevalue(case)
    ctx = ReportContext(color=True, width=120)
    want = text.render_rich(view.build(result, ctx), 120)
    assert f"... {result.missing.count_cidrs() - text.MAX_TERMINAL_ROWS} more" in want
    assert streamed("text", result, ctx) == want
