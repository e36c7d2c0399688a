"""seed=: the very values Keras 3 draws on the TensorFlow backend, in the torch layout.

Each case builds the Keras initializer with the same int seed, calls it on the Keras-layout
shape of the torch weight, permutes the result into the torch layout and counts the elements
that differ from parity's.  Bit-exact is asserted (0 differing elements), as measured on Linux
x86-64; ``parity.tf_random``'s own tests cover the per-distribution ULP bounds.
"""

import math

import numpy as np
import pytest
import torch

import parity

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

SHAPES = {
    "Linear(7, 5)": (5, 7),
    "Conv2d(3, 6, (3, 5))": (6, 3, 3, 5),
    "ConvTranspose1d(4, 3, 3)": (4, 3, 3),
    "bias (9,)": (9,),
}
SEEDS = [0, 42, -7, 2**31 - 1, 2**33 + 5]
RANDOM = {
    "glorot_uniform": parity.glorot_uniform_,
    "glorot_normal": parity.glorot_normal_,
    "he_uniform": parity.he_uniform_,
    "he_normal": parity.he_normal_,
    "lecun_uniform": parity.lecun_uniform_,
    "lecun_normal": parity.lecun_normal_,
    "random_normal": parity.random_normal_,
    "random_uniform": parity.random_uniform_,
    "truncated_normal": parity.truncated_normal_,
}


def keras_values(name: str, torch_shape, seed: int, dtype="float32", **config) -> np.ndarray:
    init = keras.initializers.get({"class_name": name, "config": {"seed": seed, **config}})
    values = init(parity.keras_shape(torch_shape), dtype=dtype)
    values = np.asarray(tf.cast(values, "float32") if dtype == "bfloat16" else values)
    rank = values.ndim
    return values.transpose(rank - 1, rank - 2, *range(rank - 2)) if rank >= 2 else values


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("name", RANDOM)
def test_seeded_values_equal_keras(name, shape_name, seed):
    shape = SHAPES[shape_name]
    ours = RANDOM[name](torch.empty(shape), seed=seed).numpy()
    theirs = keras_values(name, shape, seed)
    assert ours.shape == theirs.shape
    assert int((ours != theirs).sum()) == 0


@pytest.mark.parametrize("seed", [42, -7])
@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", RANDOM)
def test_seeded_values_equal_keras_in_other_dtypes(name, dtype, seed):
    # float64 uniforms catch Keras's float32 bounds: tf.cast of a Python float goes through
    # a float32 tensor, so a float64 GlorotUniform draws between float32-rounded limits.
    shape = SHAPES["Conv2d(3, 6, (3, 5))"]
    ours = RANDOM[name](torch.empty(shape, dtype=getattr(torch, dtype)), seed=seed)
    ours = ours.float().numpy() if dtype == "bfloat16" else ours.numpy()
    theirs = keras_values(name, shape, seed, dtype)
    assert ours.dtype == theirs.dtype
    assert int((ours != theirs).sum()) == 0


def test_random_uniform_float64_bounds_are_keras_float32_bounds():
    ours = parity.random_uniform_(torch.empty(5, 7, dtype=torch.float64), -0.1, 0.3, seed=4)
    theirs = keras_values("RandomUniform", (5, 7), 4, "float64", minval=-0.1, maxval=0.3)
    assert np.array_equal(ours.numpy(), theirs)


def test_variance_scaling_untruncated_and_fan_out():
    shape = (11, 6, 2)
    config = {"scale": 0.7, "mode": "fan_out", "distribution": "untruncated_normal"}
    ours = parity.variance_scaling_(
        torch.empty(shape), 0.7, "fan_out", "untruncated_normal", seed=3
    )
    assert np.array_equal(ours.numpy(), keras_values("VarianceScaling", shape, 3, **config))


def test_keras_layout_takes_values_as_they_are():
    emb = torch.empty(10, 4)  # nn.Embedding stores (num, dim) as Keras does
    parity.random_uniform_(emb, seed=5, layout="keras")
    theirs = keras.initializers.RandomUniform(seed=5)((10, 4))
    assert np.array_equal(emb.numpy(), np.asarray(theirs))


