"""The configuration of ``auditor check``: keys, defaults, paths, and every error with its
file and line (``auditor check --validate``)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from auditor.check import config as cfg

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"
SCHEMA = json.loads((ROOT / "data" / "check.schema.json").read_text())


def _config(tmp_path: Path, text: str) -> Path:
    for name in ("nodes.txt", "allowlist.yaml"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    path = tmp_path / "audits.yaml"
    path.write_text(text)
    return path


GOOD = """\
defaults: {service: tcp/25, timeout: 30, cache_dir: cache}
audits:
  example:
    expected: [nodes.txt]
    declared: allowlist.yaml
    scope: [examplecloud]
    rules: [iptables]
    outputs: {json: reports/example.json, md: reports/example.md}
  second:
    expected: [file+text:nodes.txt, "text:nodes.txt"]
    declared: [allowlist.yaml]
    service: tcp/587
    family: 4
    max_age: 12h
"""


def test_a_valid_config_resolves_paths_next_to_it(tmp_path: Path, run_cli) -> None:
    path = _config(tmp_path / "etc", GOOD) if (tmp_path / "etc").mkdir() is None else None
    assert path is not None
    loaded = cfg.load(path)
    example = loaded.audit("example")
    assert example.get("expected") == [str(tmp_path / "etc" / "nodes.txt")]
    assert example.get("declared") == [str(tmp_path / "etc" / "allowlist.yaml")]
    assert example.get("cache_dir") == tmp_path / "etc" / "cache"
    assert example.get("service") == "tcp/25"
    assert dict(example.outputs) == {
        "json": tmp_path / "etc" / "reports" / "example.json",
        "md": tmp_path / "etc" / "reports" / "example.md",
    }
    second = loaded.audit("second")
    assert second.get("service") == "tcp/587"  # the audit's own value wins over defaults
    assert second.get("expected") == [
        f"file+text:{tmp_path / 'etc' / 'nodes.txt'}",
        f"text:{tmp_path / 'etc' / 'nodes.txt'}",
    ]
    # from another directory: the paths still resolve next to the file
    code, out, err = run_cli("check", "--validate", str(path))
    assert code == 0, err
    assert out == ""
    # the full JSON Schema validator agrees
    jsonschema.Draft202012Validator(SCHEMA).validate(yaml.safe_load(GOOD))


def test_every_diff_option_has_a_key() -> None:
    from auditor.cli import diff

    params = set(inspect.signature(diff.command).parameters)
    # the report and its file are outputs:; --quiet and --debug belong to the check's run, and
    # so do the monitoring outputs (check --prometheus writes every audit, named by its key)
    params -= {"ctx", "output", "output_file", "quiet", "debug", "prometheus", "audit_name"}
    keys = set(cfg.option_keys())
    assert {"fmt"} <= params
    assert params - {"fmt"} | {"format"} == keys - {"outputs"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            GOOD.replace("    rules: [iptables]\n", "    rule: [iptables]\n"),
            7,
            "unknown key 'rule'",
        ),
        (GOOD.replace("timeout: 30", "timout: 30"), 1, "did you mean timeout?"),
        (GOOD.replace("declared: allowlist.yaml", "declared: nope.yaml"), 5, "no such file"),
        (GOOD.replace("    family: 4\n", "    family: 5\n"), 13, "family: 5 is not allowed"),
        (GOOD.replace("    max_age: 12h\n", "    max_age: 12x\n"), 14, "invalid --max-age"),
        (GOOD.replace("service: tcp/587", "service: tcp/99999"), 12, "second.service"),
        (GOOD.replace("    max_age: 12h\n", "    service: smtp\n"), 14, "duplicate key 'service'"),
        (GOOD.replace("{json:", "{jsn:"), 8, "unknown report 'jsn'"),
        (GOOD.replace("declared: [allowlist.yaml]", "declared: [-]"), 11, "standard input"),
        (GOOD + "extra: 1\n", 15, "unknown key 'extra'"),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else None,
)
def test_bad_configs_exit_2_with_file_and_line(
    tmp_path: Path, run_cli, text: str, line: int, words: str
) -> None:
    path = _config(tmp_path, text)
    code, out, err = run_cli("check", "--validate", str(path))
    assert code == 2
    assert out == ""
    assert f"{path}:{line}: " in err, err
    assert words in err
    with pytest.raises(cfg.ConfigError if "duplicate" not in words else Exception):
        cfg.load(path)


def test_schema_errors_match_the_full_validator(tmp_path: Path) -> None:
    """Every document the schema refuses, the built-in checker refuses too (and the reverse),
    on a set of variations."""
    from auditor.check import schema as checker

    base = yaml.safe_load(GOOD)
    variations = [
        {},
        {"audits": {}},
        {"audits": {"bad name": {"expected": ["a"], "declared": ["b"]}}},
        {"audits": {"a": {"expected": [], "declared": ["b"]}}},
        {"audits": {"a": {"expected": [1], "declared": ["b"]}}},
        {"audits": {"a": {"expected": "x", "declared": "y", "timeout": True}}},
        {"audits": {"a": {"expected": "x", "declared": "y", "over_broad_v4": 33}}},
        {"audits": {"a": {"expected": "x", "declared": "y", "outputs": {"json": 3}}}},
        {"audits": {"a": {"expected": "x", "declared": "y", "max_shrink": 12.5}}},
        {"audits": {"a": {"expected": "x", "declared": "y", "host_bits": "keep"}}},
        base,
    ]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for doc in variations:
        assert bool(checker.check(SCHEMA, doc)) == (not validator.is_valid(doc)), doc


def test_an_audit_without_sources_is_refused_unless_defaults_give_them(tmp_path: Path) -> None:
    path = _config(tmp_path, "audits:\n  a:\n    declared: [allowlist.yaml]\n")
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load(path)
    assert "expected: is missing" in str(e.value) and e.value.line == 2
    path.write_text(
        "defaults: {expected: nodes.txt}\naudits:\n  a:\n    declared: allowlist.yaml\n"
    )
    assert cfg.load(path).audit("a").get("expected") == [str(tmp_path / "nodes.txt")]


def test_two_audits_writing_one_file_are_refused(tmp_path: Path) -> None:
    text = (
        "defaults: {expected: nodes.txt, declared: allowlist.yaml}\naudits:\n"
        "  a: {outputs: {json: r.json}}\n  b:\n    outputs: {json: r.json}\n"
    )
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load(_config(tmp_path, text))
    assert e.value.line == 5 and "also the output of a.json" in str(e.value)


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("allowlist.yaml", "an input of audit a (declared)"),
        ("nodes.txt", "an input of audit a (expected)"),
        ("audits.yaml", "the configuration file"),
    ],
)
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, output: str, said: str) -> None:
    # a report written over what the next run reads would replace the audit's own input
    text = (
        "defaults: {expected: nodes.txt, declared: allowlist.yaml}\naudits:\n"
        f"  a:\n    outputs: {{json: {output}}}\n"
    )
    with pytest.raises(cfg.ConfigError) as e:
        cfg.load(_config(tmp_path, text))
    assert f"audits.a.outputs.json: {tmp_path / output} is {said}" in str(e.value)
    assert e.value.line == 4
