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


def keras_values(name: str, torch_shape, seed: int, **config) -> np.ndarray:
    init = keras.initializers.get({"class_name": name, "config": {"seed": seed, **config}})
    values = np.asarray(init(parity.keras_shape(torch_shape), dtype="float32"))
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


def test_orthogonal_matches_keras_to_qr_rounding():
    shape = (48, 16, 3)  # Keras (3, 16, 48): a 48 x 48 flat matrix
    ours = parity.orthogonal_(torch.empty(shape), gain=1.3, seed=11).numpy()
    theirs = keras_values("Orthogonal", shape, 11, gain=1.3)
    assert np.abs(ours - theirs).max() < 1e-5


def test_seeded_config_from_keras_serialize():
    config = keras.initializers.serialize(keras.initializers.HeNormal(seed=99))
    ours = parity.get(config)(torch.empty(8, 4))
    assert np.array_equal(ours.numpy(), keras_values("HeNormal", (8, 4), 99))


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