@pytest.mark.parametrize(
    "shape",
    [
        (48, 16, 3),  # Keras (3, 16, 48): a 48 x 48 flat matrix
        (40, 300),  # Linear(300, 40): Keras (300, 40), tall
        (300, 40),  # Linear(40, 300): Keras (40, 300), wide: Keras draws (300, 40)
        (24, 8, 3, 5),  # Conv2d(8, 24, (3, 5)): Keras (3, 5, 8, 24), rows in another order
        (96, 4, 3, 3),  # Conv2d(4, 96, 3): wide, its rows not one strided axis in torch
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("route", ["in place", "buffer"])
def test_orthogonal_matches_keras_to_qr_rounding(shape, dtype, route, monkeypatch):
    if route == "in place":  # as large weights are: the QR in the weight's memory
        monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    weight = torch.empty(shape, dtype=getattr(torch, dtype))
    ours = parity.orthogonal_(weight, gain=1.3, seed=11).numpy()
    theirs = keras_values("Orthogonal", shape, 11, dtype=dtype, gain=1.3)
    assert np.abs(ours - theirs).max() < (1e-5 if dtype == "float32" else 1e-13)


def test_seeded_config_from_keras_serialize():
    config = keras.initializers.serialize(keras.initializers.HeNormal(seed=99))
    ours = parity.get(config)(torch.empty(8, 4))
    assert np.array_equal(ours.numpy(), keras_values("HeNormal", (8, 4), 99))


@pytest.mark.parametrize("name", ["HeNormal", "GlorotUniform", "LecunNormal", "VarianceScaling"])
def test_seeded_fan_axes_equal_keras(name):
    # An EinsumDense-style kernel, as Keras 3.15 hands it explicit fan axes.
    config = {"input_axes": [1], "output_axes": [0, 2]}
    if name == "VarianceScaling":
        config |= {"scale": 3.0, "mode": "fan_out", "distribution": "untruncated_normal"}
    made = getattr(keras.initializers, name)(seed=21, **config)
    theirs = np.asarray(made((6, 4, 5)))
    keras_layout = parity.get(made, layout="keras")(torch.empty(6, 4, 5))
    assert np.array_equal(keras_layout.numpy(), theirs)
    # The same kernel held in torch layout: the axes still name the Keras-layout axes.
    torch_layout = parity.get(keras.initializers.serialize(made))(torch.empty(5, 4, 6))
    assert np.array_equal(parity.fans.to_keras_layout(torch_layout).numpy(), theirs)


def test_seed_and_generator_together_is_an_error():
    w = torch.ones(3, 3)
    with pytest.raises(ValueError, match="not both"):
        parity.he_normal_(w, seed=1, generator=torch.Generator())
    assert (w == 1).all()
    with pytest.raises(TypeError, match="seed must be an int"):
        parity.he_normal_(w, seed=1.5)
    with pytest.raises(ValueError, match="int64"):
        parity.he_normal_(w, seed=2**64)
    assert (w == 1).all()


def test_seed_is_reproducible_and_distinct():
    a = parity.glorot_normal_(torch.empty(30, 20), seed=1)
    assert torch.equal(a, parity.glorot_normal_(torch.empty(30, 20), seed=1))
    assert not torch.equal(a, parity.glorot_normal_(torch.empty(30, 20), seed=2))
    assert a.abs().max() < 2 * math.sqrt(2 / 50) / 0.87962566103423978


def test_keras_init_seed_gives_each_weight_keras_values():
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Conv2d(3, 5, 3))
    plan = parity.keras_init_plan(model)
    assert [p.parameters for p in plan] == [("0.weight",), ("0.bias",), ("1.weight",), ("1.bias",)]
    parity.keras_init_(model, seed=7)
    dense = keras_values("GlorotUniform", (4, 6), 7)
    conv = keras_values("GlorotUniform", (5, 3, 3, 3), 9)
    assert np.array_equal(model[0].weight.detach().numpy(), dense)
    assert np.array_equal(model[1].weight.detach().numpy(), conv)
    assert (model[0].bias == 0).all() and (model[1].bias == 0).all()
    with pytest.raises(ValueError, match="not both"):
        parity.keras_init_(model, seed=1, generator=torch.Generator())


def test_keras_init_seed_too_close_to_int64_end_raises_before_writing():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"seed must be at most 2\*\*63 - 4"):
        parity.keras_init_(model, seed=2**63 - 2)
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    parity.keras_init_(model, seed=2**63 - 4)  # weights 0..3: the last one gets 2**63 - 1
    kernel = keras_values("GlorotUniform", (2, 4), 2**63 - 2)  # "1.weight" is weight 2
    assert np.array_equal(model[1].weight.detach().numpy(), kernel)


