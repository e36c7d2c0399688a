"""stft_: Keras's STFT initializer (the kernels of STFTSpectrogram) on torch Conv1d weights."""

import math
import sys

import numpy as np
import pytest
import torch

import parity

from conftest import FLOAT_DTYPES

# Measured against Keras 3.15 on TensorFlow 2.21's CPU backend: the largest gap over every
# side, window, scaling and periodic choice was 2.16 eps (float32) and 1.31 eps (float16,
# bfloat16) of the kernel's largest value.  Keras's float32 cos is not correctly rounded and its
# window norm is summed in the weight's dtype; stft_ rounds those two once from float64.
KERAS_TOLERANCE_EPS = 2.5


def keras_kernel(shape, dtype, side, window, scaling, periodic):
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    init = keras.initializers.STFT(side, window, scaling, periodic)
    values = tf.cast(init(shape, dtype=str(dtype).removeprefix("torch.")), tf.float64)
    return torch.from_numpy(np.array(values))


def gap_in_eps(ours, theirs, dtype):
    """Largest |ours - theirs| in units of the dtype's eps times the kernel's largest value."""
    scale = theirs.abs().max()
    return ((ours.double() - theirs).abs().max() / (torch.finfo(dtype).eps * scale)).item()


@pytest.mark.tf
@pytest.mark.parametrize(
    ("dtype", "shapes"),
    [
        (torch.float32, [(7, 1, 3), (400, 1, 201), (2048, 1, 1025)]),
        (torch.float64, [(7, 1, 3), (400, 1, 201)]),
        (torch.float16, [(7, 1, 3), (400, 1, 201)]),
        (torch.bfloat16, [(7, 1, 3), (200, 1, 129)]),  # Keras's bfloat16 arange breaks past 256
    ],
    ids=str,
)
@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize(
    ("window", "scaling", "periodic"),
    [
        ("hann", "density", False),
        ("hann", "spectrum", True),
        ("hamming", "density", True),
        ("blackman", "spectrum", False),
        (None, "density", False),  # no window: no scaling either, as in Keras
        ("hann", None, False),
    ],
)
def test_matches_keras(dtype, shapes, side, window, scaling, periodic):
    for shape in shapes:
        theirs = keras_kernel(shape, dtype, side, window, scaling, periodic)
        ours = parity.stft_(torch.empty(shape, dtype=dtype), side, window, scaling, periodic,
                            layout="keras")  # fmt: skip
        assert gap_in_eps(ours, theirs, dtype) <= KERAS_TOLERANCE_EPS, shape


@pytest.mark.tf
def test_the_keras_tolerance_catches_an_unrounded_phase():
    """Keras rounds the phase ((-2 t) (f / n)) π to float32 product by product; a kernel from
    the exact phase is the textbook formula but not Keras's, and the tolerance must tell."""
    shape = (2048, 1, 1025)
    theirs = keras_kernel(shape, torch.float32, "real", None, None, False)
    time = torch.arange(shape[0], dtype=torch.float64)[:, None, None]
    frequency = torch.arange(shape[2], dtype=torch.float64) / (2 * (shape[2] - 1))
    textbook = torch.cos(-2 * math.pi * time * frequency).float()
    assert gap_in_eps(textbook, theirs, torch.float32) > 100 * KERAS_TOLERANCE_EPS
    ours = parity.stft_(torch.empty(shape), "real", None, None, layout="keras")
    assert gap_in_eps(ours, theirs, torch.float32) <= KERAS_TOLERANCE_EPS


@pytest.mark.tf
@pytest.mark.parametrize("mode", ["real", "imag"])
def test_ports_a_keras_stft_spectrogram_layer(mode):
    """A Keras STFTSpectrogram's output is torch's conv1d with stft_'s weight."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    frames, step, fft = 64, 16, 128
    layer = keras.layers.STFTSpectrogram(
        mode=mode, frame_length=frames, frame_step=step, fft_length=fft, window="hamming",
        periodic=True, scaling="spectrum", padding="valid",
    )  # fmt: skip
    signal = np.random.default_rng(0).normal(size=(2, 1, 1000)).astype("float32")
    theirs = np.array(layer(signal.transpose(0, 2, 1))).transpose(0, 2, 1)  # channels last
    conv = torch.nn.Conv1d(1, fft // 2 + 1, frames, stride=step, bias=False)
    parity.stft_(conv.weight, mode, "hamming", "spectrum", periodic=True)
    with torch.no_grad():
        ours = conv(torch.from_numpy(signal)).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max())


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize("scaling", ["density", "spectrum", None])
def test_is_a_windowed_dft(side, scaling):
    """Independently of Keras: with the frame as long as the FFT, the conv of a frame with the
    two kernels is the real and imaginary part of numpy's rfft of the windowed frame, over the
    window's norm."""
    frames = bins_fft = 256
    window = np.hanning(frames)
    weight = torch.empty(bins_fft // 2 + 1, 1, frames, dtype=torch.float64)
    parity.stft_(weight, side, window, scaling)
    frame = np.random.default_rng(1).normal(size=frames)
    spectrum = np.fft.rfft(frame * window, bins_fft)
    norm = {"density": np.sqrt(np.sum(window**2)), "spectrum": np.sum(window), None: 1.0}
    expected = (spectrum.real if side == "real" else spectrum.imag) / norm[scaling]
    ours = weight[:, 0, :].numpy() @ frame
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-9 * np.abs(expected).max())


