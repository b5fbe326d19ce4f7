import torch

from models import ComputeProfile, ModelConfig, VidGate, build_heavy_backbone, count_gflops


def test_stage_gflops_positive_and_video_totals_add_up() -> None:
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", num_kernels=8))
    profile = ComputeProfile(model)
    for value in (profile.light_per_frame(), profile.heavy_per_snippet(), profile.gate(16), profile.head(16)):
        assert value > 0
    video = profile.video(16, 4)
    assert abs(video["heavy"] - 4 * profile.heavy_per_snippet()) < 1e-9
    assert abs(video["total"] - (video["light"] + video["gate"] + video["heavy"] + video["head"])) < 1e-9
    assert video["dense"] > video["heavy"]


def test_doubling_frames_roughly_doubles_3d_flops() -> None:
    for name in ("tiny3d", "r3d_18"):
        net = build_heavy_backbone(name).eval()
        short = count_gflops(net, torch.zeros(1, 3, 8, 64, 64))
        long = count_gflops(net, torch.zeros(1, 3, 16, 64, 64))
        assert 1.8 < long / short < 2.2, (name, short, long)
        bigger = count_gflops(net, torch.zeros(1, 3, 8, 128, 128))
        assert 3.5 < bigger / short < 4.5


def test_counting_leaves_the_model_in_its_mode() -> None:
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", num_kernels=8))
    for training in (False, True):
        model.train(training)
        ComputeProfile(model).video(12, 3)  # counts every stage, each through a fresh wrapper module
        assert all(m.training is training for m in model.modules())
