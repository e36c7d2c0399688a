"""keras_init_ on whole models, without TensorFlow: coverage, fans, targets, recurrent
layouts, forget bias, bad input.  The comparison with real Keras layers is in
test_modules_vs_keras.py."""

import math
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from parity import Initializer, describe
from parity.fans import rounded_to
from parity.modules import (
    KerasInitWarning,
    keras_hyperparameters_,
    keras_init_,
    keras_init_plan,
)
from parity.samplers import Constant, Orthogonal, Uniform


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    state = module.state_dict()
    return {k: v.detach().clone() for k, v in state.items() if not is_lazy(v)}


def assert_unchanged(module: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = {k: v for k, v in module.state_dict().items() if not is_lazy(v)}
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), f"{key} changed"


def keras_bound(value: float) -> float:
    """A uniform bound as Keras hands it to TensorFlow: rounded to float32."""
    return torch.tensor(value, dtype=torch.float32).item()


def glorot_limit(fan_in: int, fan_out: int) -> float:
    return keras_bound(math.sqrt(6.0 / (fan_in + fan_out)))


# One module per supported type, the Keras layer it must map to, and its parameter count.
COVERAGE = [
    (lambda: nn.Linear(20, 30), "Dense"),
    (lambda: nn.Conv1d(4, 6, 5), "Conv1D"),
    (lambda: nn.Conv2d(4, 6, 3, groups=2), "Conv2D"),
    (lambda: nn.Conv3d(2, 3, 3), "Conv3D"),
    (lambda: nn.Conv1d(4, 8, 3, groups=4), "DepthwiseConv1D"),
    (lambda: nn.Conv2d(4, 8, 3, groups=4), "DepthwiseConv2D"),
    (lambda: nn.Conv3d(4, 8, 3, groups=4), "Conv3D"),  # Keras has no DepthwiseConv3D
    (lambda: nn.ConvTranspose1d(4, 6, 3), "Conv1DTranspose"),
    (lambda: nn.ConvTranspose2d(4, 6, 3), "Conv2DTranspose"),
    (lambda: nn.ConvTranspose3d(4, 6, 3), "Conv3DTranspose"),
    (lambda: nn.Embedding(50, 8, padding_idx=3), "Embedding"),
    (lambda: nn.EmbeddingBag(50, 8), "Embedding"),
    (lambda: nn.RNN(5, 7, num_layers=2), "SimpleRNN"),
    (lambda: nn.LSTM(5, 7, num_layers=2, bidirectional=True), "Bidirectional(LSTM)"),
    (lambda: nn.GRU(5, 7), "GRU"),
    (lambda: nn.RNNCell(5, 7), "SimpleRNNCell"),
    (lambda: nn.LSTMCell(5, 7), "LSTMCell"),
    (lambda: nn.GRUCell(5, 7), "GRUCell"),
    (lambda: nn.BatchNorm1d(6), "BatchNormalization"),
    (lambda: nn.BatchNorm2d(6), "BatchNormalization"),
    (lambda: nn.BatchNorm3d(6), "BatchNormalization"),
    (lambda: nn.LayerNorm((4, 6)), "LayerNormalization"),
    (lambda: nn.GroupNorm(2, 6), "GroupNormalization"),
    (lambda: nn.InstanceNorm2d(6, affine=True), "GroupNormalization(groups=-1)"),
    (lambda: nn.RMSNorm(6), "RMSNormalization"),
    (lambda: nn.PReLU(6), "PReLU"),
    (lambda: nn.MultiheadAttention(16, 4), "MultiHeadAttention"),
    (lambda: nn.MultiheadAttention(16, 4, kdim=6, vdim=10, bias=False), "MultiHeadAttention"),
]


