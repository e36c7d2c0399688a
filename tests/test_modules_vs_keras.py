"""keras_init_ against real Keras layers on the TensorFlow backend.

For every layer type :func:`parity.suite.layers.layer_samples` knows, each Keras weight (each
gate block for LSTM and GRU) built by Keras is compared with the same weight of the torch
counterpart after keras_init_, by a two-sample Kolmogorov–Smirnov test at N = 20,000 values a
side (fewer for constant weights, which must then be equal value for value).

Power: with a Bonferroni level of 0.01 over all samples (about 1.5e-4 each, critical
D ≈ 0.022), a 5% error in the limit of a uniform weight is rejected with power 1.00 and a 10%
error in the std of a normal weight with power 0.98 (200 simulated trials each).  The tests
show the KS check failing on torch's default initialization and on three deliberately wrong
ports (torch's fans for a depthwise conv, MultiHeadAttention with the fans of the other side
of Keras 3.15, an orthogonal matrix per LSTM gate instead of one over the whole recurrent
kernel), each next to the right port passing the same check.

Runtime measured on a 2-core machine: about 25 s, most of it importing TensorFlow and
building the Keras layers.
"""

import os

import numpy as np
import pytest
import torch
from torch import nn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
stats = pytest.importorskip("scipy.stats")

import parity  # noqa: E402
from parity.modules import keras_init_  # noqa: E402
from parity.suite.layers import LAYER_TYPES, layer_samples  # noqa: E402

pytestmark = pytest.mark.tf

N = 20_000
FAMILY_ALPHA = 0.01
# torch's own defaults already equal Keras's for these (ones and zeros): no gap to show.
SAME_DEFAULTS = {
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "RMSNormalization",
}


@pytest.fixture(scope="module")
def keras_init_samples():
    return layer_samples(N, seed=0)


@pytest.fixture(scope="module")
def torch_default_samples():
    return layer_samples(N, seed=0, keras_init=False)


def alpha(samples) -> float:
    return FAMILY_ALPHA / len(samples)


def rejected(sample, level: float) -> bool:
    if np.ptp(sample.keras) == 0:  # a constant weight: equal value for value, or wrong
        return not (sample.torch.size > 0 and np.all(sample.torch == sample.keras[0]))
    return stats.ks_2samp(sample.torch, sample.keras).pvalue < level


def of_layer(samples, layer):
    chosen = [s for s in samples if s.name.rsplit(".", 1)[0] == layer]
    assert chosen, layer
    return chosen


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_keras_init_matches_the_keras_layer(layer, keras_init_samples):
    level = alpha(keras_init_samples)
    for sample in of_layer(keras_init_samples, layer):
        assert sample.keras.size >= min(N, 64) and sample.torch.size == sample.keras.size
        assert not rejected(sample, level), sample.name


@pytest.mark.parametrize("layer", LAYER_TYPES)
def test_torch_default_init_is_rejected(layer, torch_default_samples):
    level = alpha(torch_default_samples)
    failing = [s.name for s in of_layer(torch_default_samples, layer) if rejected(s, level)]
    if layer in SAME_DEFAULTS:
        assert failing == []
    else:
        assert failing, f"torch's default {layer} was not told apart from Keras's"


def test_lstm_gap_is_in_the_recurrent_kernel_and_every_bias_block(torch_default_samples):
    level = alpha(torch_default_samples)
    failing = {s.name for s in of_layer(torch_default_samples, "LSTM") if rejected(s, level)}
    for gate in "ifco":
        assert f"LSTM.recurrent_kernel[{gate}]" in failing
        assert f"LSTM.bias[{gate}]" in failing


# --------------------------------------------------------------------------- wrong ports


def torch_values(build, pick, n: int = N) -> np.ndarray:
    values, generator = [], torch.Generator().manual_seed(1)
    while sum(v.size for v in values) < n:
        with torch.no_grad():
            values.append(pick(build(generator)).numpy().ravel())
    return np.concatenate(values)[:n]


