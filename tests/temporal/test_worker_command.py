"""``showrunner worker`` refuses to start without what it needs, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHOWRUNNER_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", "worker"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), "SHOWRUNNER_PROVIDER": "demo", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_without_a_temporal_address_says_which_setting(tmp_path: Path) -> None:
    result = run_worker(tmp_path)
    assert result.returncode == 2
    assert "SHOWRUNNER_TEMPORAL_ADDRESS is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_that_cannot_reach_temporal_says_where(tmp_path: Path) -> None:
    result = run_worker(tmp_path, SHOWRUNNER_TEMPORAL_ADDRESS="127.0.0.1:9")
    assert result.returncode == 2
    assert "cannot reach Temporal at 127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
