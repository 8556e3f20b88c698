"""What each audit saw, kept between runs (``--state-dir``), and the drift since the last run.

Per audit, in the state folder:

- ``NAME.state.json``: the last complete run (a versioned JSON document, written atomically:
  a crash keeps the previous one): the missing CIDRs with their origins, each source's name,
  version, SHA-256, completeness and size per family, the CIDRs of each declared source and
  of each expected source, every item with the time it was first seen.
- ``NAME.history.jsonl``: one line per run, appended, never rewritten: the changes it found.

A run that is not complete replaces no state: its view is not whole, so what it lacks would
look like removals. It still gets a history line (its exit code and why).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import InputError

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.model import AuditResult, RangeSet
    from auditor.reports.base import Drift as ReportDrift

FORMAT = 1
"""The ``format`` of a state file; another value is refused, never guessed at."""

KINDS = (
    "newly-missing",
    "resolved",
    "expected-added",
    "expected-removed",
    "declared-added",
    "declared-removed",
    "source-added",
    "source-removed",
)


@dataclass(frozen=True)
class Change:
    kind: str
    """One of :data:`KINDS`."""
    item: str
    """A CIDR, or a source's name for ``source-added``/``source-removed``."""
    first_seen: str
    """When the item was first seen: this run for what appeared, the state's date for what
    went away."""
    source: str = ""
    """The source of an expected or declared range."""
    origins: tuple[str, ...] = ()
    """For a missing CIDR: the expected entries it comes from (file:line)."""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "item": self.item, "first_seen": self.first_seen}
        if self.source:
            doc["source"] = self.source
        if self.origins:
            doc["origins"] = list(self.origins)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Change:
        return cls(
            str(doc["kind"]),
            str(doc["item"]),
            str(doc["first_seen"]),
            str(doc.get("source", "")),
            tuple(str(o) for o in doc.get("origins", ())),
        )

    def describe(self) -> str:
        kind, item, when = self.kind, self.item, self.first_seen
        origins = f"; from {', '.join(self.origins[:3])}" if self.origins else ""
        return {
            "newly-missing": f"newly missing {item} (first seen {when}{origins})",
            "resolved": f"resolved {item} (missing since {when})",
            "expected-added": f"provider range added {item} in {self.source} (first seen {when})",
            "expected-removed": f"provider range removed {item} from {self.source}"
            f" (first seen {when})",
            "declared-added": f"declared entry added {item} in {self.source} (first seen {when})",
            "declared-removed": f"declared entry removed {item} from {self.source}"
            f" (first seen {when})",
            "source-added": f"source added {item} (first seen {when})",
            "source-removed": f"source removed {item} (first seen {when})",
        }[kind]


@dataclass(frozen=True)
class Snapshot:
    """What one complete run of an audit saw."""

    audit: str
    run_at: str
    exit_code: int
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    """CIDR -> {first_seen, origins}."""
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Source name -> {role, format, version, sha256, completeness, sizes, first_seen}."""
    expected: dict[str, dict[str, str]] = field(default_factory=dict)
    """Expected source -> its entries (CIDRs, or ranges as first-last) -> first seen."""
    declared: dict[str, dict[str, str]] = field(default_factory=dict)
    """Declared source -> its entries (what a ruleset allows) -> first seen."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "audit": self.audit,
            "run_at": self.run_at,
            "exit_code": self.exit_code,
            "missing": self.missing,
            "sources": self.sources,
            "expected": self.expected,
            "declared": self.declared,
        }


def snapshot(
    audit: str, result: AuditResult, run_at: str, exit_code: int, previous: Snapshot | None
) -> Snapshot:
    """This run's view, each item keeping the date it was first seen in ``previous``."""
    old = previous or Snapshot(audit, run_at, exit_code)
    missing = {
        block.cidr: {
            "first_seen": old.missing.get(block.cidr, {}).get("first_seen", run_at),
            "origins": [str(o) for o in block.origins],
        }
        for block in result.missing_blocks
    }
    sources = {}
    for rs in result.sources:
        sources[rs.info.name] = {
            "role": rs.info.role,
            "format": rs.info.format,
            "version": rs.info.version,
            "sha256": rs.info.sha256,
            "completeness": rs.completeness.value,
            "sizes": {str(f): rs.space.size(f) for f in (4, 6)},
            "first_seen": old.sources.get(rs.info.name, {}).get("first_seen", run_at),
        }

    def cidrs(sets: Sequence[RangeSet], before: dict[str, dict[str, str]]) -> dict[str, Any]:
        out = {}
        for rs in sets:
            seen = before.get(rs.info.name, {})
            items = dict.fromkeys(_texts(rs))  # as listed, not merged
            out[rs.info.name] = {c: seen.get(c, run_at) for c in items}
        return out

    return Snapshot(
        audit,
        run_at,
        exit_code,
        missing,
        sources,
        cidrs(result.expected, old.expected),
        cidrs(result.declared, old.declared),
    )