@pytest.mark.parametrize("name", ["RandomUniform", "GlorotUniform", "HeNormal", "RandomNormal"])
def test_keras_init_seed_gives_a_keras_lstm_bias(name):
    # Keras's LSTM calls its one bias_initializer for the input-gate block (u,) and the
    # cell/output blocks (2u,): a seeded torch LSTM's bias must be a Keras LSTM's whose
    # initializer has the seed the plan gives bias[c,o].
    lstm = torch.nn.LSTM(4, 8)
    overrides = {torch.nn.LSTM: {"bias_initializer": name}}
    weights = [p.weight for p in parity.keras_init_plan(lstm, overrides=overrides)]
    parity.keras_init_(lstm, seed=10, overrides=overrides)
    initializer = getattr(keras.initializers, name)(seed=10 + weights.index("bias[c,o]"))
    layer = keras.layers.LSTM(8, bias_initializer=initializer)
    layer.build((None, 3, 4))
    assert np.array_equal(lstm.bias_ih_l0.detach().numpy(), np.asarray(layer.cell.bias))
    assert (lstm.bias_hh_l0 == 0).all()


@pytest.mark.parametrize("units", [8, 300])
def test_keras_init_seed_gives_a_keras_grus_weights_in_torchs_gate_order(units, monkeypatch):
    # Keras's GRU gates are (z, r, h), torch's (r, z, n): the kernels are drawn through
    # their Keras views and their first two gate blocks swapped in place, a chunk at a time
    # (made small here, so that blocks take several; 300 units reach the in-place QR).
    monkeypatch.setattr(parity.modules, "_SWAP_CHUNK", 1000)
    gru = torch.nn.GRU(4, units)
    overrides = {torch.nn.GRU: {"bias_initializer": "RandomNormal"}}
    weights = [p.weight for p in parity.keras_init_plan(gru, overrides=overrides)]
    parity.keras_init_(gru, seed=20, overrides=overrides)
    layer = keras.layers.GRU(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=20 + weights.index("kernel")),
        recurrent_initializer=keras.initializers.Orthogonal(
            seed=20 + weights.index("recurrent_kernel")
        ),
        bias_initializer=keras.initializers.RandomNormal(seed=20 + weights.index("bias")),
    )
    layer.build((None, 3, 4))

    def torch_order(keras_weight):  # (…, 3u) in z, r, h → torch's (3u, …) in r, z, n
        z, r, h = np.split(np.asarray(keras_weight), 3, axis=-1)
        return np.concatenate([r, z, h], axis=-1).T

    assert np.array_equal(gru.weight_ih_l0.detach().numpy(), torch_order(layer.cell.kernel))
    bias = torch_order(layer.cell.bias)  # (3u, 2): input bias, recurrent bias
    assert np.array_equal(gru.bias_ih_l0.detach().numpy(), bias[:, 0])
    assert np.array_equal(gru.bias_hh_l0.detach().numpy(), bias[:, 1])
    # Keras's Q comes from its own QR: equal to rounding (see docs/seed-exact.md).
    recurrent = torch_order(layer.cell.recurrent_kernel)
    np.testing.assert_allclose(gru.weight_hh_l0.detach().numpy(), recurrent, rtol=0, atol=1e-5)
    assert not np.allclose(recurrent[:units], recurrent[units : 2 * units], atol=1e-3)


@pytest.mark.parametrize("kwargs", [{}, {"seed": 50}, {"generator": torch.Generator()}])
def test_keras_init_override_with_its_own_seed_draws_that_seed(kwargs):
    override = {"class_name": "HeNormal", "config": {"seed": 3}}
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Linear(6, 4))
    overrides = {torch.nn.Linear: {"kernel_initializer": override}}
    parity.keras_init_(model, overrides=overrides, **kwargs)
    theirs = keras_values("HeNormal", (4, 6), 3)
    for layer in model:  # a seeded Keras initializer gives the same values on every call
        assert np.array_equal(layer.weight.detach().numpy(), theirs)


