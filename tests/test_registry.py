"""The one registry type: lazy entries, aliases, case, duplicates, the families that use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.allowlists import READERS
from auditor.errors import UsageError
from auditor.registry import Registry
from auditor.reports import REPORTS
from auditor.rules import GENERATORS
from auditor.sources.base import PARSERS

ROOT = Path(__file__).resolve().parents[1]


class Thing:
    name = "thing"


class Other:
    name = "other"


def registry() -> Registry[object]:
    return Registry(
        "widget",
        {"thing": f"{__name__}:Thing", "other": f"{__name__}:Other"},
        {"t": "thing"},
    )


def test_lookup_by_name_alias_and_any_case() -> None:
    reg = registry()
    assert reg.get("thing") is Thing
    assert reg.get("T") is Thing
    assert reg.get("OTHER") is Other
    assert isinstance(reg.create("t"), Thing)
    assert reg.key("T") == "thing" and reg.key("Nope") == "nope"


def test_case_matters_when_asked() -> None:
    reg: Registry[object] = Registry("widget", {"thing": f"{__name__}:Thing"}, ignore_case=False)
    assert reg.get("thing") is Thing
    with pytest.raises(UsageError):
        reg.get("THING")


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(UsageError) as e:
        registry().get("gadget")
    assert str(e.value.message) == "unknown widget 'gadget'"
    assert e.value.hint == "choose one of: other, thing"


def test_iteration_is_sorted_and_mapping_like() -> None:
    reg = registry()
    assert list(reg) == reg.names() == ["other", "thing"]
    assert len(reg) == 2
    assert "thing" in reg and "t" not in reg
    assert dict(reg.items()) == {"other": Other, "thing": Thing}
    assert reg["thing"] is Thing
    with pytest.raises(KeyError):
        reg["t"]
    assert reg.aliases == {"t": "thing"}


@pytest.mark.parametrize(
    ("entries", "aliases"),
    [
        ({"thing": "m:A"}, {"thing": "thing"}),  # an alias that is a name
        ({"thing": "m:A"}, {"t": "thing", "T": "thing"}),  # the same alias in another case
        ({"Thing": "m:A"}, {}),  # names are lower case
        ({"thing": "m.A"}, {}),  # not module:Class
        ({"thing": "m:A"}, {"x": "nothing"}),  # an alias of no entry
    ],
)
def test_bad_tables_are_refused_when_built(
    entries: dict[str, str], aliases: dict[str, str]
) -> None:
    with pytest.raises(ValueError, match="duplicate|lower case|module:Class|names no entry"):
        Registry("widget", entries, aliases)


def test_add_refuses_duplicates_and_extends() -> None:
    reg = registry()
    with pytest.raises(ValueError, match="duplicate widget name 'thing'"):
        reg.add("thing", Other)
    with pytest.raises(ValueError, match="duplicate widget name 't'"):
        reg.add("t", Other)
    reg.add("third", Other)
    assert reg.names() == ["other", "thing", "third"]


def test_an_entry_must_point_at_the_class_of_its_name() -> None:
    reg: Registry[object] = Registry("widget", {"thing": f"{__name__}:Other"})
    with pytest.raises(RuntimeError, match="named 'other'"):
        reg.get("thing")


@pytest.mark.parametrize("family", [READERS, REPORTS, GENERATORS, PARSERS])
def test_every_entry_of_every_family_loads_under_its_name(family: Registry[object]) -> None:
    for name, cls in family.items():
        assert getattr(cls, "name", None) == name
        assert name == name.lower() and " " not in name and "_" not in name


def test_listing_names_imports_no_plugin() -> None:
    probe = (
        "import sys\n"
        "from auditor.allowlists import READERS\n"
        "from auditor.reports import REPORTS\n"
        "from auditor.rules import GENERATORS\n"
        "from auditor.sources.base import PARSERS\n"
        "names = READERS.names() + REPORTS.names() + GENERATORS.names() + PARSERS.names()\n"
        "plugins = {t.partition(':')[0] for r in (READERS, REPORTS, GENERATORS, PARSERS)\n"
        "           for t in r._targets.values()}\n"
        "READERS.get('text'); REPORTS.get('json')\n"
        "print(sorted(m for m in sys.modules if m in plugins))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=60,
    )
    loaded = proc.stdout.strip()
    assert loaded == "['auditor.allowlists.lists.text', 'auditor.reports.json_report']", loaded
