"""`vidgate classify` through the real console script: output formats and every kind of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from pipelines.results import RESULT_SCHEMA

from ..helpers import (
    tiny_checkpoint,
    write_audio_only,
    write_huge_frame_video,
    write_test_video,
    write_truncated,
)

VIDGATE = [sys.executable, "-m", "service.cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*VIDGATE, *args], capture_output=True, text=True, timeout=300, env=full_env)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    good = write_test_video(root / "good.mp4", frames=96, fps=12)
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video\n" * 50)
    (root / "folder").mkdir()
    (root / "odd_codec.mp4").write_bytes(good.read_bytes().replace(b"avc1", b"zzzz"))  # no decoder knows it
    return {
        "codec": root / "odd_codec.mp4",
        "checkpoint": tiny_checkpoint(root / "tiny.safetensors"),
        "good": good,
        "empty": root / "empty.mp4",
        "text": root / "notes.mp4",
        "audio": write_audio_only(root / "voice.m4a"),
        "truncated": write_truncated(good, root / "cut.mp4"),
        "huge": write_huge_frame_video(root / "huge.mp4"),
        "directory": root / "folder",
        "missing": root / "absent.mp4",
    }


def test_bad_inputs_get_one_line_each_and_the_rest_still_run(files: dict[str, Path]) -> None:
    order = ["empty", "text", "audio", "good", "truncated", "huge", "codec", "directory", "missing"]
    proc = _run(
        "classify", *[str(files[k]) for k in order], "--checkpoint", str(files["checkpoint"]), "--budget", "0.25"
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    expected = {
        "empty": "empty_file",
        "text": "not_a_video",
        "audio": "no_video_stream",
        "truncated": "truncated_video",
        "huge": "video_too_large",
        "codec": "unsupported_codec",
        "directory": "not_a_file",
        "missing": "file_missing",
    }
    assert len(errors) == len(expected), proc.stderr
    for key, code in expected.items():
        line = next(e for e in errors if str(files[key]) in e)
        assert line.endswith(f"[{code}]"), line
        assert line.count(files[key].name) == 1, line  # the file is named once
    assert "good.mp4" in proc.stdout and "selected segments (3 of 12 snippets)" in proc.stdout
    assert "saved" in proc.stdout


def test_json_output_has_a_record_per_file_failures_included_and_debug_shows_a_traceback(
        files: dict[str, Path]) -> None:
    proc = _run("classify", str(files["good"]), "--checkpoint", str(files["checkpoint"]), "--json", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    jsonschema.validate(result, RESULT_SCHEMA)
    assert len(result["labels"]) == 2
    mixed = _run("classify", str(files["text"]), str(files["good"]), str(files["missing"]), "--checkpoint",
                 str(files["checkpoint"]), "--json")
    assert mixed.returncode == 1, mixed.stderr
    records = [json.loads(line) for line in mixed.stdout.strip().splitlines()]
    assert [r["video"] for r in records] == ["notes.mp4", "good.mp4", "absent.mp4"]
    for record, code in ((records[0], "not_a_video"), (records[2], "file_missing")):
        assert set(record) == {"video", "error"} and record["error"]["code"] == code, record
        assert set(record["error"]) == {"code", "message"} and record["video"] not in record["error"]["message"]
    jsonschema.validate(records[1], RESULT_SCHEMA)
    debug = _run("classify", str(files["empty"]), "--checkpoint", str(files["checkpoint"]), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_limits_and_bad_options_and_bad_checkpoint(files: dict[str, Path], tmp_path: Path) -> None:
    too_long = _run(
        "classify", str(files["good"]), "--checkpoint", str(files["checkpoint"]), env={"VIDGATE_MAX_DURATION_S": "2"}
    )
    assert too_long.returncode == 1 and too_long.stderr.strip().endswith("[video_too_long]")
    bad_budget = _run("classify", str(files["good"]), "--checkpoint", str(files["checkpoint"]), "--budget", "3")
    assert bad_budget.returncode == 2 and "budget" in bad_budget.stderr
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(files["checkpoint"].read_bytes()[:1000])
    no_model = _run("classify", str(files["good"]), "--checkpoint", str(broken))
    assert no_model.returncode == 3 and "corrupt or truncated" in no_model.stderr
    assert "Traceback" not in no_model.stderr
    gpu_decoding = _run("classify", str(files["good"]), "--checkpoint", str(files["checkpoint"]),
                        env={"VIDGATE_DEVICE": "cpu", "VIDGATE_DECODER": "torchcodec-cuda"})  # a model off the GPU
    assert gpu_decoding.returncode == 2 and "'torchcodec-cuda'" in gpu_decoding.stderr
    assert "Traceback" not in gpu_decoding.stderr


def test_settings_default_to_the_shipped_model_without_importing_torch() -> None:
    code = (
        "import sys; from service.config import DEMO_CHECKPOINT, get_settings; "
        "assert 'torch' not in sys.modules, 'reading settings imported torch'; "
        "assert get_settings().checkpoint == DEMO_CHECKPOINT and DEMO_CHECKPOINT.is_file(); print(DEMO_CHECKPOINT)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("VIDGATE_")},
    )
    assert proc.returncode == 0, proc.stderr
    from models import DEMO_CHECKPOINT

    assert Path(proc.stdout.strip()) == DEMO_CHECKPOINT


def test_train_flags_are_the_training_recipe_by_construction() -> None:
    """`vidgate train` has one flag per `TrainConfig` field, with the field's default and help; what only research
    varies sits in the one advanced panel, off the first page."""
    import dataclasses

    import typer.main

    from pipelines.training.config import ADVANCED, TrainConfig
    from service.cli import app

    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params}
    recipe = TrainConfig()
    for spec in dataclasses.fields(TrainConfig):
        flag = params[spec.name]
        assert flag.default == getattr(recipe, spec.name), spec.name
        assert flag.help == spec.metadata["help"] and flag.rich_help_panel == spec.metadata["panel"], spec.name
        assert flag.opts == ["--" + spec.name.replace("_", "-")]
    advanced = {name for name, p in params.items() if p.rich_help_panel == ADVANCED}
    assert {"gate_gradient", "gate_run_tolerance", "threshold_band", "threshold_precision", "head_pooling"} <= advanced
    assert not advanced & {"light", "heavy", "max_snippets", "head", "gate_runs", "target_budget", "seed", "device"}
    shown = _run("train", "--help").stdout
    assert "Advanced (research)" in shown and "--threshold-band" in shown and "[default: 0.035]" in shown


def test_an_advanced_train_flag_reaches_the_recipe(files: dict[str, Path], tmp_path: Path) -> None:
    """An advanced flag's value reaches the trainer's recipe: an out-of-range one is the trainer's usage error
    (exit 2, nothing written)."""
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    (data / "videos" / "a.mp4").write_bytes(files["good"].read_bytes())
    (data / "annotations.csv").write_text("video,label,split\nvideos/a.mp4,pour,train\n")
    out = tmp_path / "m.safetensors"
    refused = _run("train", str(data), "--out", str(out), "--quiet", "--threshold-band", "0.5")
    assert refused.returncode == 2 and "threshold_band must be at least 1, got 0.5" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and not out.with_name(out.name + ".work").exists()


def test_classify_names_the_model_and_example_shows_the_truth(files: dict[str, Path]) -> None:
    from service.examples import load_examples

    proc = _run("classify", str(files["good"]), "--checkpoint", str(files["checkpoint"]))
    assert proc.returncode == 0, proc.stderr
    # a checkpoint written before model cards: named, and what its card cannot say is said
    assert "model: tiny-test 0.1.0 (its card does not say what it was trained on)" in proc.stdout
    example = load_examples()[0]
    proc = _run("example", example.name, "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    assert "model: vidgate-demo 0.1.0 (synthetic classes of a benchmark of moving shapes: meaningless on real " \
           "footage)" in proc.stdout
    assert f"truth: {example.label} ({example.events[0].label}" in proc.stdout
    assert f"of {len(example.events)} true events" in proc.stdout
    listed = _run("example", "--list")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == len(load_examples())
    unknown = _run("example", "no-such-example")
    assert unknown.returncode == 2 and "no example 'no-such-example'" in unknown.stderr
    other = _run("example", example.name, "--checkpoint", str(files["checkpoint"]))
    assert other.returncode == 2 and "does not know the examples' classes" in other.stderr


def test_train_refuses_weights_of_another_architecture_before_any_work(files: dict[str, Path], tmp_path: Path) -> None:
    """A wrong pretrained file is a usage error naming what did not match (exit 2), before the work folder."""
    import torch
    from torchvision import models as tvm

    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    (data / "videos" / "a.mp4").write_bytes(files["good"].read_bytes())
    (data / "annotations.csv").write_text("video,label,split\nvideos/a.mp4,pour,train\n")
    weights = tmp_path / "large.pth"
    torch.save(tvm.mobilenet_v3_large(weights=None).state_dict(), weights)
    out = tmp_path / "m.safetensors"
    refused = _run("train", str(data), "--out", str(out), "--quiet", "--light", "mobilenet_v3_small",
                   "--light-weights", str(weights))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "59 of its 240 tensors match" in refused.stderr and "(--allow-partial-weights)" in refused.stderr
    assert not out.with_name(out.name + ".work").exists()


def test_data_import_writes_a_data_set_or_names_every_problem(files: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "clips"
    for name in ("pour/a.mp4", "pour/b.mp4", "stir/c.mp4"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(files["good"].read_bytes())
    done = _run("data", "import", "folders", str(src), str(tmp_path / "data"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'data'}: 3 videos (train 2, test 1), 2 classes")
    assert (tmp_path / "data" / "annotations.csv").read_text().count("\n") == 4

    (src / "stir" / "d.mp4").write_text("not a video\n" * 20)
    (src / "a|b").mkdir()
    (src / "a|b" / "e.mp4").write_bytes(files["good"].read_bytes())
    failed = _run("data", "import", "folders", str(src), str(tmp_path / "more"), "--quiet")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "2 problem(s) in data set" in failed.stderr and "a|b/e.mp4: label 'a|b' contains '|'" in failed.stderr
    assert "stir/d.mp4: " in failed.stderr and not (tmp_path / "more").exists()
    unknown = _run("data", "import", "ucf101", str(src), str(tmp_path / "other"))
    assert unknown.returncode == 2 and "unknown format 'ucf101'" in unknown.stderr
