"""The Prometheus textfile, read back with the Prometheus client library's own parser."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from auditor.model import AuditRun
from auditor.reports import prometheus

from .monitoring import (
    ALLOW_SCOPED,
    ALLOW_SOME,
    NODES,
    NOW,
    PARTIAL_FW,
    STARTED,
    compare,
    failed,
    run_of,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, dict[str, tuple[str, str]]]:
    """Every sample by (name, labels), and (type, help) by family, as Prometheus reads them."""
    samples: Samples = {}
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = (family.type, family.documentation)
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples, families


def of(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, audit: str) -> dict[str, float]:
    """The samples of one audit, by name (and the labels besides ``audit``)."""
    out = {}
    for (name, labels), value in samples.items():
        given = dict(labels)
        if given.pop("audit", None) != audit:
            continue
        rest = ",".join(f"{k}={v}" for k, v in sorted(given.items()))
        out[f"{name}{{{rest}}}" if rest else name] = value
    return out


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "nodes.txt").write_text(NODES, encoding="utf-8")
    (tmp_path / "nodes4.txt").write_text("192.0.2.0/24\n198.51.100.0/24\n", encoding="utf-8")
    (tmp_path / "allow.txt").write_text(ALLOW_SOME, encoding="utf-8")
    (tmp_path / "allow.yaml").write_text(ALLOW_SCOPED, encoding="utf-8")
    (tmp_path / "fw.rules").write_text(PARTIAL_FW, encoding="utf-8")
    return tmp_path


def test_missing_extra_partial_and_failed_audits(
    inputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every source is read "at" STARTED: its age at NOW is 30 s
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(STARTED.timestamp())))
    runs = [
        run_of("missing", compare(inputs, ["nodes.txt"], ["allow.txt"])),
        run_of("scoped", compare(inputs, ["nodes.txt"], ["allow.yaml"], scope=["mail"])),
        run_of("partial", compare(inputs, ["nodes4.txt"], ["fw.rules"])),
        run_of("unread", compare(inputs, ["nodes.txt"], ["absent.txt"])),
        failed("broken"),
    ]
    text = prometheus.render(runs, NOW)
    assert text.endswith("\n") and not text.endswith("\n\n")
    samples, families = parse(text)
    end = STARTED.timestamp() + 2.5

    def src(role: str, name: str) -> str:
        return f"role={role},source={inputs / name}"

    assert series(samples, "missing") == {
        "auditor_audit_exit_code": 1,
        "auditor_audit_complete": 1,
        "auditor_audit_duration_seconds": 2.5,
        "auditor_missing_cidrs": 2,
        "auditor_missing_addresses{family=ipv4}": 256,
        "auditor_missing_addresses{family=ipv6}": 2**80,
        "auditor_over_broad_entries": 0,
        f"auditor_source_complete{{{src('expected', 'nodes.txt')}}}": 1,
        f"auditor_source_complete{{{src('declared', 'allow.txt')}}}": 1,
        f"auditor_source_age_seconds{{{src('expected', 'nodes.txt')}}}": 30,
        f"auditor_source_age_seconds{{{src('declared', 'allow.txt')}}}": 30,
        "auditor_last_success_timestamp_seconds": end,
    }
    scoped = series(samples, "scoped")
    assert scoped["auditor_audit_exit_code"] == 0
    assert scoped["auditor_extra_cidrs"] == 1  # 203.0.113.0/24, in scope and not expected
    assert scoped["auditor_missing_cidrs"] == 0
    # without a scope there is no "extra": the series is absent, not 0
    assert of(samples, "auditor_extra_cidrs", audit="missing") is None

    partial = series(samples, "partial")
    assert partial["auditor_audit_exit_code"] == 2
    assert partial["auditor_audit_complete"] == 0
    assert partial[f"auditor_source_complete{{{src('declared', 'fw.rules')}}}"] == 0
    assert partial[f"auditor_source_complete{{{src('expected', 'nodes4.txt')}}}"] == 1
    assert partial["auditor_missing_cidrs"] == 1  # what it could see; complete says 0
    assert "auditor_last_success_timestamp_seconds" not in partial

    unread = series(samples, "unread")
    assert unread["auditor_audit_exit_code"] == 2
    assert unread[f"auditor_source_complete{{{src('declared', 'absent.txt')}}}"] == 0
    # a source that failed to load says no time: no age
    assert f"auditor_source_age_seconds{{{src('declared', 'absent.txt')}}}" not in unread

    # compared nothing: exit code and complete 0, and no figures that would read as "none"
    assert series(samples, "broken") == {
        "auditor_audit_exit_code": 2,
        "auditor_audit_complete": 0,
        "auditor_audit_duration_seconds": 0.5,
    }
    assert of(samples, "auditor_last_run_timestamp_seconds") == NOW.timestamp()
    for name, (kind, help_text) in families.items():
        assert kind == "gauge" and help_text, name


def test_help_and_type_lines_never_change(inputs: Path) -> None:
    """The collector refuses families whose HELP differs between files: each family's HELP and
    TYPE lines are the same whatever the runs."""
    one = prometheus.render([run_of("a", compare(inputs, ["nodes.txt"], ["allow.txt"]))], NOW)
    scoped = compare(inputs, ["nodes.txt"], ["allow.yaml"], scope=["mail"])
    two = prometheus.render([run_of("b", scoped), failed("c")], NOW + timedelta(days=1))

    def headers(text: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in text.splitlines():
            if line.startswith("#"):
                out.setdefault(line.split()[2], []).append(line)
        return out

    first, second = headers(one), headers(two)
    assert all(len(lines) == 2 for lines in (*first.values(), *second.values()))
    for name in first.keys() & second.keys():
        assert first[name] == second[name]
    assert "auditor_extra_cidrs" in second and "auditor_extra_cidrs" not in first


def test_hostile_names_are_escaped_and_read_back_exactly(tmp_path: Path) -> None:
    hostile = 'q"uote\\back\nslash} x="1"'
    sub = tmp_path / 'dir "x"\\y'
    sub.mkdir()
    (sub / 'nodes\n"a".txt').write_text("192.0.2.0/24\n", encoding="utf-8")
    (sub / "allow\\.txt").write_text("192.0.2.0/24\n", encoding="utf-8")
    result = compare(sub, ['nodes\n"a".txt'], ["allow\\.txt"])
    text = prometheus.render([run_of(hostile, result), failed("other\n# HELP x y")], NOW)
    samples, _ = parse(text)
    assert of(samples, "auditor_audit_exit_code", audit=hostile) == 0
    name = str(sub / 'nodes\n"a".txt')
    assert of(samples, "auditor_source_complete", audit=hostile, source=name, role="expected")
    assert of(samples, "auditor_audit_exit_code", audit="other\n# HELP x y") == 2
    # one sample a line: no name starts a line of its own
    assert all(line.startswith(("auditor_", "# HELP auditor_", "# TYPE auditor_"))
               for line in text.splitlines())  # fmt: skip


def test_last_success_from_this_run_or_from_the_state(inputs: Path) -> None:
    done = run_of("done", compare(inputs, ["nodes.txt"], ["allow.txt"]), duration=4.0)
    runs = [done, failed("remembered"), failed("forgotten")]
    samples, _ = parse(prometheus.render(runs, NOW, {"remembered": 1700000000.0, "done": 1.0}))
    name = "auditor_last_success_timestamp_seconds"
    assert of(samples, name, audit="done") == STARTED.timestamp() + 4.0  # this run wins
    assert of(samples, name, audit="remembered") == 1700000000.0
    assert of(samples, name, audit="forgotten") is None


def test_a_fetched_source_ages_from_its_retrieval(
    inputs: Path, https_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from httpd import FeedServer, Reply

    assert isinstance(https_server, FeedServer)
    https_server.route("/nodes.txt", Reply(body=NODES.encode()))
    read = datetime(2030, 1, 1, tzinfo=timezone.utc)  # read "later" than retrieved
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(read.timestamp())))
    from auditor import audit
    from auditor.cli.loading import load_both
    from auditor.cli.options import Options
    from auditor.model import AuditOptions
    from auditor.service import Service

    opts = Options(
        expected=(f"text:{https_server.url('/nodes.txt')}",),
        declared=(str(inputs / "allow.txt"),),
        ca_bundle=Path(https_server.ca_bundle),
        cache_dir=inputs / "cache",
        timeout=5,
    )
    exp, dec = load_both(opts, Service.parse("tcp/25"))
    retrieved = exp[0].info.retrieved_at
    assert retrieved is not None and exp[0].info.read_at == "2030-01-01T00:00:00Z"
    run = run_of("feed", audit.compare(exp, dec, AuditOptions()))
    at = datetime.fromisoformat(retrieved.replace("Z", "+00:00")) + timedelta(hours=1)
    samples, _ = parse(prometheus.render([run], at))
    ages = {
        dict(labels)["role"]: value
        for (name, labels), value in samples.items()
        if name == "auditor_source_age_seconds"
    }
    assert ages["expected"] == 3600  # from the retrieval, not the read
    assert ages["declared"] == (at - read).total_seconds()


def test_duplicate_audit_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        prometheus.render([failed("a"), failed("a")], NOW)


def test_a_duplicate_source_is_one_series(inputs: Path) -> None:
    result = compare(inputs, ["nodes.txt"], ["allow.txt", "allow.txt"])
    samples, _ = parse(prometheus.render([run_of("twice", result)], NOW))  # parse: no duplicate
    declared = [
        k for k in samples if k[0] == "auditor_source_complete" and ("role", "declared") in k[1]
    ]
    assert len(declared) == 1


# --- the atomic write ---------------------------------------------------------------------------


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "auditor.prom"
    path.write_text("old\n", encoding="utf-8")
    text = prometheus.render([failed("a")], NOW)
    prometheus.write_textfile(path, text)
    assert path.read_text(encoding="utf-8") == text
    assert sorted(os.listdir(tmp_path)) == ["auditor.prom"]


def test_a_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "auditor.prom"
    path.mkdir()  # the rename cannot replace a directory
    with pytest.raises(OSError):
        prometheus.write_textfile(path, prometheus.render([failed("a")], NOW))
    assert sorted(os.listdir(tmp_path)) == ["auditor.prom"] and path.is_dir()


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    """While the file is rewritten again and again, every read is one whole textfile."""
    path = tmp_path / "auditor.prom"
    texts = [
        prometheus.render([failed(f"audit-{i}-" + "x" * 20000)], NOW + timedelta(seconds=i))
        for i in range(4)
    ]
    prometheus.write_textfile(path, texts[0])
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            prometheus.write_textfile(path, texts[i % 4])
    finally:
        stop.set()
        reader.join()
    assert seen and all(text in texts for text in seen)
    assert sorted(os.listdir(tmp_path)) == ["auditor.prom"]


def test_a_run_without_a_result_is_not_complete() -> None:
    run = AuditRun("a", 0, STARTED, 1.5)
    samples, _ = parse(prometheus.render([run], NOW))
    assert of(samples, "auditor_audit_complete", audit="a") == 0  # nothing compared
