import math

import numpy as np
import pytest
import torch
from torch import nn

import near_optuna.measure._score as score_module
from near_optuna import build_mlp, near_score
from near_optuna.measure._mlp import apply_init
from near_optuna.measure._repetitions import repetition_generator


def erank_by_hand(singular_values: list[float]) -> float:
    p = np.array(singular_values) / sum(singular_values)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def hand_set_mlp() -> nn.Sequential:
    """2 -> 2 (ReLU) -> 1 with weights chosen so every matrix can be worked out by hand."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[1.0, 1.0]]))
        model[2].bias.zero_()
    return model


@pytest.mark.parametrize("method", ["svd", "gram"])
def test_two_layer_mlp_with_hand_set_weights(method):
    # X = diag(3, -1): Z1 = X has singular values (3, 1); H1 = relu(Z1) = diag(3, 0) has rank 1;
    # the output layer has width 1, so it is measured on 1 row: [[3]], effective rank 1.
    x = torch.tensor([[3.0, 0.0], [0.0, -1.0]])
    result = near_score(hand_set_mlp(), x, method=method)
    pre, out = result.layers
    assert (pre.name, pre.width, pre.rows) == ("0", 2, 2)
    assert pre.pre == pytest.approx(erank_by_hand([3.0, 1.0]), rel=1e-12)
    assert pre.post == pytest.approx(1.0, rel=1e-12)
    assert (out.name, out.width, out.rows, out.post) == ("2", 1, 1, None)
    assert out.pre == pytest.approx(1.0)
    expected = erank_by_hand([3.0, 1.0]) + 1.0 + 1.0
    assert result.total == pytest.approx(expected, rel=1e-12)
    assert result.layers[0].total == pytest.approx(erank_by_hand([3.0, 1.0]) + 1.0)


def numpy_near(model: nn.Sequential, x: np.ndarray) -> float:
    """An independent NEAR: the forward pass in numpy, float64, square matrices."""
    total, h = 0.0, x.astype(np.float64)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        w = layer.weight.detach().double().numpy()
        b = layer.bias.detach().double().numpy()
        z = h @ w.T + b
        rows = min(z.shape[1], z.shape[0])
        s = np.linalg.svd(z[:rows], compute_uv=False)
        total += erank_by_hand(list(s))
        if i < len(linears) - 1:
            h = np.tanh(z)
            total += erank_by_hand(list(np.linalg.svd(h[:rows], compute_uv=False)))
    return total


@pytest.mark.parametrize("widths", [[8], [32, 16], [20, 40, 10]])
def test_matches_an_independent_numpy_forward_pass(widths):
    model = build_mlp(6, widths, 3, activation="tanh", seed=4)
    x = torch.randn(50, 6, generator=torch.Generator().manual_seed(1))
    expected = numpy_near(model, x.numpy())
    assert near_score(model, x, method="svd").total == pytest.approx(expected, rel=1e-10)
    assert near_score(model, x, method="gram").total == pytest.approx(expected, rel=1e-6)


def test_uses_the_first_min_width_rows_and_rectangular_matrices_when_short():
    model = build_mlp(4, [16, 3], 2, seed=0)
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    result = near_score(model, x)
    assert [layer.rows for layer in result.layers] == [10, 3, 2]
    # Only the first 3 samples matter to a width-3 layer... and the whole batch to width 16.
    changed = x.clone()
    changed[9] += 1.0
    assert near_score(model, changed).layers[1].pre == result.layers[1].pre
    assert near_score(model, changed).layers[0].pre != result.layers[0].pre


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.act(self.layer(x))
        raise RuntimeError("boom")


def test_no_hook_is_left_behind_when_the_forward_pass_raises(monkeypatch):
    model = Exploding()
    seen = []
    original = score_module.recording

    def spy(probe):
        seen.append(probe)
        return original(probe)

    monkeypatch.setattr(score_module, "recording", spy)
    with pytest.raises(RuntimeError, match="boom"):
        near_score(model, torch.randn(5, 4))
    assert seen
    assert all_hooks(seen[0]) == 0
    assert all_hooks(model) == 0


def test_caller_model_is_untouched():
    model = build_mlp(5, [12, 7], 3, seed=2).train()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    near_score(model, torch.randn(20, 5), repetitions=3, init="normal", seed=1)
    assert model.training
    assert all(m.training for m in model.modules())
    assert model[0].weight.dtype == torch.float32
    assert not model[0].weight.requires_grad
    assert model[2].weight.requires_grad
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all_hooks(model) == 0


def test_runs_under_no_grad():
    seen = []
    model = build_mlp(3, [4], 2, seed=0)

    def init(probe: nn.Module, generator: torch.Generator) -> None:
        probe.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))

    near_score(model, torch.randn(8, 3), init=init)
    assert seen == [False]


def test_same_seed_same_score_and_other_seeds_differ():
    model = build_mlp(8, [24, 24], 4, seed=0)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    first = near_score(model, x, repetitions=3, init="default", seed=7)
    again = near_score(model, x, repetitions=3, init="default", seed=7)
    other = near_score(model, x, repetitions=3, init="default", seed=8)
    assert first == again
    assert first.total != other.total
    assert len(first.totals) == 3
    assert first.std > 0.0


def test_one_repetition_without_init_uses_the_model_weights_exactly():
    model = build_mlp(8, [24], 4, seed=0)
    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    assert near_score(model, x, seed=1).total == near_score(model, x, seed=2).total
    assert near_score(model, x).std == 0.0


@pytest.mark.parametrize("init", ["default", "xavier_uniform", "kaiming_normal", "normal"])
def test_the_chosen_initialisation_is_applied_in_every_repetition(monkeypatch, init):
    calls = []

    def spy(model, scheme, generator):
        apply_init(model, scheme, generator)
        calls.append((scheme, model[0].weight.detach().clone()))

    monkeypatch.setattr(score_module, "apply_init", spy)
    model = build_mlp(16, [64], 4, seed=0)
    near_score(model, torch.randn(80, 16), repetitions=4, init=init, seed=3)
    assert [scheme for scheme, _ in calls] == [init] * 4
    weights = [w for _, w in calls]
    assert all(not torch.equal(weights[0], w) for w in weights[1:]), "each repetition redraws"
    for r, w in enumerate(weights):  # the scheme's own draw, from the repetition's own seed
        fresh = build_mlp(16, [64], 4, seed=0).double()  # the score measures a float64 copy
        apply_init(fresh, init, repetition_generator(3, r))
        assert torch.equal(fresh[0].weight, w), f"repetition {r}"
    if init == "normal":  # and never PyTorch's default, whose std is 1 / sqrt(3 * 16)
        assert all(abs(float(w.std()) - 1.0) < 0.1 for w in weights)


def test_custom_initialisation_function_gets_one_generator_per_repetition():
    generators = []

    def init(model: nn.Module, generator: torch.Generator) -> None:
        generators.append(generator.initial_seed())

    near_score(build_mlp(3, [4], 2), torch.randn(8, 3), repetitions=3, init=init)
    assert len(set(generators)) == 3


def test_conv_model_is_scored_per_channel():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
    )
    x = torch.randn(6, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    result = near_score(model, x, repetitions=2, init="kaiming_normal")
    assert [(layer.name, layer.width, layer.rows) for layer in result.layers] == [
        ("0", 8, 8),
        ("2", 4, 4),
        ("6", 5, 5),
    ]
    assert result.layers[0].post is not None
    assert result.layers[1].post is not None
    assert math.isfinite(result.total)
    assert result.total > 0


def test_sequence_outputs_are_flattened_to_rows():
    model = nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.Linear(16, 3))
    x = torch.randn(4, 10, 5, generator=torch.Generator().manual_seed(0))
    result = near_score(model, x)
    assert [(layer.width, layer.rows) for layer in result.layers] == [(16, 16), (3, 3)]
    assert result == near_score(model, x), "the row block is seeded"
    # With exactly as many (sample, token) rows as neurons, every row is used.
    short = x[:4, :4]
    flat = near_score(model, short.reshape(16, 5))
    layer = near_score(model, short).layers[0]
    assert (layer.rows, layer.pre, layer.post) == (
        16,
        pytest.approx(flat.layers[0].pre, 1e-12),
        pytest.approx(flat.layers[0].post, 1e-12),
    )


def test_in_place_activation_measures_the_real_pre_activation():
    x = torch.randn(30, 6, generator=torch.Generator().manual_seed(0))
    plain = build_mlp(6, [20], 3, seed=1)
    inplace = build_mlp(6, [20], 3, seed=1)
    inplace[1] = nn.ReLU(inplace=True)
    assert near_score(inplace, x).total == pytest.approx(near_score(plain, x).total, rel=1e-12)


def test_norm_between_layer_and_activation_is_part_of_the_pre_activation():
    model = nn.Sequential(nn.Linear(6, 12), nn.LayerNorm(12), nn.ReLU(), nn.Linear(12, 2))
    result = near_score(model, torch.randn(30, 6))
    assert [layer.name for layer in result.layers] == ["0", "3"]
    assert result.layers[0].post is not None


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_functional_activations_are_measured_on_pre_activations_only():
    result = near_score(Functional(), torch.randn(20, 4))
    assert [(layer.name, layer.post) for layer in result.layers] == [("a", None), ("b", None)]


def test_explicit_cpu_device():
    model = build_mlp(4, [8], 2, seed=0)
    x = torch.randn(10, 4)
    assert near_score(model, x, device="cpu").total == near_score(model, x).total


def test_numpy_inputs_are_accepted():
    model = build_mlp(4, [8], 2, seed=0)
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    assert near_score(model, x).total == near_score(model, torch.from_numpy(x)).total


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    model = build_mlp(4, [32], 2, seed=0)
    x = torch.randn(40, 4)
    cpu = near_score(model, x, device="cpu").total
    assert near_score(model, x, device="cuda").total == pytest.approx(cpu, rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"repetitions": 0}, ValueError, "`repetitions` must be >= 1, but got repetitions=0"),
        ({"init": "glorot"}, ValueError, "`init` must be one of default, xavier_uniform"),
        ({"method": "qr"}, ValueError, "`method` must be one of"),
        ({"device": "tpu:what"}, ValueError, "`device` must name a torch device"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        near_score(build_mlp(4, [8], 2), torch.randn(10, 4), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(ValueError, match="`device` is 'cuda', but CUDA is not available"):
        near_score(build_mlp(4, [8], 2), torch.randn(10, 4), device="cuda")


@pytest.mark.parametrize(
    ("inputs", "error", "message"),
    [
        (
            torch.randn(10, 5),
            ValueError,
            r"`inputs` must have 4 features \(last dimension\), as the model's first layer Linear "
            r"expects, but got shape \(10, 5\)",
        ),
        (torch.zeros(0, 4), ValueError, "at least one sample"),
        (torch.zeros(4), ValueError, "at least one sample"),
        (torch.tensor([[1.0, float("nan"), 0.0, 0.0]]), ValueError, "`inputs` must be finite"),
        ("text", TypeError, "`inputs` must be a torch tensor or numpy array, but got str"),
    ],
)
def test_bad_inputs_are_refused(inputs, error, message):
    with pytest.raises(error, match=message):
        near_score(build_mlp(4, [8], 2), inputs)


def test_conv_channel_mismatch_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ValueError, match=r"must have 3 channels \(dimension 1\)"):
        near_score(model, torch.randn(2, 1, 8, 8))


def test_model_without_measurable_layer_is_refused():
    with pytest.raises(ValueError, match="`model` has no measurable layer: NEAR needs one of"):
        near_score(nn.Sequential(nn.ReLU()), torch.randn(3, 4))


def test_overflowing_activations_are_an_error_not_a_nan():
    def huge(model: nn.Module, generator: torch.Generator) -> None:
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.fill_(1e200)

    with pytest.raises(ValueError, match="activations of layer '2' are not finite"):
        near_score(build_mlp(4, [8, 8], 2), torch.randn(10, 4), init=huge)
