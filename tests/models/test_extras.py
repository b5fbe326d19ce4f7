"""Optional packages (pyproject extras) that are missing give one clear line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models import build_heavy_backbone
from models.extras import MissingExtra

ROOT = Path(__file__).resolve().parents[2]


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


def test_an_evaluation_without_matplotlib_writes_its_tables_and_says_how_to_get_the_plot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipelines.evaluation_report import write_report

    report = json.loads((ROOT / "docs" / "results" / "evaluation.json").read_text())
    for name in [m for m in sys.modules if m.startswith("matplotlib")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    said: list[str] = []
    paths = write_report(report, tmp_path, log=said.append)
    assert set(paths) == {"json", "markdown"} and all(p.exists() for p in paths.values())
    assert not (tmp_path / "evaluation.png").exists()
    assert len(said) == 1 and "pip install 'vidgate[plots]'" in said[0]


def test_the_decord_backend_without_decord_is_a_bad_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pipelines.decoding import open_decoder
    from pipelines.errors import OptionsError

    from ..helpers import write_test_video

    video = write_test_video(tmp_path / "clip.mp4", frames=16)
    monkeypatch.setitem(sys.modules, "decord", None)
    with pytest.raises(OptionsError, match=r"pip install 'vidgate\[decord\]'"):
        open_decoder(video, "decord")


@pytest.mark.parametrize(("backend", "extra"), [("decord", "decord"), ("torchcodec", "torchcodec"),
                                                ("torchcodec-cuda", "torchcodec")])
def test_an_optional_backend_not_installed_names_its_extra(backend: str, extra: str, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Where the package is not installed at all, its backend is not registered: asking for it by name still
    says what to install, not that the name is unknown."""
    from pipelines.decoding import BACKENDS, open_decoder
    from pipelines.errors import OptionsError

    from ..helpers import write_test_video

    video = write_test_video(tmp_path / "clip.mp4", frames=16)
    monkeypatch.delitem(BACKENDS, backend, raising=False)
    hint = rf"'{backend}' needs the optional package: pip install 'vidgate\[{extra}\]'"
    with pytest.raises(OptionsError, match=hint):
        open_decoder(video, backend)