def depthwise_torch_fans(generator):
    conv = nn.Conv2d(128, 512, 3, groups=128)  # as the Keras layer sampled
    parity.glorot_uniform_(conv.weight, generator=generator)  # torch's reading: (9, 4608)
    return conv


KERAS_3_15 = tuple(int(x) for x in keras.version().split(".")[:2]) >= (3, 15)


def attention_other_fans(generator):
    other = "3.14" if KERAS_3_15 else "3.15"  # the installed Keras's rule is the right one
    return keras_init_(nn.MultiheadAttention(256, 8), generator=generator, keras_version=other)


def lstm_orthogonal_per_gate(generator):
    lstm = nn.LSTM(128, 128)  # as the Keras layer sampled
    with torch.no_grad():
        for block in lstm.weight_hh_l0.chunk(4):
            nn.init.orthogonal_(block, generator=generator)
    return lstm


# (Keras sample, the right torch build, a wrong port of it, the values compared)
WRONG_PORTS = {
    "depthwise with torch's fans": (
        "DepthwiseConv2D(depth_multiplier=4).kernel",
        lambda g: keras_init_(nn.Conv2d(128, 512, 3, groups=128), generator=g),
        depthwise_torch_fans,
        lambda m: m.weight,
    ),
    "attention with the other Keras release's fans": (
        "MultiHeadAttention.query/kernel",
        lambda g: keras_init_(
            nn.MultiheadAttention(256, 8), generator=g, keras_version=keras.version()
        ),
        attention_other_fans,
        lambda m: m.in_proj_weight[:256],
    ),
    "one orthogonal matrix per LSTM gate": (
        "LSTM.recurrent_kernel[f]",
        lambda g: keras_init_(nn.LSTM(128, 128), generator=g),
        lstm_orthogonal_per_gate,
        lambda m: m.weight_hh_l0[128:256],
    ),
}


@pytest.mark.parametrize("port", list(WRONG_PORTS))
def test_wrong_ports_are_rejected_where_keras_init_passes(port, keras_init_samples):
    name, right, wrong, pick = WRONG_PORTS[port]
    reference = next(s for s in keras_init_samples if s.name == name).keras
    level = alpha(keras_init_samples)
    assert stats.ks_2samp(torch_values(right, pick), reference).pvalue > level
    assert stats.ks_2samp(torch_values(wrong, pick), reference).pvalue < level


OWN_AXES = {"input_axes": [2], "output_axes": [0]}


def attention_port(config):
    override = {"kernel_initializer": {"class_name": "HeNormal", "config": config}}

    def build(generator):
        mha = nn.MultiheadAttention(256, 8)
        return keras_init_(mha, overrides={nn.MultiheadAttention: override}, generator=generator)

    return build


@pytest.mark.skipif(not KERAS_3_15, reason="fan axes came with Keras 3.15")
@pytest.mark.parametrize(
    ("config", "wrong"), [(OWN_AXES, {}), ({"input_axes": [2]}, OWN_AXES)], ids=["both", "one"]
)
def test_attention_keeps_an_initializer_s_own_fan_axes_only_when_both_are_given(config, wrong):
    """EinsumDense replaces a VarianceScaling initializer's fan axes by its own unless both
    are given.  Query kernel (256, 8, 32): axes [2] / [0] give fan_in 32, the layer's 256, so
    the stds differ by sqrt(8): the port that takes the other rule must fail the same test."""
    data = np.zeros((1, 2, 256), "float32")
    made = keras.layers.MultiHeadAttention(
        8, 32, kernel_initializer=keras.initializers.HeNormal(seed=3, **config)
    )
    made(data, data)
    reference = np.asarray(made._query_dense.kernel.numpy()).ravel()

    def query(module):
        return module.in_proj_weight[:256]

    level = 0.01 / 4  # Bonferroni over the four KS tests of the two cases
    right = torch_values(attention_port(config), query)
    assert stats.ks_2samp(right, reference).pvalue > level
    other = torch_values(attention_port(wrong), query)
    assert stats.ks_2samp(other, reference).pvalue < level


# --------------------------------------------------------------------------- exact facts