@pytest.mark.parametrize(("factory", "layer"), COVERAGE)
def test_every_parameter_of_every_supported_layer_is_written_from_its_target(factory, layer):
    module = factory()
    plan = keras_init_plan(module)
    assert {p.layer for p in plan} == {layer}
    planned = {name for p in plan for name in p.parameters}
    assert {n for n, _ in module.named_parameters()} <= planned
    # Poison every value: anything keras_init_ does not write stays NaN.
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.fill_(math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_init_(module, generator=gen())
    state = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, tensor in state.items():
        if tensor.is_floating_point():
            assert not tensor.isnan().any(), name
    for entry in plan:
        target = entry.target
        if isinstance(target, Constant) and len(entry.parameters) == 1:
            values = state[entry.parameters[0]]
            if "[" in entry.weight or entry.weight in ("query/bias", "key/bias", "value/bias"):
                continue  # a block of a parameter: LSTM gates (tested below), in_proj_bias
            assert torch.all(values == target.value), entry
        elif isinstance(target, Uniform):
            values = torch.cat([state[p].flatten() for p in entry.parameters])
            assert values.abs().max() <= target.high, entry
    if layer == "MultiHeadAttention" and module.in_proj_bias is not None:
        assert torch.all(module.in_proj_bias == 0)


def test_bias_free_and_affine_free_layers():
    model = nn.Sequential(
        nn.Linear(4, 4, bias=False),
        nn.Conv2d(2, 2, 3, bias=False),
        nn.LSTM(3, 4, bias=False),
        nn.GRU(3, 4, bias=False),
        nn.BatchNorm1d(4, affine=False),
        nn.BatchNorm1d(4, track_running_stats=False),
        nn.LayerNorm(4, elementwise_affine=False),
        nn.LayerNorm(4, bias=False),
        nn.GroupNorm(2, 4, affine=False),
        nn.RMSNorm(4, elementwise_affine=False),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_init_(model, generator=gen())
    assert torch.all(model[7].weight == 1)  # LayerNorm(bias=False): gamma
    assert torch.all(model[4].running_var == 1)


# --------------------------------------------------------------------------- fans and targets


def fans_of(module: nn.Module, weight: str = "kernel", **kw) -> tuple[int, int]:
    return next(p.fans for p in keras_init_plan(module, **kw) if p.weight == weight)


@pytest.mark.parametrize(
    ("factory", "fans"),
    [
        (lambda: nn.Linear(20, 30), (20, 30)),
        (lambda: nn.Conv2d(4, 6, (3, 5)), (4 * 15, 6 * 15)),
        (lambda: nn.Conv2d(8, 6, 3, groups=2), (4 * 9, 6 * 9)),  # Keras: (k, in/groups, out)
        (lambda: nn.ConvTranspose2d(4, 6, 3), (6 * 9, 4 * 9)),  # Keras: (k, filters, in)
        (lambda: nn.Conv2d(4, 8, 3, groups=4), (9 * 4, 9 * 2)),  # depthwise (k, in, dm)
        (lambda: nn.Conv1d(16, 16, 5, groups=16), (5 * 16, 5)),
        (lambda: nn.Embedding(50, 8), (50, 8)),
        (lambda: nn.LSTM(5, 7), (5, 28)),
        (lambda: nn.GRU(5, 7), (5, 21)),
    ],
)
def test_fans_are_the_keras_layers(factory, fans):
    module = factory()
    weight = "embeddings" if isinstance(module, nn.Embedding) else "kernel"
    assert fans_of(module, weight) == fans


def test_depthwise_fans_differ_from_torch_reading_and_change_the_target():
    conv = nn.Conv2d(32, 64, 3, groups=32)  # DepthwiseConv2D(3, depth_multiplier=2)
    plan = keras_init_plan(conv, overrides={nn.Conv2d: {"depthwise_initializer": "he_uniform"}})
    kernel = plan[0]
    assert kernel.keras_shape == (3, 3, 32, 2)
    assert kernel.fans == (288, 18)  # torch's own reading would be (9, 576)
    limit = keras_bound(math.sqrt(6 / 288))
    assert kernel.target == Uniform(-limit, limit)
    keras_init_(
        conv, generator=gen(), overrides={conv.__class__: {"depthwise_initializer": "he_uniform"}}
    )
    assert conv.weight.abs().max() <= limit
    assert conv.weight.abs().max() > 0.9 * math.sqrt(6 / 288)


@pytest.mark.parametrize("qkv_same", [True, False])
def test_attention_fans_3_15_and_earlier(qkv_same):
    embed, heads = 64, 8
    kdim = None if qkv_same else 24
    mha = nn.MultiheadAttention(embed, heads, kdim=kdim, vdim=kdim)
    d_key = kdim or embed
    new = {p.weight: p for p in keras_init_plan(mha)}
    old = {p.weight: p for p in keras_init_plan(mha, keras_version="2")}
    assert new["query/kernel"].keras_shape == (embed, heads, embed // heads)
    assert new["key/kernel"].keras_shape == (d_key, heads, embed // heads)
    assert new["output/kernel"].keras_shape == (heads, embed // heads, embed)
    assert new["query/kernel"].fans == (embed, embed)
    assert new["key/kernel"].fans == (d_key, embed)
    assert new["output/kernel"].fans == (embed, embed)
    assert old["query/kernel"].fans == (heads * embed, embed // heads * embed)
    assert old["key/kernel"].fans == (heads * d_key, embed // heads * d_key)
    assert old["output/kernel"].fans == (embed // heads * heads, embed * heads)
    assert new["key/kernel"].target.high == pytest.approx(glorot_limit(d_key, embed))
    assert keras_init_plan(mha, keras_version="3.14")[0].fans == old["query/kernel"].fans
    assert keras_init_plan(mha, keras_version="3.15.1")[0].fans == new["query/kernel"].fans
    assert keras_init_plan(mha, keras_version="3.16.0rc1")[0].fans == new["query/kernel"].fans


def test_attention_blocks_get_their_own_fans_not_the_stacked_matrix():
    mha = nn.MultiheadAttention(128, 4)
    keras_init_(mha, generator=gen())
    limit = glorot_limit(128, 128)  # torch's xavier_uniform_ on (384, 128) would use (128, 384)
    for block in [*mha.in_proj_weight.chunk(3), mha.out_proj.weight]:
        assert block.abs().max() <= limit
        assert block.abs().max() > 0.99 * limit
        assert block.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.03)


def test_attention_3_15_fans_for_a_non_variance_scaling_override_read_the_shape():
    mha = nn.MultiheadAttention(16, 4)
    plan = keras_init_plan(
        mha, overrides={nn.MultiheadAttention: {"kernel_initializer": "orthogonal"}}
    )
    query = next(p for p in plan if p.weight == "query/kernel")
    assert query.target == Orthogonal(16 * 4, 4, 1.0)  # Keras flattens (16, 4, 4) to (64, 4)


def test_attention_3_15_keeps_an_override_s_fan_axes_only_when_both_are_given():
    mha = nn.MultiheadAttention(16, 4)  # query kernel (16, 4, 4) in Keras

    def query(identifier):
        overrides = {nn.MultiheadAttention: {"kernel_initializer": identifier}}
        plan = keras_init_plan(mha, overrides=overrides)
        return next(p for p in plan if p.weight == "query/kernel")

    both = query({"class_name": "HeNormal", "config": {"input_axes": [2], "output_axes": [0]}})
    assert both.fans == (4, 16)
    assert both.target == describe("he_normal", (4, 16), layout="keras")
    one = query({"class_name": "HeNormal", "config": {"input_axes": [2]}})
    assert one.fans == (16, 16) and one.target == query("he_normal").target


def test_targets_of_defaults():
    model = nn.Sequential(nn.Linear(100, 50), nn.Embedding(10, 4), nn.PReLU())
    plan = {(p.module, p.weight): p.target for p in keras_init_plan(model)}
    limit = glorot_limit(100, 50)
    assert plan["0", "kernel"] == Uniform(-limit, limit)
    assert plan["0", "bias"] == Constant(0.0)
    assert plan["1", "embeddings"] == Uniform(keras_bound(-0.05), keras_bound(0.05))
    assert plan["2", "alpha"] == Constant(0.0)


def test_linear_values_follow_the_glorot_target():
    linear = nn.Linear(400, 300)
    keras_init_(linear, generator=gen())
    limit = glorot_limit(400, 300)
    # 120,000 values: the std of U(-l, l) is l/sqrt(3), estimated to about 0.2%.
    assert linear.weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.01)
    assert linear.weight.abs().max() <= limit
    assert torch.all(linear.bias == 0)


# --------------------------------------------------------------------------- recurrent layers


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_forget_bias_sums_to_one_in_every_layer_and_direction(bidirectional):
    units = 6
    lstm = nn.LSTM(4, units, num_layers=3, bidirectional=bidirectional)
    keras_init_(lstm, generator=gen())
    expected = torch.zeros(4 * units)
    expected[units : 2 * units] = 1
    suffixes = ["", "_reverse"] if bidirectional else [""]
    for layer in range(3):
        for suffix in suffixes:
            b_ih = getattr(lstm, f"bias_ih_l{layer}{suffix}")
            b_hh = getattr(lstm, f"bias_hh_l{layer}{suffix}")
            assert torch.equal(b_ih + b_hh, expected)
            assert torch.equal(b_ih, expected)  # the forget 1 sits in bias_ih, bias_hh is 0
            assert torch.all(b_hh == 0)


def test_lstm_unit_forget_bias_false_and_bias_override():
    lstm = nn.LSTM(4, 6)
    keras_init_(lstm, overrides={nn.LSTM: {"unit_forget_bias": False}})
    assert torch.all(lstm.bias_ih_l0 == 0) and torch.all(lstm.bias_hh_l0 == 0)
    # Keras applies bias_initializer to the (u,) and (2u,) blocks and ones to the forget block.
    keras_init_(lstm, generator=gen(), overrides={"": {"bias_initializer": "random_normal"}})
    b = lstm.bias_ih_l0
    assert torch.all(b[6:12] == 1)
    assert (b[:6] != 0).all() and (b[12:] != 0).all() and (b[12:] != 1).all()
    assert torch.all(lstm.bias_hh_l0 == 0)
    cell = nn.LSTMCell(3, 5)
    keras_init_(cell, overrides={nn.LSTMCell: {"unit_forget_bias": False}})
    assert torch.all(cell.bias_ih == 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    ("init", "ratio"),
    [("random_uniform", 1.0), ("random_normal", 1.0), ("glorot_uniform", math.sqrt(2)),
     ("glorot_normal", math.sqrt(2)),
     ({"class_name": "VarianceScaling", "config": {"distribution": "untruncated_normal"}},
      math.sqrt(2))],
    ids=["random_uniform", "random_normal", "glorot_uniform", "glorot_normal", "untruncated"],
)  # fmt: skip
def test_lstm_input_gate_bias_is_the_cell_gate_draws_rescaled_as_in_keras(init, ratio, dtype):
    # Keras calls one (stateless) bias_initializer for (u,) and (2u,): the input-gate block is
    # the first u draws of the cell/output blocks, scaled for its own fans (u against 2u):
    # by the ratio of the two laws' spreads, sqrt(2) up to Keras's float32 rounding of limits.
    units = 300
    lstm = nn.LSTM(4, units, num_layers=2, bidirectional=True, dtype=dtype)
    overrides = {nn.LSTM: {"bias_initializer": init}}
    keras_init_(lstm, generator=gen(), overrides=overrides)
    plan = {p.weight: p.target for p in keras_init_plan(lstm, overrides=overrides)}
    spreads = [math.sqrt(plan[weight].variance) for weight in ("bias[i]", "bias[c,o]")]
    assert spreads[0] / spreads[1] == pytest.approx(ratio, rel=1e-6)
    ratio = spreads[0] / spreads[1]
    # A value drawn in float32 and rounded to nearest may be the bound rounded to the dtype.
    low, high = plan["bias[i]"].support
    low, high = min(low, rounded_to(low, dtype)), max(high, rounded_to(high, dtype))
    for name in ("bias_ih_l0", "bias_ih_l1_reverse"):
        bias = getattr(lstm, name).detach().double()
        gate_i, gate_c, gate_o = bias[:units], bias[2 * units : 3 * units], bias[3 * units :]
        tolerance = 1e-12 if dtype == torch.float64 else torch.finfo(dtype).eps
        torch.testing.assert_close(gate_i, gate_c * ratio, rtol=tolerance, atol=0)
        assert not torch.allclose(gate_i, gate_o * ratio)  # only the first u are shared
        assert (low <= gate_i).all() and (gate_i <= high).all()
    # Each layer and direction draws its own: the blocks of two of them differ.
    assert not torch.equal(lstm.bias_ih_l0[:units], lstm.bias_ih_l1_reverse[:units])


@pytest.mark.parametrize(
    "config",
    [{"class_name": "RandomUniform", "config": {"minval": 0.5, "maxval": 0.5}},
     {"class_name": "RandomNormal", "config": {"mean": 0.5, "stddev": 0.0}}],
    ids=["uniform", "normal"],
)  # fmt: skip
def test_lstm_bias_from_a_point_law_is_its_value(config):
    # The input-gate block is rescaled from the cell-gate draws: a law of zero spread must not
    # divide by it (that raised after the cell-gate block was written).
    lstm = nn.LSTM(2, 3)
    keras_init_(lstm, generator=gen(), overrides={nn.LSTM: {"bias_initializer": config}})
    expected = torch.tensor([0.5] * 3 + [1.0] * 3 + [0.5] * 6)
    assert torch.equal(lstm.bias_ih_l0.detach(), expected)


def orthonormal_columns(matrix: torch.Tensor) -> None:
    eye = torch.eye(matrix.shape[1], dtype=matrix.dtype)
    torch.testing.assert_close(matrix.T @ matrix, eye, atol=2e-6, rtol=0)


@pytest.mark.parametrize("factory", [
    lambda: nn.LSTM(16, 32, num_layers=2, bidirectional=True),
    lambda: nn.GRU(16, 32, num_layers=2),
    lambda: nn.RNN(16, 32, bidirectional=True),
    lambda: nn.LSTMCell(16, 32),
    lambda: nn.GRUCell(16, 32),
])  # fmt: skip
def test_recurrent_kernels_are_orthogonal_over_the_whole_gate_stacked_matrix(factory):
    rnn = factory()
    keras_init_(rnn, generator=gen())
    recurrent = [p for n, p in rnn.named_parameters() if n.startswith("weight_hh")]
    assert recurrent
    for weight in recurrent:  # torch (gates·u, u) = Keras's (u, gates·u) kernel transposed
        orthonormal_columns(weight.detach())
        # Whole-matrix orthogonality: one gate block alone is NOT orthogonal.
        gates = weight.shape[0] // weight.shape[1]
        if gates > 1:
            block = weight[: weight.shape[1]].detach()
            gram = block.T @ block
            assert (gram - torch.eye(block.shape[1])).abs().max() > 0.1


RECURRENT_MEMORY = """
import sys, torch, parity
def kib(field):  # this process's own figures (getrusage's peak starts from the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))
layer, units = getattr(torch.nn, sys.argv[1]), int(sys.argv[2])
parity.keras_init_(layer(600, 600), generator=torch.Generator())  # warm-up: the same routes
module = layer(units, units)
before = kib("VmRSS:")  # the weights' pages are written, so they count before
parity.keras_init_(module, generator=torch.Generator().manual_seed(0))
largest = max(p.numel() * p.element_size() for p in module.parameters())
print((kib("VmHWM:") - before) * 1024 / largest)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(("layer", "units"), [("RNN", 4096), ("LSTM", 2048), ("GRU", 2365)])
def test_recurrent_kernels_are_initialized_in_their_own_memory(layer, units):
    # Keras's recurrent kernel is the torch weight transposed (and, for GRU, its gate blocks
    # reordered): orthogonal_ builds Q through that view, and GRU's blocks are swapped in
    # place.  The largest weight is 64 MiB here, so that a few MiB of buffers that come and
    # go (BLAS's, the allocator's) do not decide the test.  A Gaussian buffer and linalg.qr,
    # and GRU's Keras-shaped scratch copies, took over 200% of it.
    done = subprocess.run(
        [sys.executable, "-c", RECURRENT_MEMORY, layer, str(units)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 0.5


def test_gru_gate_blocks_map_keras_z_r_h_to_torch_r_z_n():
    # Keras's Identity on the kernel (in, 3u) = eye: gate z gets the columns 0:u, r u:2u,
    # h 2u:3u.  torch stacks rows r, z, n: each must be its Keras gate block, transposed.
    units = 2
    gru = nn.GRU(3 * units, units)
    override = {nn.GRU: {"kernel_initializer": "identity"}}
    keras_init_(gru, overrides=override)
    keras_kernel = torch.eye(3 * units)
    z, r, h = keras_kernel.split(units, dim=1)
    torch.testing.assert_close(gru.weight_ih_l0.detach(), torch.cat([r, z, h], 1).T)
    assert not torch.equal(gru.weight_ih_l0.detach(), keras_kernel.T)
    # Keras's bias (2, 3u): row 0 the input bias, row 1 the recurrent bias (reset_after=True).
    keras_init_(gru, overrides={nn.GRU: {"bias_initializer": "identity"}})
    bias = torch.eye(2, 3 * units)
    torch.testing.assert_close(
        gru.bias_ih_l0.detach(), torch.cat([bias[0, 2:4], bias[0, :2], bias[0, 4:]])
    )
    torch.testing.assert_close(
        gru.bias_hh_l0.detach(), torch.cat([bias[1, 2:4], bias[1, :2], bias[1, 4:]])
    )


def test_lstm_and_rnn_kernels_are_keras_kernels_transposed():
    lstm = nn.LSTM(8, 2)  # Keras kernel (8, 8), recurrent (2, 8); gate order i, f, c/g, o
    keras_init_(lstm, overrides={nn.LSTM: {"kernel_initializer": "identity"}})
    torch.testing.assert_close(lstm.weight_ih_l0.detach(), torch.eye(8).T)
    rnn = nn.RNN(3, 5)
    keras_init_(
        rnn, overrides={"": {"kernel_initializer": "identity", "recurrent_initializer": "identity"}}
    )
    torch.testing.assert_close(rnn.weight_ih_l0.detach(), torch.eye(3, 5).T)
    torch.testing.assert_close(rnn.weight_hh_l0.detach(), torch.eye(5))


def test_rnn_biases_are_zero_and_glorot_uses_the_stacked_fans():
    gru = nn.GRU(40, 20)
    keras_init_(gru, generator=gen())
    assert torch.all(gru.bias_ih_l0 == 0) and torch.all(gru.bias_hh_l0 == 0)
    limit = glorot_limit(40, 60)  # over the whole (40, 3·20) kernel, not one gate block
    assert gru.weight_ih_l0.abs().max() <= limit
    assert gru.weight_ih_l0.abs().max() > 0.95 * limit


# --------------------------------------------------------------------------- other layers


def test_embedding_padding_row_stays_zero_with_defaults_and_overrides():
    emb = nn.Embedding(100, 16, padding_idx=7)
    keras_init_(emb, generator=gen())
    assert torch.all(emb.weight[7] == 0)
    assert emb.weight.abs().max() <= 0.05 and emb.weight[8].abs().min() > 0
    keras_init_(emb, overrides={"": {"embeddings_initializer": "ones"}})
    assert torch.all(emb.weight[7] == 0) and torch.all(emb.weight[8] == 1)
    keras_init_(
        emb, generator=gen(), overrides={"": {"embeddings_initializer": torch.nn.init.ones_}}
    )
    assert torch.all(emb.weight[7] == 0)


class _Tied(nn.Module):
    """An embedding tied to the output layer, the embedding first or last in module order."""

    def __init__(self, embedding_first: bool) -> None:
        super().__init__()
        embedding = nn.Embedding(50, 8, padding_idx=0)
        output = nn.Linear(8, 50, bias=False)
        output.weight = embedding.weight
        self.first, self.last = (embedding, output) if embedding_first else (output, embedding)


@pytest.mark.parametrize("embedding_first", [True, False])
def test_a_tied_parameter_ends_as_the_last_module_in_order_writes_it(embedding_first):
    model = _Tied(embedding_first)
    keras_init_(model, seed=3)
    if isinstance(model.last, nn.Linear):
        alone = nn.Linear(8, 50, bias=False)
    else:
        alone = nn.Embedding(50, 8, padding_idx=0)
    keras_init_(alone, seed=4)  # weight 1 of the plan gets seed 3 + 1
    assert torch.equal(model.first.weight, alone.weight)
    # The embedding's padding row is zeroed with the embedding's own write, not after all.
    assert torch.all(model.first.weight[0] == 0) == (not embedding_first)


def test_a_callable_override_on_a_tied_parameter_keeps_its_place_in_order():
    model = _Tied(embedding_first=False)  # the Linear first, then the embedding
    keras_init_(
        model, generator=gen(), overrides={nn.Linear: {"kernel_initializer": nn.init.ones_}}
    )
    assert model.first.weight.abs().max() <= 0.05 and torch.all(model.first.weight[0] == 0)
    model = _Tied(embedding_first=True)
    keras_init_(
        model, generator=gen(), overrides={nn.Linear: {"kernel_initializer": nn.init.ones_}}
    )
    assert torch.all(model.first.weight == 1)


def test_batch_norm_resets_running_statistics():
    bn = nn.BatchNorm2d(4)
    bn(torch.randn(8, 4, 3, 3) * 3 + 2)
    with torch.no_grad():
        bn.weight.fill_(2)
        bn.bias.fill_(1)
    keras_init_(bn)
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1)
    assert bn.num_batches_tracked.item() == 0


def test_keras_hyperparameters_reports_what_it_changed():
    model = nn.Sequential(
        nn.BatchNorm2d(4), nn.LayerNorm(4), nn.GroupNorm(2, 4), nn.RMSNorm(4),
        nn.InstanceNorm1d(4), nn.BatchNorm1d(4, momentum=None, eps=1e-3), nn.Linear(4, 4),
    )  # fmt: skip
    changes = keras_hyperparameters_(model)
    assert [(c.module, c.attribute, c.old, c.new) for c in changes] == [
        ("0", "momentum", 0.1, 0.01),
        ("0", "eps", 1e-5, 1e-3),
        ("1", "eps", 1e-5, 1e-3),
        ("2", "eps", 1e-5, 1e-3),
        ("3", "eps", None, 1e-6),
        ("4", "eps", 1e-5, 1e-3),
        ("5", "momentum", None, 0.01),
    ]
    assert model[0].momentum == 0.01 and model[1].eps == 1e-3
    assert keras_hyperparameters_(model) == []
    with pytest.raises(TypeError, match=r"nn\.Module"):
        keras_hyperparameters_("model")


def test_a_transformer_layer_is_covered_without_warnings():
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_init_(layer, generator=gen())
    layers = {p.module: p.layer for p in keras_init_plan(layer)}
    assert layers["self_attn"] == "MultiHeadAttention"
    assert "self_attn.out_proj" not in layers  # initialized as part of the attention
    assert layers["linear1"] == "Dense" and layers["norm1"] == "LayerNormalization"


# --------------------------------------------------------------------------- overrides


def test_overrides_by_type_by_subclass_and_by_name():
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10), nn.Conv2d(2, 2, 1))
    plan = keras_init_plan(
        model,
        overrides={
            nn.Module: {"bias_initializer": "ones"},
            nn.Linear: {"kernel_initializer": "zeros"},
            "1": {"kernel_initializer": {"class_name": "Constant", "config": {"value": 0.5}}},
        },
    )
    targets = {(p.module, p.weight): p.target for p in plan}
    assert targets["0", "kernel"] == Constant(0.0)
    assert targets["1", "kernel"] == Constant(0.5)  # the name wins over the type
    assert isinstance(targets["2", "kernel"], Uniform)  # Conv2d is not a Linear
    assert all(targets[m, "bias"] == Constant(1.0) for m in "012")  # nn.Module matches all


def test_callable_overrides_get_the_torch_tensor_and_the_generator():
    seen = []

    def init(tensor, *, generator=None):
        seen.append((tuple(tensor.shape), generator))
        return tensor.fill_(0.25)

    conv = nn.Conv2d(3, 8, 5)
    g = gen()
    keras_init_(conv, generator=g, overrides={nn.Conv2d: {"kernel_initializer": init}})
    assert seen == [((8, 3, 5, 5), g)]  # torch's layout, as torch.nn.init functions expect
    assert torch.all(conv.weight == 0.25) and torch.all(conv.bias == 0)
    keras_init_(conv, overrides={nn.Conv2d: {"kernel_initializer": nn.init.ones_}})
    assert torch.all(conv.weight == 1)


def test_generator_reproducibility():
    def build():
        torch.manual_seed(123)
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.LSTM(8, 16, 2), nn.GRU(4, 4),
                             nn.MultiheadAttention(16, 2), nn.Embedding(20, 4))  # fmt: skip

    a, b, c = build(), build(), build()
    keras_init_(a, generator=gen(7))
    keras_init_(b, generator=gen(7))
    keras_init_(c, generator=gen(8))
    for (name, x), y, z in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name
        if x.is_floating_point() and x.unique().numel() > 2:  # random, not zeros and ones
            assert not torch.equal(x, z), name


def test_plan_writes_nothing_and_apply_style_works():
    model = nn.Sequential(nn.Linear(8, 8), nn.LSTM(8, 8))
    before = snapshot(model)
    keras_init_plan(model)
    assert_unchanged(model, before)
    assert keras_init_(model[0]) is model[0]  # a leaf module
    model.apply(keras_init_)
    assert torch.equal(model[1].bias_ih_l0[8:16], torch.ones(8))
    assert model[0].weight.abs().max() <= glorot_limit(8, 8)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_reduced_and_double_precision_models(dtype):
    model = nn.Sequential(nn.Linear(16, 16), nn.LSTM(16, 8), nn.GRU(8, 8)).to(dtype)
    keras_init_(model, generator=gen())
    if dtype == torch.float64:
        orthonormal_columns(model[1].weight_hh_l0.detach())
    assert torch.equal(model[1].bias_ih_l0[8:16], torch.ones(8, dtype=dtype))


def test_meta_device_models_are_planned_and_left_alone():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(4, 4), nn.GRU(4, 4), nn.Embedding(5, 2, padding_idx=0))
    assert keras_init_(model) is model


# --------------------------------------------------------------------------- unknown modules


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((3,), 7.0))


class LinearWithExtra(nn.Linear):
    def __init__(self) -> None:
        super().__init__(3, 3)
        self.gate = nn.Parameter(torch.full((3,), 7.0))


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def attention_parametrized(at: str) -> nn.MultiheadAttention:
    """A MultiheadAttention with one weight parametrized: its out_proj's, or its own (which
    leaves out_proj a plain Linear, initialized with it or not at all)."""
    attention = nn.MultiheadAttention(8, 2)
    if at == "out_proj":
        nn.utils.parametrize.register_parametrization(attention.out_proj, "weight", Identity())
    else:
        nn.utils.parametrize.register_parametrization(attention, "in_proj_weight", Identity())
    return attention


UNSUPPORTED = [
    (Custom, "no Keras counterpart"),
    (LinearWithExtra, "'gate'"),
    (lambda: nn.Bilinear(2, 2, 2), "Bilinear"),
    (lambda: nn.LSTM(4, 6, proj_size=3), "proj_size"),
    (lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True), "add_bias_kv"),
    (lambda: nn.utils.parametrizations.weight_norm(nn.Linear(3, 3)), "parametrize"),
    (lambda: attention_parametrized("out_proj"), "its out_proj is parametrized"),
    (lambda: attention_parametrized("in_proj_weight"), "parametrize"),
    (lambda: nn.LazyLinear(3), "lazy"),
]


@pytest.mark.parametrize(("factory", "reason"), UNSUPPORTED)
def test_unknown_modules_are_left_untouched_with_a_warning_or_an_error(factory, reason):
    model = nn.Sequential(nn.Linear(3, 3), factory(), nn.ReLU())
    before = snapshot(model)
    with pytest.raises(ValueError, match=reason):
        keras_init_(model, strict=True)
    assert_unchanged(model, before)
    with pytest.warns(KerasInitWarning, match=reason) as record:
        keras_init_(model, generator=gen())
    message = str(record[0].message)
    assert "'1'" in message and "'1." not in message  # named once, not its submodules
    after = snapshot(model)
    for key, value in before.items():
        if not key.startswith("0."):  # the unknown module: not a single value written
            assert torch.equal(after[key], value), key
    assert not torch.equal(after["0.weight"], before["0.weight"])


def test_containers_and_parameter_free_modules_do_not_warn():
    model = nn.Sequential(nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Dropout()), nn.ModuleList())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keras_init_(model)


# --------------------------------------------------------------------------- bad input


def bad_calls():
    def boom(tensor):
        raise RuntimeError("callable failed")

    return [
        (dict(overrides=[("0", {})]), TypeError, "overrides must be a mapping"),
        (dict(overrides={0: {}}), TypeError, "override keys"),
        (dict(overrides={int: {}}), TypeError, "override keys"),
        (dict(overrides={"0": "he_normal"}), TypeError, "Keras argument names"),
        (
            dict(overrides={"0": {"kernel": "he_normal"}}),
            ValueError,
            "unknown Keras argument 'kernel'",
        ),
        (
            dict(overrides={"0": {"kernel_initializer": "he_nromal"}}),
            ValueError,
            "unknown initializer",
        ),
        (dict(overrides={"0": {"kernel_initializer": 3}}), TypeError, "identifier"),
        (dict(overrides={"0": {"kernel_initializer": {"config": {}}}}), ValueError, "class_name"),
        (dict(overrides={"0": {"unit_forget_bias": "yes"}}), TypeError, "True or False"),
        (
            dict(overrides={"4": {"kernel_initializer": "zeros"}}),
            ValueError,
            "no submodule named '4'",
        ),
        (dict(overrides={"lstm": {"kernel_initializer": "zeros"}}), ValueError, "no submodule"),
        (dict(overrides={nn.GRU: {"kernel_initializer": "zeros"}}), ValueError, "no GRU"),
        (dict(overrides={"0": {"recurrent_initializer": "zeros"}}), ValueError, "Conv2D takes"),
        (dict(overrides={nn.Conv2d: {"unit_forget_bias": False}}), ValueError, "unit_forget_bias"),
        (dict(overrides={nn.Linear: {"kernel_initializer": "zeros"}}), ValueError, "part of '3'"),
        (dict(overrides={"2": {"kernel_initializer": "zeros"}}), ValueError, "ReLU"),
        (dict(overrides={"": {"kernel_initializer": "zeros"}}), ValueError, "Sequential"),
        (
            dict(overrides={"3.out_proj": {"kernel_initializer": "zeros"}}),
            ValueError,
            "part of '3'",
        ),
        (dict(overrides={"0": {"kernel_initializer": "identity"}}), ValueError, "2-D"),
        (dict(overrides={"1": {"bias_initializer": "orthogonal"}}), ValueError, "rank >= 2"),
        (dict(overrides={"1": {"kernel_initializer": boom}}), RuntimeError, "callable failed"),
        (dict(keras_version=3), TypeError, "keras_version"),
        (dict(keras_version="4"), ValueError, "keras_version"),
        (dict(keras_version="latest"), ValueError, "keras_version"),
        (dict(keras_version="3.x"), ValueError, "keras_version"),
        (dict(strict="yes"), TypeError, "strict"),
        (dict(generator=0), TypeError, "generator"),
    ]


@pytest.mark.parametrize(("kwargs", "error", "match"), bad_calls())
def test_bad_input_raises_before_any_value_changes(kwargs, error, match):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.LSTM(4, 4), nn.ReLU(), nn.MultiheadAttention(8, 2))
    before = snapshot(model)
    with pytest.raises(error, match=match):
        keras_init_(model, **kwargs)
    assert_unchanged(model, before)


def test_parameters_that_cannot_be_written_are_rejected_before_writing():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = nn.Parameter(torch.zeros(1, 4).expand(4, 4))
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"1\.weight in place: its elements share memory"):
        keras_init_(model)
    assert_unchanged(model, before)
    with torch.inference_mode():
        frozen = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = snapshot(frozen)
    with pytest.raises(ValueError, match="inference tensor"):
        keras_init_(frozen)
    assert_unchanged(frozen, before)


def test_an_initializer_object_override_reads_the_keras_layout_fans():
    # keras_init_ applies overrides to Keras-layout views: an Initializer made for torch
    # layout must read them as the string does, not with its fans swapped.
    by_name, by_object = nn.Linear(100, 10), nn.Linear(100, 10)
    keras_init_(by_name, overrides={nn.Linear: {"kernel_initializer": "he_normal"}}, seed=4)
    init = Initializer("he_normal")
    keras_init_(by_object, overrides={nn.Linear: {"kernel_initializer": init}}, seed=4)
    assert torch.equal(by_name.weight, by_object.weight)
    assert keras_init_plan(by_object, overrides={nn.Linear: {"kernel_initializer": init}})[
        0
    ].target == describe("he_normal", (10, 100))


@pytest.mark.parametrize("not_a_module", [torch.empty(3, 3), "model", None, [nn.Linear(2, 2)]])
def test_non_modules_are_rejected(not_a_module):
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        keras_init_(not_a_module)


@pytest.mark.parametrize("dtype", [torch.int32, torch.float8_e4m3fn], ids=str)
def test_unsupported_parameter_dtypes_are_rejected_before_writing(dtype):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = nn.Parameter(torch.ones(2, 2).to(dtype), requires_grad=False)
    before = snapshot(model)
    with pytest.raises(TypeError, match=rf"1\.weight of dtype {dtype}.*float32 and float64"):
        keras_init_(model)
    assert_unchanged(model, before)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_and_generator_device_check():
    model = nn.Sequential(nn.Linear(8, 8), nn.GRU(8, 8)).cuda()
    before = snapshot(model)
    with pytest.raises(ValueError, match="device"):
        keras_init_(model, generator=torch.Generator())
    assert_unchanged(model, before)
    keras_init_(model, generator=torch.Generator("cuda").manual_seed(0))
    orthonormal_columns(model[1].weight_hh_l0.detach().cpu())


class _Aliased(nn.Module):
    """One Linear reachable as both ``a`` and ``b``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = self.b = nn.Linear(3, 4)
        self.c = nn.Linear(4, 2)


def test_a_module_under_two_names_takes_an_override_by_either():
    model = _Aliased()
    plan = keras_init_plan(model, overrides={"b": {"kernel_initializer": "zeros"}})
    assert [p.parameters for p in plan][:2] == [("a.weight",), ("a.bias",)]  # planned once
    keras_init_(model, generator=gen(), overrides={"b": {"kernel_initializer": "zeros"}})
    assert (model.a.weight == 0).all() and (model.c.weight != 0).all()
    same = {"a": {"kernel_initializer": "ones"}, "b": {"kernel_initializer": "ones"}}
    keras_init_(model, generator=gen(), overrides=same)
    assert (model.b.weight == 1).all()
    before = snapshot(model)
    clash = {"a": {"kernel_initializer": "ones"}, "b": {"kernel_initializer": "zeros"}}
    with pytest.raises(ValueError, match=r"overrides\['a'\] and overrides\['b'\] name the same"):
        keras_init_(model, generator=gen(), overrides=clash)
    assert_unchanged(model, before)


def test_a_float64_constant_override_is_rounded_through_float32_as_in_keras():
    # Keras's Dense(3, bias_initializer=Constant(0.1), dtype="float64") holds float32(0.1).
    model = nn.Linear(3, 3).double()
    constant = {"class_name": "Constant", "config": {"value": 0.1}}
    keras_init_(model, overrides={nn.Linear: {"bias_initializer": constant}})
    assert model.bias.tolist() == [torch.tensor(0.1, dtype=torch.float32).item()] * 3