def _texts(rs: RangeSet) -> Iterator[str]:
    """Each entry's text, in order, read from the columns (no Entry is made)."""
    from auditor import ipspace

    for fam in (4, 6):
        col = rs.entries.family(fam)
        firsts, lasts = ipspace.as_list(col.first), ipspace.as_list(col.last)
        for first, last in zip(firsts, lasts, strict=True):
            yield ipspace.format_interval(fam, first, last)


def changes(old: Snapshot, new: Snapshot) -> list[Change]:
    """What changed from ``old`` to ``new``, in the order of :data:`KINDS`."""
    out = [
        Change("newly-missing", c, v["first_seen"], origins=tuple(v["origins"]))
        for c, v in new.missing.items()
        if c not in old.missing
    ]
    out += [
        Change("resolved", c, v["first_seen"], origins=tuple(v.get("origins", ())))
        for c, v in old.missing.items()
        if c not in new.missing
    ]
    for role, before, after in (
        ("expected", old.expected, new.expected),
        ("declared", old.declared, new.declared),
    ):
        for name in after:
            if name in before:
                out += [
                    Change(f"{role}-added", c, when, name)
                    for c, when in after[name].items()
                    if c not in before[name]
                ]
        for name in before:
            if name in after:
                out += [
                    Change(f"{role}-removed", c, when, name)
                    for c, when in before[name].items()
                    if c not in after[name]
                ]
    out += [
        Change("source-added", name, info["first_seen"])
        for name, info in new.sources.items()
        if name not in old.sources
    ]
    out += [
        Change("source-removed", name, info.get("first_seen", old.run_at))
        for name, info in old.sources.items()
        if name not in new.sources
    ]
    return sorted(out, key=lambda c: KINDS.index(c.kind))


def _write_atomic(path: Path, data: bytes) -> None:
    from auditor.fsutil import atomic_write

    atomic_write(path, data, mode=0o644)


