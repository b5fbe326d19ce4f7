"""Optional packages (pyproject extras) that are missing give one clear line naming the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from models import build_heavy_backbone
from models.extras import MissingExtra


def test_a_backbone_from_a_missing_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("pytorchvideo")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pytorchvideo", None)  # what an uninstalled package looks like to import
    with pytest.raises(MissingExtra, match=r"heavy backbone 'x3d_xs' needs .*pip install 'vidgate\[pytorchvideo\]'"):
        build_heavy_backbone("x3d_xs")
    assert build_heavy_backbone("tiny3d").num_features == 256  # the rest keeps working


def test_the_cli_reports_a_missing_extra_in_one_line() -> None:
    code = ("import sys; sys.modules['pytorchvideo'] = None; from service.cli import main; "
            "sys.argv = ['vidgate', 'smoke', '--heavy', 'x3d_xs', '--snippets', '2']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: heavy backbone 'x3d_xs' needs")
    assert "Traceback" not in proc.stderr
