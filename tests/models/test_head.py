"""Heads: the shared contract, order, counting, and the per-snippet evidence (exact, and right where the
answer is known)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch

from models import HEADS, ComputeProfile, Head, ModelConfig, TemporalHead, VidGate, build_head

F, C = 16, 3


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread is fastest, and on a shared machine several spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Every head, with attention pooling (``head_pooling``), and the temporal head with its events path
# (``head_events``).
KINDS = [*sorted(HEADS), *(f"{name}+attention" for name in sorted(HEADS)), "temporal+events"]


def _head(name: str, classes: int = C, multi_label: bool = False, seed: int = 0) -> Head:
    """``NAME`` or ``NAME+events`` / ``NAME+attention``: the head with an events path / attention pooling."""
    torch.manual_seed(seed)
    base, _, extra = name.partition("+")
    return build_head(base, F, classes, multi_label=multi_label, width=32, events=4 if extra == "events" else 0,
                      pooling="attention" if extra == "attention" else "mean")


def _times(b: int, t: int) -> torch.Tensor:
    return ((torch.arange(t) + 0.5) / t).expand(b, t)


@pytest.mark.parametrize("name", KINDS)
def test_head_contract(name: str) -> None:
    head = _head(name).eval()
    features, times = torch.randn(2, 10, F), _times(2, 10)
    mask = (torch.rand(2, 10) < 0.4).float()
    mask[:, 3] = 1.0
    logits = head(features, mask, times)
    assert logits.shape == (2, C) and torch.isfinite(logits).all()
    # unselected snippets do not count: other features there give the same logits
    other = torch.where(mask.bool().unsqueeze(-1), features, torch.randn(2, 10, F))
    torch.testing.assert_close(head(other, mask, times), logits)
    # one selected snippet, and none at all, still give finite logits
    one = torch.zeros(2, 10)
    one[:, 4] = 1.0
    assert torch.isfinite(head(features, one, times)).all()
    assert torch.isfinite(head(features, torch.zeros(2, 10), times)).all()


@pytest.mark.parametrize("name", KINDS)
def test_gradient_reaches_the_mask(name: str) -> None:
    head = _head(name).train()
    mask = (torch.rand(2, 10) < 0.5).float()
    mask[:, 0] = 1.0
    mask.requires_grad_(True)
    head(torch.randn(2, 10, F), mask, _times(2, 10)).sum().backward()
    assert mask.grad is not None and float(mask.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("selected", [1, 4, 10])
def test_evidence_adds_up_to_the_logits(name: str, selected: int) -> None:
    """Completeness: exact for the pool head, within 0.1% for the temporal head's integrated gradients."""
    head = _head(name).eval()
    features, times = torch.randn(3, 10, F) * 2, _times(3, 10)
    mask = torch.zeros(3, 10)
    for row in range(3):
        mask[row, torch.randperm(10)[:selected]] = 1.0
    with torch.no_grad():
        evidence = head.evidence(features, mask, times)  # (B, T, C)
        logits, empty = head(features, mask, times), head(features, 0 * mask, times)
    assert evidence.shape == (3, 10, C)
    if name.startswith("pool"):
        torch.testing.assert_close(empty + evidence.sum(1), logits, atol=1e-5, rtol=1e-5)
    else:
        error = (empty + evidence.sum(1) - logits).abs().max()
        assert error <= 1e-3 * (logits - empty).abs().max() + 1e-5, (error, (logits - empty).abs().max())
    assert torch.equal(evidence[mask == 0], torch.zeros_like(evidence[mask == 0]))


@pytest.mark.parametrize("name", ["pool", "pool+attention"])
def test_pool_head_puts_all_evidence_on_the_only_snippet_that_shows_something(name: str) -> None:
    head = _head(name).eval()
    features = torch.zeros(1, 8, F)
    features[0, 5] = torch.rand(F) + 0.5  # one event; every other snippet is blank
    with torch.no_grad():
        evidence = head.evidence(features, torch.ones(1, 8), _times(1, 8))
        logits, empty = head(features, torch.ones(1, 8), _times(1, 8)), head(features, torch.zeros(1, 8), _times(1, 8))
    assert torch.equal(evidence[0, [0, 1, 2, 3, 4, 6, 7]], torch.zeros(7, C))
    torch.testing.assert_close(evidence[0, 5], (logits - empty)[0])


