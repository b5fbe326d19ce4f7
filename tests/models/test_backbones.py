import pytest
import torch

from models import HEAVY_BACKBONES, LIGHT_ENCODERS, build_heavy_backbone, build_light_encoder
from models._registry import Registry


@pytest.mark.parametrize("name", HEAVY_BACKBONES.names())
def test_heavy_backbone_shape(name: str) -> None:
    torch.manual_seed(0)
    net = build_heavy_backbone(name).eval()
    with torch.no_grad():
        features = net.forward_features(torch.randn(2, 3, 8, 64, 64))
    assert features.shape == (2, net.num_features)
    assert torch.isfinite(features).all()


@pytest.mark.parametrize("name", LIGHT_ENCODERS.names())
def test_light_encoder_shape(name: str) -> None:
    net = build_light_encoder(name).eval()
    with torch.no_grad():
        features = net(torch.randn(3, 3, 64, 96))
    assert features.shape == (3, net.num_features)


def test_registry_rejects_duplicates_and_lists_known_names() -> None:
    registry: Registry[int] = Registry("thing")
    registry.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(lambda: 2)
    with pytest.raises(KeyError, match="known: a"):
        registry.build("b")
    with pytest.raises(KeyError, match="x3d_xs"):
        build_heavy_backbone("nope")
