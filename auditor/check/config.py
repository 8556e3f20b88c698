"""The configuration of ``auditor check``: a YAML file of audits, each a set of ``auditor
diff`` options (``defaults:`` gives any of them to every audit), checked against
``data/check.schema.json`` and then value by value, every problem with the file and line of
the key at fault. Relative paths (sources, outputs, the cache) resolve next to the file.

::

    defaults: {service: tcp/25, timeout: 30, cache_dir: /var/cache/allowlist-auditor}
    audits:
      servicenow-mail:
        expected: [servicenow]
        declared: [/etc/postfix/main.cf, iptables.rules]
        outputs: {json: reports/servicenow.json, md: reports/servicenow.md}
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError, InputError

_PATH_KEYS = ("output_dir", "ca_bundle", "cache_dir")
_LIST_KEYS = ("expected", "declared", "scope", "rules", "catalog")
_PROVIDER = re.compile(r"([a-z][a-z0-9-]{0,31})(?::(.*))?", re.DOTALL)


class ConfigError(InputError):
    """Every problem of a configuration file, one line each."""

    def __init__(self, problems: list[InputError]) -> None:
        super().__init__(problems[0].message, source=problems[0].source, line=problems[0].line)
        self.problems = problems

    def __str__(self) -> str:
        more = len(self.problems) - 1
        return InputError.__str__(self.problems[0]) + (f" (and {more} more)" if more else "")


@dataclass(frozen=True)
class Audit:
    """One audit of the file, its options merged over ``defaults:`` and its paths absolute."""

    name: str
    line: int | None
    values: dict[str, Any] = field(hash=False)
    """Every key the audit gives or inherits, as ``auditor diff`` names its parameters."""
    outputs: tuple[tuple[str, Path], ...] = ()
    """(report name, file), in the file's order."""
    base: Path = Path()
    """The configuration's folder."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


@dataclass(frozen=True)
class Config:
    path: Path
    audits: tuple[Audit, ...]

    def audit(self, name: str) -> Audit:
        for audit in self.audits:
            if audit.name == name:
                return audit
        raise KeyError(name)


def schema() -> dict[str, Any]:
    text = resources.files("auditor.data").joinpath("check.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def option_keys() -> list[str]:
    """The keys an audit may give (those of ``defaults:`` and of each audit)."""
    return list(schema()["$defs"]["options"]["properties"])


def load(path: Path) -> Config:
    """The configuration at ``path``, or ConfigError listing every problem with its line."""
    from auditor.yamlutil import key_line, load_yaml

    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(
            f"cannot read the configuration: {e.strerror}",
            source=source,
            hint="give the path of a YAML file of audits (see data/examples/audits.yaml)",
        ) from None
    doc = load_yaml(data, source)
    if doc is None:
        doc = {}

    def line(keys: tuple[str, ...]) -> int | None:
        return key_line(data, keys) if keys else None

    from auditor.check import schema as checker

    problems = [
        InputError(p.message, source=source, line=line(p.path), hint=p.hint)
        for p in checker.check(schema(), doc)
    ]
    if problems:
        raise ConfigError(problems)
    base = path.resolve().parent
    defaults: dict[str, Any] = dict(doc.get("defaults") or {})
    if "outputs" in defaults:
        problems.append(
            InputError(
                "defaults: outputs cannot be shared: every audit would write the same files",
                source=source,
                line=line(("defaults", "outputs")),
                hint="give outputs: in each audit",
            )
        )
    audits = []
    for name, given in doc["audits"].items():
        where = ("audits", name)
        values = {**defaults, **given}
        for key in ("expected", "declared"):
            if key not in values:
                problems.append(
                    InputError(
                        f"audits.{name}: the key {key}: is missing",
                        source=source,
                        line=line(where),
                        hint=f"give {key}: [SOURCE, ...] in the audit or in defaults:",
                    )
                )

        def at(key: str, where: tuple[str, ...] = where, given: Any = given) -> int | None:
            return line((*where, key) if key in given else ("defaults", key))

        audit_problems = _values(name, values, base, at, source)
        problems += audit_problems
        outputs = tuple(
            (report, _path(base, file)) for report, file in values.pop("outputs", {}).items()
        )
        audits.append(Audit(name, line(where), values, outputs, base))
    if problems:
        raise ConfigError(problems)
    _check_outputs(audits, source, line)
    return Config(path, tuple(audits))


def _path(base: Path, text: str) -> Path:
    return base / Path(text).expanduser()


def _values(
    name: str,
    values: dict[str, Any],
    base: Path,
    at: Callable[[str], int | None],
    source: str,
) -> list[InputError]:
    """Normalise the values of one audit in place (lists, paths, strings), and check each
    with the code ``auditor diff`` checks its options with; the problems found."""
    problems: list[InputError] = []

    def fail(key: str, e: AuditorError) -> None:
        problems.append(
            InputError(
                f"audits.{name}.{key}: {e.message}", source=source, line=at(key), hint=e.hint
            )
        )

    for key in _LIST_KEYS:
        if isinstance(values.get(key), str):
            values[key] = [values[key]]
    for key in _PATH_KEYS:
        if key in values:
            values[key] = _path(base, values[key])
    if "catalog" in values:
        values["catalog"] = [_path(base, c) for c in values["catalog"]]
    for key in ("ca_bundle", "catalog"):
        for file in values.get(key) or [] if key == "catalog" else [values.get(key)]:
            if file is not None and not file.is_file():
                problems.append(
                    InputError(
                        f"audits.{name}.{key}: no such file: {file}",
                        source=source,
                        line=at(key),
                        hint="relative paths are read from the configuration's folder",
                    )
                )
                values.pop(key)
                break
    if "family" in values:
        values["family"] = str(values["family"])
    if "max_age" in values:
        values["max_age"] = str(values["max_age"])
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    if "max_shrink" in values:
        values["max_shrink"] = float(values["max_shrink"])
    catalog = None
    for key in ("expected", "declared"):
        resolved = []
        for spec in values.get(key, ()):
            try:
                if catalog is None:
                    from auditor.sources.catalog import load_catalog

                    catalog = load_catalog(values.get("catalog", ()))
                resolved.append(resolve_spec(spec, base, catalog))
            except AuditorError as e:
                fail(key, e)
        values[key] = resolved
    for key, check in _CHECKS.items():
        if key in values:
            try:
                check(values[key])
            except AuditorError as e:
                fail(key, e)
    for report in values.get("outputs", {}):
        from auditor.plugins import REPORTS

        if report not in REPORTS:
            problems.append(
                InputError(
                    f"audits.{name}.outputs: unknown report {report!r}",
                    source=source,
                    line=at("outputs"),
                    hint="reports: " + ", ".join(REPORTS.listed()),
                )
            )
    return problems


def resolve_spec(spec: str, base: Path, catalog: Any) -> str:
    """A SOURCE spec with its local path made absolute against ``base`` (the configuration's
    folder): ``nodes.txt``, ``file+text:x``, ``text:x``, ``json:x#SEL``, ``aws:from=x``. URLs,
    providers and ``spf:`` are kept as given. Standard input is refused: nobody types into
    a scheduled run."""
    from auditor.errors import UsageError
    from auditor.sources.spec import is_url, reads_stdin

    if reads_stdin(spec):
        raise UsageError(
            f"{spec}: standard input cannot be read by a scheduled run",
            hint="give the file's path instead",
        )

    def local(text: str) -> str:
        if not text or is_url(text) or text == "-":
            return text
        path = _path(base, text)
        if not path.exists():
            raise UsageError(
                f"{spec}: no such file: {path}",
                hint="relative paths are read from the configuration's folder",
            )
        return str(path)

    prefix, sep, rest = spec.partition(":")
    if is_url(spec):
        return spec
    if sep and (prefix == "file" or prefix.startswith("file+")):
        path = rest[2:] if rest.startswith("///") else rest
        return f"{prefix}:{local(path)}"
    if sep and prefix == "text":
        return f"text:{local(rest)}"
    if sep and prefix == "json":
        location, hashmark, selector = rest.rpartition("#")
        return f"json:{local(location)}{hashmark}{selector}" if hashmark else spec
    if sep and prefix == "spf":
        return spec
    named = _PROVIDER.fullmatch(prefix.lower() + spec[len(prefix) :])
    if named and named.group(1) in catalog:
        filters = named.group(2)
        if not filters:
            return spec
        parts = []
        for part in filters.split(","):
            key, eq, value = part.partition("=")
            if eq and key.strip().lower() == "from":
                part = f"{key}={local(value.strip())}"
            parts.append(part)
        return f"{prefix}:{','.join(parts)}"
    return local(spec)


def _check_service(text: str) -> None:
    from auditor.service import Service

    Service.parse(text)


def _check_format(name: str) -> None:
    from auditor.plugins import READERS

    READERS.get(name)


def _check_rules(names: list[str]) -> None:
    from auditor.plugins import GENERATORS

    for name in names:
        if name.lower() != "auto":
            GENERATORS.get(name)


def _check_duration(text: str) -> None:
    from auditor.cli.options import parse_duration

    parse_duration(text, "--max-age")


def _check_to(text: str) -> None:
    from auditor.cli.options import to_address

    to_address(text)


def _check_family(text: str) -> None:
    from auditor.cli.options import family_of

    family_of(text)


def _check_nameserver(text: str) -> None:
    from auditor.spf.options import check_nameserver

    check_nameserver(text)


_CHECKS: dict[str, Callable[[Any], None]] = {
    "service": _check_service,
    "format": _check_format,
    "rules": _check_rules,
    "max_age": _check_duration,
    "to": _check_to,
    "family": _check_family,
    "nameserver": _check_nameserver,
}


def _check_outputs(
    audits: list[Audit], source: str, line: Callable[[tuple[str, ...]], int | None]
) -> None:
    """Two outputs (or two audits) that write one file would overwrite each other; an output
    that is the configuration or an input of an audit would replace what the next run reads."""
    seen: dict[Path, str] = {}
    problems = []
    inputs = {Path(source).resolve(): "the configuration file"}
    for audit in audits:
        for side in ("expected", "declared"):
            for spec in audit.get(side) or ():
                local = _local_file(str(spec), audit.base)
                if local is not None:
                    inputs.setdefault(local, f"an input of audit {audit.name} ({side})")
    for audit in audits:
        for report, file in audit.outputs:
            key = file.resolve()
            if key in inputs:
                problems.append(
                    InputError(
                        f"audits.{audit.name}.outputs.{report}: {file} is {inputs[key]}",
                        source=source,
                        line=line(("audits", audit.name, "outputs", report)),
                        hint="write the reports to files of their own (a reports/ folder)",
                    )
                )
            elif key in seen:
                problems.append(
                    InputError(
                        f"audits.{audit.name}.outputs.{report}: {file} is also the output of"
                        f" {seen[key]}",
                        source=source,
                        line=line(("audits", audit.name, "outputs", report)),
                        hint="give every output a file of its own",
                    )
                )
            seen[key] = f"{audit.name}.{report}"
    if problems:
        raise ConfigError(problems)


def _local_file(spec: str, base: Path) -> Path | None:
    """The file a source spec reads (``PATH``, ``file:PATH``, ``file+FORMAT:PATH``), resolved,
    when it is one that exists; None for providers, URLs and the rest."""
    text = spec
    if text.startswith("file:") or text.startswith("file+"):
        text = text.split(":", 1)[1] if ":" in text else ""
    if not text or "://" in text:
        return None
    path = Path(text).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        return path.resolve() if path.is_file() else None
    except OSError:
        return None
