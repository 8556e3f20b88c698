"""What every rule platform must do, whatever its syntax: hostile text from inputs (origins,
file names) never reaches an artifact except as cleaned comment text; every apply artifact has
its rollback; scripts parse with bash; the header comes first, in the artifact's syntax."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.model import Origin
from auditor.plugins import GENERATORS
from auditor.rules import RuleOptions, generator_for
from auditor.rules.artifacts import Provenance
from auditor.service import Service

from .helpers import block

PLATFORMS = sorted(GENERATORS.listed())

HOSTILE = [
    "$(touch /tmp/pwned)",
    "`id`",
    "'; rm -rf / #",
    '"; drop',
    "\nINJECTED line",
    "\r\nINJECTED crlf",
    "a\u2028INJECTED ls",
    "%s%n%x",
    "{{7*7}}",
    "<script>x</script>",
    "ü" * 300,
    "\x1b[31mred",
]
MARKERS = ("$(touch", "`id`", "\u2028", "\x1b", "<script>", "%n")


def _blocks(origin: str) -> list:
    o = Origin(origin, 3, None)
    return [
        block("192.0.2.0/24", o),
        block("198.51.100.7/32", o),
        block("2001:db8::/32", o),
    ]


def _options(name: str) -> RuleOptions:
    prov = Provenance("1.0", ((name, "ab" * 32),), "tcp/25")
    return RuleOptions(service=Service.parse("tcp/25"), provenance=prov)


def _arts(platform: str, origin: str) -> list:
    gen = generator_for(platform)
    blocks = [b for b in _blocks(origin) if b.family in gen.families]
    return gen.checked_artifacts(blocks, _options(origin))


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("origin", HOSTILE)
def test_hostile_origins_never_reach_the_output(platform: str, origin: str) -> None:
    gen = generator_for(platform)
    blocks = [b for b in _blocks(origin) if b.family in gen.families]
    text = gen.generate(blocks, _options(origin))
    for marker in MARKERS:
        assert marker not in text, (platform, marker)
    for line in text.splitlines():
        assert line.isprintable() or "\t" in line, (platform, line)
        # a newline in an input never starts a line of its own (it is a space in a comment)
        assert not line.lstrip().startswith("INJECTED"), (platform, line)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_apply_artifact_has_its_rollback(platform: str) -> None:
    arts = _arts(platform, "nodes.txt")
    applies = [(a.family) for a in arts if a.kind == "apply"]
    rollbacks = [(a.family) for a in arts if a.kind == "rollback"]
    assert applies, platform
    # a platform may give one change in two forms (a script and a file fragment), undone once
    assert set(applies) == set(rollbacks), platform
    for art in arts:  # how to apply it: a command with FILE, a script, or where to paste
        assert art.apply.strip(), (platform, art)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_header_comes_first_in_the_artifacts_syntax(platform: str) -> None:
    from auditor.rules.artifacts import full_text

    arts = _arts(platform, "nodes.txt")
    for art in arts:
        lines = full_text(art, platform, _options("nodes.txt").provenance, arts).splitlines()
        if art.script:
            assert lines[0].startswith("#!"), platform
            lines = lines[1:]
        assert lines[0] == art.syntax.line(
            lines[0][len(art.syntax.start) :].removesuffix(art.syntax.end)
        )
        assert "allowlist-auditor 1.0:" in lines[0], (platform, lines[0])
        assert any(line.startswith(art.syntax.start + "apply: ") for line in lines[:8])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_scripts_parse_with_bash(platform: str) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    for art in _arts(platform, "$(evil) `x` ;y"):
        if not art.script:
            continue
        checked = subprocess.run([bash, "-n"], input=art.body, text=True, capture_output=True)
        assert checked.returncode == 0, (platform, checked.stderr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(min_size=1, max_size=80))
def test_any_origin_text_is_cleaned_for_every_platform(name: str) -> None:
    for platform in PLATFORMS:
        gen = generator_for(platform)
        blocks = [b for b in _blocks(name) if b.family in gen.families]
        text = gen.generate(blocks, _options(name))
        assert all(ch.isprintable() or ch in "\n\t" for ch in text), platform


def test_formats_lists_every_platform_with_its_limits() -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    text = CliRunner().invoke(app, ["formats"]).output
    out = text.split("rule platforms (--rules):", 1)[1].splitlines()
    for platform in PLATFORMS:
        gen = generator_for(platform)
        [at] = [i for i, line in enumerate(out) if line.split()[:1] == [platform]]
        limits = out[at + 1].strip()
        assert limits.startswith("limits: "), (platform, limits)
        assert (("no --prune" not in limits) and "--prune" in limits) is gen.prunes
        for family in (4, 6):
            assert (f"IPv{family}" in limits) is (family in gen.families), platform
        if gen.max_name_len:
            assert f"names up to {gen.max_name_len} characters" in limits