def test_named_window_is_scipys():
    signal = pytest.importorskip("scipy.signal")
    for periodic in (False, True):
        values = signal.get_window("hann", 50, fftbins=periodic)
        named = parity.stft_(torch.empty(26, 1, 50), window="hann", periodic=periodic)
        given = parity.stft_(torch.empty(26, 1, 50), window=values.tolist(), periodic=periodic)
        assert torch.equal(named, given)
    assert not torch.equal(
        parity.stft_(torch.empty(26, 1, 50), periodic=True), parity.stft_(torch.empty(26, 1, 50))
    )


def test_torch_and_keras_layouts_hold_the_same_kernel():
    weight = parity.stft_(torch.empty(33, 1, 64), "imag")
    kernel = parity.stft_(torch.empty(64, 1, 33), "imag", layout="keras")
    assert torch.equal(weight, parity.fans.from_keras_layout(kernel))
    assert parity.describe("stft", (33, 1, 64)) == parity.describe(
        "stft", (64, 1, 33), layout="keras"
    )


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_torch_conventions(dtype, device):
    weight = torch.full((17, 1, 32), float("nan"), dtype=dtype, device=device)
    out = parity.stft_(weight)
    assert out is weight and out.dtype == dtype and out.device.type == device
    assert torch.isfinite(weight).all()
    reference = parity.stft_(torch.empty(17, 1, 32, dtype=dtype))
    if device == "cpu":
        assert torch.equal(weight, reference)
    else:  # the same rounded phase; CUDA's float64 cos and sin may differ by an ulp
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(weight.cpu(), reference, rtol=0, atol=eps)
    conv = torch.nn.Conv1d(1, 17, 32).to(device, dtype)
    parity.stft_(conv.weight)  # a leaf that requires grad
    assert conv.weight.requires_grad and conv.weight.grad_fn is None


def test_chunked_fill_equals_one_pass(monkeypatch):
    """Long kernels are filled a few frames at a time; the values must not depend on that."""
    whole = parity.stft_(torch.empty(65, 1, 300), "imag")
    monkeypatch.setattr(parity.samplers, "_CHUNK", 65 * 7)  # 7 frames per step, a ragged end
    assert torch.equal(parity.stft_(torch.empty(65, 1, 300), "imag"), whole)


def test_views_meta_and_empty():
    base = torch.zeros(2, 17, 1, 32)
    parity.stft_(base[1])
    assert (base[0] == 0).all()
    assert torch.equal(base[1], parity.stft_(torch.empty(17, 1, 32)))
    transposed = torch.zeros(32, 1, 17).permute(2, 1, 0)  # non-contiguous torch-layout weight
    assert torch.equal(parity.stft_(transposed), base[1])
    meta = torch.empty(17, 1, 32, device="meta")
    assert parity.stft_(meta) is meta
    empty = torch.empty(17, 1, 0)
    assert parity.stft_(empty) is empty


def test_get_resolves_keras_names_and_configs():
    for name in ("stft", "STFT", "STFTInitializer", "stft_initializer"):
        init = parity.get(name)
        assert init.name == "stft"
        assert init.config == {"side": "real", "window": "hann", "scaling": "density",
                               "periodic": False}  # fmt: skip
    config = {"class_name": "STFT", "config": {"side": "imag", "window": [1.0, 2.0, 1.0],
              "periodic": True, "scaling": None}}  # fmt: skip
    weight = parity.get(config)(torch.empty(5, 1, 3))
    assert torch.equal(weight, parity.stft_(torch.empty(5, 1, 3), "imag", [1.0, 2.0, 1.0], None))
    with pytest.raises(ValueError, match="takes no seed"):
        parity.get({"class_name": "STFT", "config": {"seed": 3}})
    with pytest.raises(ValueError, match="unknown side 'both'"):
        parity.get({"class_name": "STFT", "config": {"side": "both"}})


