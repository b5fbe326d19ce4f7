import torch

from models import (
    ModelConfig,
    SelectionRule,
    VidGate,
    batch_shaping_loss,
    beta_prior,
    select_snippets,
    sparsity_loss,
)
from models.gate import beta_cdf


def _model() -> VidGate:
    torch.manual_seed(0)
    return VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=8))


def test_gradients_reach_gate_through_straight_through_estimator() -> None:
    model = _model().train()
    features = torch.randn(2, 10, model.light.num_features)
    out = model.select(features, temperature=0.7)
    assert set(out.mask.unique().tolist()) <= {0.0, 1.0}
    logits = model.classify(torch.randn(2, 10, model.heavy.num_features), out.mask)
    logits.sum().backward()
    grads = [p.grad for p in model.gate.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0
    assert model.concepts.kernels.grad is not None


def test_gate_is_deterministic_without_noise() -> None:
    model = _model().eval()
    features = torch.randn(3, 12, model.light.num_features)
    a = model.select(features)
    b = model.select(features)
    assert torch.equal(a.mask, b.mask) and torch.equal(a.gate_scores, b.gate_scores)
    assert a.concept_activations.shape == (3, 12, 8)


def test_larger_budget_never_selects_fewer_and_never_padding() -> None:
    torch.manual_seed(1)
    gate_scores = torch.rand(4, 20)
    valid = torch.ones(4, 20, dtype=torch.bool)
    valid[1, 5:] = False
    valid[2, 1:] = False
    previous = torch.zeros(4)
    for budget in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0):
        mask = select_snippets(gate_scores, valid, SelectionRule(budget=budget))
        counts = mask.sum(1)
        assert (counts >= previous).all()
        assert (counts >= 1).all()
        assert not (mask & ~valid).any()
        previous = counts
    for count in (1, 2, 5, 30):
        mask = select_snippets(gate_scores, valid, SelectionRule(max_selected=count))
        assert (mask.sum(1) == torch.minimum(valid.sum(1), torch.tensor(count))).all()


def test_budget_keeps_top_scores_and_threshold_never_empty() -> None:
    gate_scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.2]])
    valid = torch.ones(1, 5, dtype=torch.bool)
    mask = select_snippets(gate_scores, valid, SelectionRule(max_selected=2))
    assert mask[0].nonzero().flatten().tolist() == [1, 3]
    mask = select_snippets(gate_scores, valid, SelectionRule(threshold=0.95))
    assert mask[0].nonzero().flatten().tolist() == [1]  # at least one: the best
    mask = select_snippets(gate_scores, valid, SelectionRule(threshold=0.25, max_selected=2))
    assert mask[0].nonzero().flatten().tolist() == [1, 3]
    assert select_snippets(gate_scores, valid, SelectionRule(dense=True)).all()


def test_padding_is_never_selected_by_the_model() -> None:
    model = _model().eval()
    features = torch.randn(2, 8, model.light.num_features)
    valid = torch.ones(2, 8, dtype=torch.bool)
    valid[0, 3:] = False
    for rule in (None, SelectionRule(budget=1.0), SelectionRule(threshold=0.0)):
        out = model.select(features, valid, rule)
        assert out.mask[0, 3:].sum() == 0
        assert (out.gate_scores[0, 3:] == 0).all()
    train_out = _model().train().select(features, valid)
    assert train_out.mask[0, 3:].sum() == 0 and (train_out.mask.sum(1) >= 1).all()


def test_batch_shaping_prefers_u_shape_over_half() -> None:
    valid = torch.ones(1, 200, dtype=torch.bool)
    alpha, beta = beta_prior(0.25)
    u_shaped = torch.cat([torch.full((150,), 0.02), torch.full((50,), 0.97)]).unsqueeze(0)
    stuck = torch.full((1, 200), 0.5)
    always_on = torch.full((1, 200), 0.99)
    loss_u = batch_shaping_loss(u_shaped, valid, alpha, beta)
    assert loss_u < batch_shaping_loss(stuck, valid, alpha, beta)
    assert loss_u < batch_shaping_loss(always_on, valid, alpha, beta)


def test_batch_shaping_gradient_flows_through_sort() -> None:
    p = torch.full((1, 64), 0.5, requires_grad=True)
    loss = batch_shaping_loss(p, torch.ones(1, 64, dtype=torch.bool), 0.2, 0.6)
    loss.backward()
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_beta_cdf_matches_known_values() -> None:
    x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    assert torch.allclose(beta_cdf(x, 1.0, 1.0), x, atol=1e-3)  # uniform
    assert torch.allclose(beta_cdf(torch.tensor([0.5]), 0.5, 0.5), torch.tensor([0.5]), atol=2e-3)  # arcsine
    # arcsine CDF: 2/π · asin(√x)
    assert torch.allclose(beta_cdf(torch.tensor([0.1]), 0.5, 0.5), torch.tensor([0.2048]), atol=2e-3)


def test_sparsity_loss_zero_at_target() -> None:
    valid = torch.ones(1, 4, dtype=torch.bool)
    assert sparsity_loss(torch.tensor([[0.0, 0.5, 0.5, 0.0]]), valid, 0.25) == 0
    assert sparsity_loss(torch.ones(1, 4), valid, 0.25) > 0