@pytest.mark.parametrize(
    ("name", "dtype", "a", "b"),
    [
        # float16 rounds the bounds outwards (-32720, 32800): maxval - minval is 65520, inf.
        ("RandomUniform", "float16", -32719.984375, 32784.015625),
        ("RandomUniform", "float16", -32000.0, 32000.0),
        ("RandomUniform", "bfloat16", -1.6814730090197265e38, 1.708058380231809e38),
        ("RandomUniform", "bfloat16", -1.6e38, 1.6e38),
        # z just below 2 rounds to 2.0 in float16, and mean and stddev round up: 65536, inf.
        ("TruncatedNormal", "float16", 49104.01, 8199.99),
        ("TruncatedNormal", "float16", 40000.0, 8000.0),
        # The bound 65510 is past float16's largest value, 65504, but every value rounds to it.
        ("TruncatedNormal", "float16", 65000.0, 255.0),
        # TensorFlow's normals stop at |z| = 5.68: 60000 + 5.68 x 1500 passes 65504, x 800 not
        # (nor does 11500 x 5.68, which generator mode's reach of 9 std refuses).
        ("RandomNormal", "float16", 60000.0, 1500.0),
        ("RandomNormal", "float16", 60000.0, 800.0),
        ("RandomNormal", "float16", 0.0, 11500.0),
    ],
)
def test_seeded_draws_raise_exactly_where_keras_writes_non_finite_values(name, dtype, a, b):
    # The exact parameters fit the dtype in every case; TensorFlow's arithmetic, in the dtype
    # on rounded parameters, overflows in the first of each pair.  1M values: enough draws
    # of |z| close to 2 that Keras's overflow shows.
    shape = (1 << 20,)
    keys = ("minval", "maxval") if name == "RandomUniform" else ("mean", "stddev")
    init = keras.initializers.get(
        {"class_name": name, "config": {keys[0]: a, keys[1]: b, "seed": 5}}
    )
    theirs = np.asarray(tf.cast(init(shape, dtype=dtype), "float32"))
    call = {"RandomUniform": parity.random_uniform_, "TruncatedNormal": parity.truncated_normal_,
            "RandomNormal": parity.random_normal_}[name]  # fmt: skip
    weight = torch.full(shape, 7.0, dtype=getattr(torch, dtype))
    if np.isfinite(theirs).all():
        assert np.array_equal(call(weight, a, b, seed=5).float().numpy(), theirs)
        if name != "RandomNormal":  # an untruncated normal's reach is larger from a generator
            assert torch.isfinite(call(weight, a, b)).all()
        return
    with pytest.raises(ValueError, match="with seed= would write infinities or NaN"):
        call(weight, a, b, seed=5)
    assert (weight == 7).all()
    if name != "RandomNormal":  # an untruncated normal's reach is larger from a generator
        assert torch.isfinite(call(weight, a, b)).all()  # generator mode rounds float32 values


def test_keras_init_refuses_seeded_overrides_that_tensorflow_would_overflow():
    model = torch.nn.Linear(4, 4).half()
    wide = {
        "class_name": "RandomUniform",
        "config": {"minval": -32719.984375, "maxval": 32784.015625},
    }
    overrides = {torch.nn.Linear: {"kernel_initializer": wide}}
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=r"weight: .*with seed= would write infinities"):
        parity.keras_init_(model, seed=1, overrides=overrides)
    assert torch.equal(model.weight, before)
    parity.keras_init_(model, generator=torch.Generator().manual_seed(0), overrides=overrides)
    assert torch.isfinite(model.weight).all()


# Not gain -0.0: Keras's zeros for it were +0.0 or -0.0 depending on what ran before in the
# process (TensorFlow reuses a cached 0.0 for it), so there is no single answer to match.
@pytest.mark.parametrize("gain", [1.0, 0.3, -0.5, 65519.0], ids=repr)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_identity_equals_keras_bit_for_bit(gain, dtype):
    # Keras multiplies eye() by gain: a negative gain gives -0.0 off the diagonal.
    theirs = np.asarray(keras.initializers.Identity(gain)((3, 5), dtype=dtype))
    ours = parity.identity_(torch.empty(3, 5, dtype=getattr(torch, dtype)), gain).numpy()
    assert ours.dtype == theirs.dtype
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize(
    "value",
    # Past the largest finite float16 (65504) and float32 value, some round down to it.
    [0.1, -2.7e-5, 3, 16777217, np.float64(0.1), np.float32(0.1), 65519.0, -65520.0, 3.4028235e38,
     3.4028236e38],
    ids=repr,
)  # fmt: skip
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_constant_values_equal_keras(value, dtype):
    # Keras casts a Python float through float32: a float64 weight gets float32(0.1).
    weight = torch.empty(3, dtype=getattr(torch, dtype))
    try:
        theirs = np.asarray(keras.initializers.Constant(value)((3,), dtype=dtype))
    except ValueError:  # a Python float past float32's range: Keras refuses it too
        with pytest.raises(ValueError, match=r"float32's range|beyond the largest finite"):
            parity.constant_(weight, value)
        return
    if np.isinf(theirs).any():  # where Keras writes infinities, parity refuses
        with pytest.raises(ValueError, match="beyond the largest finite"):
            parity.constant_(weight, value)
        return
    ours = parity.constant_(weight, value).numpy()
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)