def test_keras_init_overrides_take_stft():
    model = torch.nn.Sequential(
        torch.nn.Conv1d(1, 65, 128, stride=32, bias=False),
        torch.nn.Conv1d(1, 65, 128, stride=32, bias=False),
    )
    imag = {"class_name": "STFT", "config": {"side": "imag", "window": "hamming"}}
    parity.keras_init_(
        model, overrides={"0": {"kernel_initializer": "stft"}, "1": {"kernel_initializer": imag}}
    )
    assert torch.equal(model[0].weight, parity.stft_(torch.empty(65, 1, 128)))
    assert torch.equal(model[1].weight, parity.stft_(torch.empty(65, 1, 128), "imag", "hamming"))
    dense = torch.nn.Sequential(torch.nn.Linear(4, 5))
    before = dense[0].weight.clone()
    with pytest.raises(ValueError, match=r"Keras shape \(4, 5\): stft_ needs a Conv1d weight"):
        parity.keras_init_(dense, overrides={"0": {"kernel_initializer": "stft"}})
    assert torch.equal(dense[0].weight, before)


@pytest.mark.tf
def test_get_takes_keras_stft_objects_and_their_serialization():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    keras_init = keras.initializers.STFT("imag", "hamming", "spectrum", True)
    for identifier in (keras_init, keras.initializers.serialize(keras_init)):
        init = parity.get(identifier)
        assert init.config == {"side": "imag", "window": "hamming", "scaling": "spectrum",
                               "periodic": True}  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "kwargs", "error", "match"),
    [
        ((17, 32), {}, ValueError, r"Conv1d weight .*\(bins, 1, frames\).*got shape \(17, 32\)"),
        ((17, 2, 32), {}, ValueError, "one input channel"),
        ((1, 1, 32), {}, ValueError, "at least 2 frequency bins"),
        ((32, 1, 17), {"layout": "keras", "window": [1.0] * 31}, ValueError, "31 values; .* 32"),
        ((17, 1, 32), {"window": "nope"}, ValueError, r"invalid window 'nope'.*'hann'"),
        ((17, 1, 32), {"window": "kaiser"}, ValueError, "invalid window 'kaiser' .*parameters"),
        ((17, 1, 4), {"window": [[1.0, 2.0]] * 2}, ValueError, "window must be 1-D"),
        ((17, 1, 2), {"window": [1.0, math.inf]}, ValueError, "finite"),
        ((17, 1, 2), {"window": {"a": 1}}, TypeError, "window must be a window name"),
        ((17, 1, 2), {"window": [0.0, 0.0]}, ValueError, "density norm is 0"),
        ((17, 1, 2), {"side": "both"}, ValueError, "unknown side 'both'; valid choices: real"),
        ((17, 1, 2), {"scaling": "l2"}, ValueError, "valid choices: density, spectrum, None"),
        ((17, 1, 2), {"periodic": 1}, TypeError, "periodic must be a bool"),
        ((17, 1, 2), {"layout": "tf"}, ValueError, "valid layouts: torch, keras"),
    ],
)
def test_bad_input_raises_and_leaves_the_weight_alone(shape, kwargs, error, match):
    weight = torch.full(shape, 7.0)
    with pytest.raises(error, match=match):
        parity.stft_(weight, **kwargs)
    assert (weight == 7).all()


@pytest.mark.parametrize(
    ("window", "scaling", "match"),
    [
        ([1e6, 1e6], None, "window's values overflow"),
        ([6e4, 6e4, 6e4], "density", "density norm is inf"),  # each value fits, the norm not
        ([1e-9, 1e-9], "spectrum", "spectrum norm is 0"),  # nonzero, but zero in float16
    ],
)
def test_a_window_the_dtype_cannot_hold_raises(window, scaling, match):
    weight = torch.full((3, 1, len(window)), 7.0, dtype=torch.float16)
    with pytest.raises(ValueError, match=rf"cannot be computed in torch\.float16: .*{match}"):
        parity.stft_(weight, window=window, scaling=scaling)
    assert (weight == 7).all()
    assert torch.isfinite(parity.stft_(weight.float(), window=window, scaling=scaling)).all()


def test_named_windows_without_scipy_say_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.signal", None)  # import scipy.signal now fails
    weight = torch.full((3, 1, 2), 7.0)
    with pytest.raises(ImportError, match=r"window='hann' .* install scipy .* window's values"):
        parity.stft_(weight)
    assert (weight == 7).all()
    assert torch.isfinite(parity.stft_(weight, window=[0.5, 1.0])).all()  # values need no scipy


def test_is_not_random():
    with pytest.raises(ValueError, match="not a random distribution"):
        parity.check(lambda w, generator=None: parity.stft_(w), "stft", (17, 1, 32))


def test_non_float_and_overlapping_weights_raise():
    ints = torch.full((17, 1, 32), 7, dtype=torch.int32)
    with pytest.raises(TypeError, match="float16, bfloat16, float32 and float64"):
        parity.stft_(ints)
    assert (ints == 7).all()
    with pytest.raises(ValueError, match=r"share memory.*expand\(\)"):
        parity.stft_(torch.zeros(1, 1, 32).expand(17, 1, 32))
    with pytest.raises(TypeError, match=r"expected a torch\.Tensor"):
        parity.stft_(np.zeros((17, 1, 32)))
