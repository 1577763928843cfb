import math

import pytest
import torch
from torch import nn

from near_optuna import ACTIVATIONS, INITS, build_mlp
from near_optuna.measure._mlp import apply_init


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_structure_for_every_activation(activation):
    model = build_mlp(7, [5, 3], 2, activation=activation, seed=0)
    kinds = [type(m) for m in model]
    act = ACTIVATIONS[activation]
    assert kinds == [nn.Linear, act, nn.Linear, act, nn.Linear], activation
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)] == [
        (7, 5),
        (5, 3),
        (3, 2),
    ]


def test_no_hidden_layer_is_a_linear_model():
    model = build_mlp(4, [], 3)
    assert [type(m) for m in model] == [nn.Linear]


@pytest.mark.parametrize("init", [i for i in INITS if i != "default"])
def test_named_schemes_zero_the_biases(init):
    model = build_mlp(30, [40], 5, init=init, seed=0)
    assert all(
        float(m.bias.detach().abs().max()) == 0.0 for m in model if isinstance(m, nn.Linear)
    )


def test_default_follows_pytorch_bounds():
    model = build_mlp(30, [40], 5, init="default", seed=0)
    layer = model[0].requires_grad_(False)
    bound = 1 / math.sqrt(30)
    assert float(layer.weight.abs().max()) <= bound
    assert 0 < float(layer.bias.abs().max()) <= bound


def test_scheme_scales():
    x = {name: build_mlp(400, [400], 2, init=name, seed=0)[0].weight.detach() for name in INITS}
    assert float(x["normal"].std()) == pytest.approx(1.0, rel=0.02)
    assert float(x["kaiming_normal"].std()) == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert float(x["xavier_normal"].std()) == pytest.approx(math.sqrt(2 / 800), rel=0.02)
    q = x["orthogonal"]
    assert torch.allclose(q @ q.T, torch.eye(400), atol=1e-4)


@pytest.mark.parametrize("init", INITS)
def test_seeded_and_reproducible(init):
    a = build_mlp(6, [9], 2, init=init, seed=3).state_dict()
    b = build_mlp(6, [9], 2, init=init, seed=3).state_dict()
    c = build_mlp(6, [9], 2, init=init, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def test_apply_init_with_a_function_and_norm_layers():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    with torch.no_grad():
        model[1].weight.fill_(5.0)
    apply_init(model, "xavier_uniform", torch.Generator().manual_seed(0))
    assert torch.equal(model[1].weight, torch.ones(4)), "norm layers are reset"
    seen = []
    apply_init(model, lambda m, g: seen.append(torch.is_grad_enabled()), torch.Generator())
    assert seen == [False]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_features": 0}, "`in_features` must be >= 1, but got in_features=0"),
        ({"out_features": -1}, "`out_features` must be >= 1"),
        ({"widths": [4, 0]}, r"`widths` must all be >= 1, but widths\[1\]=0"),
        (
            {"activation": "swish"},
            "`activation` must be one of relu, leaky_relu, elu, selu, "
            "gelu, silu, tanh, sigmoid, softplus, mish, but got 'swish'",
        ),
        (
            {"init": "he"},
            "`init` must be one of default, xavier_uniform, xavier_normal, "
            "kaiming_uniform, kaiming_normal, orthogonal, normal, but got 'he'",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"in_features": 3, "widths": [4], "out_features": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        build_mlp(args.pop("in_features"), args.pop("widths"), args.pop("out_features"), **args)


def every_weight_layer() -> nn.Module:
    # One of each kind NEAR measures: the initialisation must reach all of them.
    return nn.ModuleDict(
        {
            "linear": nn.Linear(6, 5),
            "bilinear": nn.Bilinear(4, 3, 5),
            "conv1d": nn.Conv1d(3, 4, 3),
            "conv2d": nn.Conv2d(3, 4, 3),
            "conv3d": nn.Conv3d(2, 3, 2),
            "deconv1d": nn.ConvTranspose1d(3, 4, 3),
            "deconv2d": nn.ConvTranspose2d(3, 4, 3),
            "deconv3d": nn.ConvTranspose3d(2, 3, 2),
        }
    )


@pytest.mark.parametrize("init", INITS)
def test_every_scheme_reaches_every_weight_layer(init):
    model = every_weight_layer().requires_grad_(False)
    before = {name: m.weight.clone() for name, m in model.items()}
    apply_init(model, init, torch.Generator().manual_seed(1))
    for name, module in model.items():
        assert not torch.equal(module.weight, before[name]), f"{init} left {name} as it was"
        if init != "default":
            assert float(module.bias.abs().max()) == 0.0, f"{init}: bias of {name} not zeroed"
    again = every_weight_layer().requires_grad_(False)
    apply_init(again, init, torch.Generator().manual_seed(1))
    for name, module in model.items():
        assert torch.equal(module.weight, again[name].weight), f"{init}: {name} not seeded"


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("bilinear", 1 / math.sqrt(4)),  # PyTorch: U(+-1/sqrt(in1_features))
        ("deconv2d", 1 / math.sqrt(4 * 3 * 3)),  # fan_in = weight.size(1) * kernel area
        ("deconv1d", 1 / math.sqrt(4 * 3)),
    ],
)
def test_default_redraws_bilinear_and_transposed_convs_within_pytorch_bounds(name, bound):
    model = every_weight_layer().requires_grad_(False)
    apply_init(model, "default", torch.Generator().manual_seed(0))
    module = model[name]
    for tensor in (module.weight, module.bias):
        assert float(tensor.abs().max()) <= bound + 1e-12, name
        assert float(tensor.abs().max()) > 0.5 * bound, f"{name}: not spread over its bounds"


def test_the_torch_free_name_lists_match_the_tables():
    from near_optuna.measure._names import ACTIVATION_NAMES, INIT_NAMES, SCORE_NAMES
    from near_optuna.measure._peers import SCORES

    assert tuple(ACTIVATIONS) == ACTIVATION_NAMES
    assert INITS == INIT_NAMES
    assert tuple(SCORES) == SCORE_NAMES
