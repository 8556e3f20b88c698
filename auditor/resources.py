"""Files shipped in data/: found in the installed package, or next to a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_file(name: str) -> bytes:
    """The bytes of data/NAME, from the wheel (auditor.data) or the checkout's data/."""
    try:
        return resources.files("auditor.data").joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "data" / name).read_bytes()
