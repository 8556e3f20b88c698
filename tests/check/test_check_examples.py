"""The examples in data/examples/ for scheduled runs: the configuration is valid and runs on
the bundled files; the cron line and the systemd unit run what the configuration expects."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "data" / "examples"


def test_the_example_config_is_valid(run_cli) -> None:
    code, out, err = run_cli("check", "--validate", str(EXAMPLES / "audits.yaml"))
    assert (code, out) == (0, ""), err


def test_the_example_config_runs_on_the_bundled_files(tmp_path: Path, run_cli) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    config = folder / "audits.yaml"
    # the ServiceNow audit reads DNS: keep the one made of local files only
    config.write_text(config.read_text().split("  # ServiceNow")[0])
    state = tmp_path / "state"
    state.mkdir()
    code, out, err = run_cli("check", str(config), "--state-dir", str(state))
    assert code == 1, err
    assert out.startswith("examplecloud-mail: drift: 4 missing CIDR(s), 1 extra (exit 1)\n")
    reports = folder / "reports"
    assert sorted(p.name for p in reports.iterdir()) == [
        "examplecloud-mail.json",
        "examplecloud-mail.md",
        "examplecloud-mail.rules",
    ]
    assert "198.51.100.48/28" in (reports / "examplecloud-mail.rules").read_text()


def test_cron_and_systemd_run_check_with_a_state_dir() -> None:
    cron = (EXAMPLES / "allowlist-auditor.cron").read_text()
    line = next(x for x in cron.splitlines() if x and not x.startswith(("#", "MAILTO")))
    assert " check /etc/allowlist-auditor/audits.yaml --state-dir " in line
    assert "flock" not in line  # check locks itself
    service = (EXAMPLES / "allowlist-auditor.service").read_text()
    assert "SuccessExitStatus=1" in service and "--state-dir" in service
    assert "OnCalendar=" in (EXAMPLES / "allowlist-auditor.timer").read_text()
