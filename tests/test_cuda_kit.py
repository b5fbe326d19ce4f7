"""bench/cuda.sh, the GPU bench's kit for a host with no network: its refusals (the kit itself needs the network,
the run a GPU host; both ran by hand, see docs/inference.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script from a copy of the tree's bench/ in ``tmp_path`` (it works from the tree it sits in), called by a
    path relative to a folder other than the tree's root, as people type it."""
    (tmp_path / "bench").mkdir(exist_ok=True)
    shutil.copy(ROOT / "bench" / "cuda.sh", tmp_path / "bench" / "cuda.sh")
    return subprocess.run(["bash", "./cuda.sh", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, cwd=tmp_path / "bench")


def test_without_a_command_it_shows_how_to_use_it(tmp_path: Path) -> None:
    proc = _script(tmp_path)
    assert proc.returncode == 2
    assert "bench/cuda.sh kit" in proc.stderr and "bench/cuda.sh run" in proc.stderr


def test_run_without_the_wheels_says_where_they_come_from(tmp_path: Path) -> None:
    proc = _script(tmp_path, "run")
    assert proc.returncode == 2
    assert "bench/cuda.sh kit" in proc.stderr and ".whl/" in proc.stderr


def test_kit_without_the_environment_says_how_to_make_it(tmp_path: Path) -> None:
    proc = _script(tmp_path, "kit")
    assert proc.returncode == 2
    assert "make .venv/.installed" in proc.stderr
    assert not (tmp_path / ".whl").exists()  # nothing half-made
