"""Stand-ins for the cloud CLIs (aws, az, gcloud): executables first on PATH that record their
argv, one JSON line per call, and answer as told; and running the generated scripts with them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.rules import Generator, RuleOptions
from auditor.rules.artifacts import Artifact, full_text

STANDIN = """\
#!{python}
import json, os, re, sys
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
text = " ".join(sys.argv[1:])
fail = os.environ.get("STANDIN_FAIL_RE")
if fail and re.search(fail, text):
    sys.stderr.write(os.environ.get("STANDIN_FAIL_MESSAGE", "error") + "\\n")
    sys.exit(int(os.environ.get("STANDIN_FAIL_CODE", "255")))
sys.exit(0)
"""


class Standins:
    """A directory of stand-in executables and the log they write."""

    def __init__(self, root: Path, names: tuple[str, ...] = ("aws", "az", "gcloud")) -> None:
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.log = root / "calls.jsonl"
        for name in names:
            exe = self.bin / name
            exe.write_text(STANDIN.format(python=sys.executable, log=str(self.log)))
            exe.chmod(0o755)

    def run(
        self, script: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        bash = shutil.which("bash")
        assert bash is not None
        full = {"PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin", "HOME": str(self.bin.parent)}
        full.update(env or {})
        return subprocess.run(
            [bash, str(script)],
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd or self.bin.parent,
            check=False,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)


def write(arts: list[Artifact], gen: Generator, options: RuleOptions, where: Path) -> list[Path]:
    """Each artifact as --output-dir writes it (header included)."""
    where.mkdir(parents=True, exist_ok=True)
    out = []
    for art in arts:
        path = where / art.file_name(gen.name)
        path.write_text(full_text(art, gen.name, options.provenance, arts), encoding="utf-8")
        out.append(path)
    return out


def bash_n(path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    done = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