def _toy(kind: str, n: int, t: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Toy features ``(n, t, F)``, labels and where the events are ``(n, t)``.

    ``marker``: one snippet shows the class's prototype. ``order``: two events A and B at two random
    snippets; class 0 when A comes first, class 1 otherwise. ``count``: event A once (class 0) or three times
    (class 1). Every other snippet is noise.
    """
    prototypes = torch.randn(C, F, generator=torch.Generator().manual_seed(0)) * 2  # the same for every set
    features = torch.randn(n, t, F, generator=generator) * 0.5
    labels = torch.randint(0, 2 if kind != "marker" else C, (n,), generator=generator)
    where = torch.zeros(n, t, dtype=torch.bool)
    for i in range(n):
        spots = torch.randperm(t, generator=generator)[:3].sort().values.tolist()
        if kind == "marker":
            events = [(spots[0], int(labels[i]))]
        elif kind == "order":
            events = [(spots[0], 0), (spots[2], 1)] if labels[i] == 0 else [(spots[0], 1), (spots[2], 0)]
        else:
            events = [(s, 0) for s in (spots if labels[i] == 1 else spots[:1])]
        for spot, event in events:
            features[i, spot] += prototypes[event]
            where[i, spot] = True
    return features, labels, where


def _fit(head: torch.nn.Module, kind: str, t: int = 12,
         seed: int = 0) -> tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train ``head`` on a toy task with every snippet selected; returns held-out accuracy and the held-out set.

    ``seed`` draws other training and held-out sets (bench/reliability/margins.py runs several)."""
    g = torch.Generator().manual_seed(1 + 10 * seed)
    features, labels, _ = _toy(kind, 512, t, g)
    optimiser = torch.optim.AdamW(head.parameters(), lr=3e-3)
    head.train()
    for _ in range(250):
        idx = torch.randint(0, 512, (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(head(features[idx], torch.ones(64, t), _times(64, t)), labels[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    g.manual_seed(2 + 10 * seed)
    test, test_labels, where = _toy(kind, 256, t, g)
    head.eval()
    with torch.no_grad():
        accuracy = float((head(test, torch.ones(256, t), _times(256, t)).argmax(1) == test_labels).float().mean())
    return accuracy, test, test_labels, where


# The toy trainings below learn: each assertion's margin is measured over seeds and thread counts by
# `python -m bench.reliability --only margins` (docs/reliability.md, "Learned-figure margins").
# Each ``*_figures`` function is what that bench runs; the test runs seed 0.


def order_count_figures(name: str, kind: str, seed: int = 0) -> dict[str, float]:
    """Held-out accuracy of ``name`` on the order or count toy task (and the pool head's on order: chance)."""
    figures = {"accuracy": _fit(_head(name, classes=2, seed=seed), kind, seed=seed)[0]}
    if kind == "order":
        figures["pool_accuracy"] = _fit(_head("pool", classes=2, seed=seed), kind, seed=seed)[0]
    return figures


@pytest.mark.parametrize("name", ["temporal", "temporal+events"])
@pytest.mark.parametrize("kind", ["order", "count"])
def test_temporal_head_reads_order_and_counts_where_pooling_cannot_tell_order(name: str, kind: str) -> None:
    figures = order_count_figures(name, kind)
    assert figures["accuracy"] >= 0.9, (kind, figures)
    if kind == "order":
        assert figures["pool_accuracy"] < 0.65, figures  # the same events in either order: chance


def evidence_figures(name: str, kind: str, seed: int = 0) -> dict[str, float]:
    """Where the evidence for the true class lands, averaged over three initialisations (one toy training can
    land anywhere near the bar): ``on_event``, the share of videos whose strongest term is an event's, and
    ``ratio``, an event's mean term over the others' mean magnitude; ``accuracy``, the worst of the three."""
    on_event, ratio, accuracies = [], [], []
    for init in range(3 * seed, 3 * seed + 3):
        head = _head(name, classes=C if kind == "marker" else 2, seed=init)
        accuracy, test, labels, where = _fit(head, kind, seed=seed)
        accuracies.append(accuracy)
        with torch.no_grad():
            evidence = head.evidence(test, torch.ones(test.shape[:2]), _times(*test.shape[:2]))  # (N, T, C)
        own = evidence.gather(2, labels.view(-1, 1, 1).expand(-1, test.shape[1], 1)).squeeze(2)  # (N, T)
        top = own.argmax(1)
        on_event.append(float(where[torch.arange(len(top)), top].float().mean()))  # the strongest term is an event's
        ratio.append(float((own * where).sum() / where.sum()) / float((own * ~where).sum().abs() / (~where).sum()))
    return {"accuracy": min(accuracies), "on_event": sum(on_event) / 3, "ratio": sum(ratio) / 3}


@pytest.mark.parametrize(("name", "kind"), [("pool", "marker"), ("temporal", "marker"), ("temporal", "order"),
                                            ("temporal+events", "order")])
def test_evidence_lands_on_the_snippets_that_decide(name: str, kind: str) -> None:
    """Where the answer is known (the snippets holding the events), the evidence for the true class is there."""
    figures = evidence_figures(name, kind)
    assert figures["accuracy"] >= 0.9, figures
    assert figures["on_event"] >= 0.85, figures
    assert figures["ratio"] > 5, figures  # an event's term outweighs the others' by far


def test_temporal_head_costs_little_next_to_one_heavy_snippet() -> None:
    model = VidGate(ModelConfig(classes=("a", "b"), light="tiny2d", heavy="tiny3d", num_kernels=8, head="temporal"))
    assert isinstance(model.head, TemporalHead)
    profile = ComputeProfile(model)
    assert 0 < profile.head(64) < 0.1 * profile.heavy_per_snippet()
    with_events = ComputeProfile(VidGate(dataclasses.replace(model.config, head_events=8)))
    assert profile.head(64) < with_events.head(64) < 0.1 * profile.heavy_per_snippet()  # counted, and small


def test_the_events_path_reads_which_event_comes_first_and_how_often() -> None:
    """The events path alone: reversing the times flips its order terms; an unselected snippet adds nothing;
    a repeated event raises its count."""
    head = _head("temporal+events", classes=2)
    assert isinstance(head, TemporalHead)
    head.eval()
    g = torch.Generator().manual_seed(0)
    features = torch.randn(1, 6, F, generator=g) * 3
    times, mask = _times(1, 6), torch.ones(1, 6)
    with torch.no_grad():
        forward, backward = head._events(features, mask, times), head._events(features, mask, 1 - times)
        assert not torch.allclose(forward, backward, atol=1e-4)  # the same snippets in the other order
        dropped = mask.clone()
        dropped[0, 2] = 0
        without = head._events(features, dropped, times)
        features_zeroed = features.clone()
        features_zeroed[0, 2] = torch.randn(F, generator=g) * 3  # what an unselected snippet shows is not read
        assert torch.allclose(without, head._events(features_zeroed, dropped, times), atol=1e-5)
        share = torch.softmax(head.assign(features), -1)[..., :4]
        repeated = torch.cat([features, features[:, :1].expand(1, 2, F)], 1)
        counts_once = share.sum(1)
        counts_more = (torch.softmax(head.assign(repeated), -1)[..., :4]).sum(1)
        assert torch.all(counts_more > counts_once)


def test_model_evidence_matches_its_logits() -> None:
    torch.manual_seed(0)
    model = VidGate(ModelConfig(classes=("a", "b", "c"), light="tiny2d", heavy="tiny3d", num_kernels=8,
                                head="temporal")).eval()
    features = torch.randn(1, 9, model.heavy.num_features)
    mask = torch.tensor([[0, 1, 0, 0, 1, 1, 0, 0, 0]], dtype=torch.float32)
    times = torch.linspace(0.05, 0.95, 9).unsqueeze(0)
    with torch.no_grad():
        evidence = model.evidence(features, mask, times)
        torch.testing.assert_close(
            model.classify(features, 0 * mask, times) + evidence.sum(1),
            model.classify(features, mask, times),
            atol=1e-2,
            rtol=1e-2,
        )
        # the times matter to this head: the same snippets later in the video read differently
        assert not torch.allclose(model.classify(features, mask, times), model.classify(features, mask, times.flip(1)))


def _needle(n: int, t: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One event snippet among ``t``: it shows that something happens (a direction every event shares) and
    which class (a weaker one per class); every snippet carries unit noise in every direction."""
    directions = torch.randn(C + 1, F, generator=torch.Generator().manual_seed(0))
    directions = directions / directions.norm(dim=1, keepdim=True)
    features = torch.randn(n, t, F, generator=generator)
    labels = torch.randint(0, C, (n,), generator=generator)
    spot = torch.randint(0, t, (n,), generator=generator)
    features[torch.arange(n), spot] += 6 * directions[C] + 3 * directions[labels]
    return features, labels


def pooling_figures(seed: int = 0) -> dict[str, float]:
    """Accuracy of mean and attention pooling reading one event among 8 and among 96 snippets
    (``attention_8``, ``attention_96``, ``mean_8``, ``mean_96``)."""
    accuracy: dict[str, dict[int, float]] = {}
    for pooling in ("mean", "attention"):
        head = _head("pool" if pooling == "mean" else "pool+attention", seed=seed)
        g = torch.Generator().manual_seed(1 + 10 * seed)
        optimiser = torch.optim.AdamW(head.parameters(), lr=3e-3)
        head.train()
        for step in range(600):
            t = (8, 24, 96)[step % 3]
            features, labels = _needle(64, t, g)
            loss = torch.nn.functional.cross_entropy(head(features, torch.ones(64, t), _times(64, t)), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        head.eval()
        accuracy[pooling] = {}
        for t in (8, 96):
            features, labels = _needle(512, t, g.manual_seed(2 + 10 * seed))
            with torch.no_grad():
                logits = head(features, torch.ones(512, t), _times(512, t))
            accuracy[pooling][t] = float((logits.argmax(1) == labels).float().mean())
    return {f"{pooling}_{t}": value for pooling, by_t in accuracy.items() for t, value in by_t.items()}


def test_attention_pooling_reads_a_few_relevant_snippets_among_many_as_well_as_alone() -> None:
    """The dense reading of a long video: the head trained on selections of every size, then read one event
    among 8 snippets and among 96. The plain mean averages the event with every other snippet and loses
    it among many; the learned relevance weights keep it."""
    figures = pooling_figures()
    assert figures["attention_96"] >= 0.75, figures
    assert figures["attention_8"] - figures["attention_96"] < 0.15, figures
    assert figures["mean_96"] < figures["attention_96"] - 0.2, figures  # what the mean loses among many


@pytest.mark.parametrize("name", ["pool+attention", "temporal", "temporal+attention"])
def test_attention_stays_finite_when_snippets_left_out_score_far_above_the_selected(name: str) -> None:
    # In training, relevance and attention scores can grow until a snippet the gate left out scores ~100
    # above every selected one and the sink; a softmax shifted by the largest score of all then has every
    # term of its denominator underflow, the weights come out 0/0, and one NaN gradient ruins the gate stage.
    head = _head(name).train()
    with torch.no_grad():
        for module_name, module in head.named_modules():
            if isinstance(module, torch.nn.Linear) and module_name.split(".")[-1] in ("1", "qkv", "key"):
                module.weight.mul_(400.0)  # the bag's relevance (``relevance.1``) and the sequence path's scores
    features, times = torch.randn(2, 12, F), _times(2, 12)
    mask = torch.zeros(2, 12)
    mask[:, [2, 7]] = 1.0
    mask.requires_grad_(True)
    logits = head(features, mask, times)
    logits.sum().backward()
    assert torch.isfinite(logits).all()
    assert mask.grad is not None and torch.isfinite(mask.grad).all()
    bad = [n for n, p in head.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, bad


@pytest.mark.parametrize("name", KINDS)
def test_gradient_reaches_every_snippet_left_out(name: str) -> None:
    # The straight-through mask trains the gate on what selecting a snippet would do: a snippet left out
    # must get a gradient too, not only the selected ones (also when it scores far above the selection).
    head = _head(name).train()
    mask = torch.zeros(2, 10)
    mask[:, [1, 6]] = 1.0
    mask.requires_grad_(True)
    head(torch.randn(2, 10, F), mask, _times(2, 10)).sum().backward()
    assert mask.grad is not None
    assert bool((mask.grad[mask.detach() == 0] != 0).all()), mask.grad