def _check_doc(doc: dict[str, Any], audit: str) -> None:
    """ValueError unless ``doc`` has every part a state file of ``audit`` has, of its type
    (a hand-edited file is refused whole, never half-read into a wrong drift)."""
    from datetime import datetime

    def stamp(value: Any, what: str) -> None:
        if not isinstance(value, str):
            raise ValueError(f"{what} is not a time")
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")  # ValueError names the text

    def table(value: Any, what: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ValueError(f"{what} is not a table")
        return value

    if doc.get("audit") != audit:
        raise ValueError(f"it is the state of audit {doc.get('audit')!r}, not of {audit!r}")
    stamp(doc.get("run_at"), "run_at")
    if type(doc.get("exit_code")) is not int:
        raise ValueError("exit_code is not a number")
    for cidr, item in table(doc.get("missing"), "missing").items():
        stamp(table(item, f"missing {cidr}").get("first_seen"), f"missing {cidr} first_seen")
        origins = item.get("origins", [])
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ValueError(f"missing {cidr} origins is not a list of texts")
    for name, info in table(doc.get("sources"), "sources").items():
        stamp(table(info, f"source {name}").get("first_seen"), f"source {name} first_seen")
        sizes = table(info.get("sizes"), f"source {name} sizes")
        if any(type(sizes.get(f)) is not int for f in ("4", "6")):
            raise ValueError(f"source {name} sizes are not numbers")
    for role in ("expected", "declared"):
        for name, items in table(doc.get(role), role).items():
            for item, when in table(items, f"{role} {name}").items():
                stamp(when, f"{role} {name} {item}")


class StateDir:
    """The state folder of a run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def state_file(self, audit: str) -> Path:
        return self.path / f"{audit}.state.json"

    def history_file(self, audit: str) -> Path:
        return self.path / f"{audit}.history.jsonl"

    def read(self, audit: str) -> Snapshot | None:
        """The last complete run of ``audit``, None before the first; InputError when the
        file is not a state this program wrote (never a guess at what it meant)."""
        path = self.state_file(audit)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise InputError(f"cannot read the state: {e.strerror}", source=str(path)) from None
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this program reads {FORMAT}")
            _check_doc(doc, audit)
            return Snapshot(
                str(doc["audit"]),
                str(doc["run_at"]),
                int(doc["exit_code"]),
                dict(doc["missing"]),
                dict(doc["sources"]),
                dict(doc["expected"]),
                dict(doc["declared"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InputError(
                f"not a state file of this program: {e}",
                source=str(path),
                hint="move it away; the next run starts a new state from what it sees",
            ) from None

    def write(self, snap: Snapshot) -> None:
        data = json.dumps(snap.to_json(), indent=1, sort_keys=True).encode("utf-8") + b"\n"
        _write_atomic(self.state_file(snap.audit), data)

    def append(self, audit: str, entry: dict[str, Any]) -> None:
        """One line at the end of the history, in one write. A line a crash cut short is
        ended first, so it spoils only itself (:meth:`history` skips it)."""
        path = self.history_file(audit)
        line = json.dumps(entry, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self, audit: str) -> list[dict[str, Any]]:
        """The runs of ``audit``, oldest first. A run that crashed between its history line
        and its state is seen again by the next run: of two lines with the same ``since``,
        the later one stands."""
        try:
            data = self.history_file(audit).read_bytes()
        except FileNotFoundError:
            return []
        runs: list[dict[str, Any]] = []
        for raw in data.splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or "run_at" not in entry:
                continue
            if (
                runs
                and entry.get("since") is not None
                and runs[-1].get("since") == entry.get("since")
                and runs[-1].get("exit_code", 2) < 2
            ):
                runs.pop()
            runs.append(entry)
        return runs


def guard(
    exp: list[RangeSet], previous: Snapshot | None, opts: Options, state_file: Path
) -> list[RangeSet]:
    """The integrity checks of fetched feeds, for expected sources read from a local file,
    against the state: a version that goes backwards, or a loss of more than --max-shrink of
    a family's addresses, fails the source (--accept-shrink accepts both)."""
    from dataclasses import replace

    from auditor.cli.output import err
    from auditor.model import Completeness
    from auditor.sources.base import FeedError, FeedVersion
    from auditor.sources.baseline import check_shrink

    if previous is None:
        return exp
    out = []
    kept = f"the last complete run ({previous.run_at}, {state_file})"
    for rs in exp:
        old = previous.sources.get(rs.info.name)
        if old is None or rs.completeness is Completeness.FAILED or not _local(rs.info.name):
            out.append(rs)
            continue
        try:
            was, now = old.get("version"), rs.info.version
            if was and now and not opts.accept_shrink:
                old_v = FeedVersion(*str(was).split(" ", 1))
                new_v = FeedVersion(*now.split(" ", 1))
                if old_v.key == new_v.key and new_v.order < old_v.order:
                    raise FeedError(
                        f"{rs.info.name}: the copy's {new_v.key} went backwards ({new_v.value}"
                        f" < {old_v.value} in {kept}): a rollback or a stale mirror",
                        source=rs.info.name,
                        hint="restore the newer copy; if the older one is right, run once"
                        " with --accept-shrink",
                    )
            sizes = {f: (int(old["sizes"][str(f)]), rs.space.size(f)) for f in (4, 6)}
            findings = check_shrink(
                rs.info.name, rs.info.name, sizes, opts.max_shrink, opts.accept_shrink, kept
            )
        except FeedError as e:
            err(f"error: {e}")
            out.append(replace(rs, completeness=Completeness.FAILED, reasons=(e.message,)))
            continue
        out.append(replace(rs, findings=(*rs.findings, *findings)) if findings else rs)
    return out


def _local(spec: str) -> bool:
    """The spec reads a local file (not a URL, a provider's feed or DNS)."""
    from auditor.sources.spec import is_url

    prefix, sep, rest = spec.partition(":")
    if spec.startswith("/"):
        return True
    if sep and (prefix == "file" or prefix.startswith("file+") or prefix in ("text", "json")):
        return not is_url(rest)
    if sep and "from=" in rest:
        value = rest.split("from=", 1)[1].split(",", 1)[0]
        return not is_url(value)
    return False


def lines(changes: Iterable[Change]) -> Iterator[str]:
    for change in changes:
        yield change.describe()


@dataclass
class Drift:
    """What the state says of one audit after this run."""

    previous: Snapshot | None
    changes: list[Change] | None
    """None when the run was not complete: nothing was compared."""
    exit_code: int

    @property
    def changed(self) -> bool:
        """Something to say: a first run, a change, or another exit code than last time."""
        if self.previous is None or self.changes:
            return True
        return self.exit_code != self.previous.exit_code

    def describe(self, folder: Path) -> list[str]:
        prev = self.previous
        if self.changes is None:
            if prev is None:
                return ["no state kept yet (this run was not complete)"]
            return [f"the state of {prev.run_at} is kept (this run was not complete)"]
        if prev is None:
            return [f"first run: state kept in {folder}"]
        if not self.changes:
            return [f"no change since {prev.run_at}"]
        return [f"since {prev.run_at}:", *("  " + c.describe() for c in self.changes)]


def _iso(when: Any) -> str:
    return str(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


class Keeper:
    """The state of a run's audits: read before each audit (for the guards), written after
    it when it was complete, and the drift of each."""

    def __init__(self, folder: Path) -> None:
        self.dir = StateDir(folder)
        self._previous: dict[str, Snapshot | None] = {}
        self._made: dict[str, tuple[AuditResult, str, Snapshot]] = {}
        """This run's snapshot of an audit, made for its reports' drift."""
        self.drift: dict[str, Drift] = {}

    def previous(self, audit: str) -> Snapshot | None:
        if audit not in self._previous:
            self._previous[audit] = self.dir.read(audit)
        return self._previous[audit]

    def report_drift(self, name: str, result: AuditResult, started: Any) -> ReportDrift | None:
        """The drift a report of this run shows (html): the changes since the last complete
        run, worked out as :meth:`after` will keep them; None when the state cannot be read."""
        from auditor.reports.base import Drift as ReportDrift
        from auditor.reports.base import DriftChange

        try:
            prev = self.previous(name)
        except InputError:
            return None
        run_at = _iso(started)
        snap = snapshot(name, result, run_at, 0, prev)
        self._made[name] = (result, run_at, snap)  # kept by after() as it is
        found = changes(prev, snap) if prev else []
        titles = {
            "newly-missing": "newly missing",
            "resolved": "resolved",
            "expected-added": "provider range added",
            "expected-removed": "provider range removed",
            "declared-added": "declared entry added",
            "declared-removed": "declared entry removed",
            "source-added": "source added",
            "source-removed": "source removed",
        }
        return ReportDrift(
            prev.run_at if prev else "",
            tuple(
                DriftChange(titles.get(c.kind, c.kind), c.item, c.source, c.first_seen)
                for c in found
            ),
        )

    def guard(self, audit: Any, opts: Options, exp: list[RangeSet]) -> list[RangeSet]:
        return guard(exp, self.previous(audit.name), opts, self.dir.state_file(audit.name))

    def after(self, finished: Any) -> None:
        """Keep what a finished audit saw (the history line, then the state)."""
        from auditor.cli.output import err

        run = finished.run
        try:
            prev = self.previous(run.name)
        except InputError as e:
            err(f"error: {run.name}: {e}")
            finished.run = replace(run, exit_code=max(run.exit_code, 2), error=str(e))
            return
        entry: dict[str, Any] = {
            "format": FORMAT,
            "run_at": _iso(run.started),
            "since": prev.run_at if prev else None,
            "exit_code": run.exit_code,
        }
        found: list[Change] | None = None
        try:
            if run.result is not None and run.exit_code < 2:
                made = self._made.pop(run.name, None)
                if made is not None and made[0] is run.result and made[1] == entry["run_at"]:
                    snap = replace(made[2], exit_code=run.exit_code)
                else:
                    snap = snapshot(run.name, run.result, entry["run_at"], run.exit_code, prev)
                found = changes(prev, snap) if prev is not None else []
                entry["changes"] = [c.to_json() for c in found]
                self.dir.append(run.name, entry)
                self.dir.write(snap)
            else:
                entry["error"] = run.error
                self.dir.append(run.name, entry)
        except OSError as e:
            # a state not kept is trouble: the next run would compare with an older one
            why = f"cannot keep the state in {self.dir.path}: {e.strerror or e}"
            err(f"error: {run.name}: {why}")
            run = finished.run = replace(run, exit_code=max(run.exit_code, 2), error=why)
            found = None
        self.drift[run.name] = Drift(prev, found, run.exit_code)
