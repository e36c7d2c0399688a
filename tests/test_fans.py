"""Fans for torch-layout weights of real layers, and Keras's rule on their Keras-layout twins."""

import pytest
import torch

from parity import compute_fans, keras_shape

# (layer, torch weight shape, fan_in, fan_out) — fans as Keras computes them for that layer.
LAYERS = [
    ("Linear(128, 256)", (256, 128), 128, 256),
    ("Linear(1, 1)", (1, 1), 1, 1),
    ("Conv1d(16, 32, 5)", (32, 16, 5), 80, 160),
    ("Conv2d(3, 64, 3)", (64, 3, 3, 3), 27, 576),
    ("Conv3d(4, 8, (2, 3, 5))", (8, 4, 2, 3, 5), 120, 240),
    ("Conv2d(32, 64, 3, groups=4)", (64, 8, 3, 3), 72, 576),
    ("ConvTranspose2d(16, 8, 4)", (16, 8, 4, 4), 128, 256),
    ("ConvTranspose1d(6, 10, 3)", (6, 10, 3), 30, 18),
    ("bias (7,)", (7,), 7, 7),
    ("scalar ()", (), 1, 1),
]
IDS = [layer for layer, *_ in LAYERS]


def layer_modules() -> dict[str, torch.nn.Module]:
    return {
        "Linear(128, 256)": torch.nn.Linear(128, 256),
        "Conv1d(16, 32, 5)": torch.nn.Conv1d(16, 32, 5),
        "Conv2d(3, 64, 3)": torch.nn.Conv2d(3, 64, 3),
        "Conv3d(4, 8, (2, 3, 5))": torch.nn.Conv3d(4, 8, (2, 3, 5)),
        "Conv2d(32, 64, 3, groups=4)": torch.nn.Conv2d(32, 64, 3, groups=4),
        "ConvTranspose2d(16, 8, 4)": torch.nn.ConvTranspose2d(16, 8, 4),
        "ConvTranspose1d(6, 10, 3)": torch.nn.ConvTranspose1d(6, 10, 3),
    }


@pytest.mark.parametrize(("layer", "shape", "fan_in", "fan_out"), LAYERS, ids=IDS)
def test_torch_layout(layer, shape, fan_in, fan_out):
    assert compute_fans(shape) == (fan_in, fan_out)
    assert compute_fans(torch.Size(shape), layout="torch") == (fan_in, fan_out)


@pytest.mark.parametrize(("layer", "shape", "fan_in", "fan_out"), LAYERS, ids=IDS)
def test_keras_layout_of_the_same_layer(layer, shape, fan_in, fan_out):
    assert compute_fans(keras_shape(shape), layout="keras") == (fan_in, fan_out)


def test_table_shapes_are_the_real_modules_shapes():
    for name, module in layer_modules().items():
        shape = dict((layer, s) for layer, s, *_ in LAYERS)[name]
        assert tuple(module.weight.shape) == shape, name


def test_torch_rule_agrees_for_rank_two_and_up():
    # torch.nn.init's own fan rule is the torch-layout rule for rank >= 2.
    fans = torch.nn.init._calculate_fan_in_and_fan_out
    for _, shape, *_ in LAYERS:
        if len(shape) >= 2:
            assert compute_fans(shape) == fans(torch.empty(shape))


def test_keras_shape_mapping():
    assert keras_shape((256, 128)) == (128, 256)
    assert keras_shape((64, 3, 5, 7)) == (5, 7, 3, 64)
    assert keras_shape((7,)) == (7,)
    assert keras_shape(()) == ()


@pytest.mark.parametrize(
    ("shape", "error", "match"),
    [
        ((2.7, 3), TypeError, "sequence of ints"),
        ((2, True), TypeError, "sequence of ints"),
        ("23", TypeError, "sequence of ints"),
        (5, TypeError, "sequence of ints"),
        ((-2, 3), ValueError, "sizes >= 0"),
    ],
)
def test_bad_shapes_raise(shape, error, match):
    with pytest.raises(error, match=match):
        compute_fans(shape)
    with pytest.raises(error, match=match):
        keras_shape(shape)


def test_unknown_layout():
    with pytest.raises(ValueError, match="valid layouts: torch, keras"):
        compute_fans((3, 4), layout="jax")


@pytest.mark.parametrize(("layer", "shape", "fan_in", "fan_out"), LAYERS, ids=IDS)
def test_against_keras_compute_fans(layer, shape, fan_in, fan_out):
    pytest.importorskip("tensorflow")
    initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    kshape = keras_shape(shape)
    assert initializers.compute_fans(kshape) == (fan_in, fan_out)
    assert compute_fans(kshape, layout="keras") == initializers.compute_fans(kshape)


# (Keras-layout shape, input_axes, output_axes): EinsumDense-style kernels, negative and
# repeated axes, an empty list, and one list alone (which Keras ignores).
AXES = [
    ((6, 4, 5), [0], [1, 2]),
    ((6, 4, 5), [-1], [0]),
    ((2, 3, 4, 5), [0, 1], [3]),
    ((6, 7), [], [1]),
    ((3, 4, 5), [0, 0], [2]),
    ((3, 4, 5), [0], None),
    ((3, 4, 5), None, [1]),
]


@pytest.mark.parametrize(("shape", "input_axes", "output_axes"), AXES)
def test_fan_axes_against_keras(shape, input_axes, output_axes):
    pytest.importorskip("tensorflow")
    initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    theirs = initializers.compute_fans(shape, input_axes=input_axes, output_axes=output_axes)
    axes = {"input_axes": input_axes, "output_axes": output_axes}
    assert compute_fans(shape, "keras", **axes) == theirs
    # A torch-layout shape names the axes of its Keras-layout twin.
    torch_shape = (*shape[-1:], *shape[-2:-1], *shape[:-2]) if len(shape) >= 2 else shape
    assert keras_shape(torch_shape) == shape
    assert compute_fans(torch_shape, **axes) == theirs


def test_fan_axes_given_axes_win_over_the_shape_rule():
    assert compute_fans((6, 4, 5), "keras") == (24, 30)
    assert compute_fans((6, 4, 5), "keras", input_axes=[0], output_axes=[1, 2]) == (6, 20)


@pytest.mark.parametrize(
    ("axes", "error", "match"),
    [
        ({"input_axes": [3], "output_axes": [0]}, ValueError, r"input_axes=\[3\] has axis 3, "
         r"outside the Keras-layout shape \(6, 4, 5\) \(valid axes: -3 to 2\)"),
        ({"input_axes": [0], "output_axes": [-4]}, ValueError, "output_axes=.* has axis -4"),
        ({"input_axes": "0", "output_axes": [1]}, TypeError, "input_axes must be a sequence"),
        ({"input_axes": [0], "output_axes": [1.0]}, TypeError, "output_axes must be a sequence"),
        ({"input_axes": [True], "output_axes": [1]}, TypeError, "input_axes must be a sequence"),
    ],
)  # fmt: skip
def test_bad_fan_axes(axes, error, match):
    with pytest.raises(error, match=match):
        compute_fans((6, 4, 5), "keras", **axes)