@pytest.mark.parametrize(("layer", "gates"), [("LSTM", 4), ("GRU", 3), ("SimpleRNN", 1)])
def test_keras_recurrent_kernel_is_one_orthogonal_matrix_like_keras_init(layer, gates):
    units = 32
    built = getattr(keras.layers, layer)(units)
    built.build((None, 5, 16))
    kernel = np.asarray(built.cell.recurrent_kernel.numpy())  # (u, gates·u)
    assert kernel.shape == (units, gates * units)
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(units), atol=2e-6)
    module = getattr(nn, {"SimpleRNN": "RNN"}.get(layer, layer))(16, units)
    keras_init_(module, generator=torch.Generator().manual_seed(0))
    weight = module.weight_hh_l0.detach().numpy()  # (gates·u, u) = Keras's kernel transposed
    np.testing.assert_allclose(weight.T @ weight, np.eye(units), atol=2e-6)


def keras_rnn(layer: str, units: int, features: int):
    built = getattr(keras.layers, layer)(units, return_sequences=True)
    built.build((None, 7, features))
    cell = built.cell
    rng = np.random.default_rng(0)  # non-zero biases, so their mapping is exercised too
    cell.bias.assign(rng.normal(size=cell.bias.shape).astype("float32"))
    return built, cell


def test_lstm_layout_map_reproduces_keras_outputs():
    """torch weight_ih = Keras kernel transposed (gates i, f, c/g, o in the same order),
    bias_ih = Keras bias, bias_hh = 0: the outputs agree, so the map keras_init_ writes
    through is Keras's layer."""
    built, cell = keras_rnn("LSTM", 6, 5)
    lstm = nn.LSTM(5, 6, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(cell.kernel.numpy().T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(cell.recurrent_kernel.numpy().T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(cell.bias.numpy()))
        lstm.bias_hh_l0.zero_()
    x = np.random.default_rng(1).normal(size=(3, 7, 5)).astype("float32")
    expected = np.asarray(built(x))
    actual = lstm(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_gru_gate_map_reproduces_keras_outputs():
    """Keras z, r, h blocks → torch r, z, n; bias (2, 3u) rows → bias_ih, bias_hh."""
    built, cell = keras_rnn("GRU", 6, 5)
    gru = nn.GRU(5, 6, batch_first=True)

    def rzn(keras_layout: np.ndarray) -> torch.Tensor:
        z, r, h = np.split(keras_layout, 3, axis=-1)
        return torch.from_numpy(np.concatenate([r, z, h], axis=-1))

    with torch.no_grad():
        gru.weight_ih_l0.copy_(rzn(cell.kernel.numpy()).T)
        gru.weight_hh_l0.copy_(rzn(cell.recurrent_kernel.numpy()).T)
        gru.bias_ih_l0.copy_(rzn(cell.bias.numpy()[0]))
        gru.bias_hh_l0.copy_(rzn(cell.bias.numpy()[1]))
    x = np.random.default_rng(1).normal(size=(3, 7, 5)).astype("float32")
    expected = np.asarray(built(x))
    actual = gru(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_keras_lstm_forget_bias_and_gru_bias_shape():
    lstm = keras.layers.LSTM(8)
    lstm.build((None, 3, 4))
    bias = lstm.cell.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    gru = keras.layers.GRU(8)
    gru.build((None, 3, 4))
    assert gru.cell.bias.shape == (2, 24) and not np.any(gru.cell.bias.numpy())


def test_layer_samples_are_reproducible_and_check_their_input():
    first = layer_samples(2_000, seed=3, layers=("GRU", "Dense"))
    again = layer_samples(2_000, seed=3, layers=("GRU", "Dense"))
    assert [s.name for s in first] == [s.name for s in again]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.torch, b.torch)
        np.testing.assert_array_equal(a.keras, b.keras)
    with pytest.raises(ValueError, match="unknown layers"):
        layer_samples(100, seed=0, layers=("Dense", "Dnese"))
    with pytest.raises(ValueError, match="n_target"):
        layer_samples(0, seed=0)
