from pathlib import Path
from typing import Any

import pytest
import torch

from models import (
    DEMO_CHECKPOINT,
    CheckpointError,
    ModelConfig,
    PoolHead,
    VidGate,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)


def _model(**overrides: object) -> VidGate:
    torch.manual_seed(0)
    config = ModelConfig(classes=("pour", "stir"), light="tiny2d", heavy="tiny3d", num_kernels=4, **overrides)  # type: ignore[arg-type]
    return VidGate(config).eval()


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = _model(threshold=0.4, snippet_frames=4)
    path = save_checkpoint(model, tmp_path / "m.safetensors", extra={"note": "test"})
    loaded, extra = load_checkpoint(path)
    assert loaded.config == model.config and extra == {"note": "test"}
    frames = torch.randn(5, 3, 32, 32)
    clips = torch.randn(5, 3, 4, 32, 32)
    for a, b in zip(_outputs(model, frames, clips), _outputs(loaded, frames, clips), strict=True):
        assert torch.equal(a, b)


@torch.no_grad()
def _outputs(model: VidGate, frames: torch.Tensor, clips: torch.Tensor) -> tuple[torch.Tensor, ...]:
    features = model.encode_frames(frames).unsqueeze(0)  # (1, T, D)
    gate = model.select(features)
    logits = model.classify(model.encode_snippets(clips).unsqueeze(0), gate.mask)
    return features, gate.gate_scores, logits


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_garbage_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_mismatched_weights_name_the_problem(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(_model(), tmp_path / "m.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    tensors["head.fc.weight"] = torch.zeros(7, 3)
    del tensors["gate.score.2.bias"]
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"missing.*gate\.score\.2\.bias.*wrong shape.*head\.fc\.weight"):
        load_checkpoint(path)


def _examples(kernels: int, per_kernel: int, nbytes: int = 100) -> list[list[dict[str, Any]]]:
    return [[{"jpeg": bytes([k, j]) * (nbytes // 2), "video": f"v{j}.mp4", "time": 1.5 * j, "activation": 3.0 - j}
             for j in range(per_kernel)] for k in range(kernels)]


def test_concept_examples_travel_in_the_checkpoint_outside_the_weights(tmp_path: Path) -> None:
    from models.checkpoint import CONCEPT_EXAMPLES_MAX_BYTES, add_concept_examples, read_concept_examples

    model = _model()  # 4 kernels
    path = save_checkpoint(model, tmp_path / "m.safetensors", concept_examples=_examples(4, 3))
    got = read_concept_examples(path, 2)
    assert got is not None and [e["video"] for e in got] == ["v0.mp4", "v1.mp4", "v2.mp4"]
    assert got[1]["jpeg"] == bytes([2, 1]) * 50 and got[1]["time"] == 1.5 and got[1]["activation"] == 2.0
    loaded, _ = load_checkpoint(path)  # the examples are not weights: the model loads exactly
    assert loaded.config == model.config
    with pytest.raises(IndexError):
        read_concept_examples(path, 4)

    plain = save_checkpoint(model, tmp_path / "plain.safetensors")
    assert read_concept_examples(plain, 0) is None
    before = load_checkpoint(plain)[0].state_dict()
    add_concept_examples(plain, _examples(4, 1))  # added afterwards: the weights stay as they were
    assert read_concept_examples(plain, 3)[0]["jpeg"] == bytes([3, 0]) * 50  # type: ignore[index]
    after = load_checkpoint(plain)[0].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(CheckpointError, match="4 concept kernels"):
        add_concept_examples(plain, _examples(3, 1))
    with pytest.raises(CheckpointError, match="budget"):
        add_concept_examples(plain, _examples(4, 1, nbytes=CONCEPT_EXAMPLES_MAX_BYTES // 2))


def test_a_temporal_head_round_trips_and_the_checkpoint_names_its_head(tmp_path: Path) -> None:
    model = _model(head="temporal", threshold=0.31, threshold_rule="smallest selection within 1 point of dense")
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    loaded, _ = load_checkpoint(path)
    assert loaded.config.head == "temporal" and loaded.config == model.config
    assert read_metadata(path)["config"]["head"] == "temporal"
    features, mask = torch.randn(1, 6, model.heavy.num_features), torch.tensor([[1.0, 0, 1, 1, 0, 0]])
    with torch.no_grad():
        assert torch.equal(model.classify(features, mask), loaded.classify(features, mask))


def _rewrite_metadata(path: Path, change: Any) -> Path:
    """Rewrite a checkpoint's metadata with ``change(meta)``; the weights stay as they are."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["vidgate"])
    change(meta)
    save_file(load_file(str(path)), str(path), metadata={"vidgate": json.dumps(meta)})
    return path


def test_a_version_1_checkpoint_is_migrated_by_the_table_not_by_defaults(tmp_path: Path) -> None:
    """A checkpoint written before the config had a version lacks the fields added since; each gets the value
    `CONFIG_MIGRATIONS` says version 1 meant (a pool head, 64 snippets, no calibration rule), whatever
    `ModelConfig`'s defaults are. A field it does hold is kept."""
    from models.checkpoint import read_config
    from models.config import CONFIG_MIGRATIONS, CONFIG_VERSION

    assert read_metadata(save_checkpoint(_model(), tmp_path / "new.safetensors"))["config_version"] == CONFIG_VERSION
    added = ("head", "head_width", "head_events", "head_pooling", "threshold_rule", "max_snippets")
    assert set(CONFIG_MIGRATIONS[1]) == set(added)

    def version_1(meta: dict[str, Any]) -> None:
        del meta["config_version"]
        for name in added:
            del meta["config"][name]

    old = _model(head="pool", head_pooling="mean", max_snippets=64)  # what version 1 wrote
    path = _rewrite_metadata(save_checkpoint(old, tmp_path / "old.safetensors"), version_1)
    loaded, _ = load_checkpoint(path)
    assert loaded.config == read_config(path)
    assert loaded.config.head == "pool" and isinstance(loaded.head, PoolHead) and loaded.config.threshold_rule is None
    assert loaded.config.head_pooling == "mean" and loaded.head.pooling == "mean"
    assert loaded.config.max_snippets == 64 and loaded.config.head_events == 0
    assert {name: getattr(loaded.config, name) for name in added} == CONFIG_MIGRATIONS[1]
    assert ModelConfig(classes=("a",)).head != "pool"  # the defaults are the recipe's, not what version 1 meant

    def version_1_with_a_temporal_head(meta: dict[str, Any]) -> None:
        del meta["config_version"], meta["config"]["head_events"], meta["config"]["head_pooling"]

    temporal = _rewrite_metadata(save_checkpoint(_model(head="temporal", head_pooling="mean", max_snippets=24),
                                                 tmp_path / "between.safetensors"), version_1_with_a_temporal_head)
    config = read_config(temporal)
    assert (config.head, config.max_snippets, config.head_events, config.head_pooling) == ("temporal", 24, 0, "mean")


def test_a_version_2_checkpoint_normalises_both_networks_with_its_one_mean_and_std(tmp_path: Path) -> None:
    """Version 2 held one ``mean`` and ``std`` for both networks; each network's own fields get them, whatever
    they were, and the old names are gone."""
    from models.checkpoint import read_config
    from models.config import CONFIG_MIGRATIONS

    assert set(CONFIG_MIGRATIONS[2]) == {"light_mean", "light_std", "heavy_mean", "heavy_std"}
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]

    def version_2(meta: dict[str, Any]) -> None:
        meta["config_version"] = 2
        for name in ("light_mean", "light_std", "heavy_mean", "heavy_std"):
            del meta["config"][name]
        meta["config"].update(mean=mean, std=std)

    path = _rewrite_metadata(save_checkpoint(_model(), tmp_path / "v2.safetensors"), version_2)
    config = read_config(path)
    assert config.light_mean == config.heavy_mean == tuple(mean)
    assert config.light_std == config.heavy_std == tuple(std)
    assert load_checkpoint(path)[0].config == config
    current = _rewrite_metadata(save_checkpoint(_model(), tmp_path / "v3.safetensors"),
                                lambda meta: meta["config"].update(mean=mean))
    with pytest.raises(CheckpointError, match=r"unknown fields \['mean'\]"):  # a current config has no `mean`
        load_checkpoint(current)


def test_a_current_checkpoint_lacking_a_field_or_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    from models.config import CONFIG_VERSION

    path = _rewrite_metadata(save_checkpoint(_model(), tmp_path / "m.safetensors"),
                             lambda meta: meta["config"].pop("head"))
    with pytest.raises(CheckpointError, match=f"config of version {CONFIG_VERSION} lacks head"):
        load_checkpoint(path)
    newer = _rewrite_metadata(save_checkpoint(_model(), tmp_path / "n.safetensors"),
                              lambda meta: meta.update(config_version=99))
    with pytest.raises(CheckpointError, match=r"config version 99 .*newer vidgate"):
        load_checkpoint(newer)
    unknown = _rewrite_metadata(save_checkpoint(_model(), tmp_path / "u.safetensors"),
                                lambda meta: meta["config"].update(head_depth=3))
    with pytest.raises(CheckpointError, match=r"unknown fields \['head_depth'\]"):
        load_checkpoint(unknown)


def test_a_checkpoint_naming_an_unknown_pooling_is_a_checkpoint_error(tmp_path: Path) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(_model(), tmp_path / "odd.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["vidgate"])
    meta["config"]["head_pooling"] = "median"
    save_file(load_file(str(path)), str(path), metadata={"vidgate": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="unknown pooling 'median'"):
        load_checkpoint(path)


def test_the_shipped_demo_model_loads() -> None:
    model, extra = load_checkpoint(DEMO_CHECKPOINT)
    assert model.config.head in ("pool", "temporal") and "training" in extra
    if "config_version" not in read_metadata(DEMO_CHECKPOINT):  # written before config versions: migrated
        assert model.config.head_pooling == "mean" and model.config.head_events == 0
    features = torch.randn(1, 12, model.heavy.num_features)
    with torch.no_grad():
        scores = model.scores(model.classify(features, torch.ones(1, 12)))
    assert torch.allclose(scores.sum(), torch.tensor(1.0))
