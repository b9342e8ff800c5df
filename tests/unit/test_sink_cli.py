"""`prefstream sink list|run`: a bad config is one line on stderr and exit code 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prefstream.core.settings import PROJECT_ROOT


def prefstream(*args: str, config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prefstream", *args], capture_output=True, text=True, timeout=60,
                          cwd=PROJECT_ROOT, env={**os.environ, "PREFSTREAM_SINKS": str(config), **env})


def test_bad_config_is_one_line_and_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "sinks.toml"
    bad.write_text('[business_units.crm]\nsections = ["consents"]\n[business_units.crm.target]\ntype = "ftp"\n')
    for args in (("sink", "list"), ("sink", "run", "crm")):
        done = prefstream(*args, config=bad)
        assert done.returncode == 3
        assert done.stderr.strip().count("\n") == 0 and "target.type must be one of" in done.stderr


def test_unknown_business_unit_and_listing(tmp_path: Path) -> None:
    done = prefstream("sink", "run", "nobody", config=PROJECT_ROOT / "deploy" / "sinks.example.toml",
                      MARKETING_WEBHOOK_SECRET="s")
    assert done.returncode == 3 and "no business unit 'nobody'" in done.stderr and "marketing" in done.stderr
    listed = prefstream("sink", "list", config=PROJECT_ROOT / "deploy" / "sinks.example.toml", MARKETING_WEBHOOK_SECRET="s",
                        COLUMNS="200")
    assert listed.returncode == 0 and "marketing" in listed.stdout and "webhook" in listed.stdout
