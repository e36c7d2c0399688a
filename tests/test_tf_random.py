"""parity.tf_random: TensorFlow's stateless random streams, value for value.

TensorFlow itself is the oracle wherever it is installed; without it the Philox core is checked
against the published known-answer vectors, the glibc emulation against the C library (on
glibc), and truncated-normal group handling against a literal word-by-word transcription.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import math
import os
import sys

import numpy as np
import pytest
import torch

import parity
from parity import tf_random
from parity.fans import compute_fans

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEEDS = [(42, 0), (-7, 3), (0, 0), (2**31 - 1, 2**40), (5, -(2**63)), (2**63 - 1, -1)]
SHAPES = [(1,), (17,), (3, 5, 7), (1001,), (3, 3, 64, 63)]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DISTRIBUTIONS = ["uniform", "normal", "truncated_normal"]
INT = {torch.float64: torch.int64, torch.float32: torch.int32}
INT.update({torch.float16: torch.int16, torch.bfloat16: torch.int16})


def ulps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance in units in the last place, through the ordered integer view of the floats."""
    bits = torch.finfo(a.dtype).bits

    def ordered(x: torch.Tensor) -> torch.Tensor:
        i = x.contiguous().view(INT[x.dtype]).long()
        return torch.where(i < 0, -(i & ((1 << (bits - 1)) - 1)), i)

    return (ordered(a) - ordered(b)).abs()


def reference(name: str, shape, seed, dtype, **kwargs) -> torch.Tensor:
    tf = pytest.importorskip("tensorflow")
    tf_dtype = {torch.float32: tf.float32, torch.float64: tf.float64}
    tf_dtype.update({torch.float16: tf.float16, torch.bfloat16: tf.bfloat16})
    op = getattr(tf.random, f"stateless_{name}")
    values = op(shape, seed=list(seed), dtype=tf_dtype[dtype], **kwargs)
    if dtype == torch.bfloat16:  # numpy has no bfloat16: compare the bits
        return torch.from_numpy(tf.bitcast(values, tf.int16).numpy()).view(torch.bfloat16)
    return torch.from_numpy(values.numpy())


def compare(mine: torch.Tensor, theirs: torch.Tensor) -> tuple[int, int]:
    """(number of elements not bit-identical, largest distance in ulps)."""
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    mine, theirs = mine.reshape(-1), theirs.reshape(-1)
    different = int((mine.view(INT[mine.dtype]) != theirs.view(INT[theirs.dtype])).sum())
    return different, int(ulps(mine, theirs).max()) if mine.numel() else 0


# --------------------------------------------------------------------------- Philox


def test_philox_known_answers():
    # Random123's known-answer vectors for Philox4x32-10.
    assert tf_random.philox([0, 0, 0, 0], (0, 0)) == [
        0x6627E8D5,
        0xE169C58D,
        0xBC57AC4C,
        0x9B00DBD8,
    ]
    assert tf_random.philox([0xFFFFFFFF] * 4, (0xFFFFFFFF, 0xFFFFFFFF)) == [
        0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD,
    ]  # fmt: skip
    assert tf_random.philox(
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], (0xA4093822, 0x299F31D0)
    ) == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]


def test_philox_tensors_match_python_ints():
    # int64 products wrap past 2^63 for these operands; the words must still be exact.
    rng = np.random.default_rng(0)
    counters = rng.integers(0, 2**32, size=(4, 512), dtype=np.uint64).astype(np.int64)
    counters[:, :4] = [[0], [2**31], [2**32 - 1], [2**31 - 1]]
    key = (0xDEADBEEF, 0xFFFFFFFF)
    words = tf_random.philox([torch.from_numpy(c) for c in counters], key)
    for i in range(0, 512, 37):
        assert [int(w[i]) for w in words] == tf_random.philox([int(c[i]) for c in counters], key)


@pytest.mark.parametrize("high", [0, 1, 2**31 + 5])
def test_block_buffers_match_philox(high):
    scratch = tf_random._Scratch(torch.device("cpu"))
    stream = tf_random._Philox((123, -456), scratch)
    key, (c2, c3) = tf_random._stream((123, -456))
    low = torch.tensor([0, 1, 2**31, 2**32 - 1, 977])
    got = stream.blocks(low, high)
    assert all(
        torch.equal(g, w)
        for g, w in zip(got, tf_random.philox([low, high, c2, c3], key), strict=True)
    )


def test_seed_scrambling_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    for seed in SEEDS:
        key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.constant(seed, tf.int64))
        (k0, k1), (c2, c3) = tf_random._stream(seed)
        assert int(key.numpy()[0]) & (2**64 - 1) == k0 | k1 << 32
        assert [int(c) & (2**64 - 1) for c in counter.numpy()] == [0, c2 | c3 << 32]


# --------------------------------------------------------------------------- glibc emulation


@functools.cache
def _check_glibc_tool():
    path = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "check_glibc.py")
    spec = importlib.util.spec_from_file_location("check_glibc", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _libm():
    tool = _check_glibc_tool()
    try:
        return tool.load_libm()[0]
    except tool.GlibcMissing as missing:
        pytest.skip(str(missing))


MANTISSAS = torch.cat(
    [
        torch.arange(0, 400),  # 0 (-> 1e-7), the smallest inputs, sincosf's tiny-angle range
        torch.tensor([1 << 20, (1 << 20) - 1, 3 << 20, (3 << 20) - 1, 5 << 20, (5 << 20) + 1]),
        torch.tensor([7 << 20, (7 << 20) + 1, (1 << 22) - 1, 1 << 22, (1 << 23) - 1]),
        torch.from_numpy(np.random.default_rng(1).integers(0, 1 << 23, 20000)),
    ]
).to(torch.int32)


def _glibc_box_muller(libm) -> np.ndarray:
    """(radius, sin, cos) of MANTISSAS from the C library, as tools/check_glibc.py takes them."""
    return _check_glibc_tool().glibc_results(libm, MANTISSAS.numpy())


def test_radius_matches_glibc_logf():
    expected = _glibc_box_muller(_libm())
    scratch = tf_random._Scratch(torch.device("cpu"))
    got = tf_random._radius(MANTISSAS, scratch).numpy()
    np.testing.assert_array_equal(got, expected[0])


def test_sincos_matches_glibc_sincosf():
    expected = _glibc_box_muller(_libm())
    scratch = tf_random._Scratch(torch.device("cpu"))
    sin, cos = tf_random._sincos(MANTISSAS, scratch)
    np.testing.assert_array_equal(sin.numpy(), expected[1])
    np.testing.assert_array_equal(cos.numpy(), expected[2])


def test_fused_kernels_match_glibc():
    pytest.importorskip("numba")
    expected = _glibc_box_muller(_libm())
    parts = tf_random._fused_box_muller_parts(MANTISSAS.numpy())
    np.testing.assert_array_equal(parts.view(np.int32), expected.view(np.int32))


@pytest.fixture
def fused_reload(monkeypatch):
    """For tests that patch what the fused kernels are built from and then clear
    ``_fused_kernels``' cache: afterwards, the patches are undone and the cache cleared again,
    so later tests get kernels built from the module's own constants."""
    yield
    monkeypatch.undo()
    tf_random._fused_kernels.cache_clear()


def test_exhaustive_glibc_check_tool_passes_and_catches_a_wrong_coefficient(
    monkeypatch, capsys, fused_reload
):
    _libm()  # skips without glibc 2.28+
    tool = _check_glibc_tool()
    # The first 2^12 mantissas (the tool's full run, all 2^23, takes about half a minute).
    assert tool.main(["--limit", "4096"]) == 0
    out = capsys.readouterr().out
    sides = ["numpy", "torch"] + (["fused"] if tf_random._fused_kernels() else [])
    for side in sides:
        assert f"{side}: values that differ from glibc's, of 4096 each: " in out
    assert out.count("sqrtf(-2 logf) 0, sinf 0, cosf 0") == len(sides)
    # log1p's r^2 coefficient off by a factor 1.001: some radii change, on every side.
    a0, a1, a2 = tf_random._LOG1P_POLY
    monkeypatch.setattr(tf_random, "_LOG1P_POLY", [a0, a1, a2 * 1.001])
    tf_random._fused_kernels.cache_clear()  # the fused kernels take the constants once
    for side in sides[1:]:
        assert tool.main(["--limit", "4096", "--side", side]) == 1
        assert "sqrtf(-2 logf) 0," not in capsys.readouterr().out
    for bad in (["--device", "cuda:99"], ["--device", "meta"], ["--limit", "0"]):
        with pytest.raises(SystemExit) as stopped:  # the check cannot run: status 2
            tool.main(["--limit", "4", *bad])
        assert stopped.value.code == 2, bad


def test_quadrant_formula_is_glibcs_on_every_input():
    # glibc: n = ((int)(x * 0x1.45F306DC9C883p+23) + 2^23) >> 24; here floor(x 2/pi + 1/2).
    m = torch.arange(1 << 23, dtype=torch.float64)
    x = (m * (2 * math.pi / 2**23)).float().double()
    glibc = (torch.trunc(x * tf_random._HALF_PI_INV_2P24).long() + (1 << 23)) >> 24
    here = (x * (tf_random._HALF_PI_INV_2P24 * 2**-24) + 0.5).floor().long()
    assert torch.equal(glibc, here)


# --------------------------------------------------------------------------- against TensorFlow


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_tensorflow(name, dtype):
    for seed, shape in zip(SEEDS, [*SHAPES, SHAPES[1]], strict=True):
        scale = (
            {"minval": -0.3, "maxval": 0.7} if name == "uniform" else {"mean": -0.3, "stddev": 0.7}
        )
        for kwargs in ({}, scale):
            different, worst = compare(
                getattr(tf_random, name)(shape, seed, dtype, **kwargs),
                reference(name, shape, seed, dtype, **kwargs),
            )
            assert different == 0, (seed, shape, kwargs, different, worst)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("uniform", {"minval": 0.0, "maxval": 1e6}),
        ("normal", {"mean": 65504.0, "stddev": 100.0}),
        ("truncated_normal", {"mean": -65504.0, "stddev": 100.0}),
    ],
)
def test_values_past_the_dtype_range_are_infinite_as_in_tensorflow(name, kwargs):
    mine = getattr(tf_random, name)((1000,), (1, 2), torch.float16, **kwargs)
    theirs = reference(name, (1000,), (1, 2), torch.float16, **kwargs)
    assert mine.isinf().any()
    assert compare(mine, theirs)[0] == 0  # bit for bit, NaN (0 times inf) included


@pytest.mark.parametrize("name", ["normal", "truncated_normal"])
def test_float32_large_sample_matches_tensorflow(name):
    # 2^22 values: every Box-Muller input class, many truncated-normal groups that need a
    # second block and a few that need more.  Target: >= 99.999% identical, never > 1 ulp.
    shape = (1 << 22) + 3
    different, worst = compare(
        getattr(tf_random, name)((shape,), (2**40 + 7, -3)),
        reference(name, (shape,), (2**40 + 7, -3), torch.float32),
    )
    assert different <= shape // 100_000 and worst <= 1, (different, worst)
    assert different == 0  # what glibc 2.28+ on x86-64 gives


def test_float64_truncated_groups_that_need_more_blocks_match_tensorflow():
    # 2^19 float64 groups of 2: about 200 have fewer than 2 of their first 4 candidates inside
    # (-2, 2) and take the refill path.  A wrong pick gives another value, far beyond 4 ulps.
    shape, seed = (1 << 20) + 1, (11, 2**33)
    different, worst = compare(
        tf_random.truncated_normal((shape,), seed, torch.float64),
        reference("truncated_normal", (shape,), seed, torch.float64),
    )
    assert worst <= 4, (different, worst)


# --------------------------------------------------------------------------- structure


def _box_muller_reference(x0: int, x1: int, libm) -> tuple[float, float]:
    """TensorFlow's BoxMullerFloat, transcribed: float32 steps, glibc's logf and sincosf."""
    u1 = max(np.float32((x0 & 0x7FFFFF) * 2.0**-23), np.float32(1e-7))
    v1 = np.float32(2.0 * math.pi * float(np.float32((x1 & 0x7FFFFF) * 2.0**-23)))
    u2 = np.sqrt(np.float32(-2.0) * np.float32(libm.logf(float(u1))))
    s, c = ctypes.c_float(), ctypes.c_float()
    libm.sincosf(float(v1), ctypes.byref(s), ctypes.byref(c))
    return np.float32(s.value) * u2, np.float32(c.value) * u2


def _truncated_group_reference(seed, group: int, libm) -> list[float]:
    """Group ``group`` of a float32 truncated normal, word by word from its own stream."""
    key, (c2, c3) = tf_random._stream(seed)
    block, words, values = 256 * group, [], []
    while len(values) < 4:
        if len(words) < 2:
            words += tf_random.philox([block & 0xFFFFFFFF, block >> 32, c2, c3], key)
            block += 1
        f0, f1 = _box_muller_reference(words.pop(0), words.pop(0), libm)
        values += [f for f in (f0, f1) if abs(f) < 2.0]
    return values[:4]


def test_truncated_groups_that_need_several_blocks():
    """Groups whose first two blocks hold fewer than 4 values inside (-2, 2) take the slow
    path; find some and check them against the word-by-word transcription."""
    libm = _libm()
    seed, groups = (9, 9), 1 << 18
    values = tf_random.truncated_normal((4 * groups,), seed).view(groups, 4)
    scratch = tf_random._Scratch(torch.device("cpu"))
    stream = tf_random._Philox(seed, scratch)
    rows = torch.arange(groups)
    rejected = torch.zeros(groups, dtype=torch.int64)
    for step in range(2):  # the number of candidates outside (-2, 2) in blocks 0 and 1
        planes = torch.empty(4, groups)
        tf_random._blocks_at(stream, rows * 256 + step, planes, scratch)
        rejected += (planes.abs() >= 2.0).sum(dim=0)
    slow = (rejected >= 5).nonzero().squeeze(1).tolist()
    assert slow, "no group needing a third block in this sample"
    for group in [*slow[:3], 0, 1, groups - 1]:
        expected = _truncated_group_reference(seed, group, libm)
        assert values[group].tolist() == [float(v) for v in expected], group


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_refill_alone_gives_every_group(dtype, monkeypatch):
    # The general path on every group of a draw, starting from one block: 83% (float32) or
    # 91% (float64) of groups are full after it, the others go round with 2 and then 4
    # blocks, so full and short groups mix at every step.  It must give the draw's values.
    seed, size = (3, 1), (1 << 16) + 1
    usual = tf_random.truncated_normal((size,), seed, dtype)
    per_group = tf_random._per_block(dtype)
    monkeypatch.setattr(tf_random, "_REFILL_BLOCKS", 1)
    out = torch.full((size,), math.nan, dtype=dtype)
    scratch = tf_random._Scratch(torch.device("cpu"))
    stream = tf_random._Philox(seed, scratch)
    groups = torch.arange(-(-size // per_group))
    stride = tf_random._RESERVED_SAMPLES * per_group // 4  # blocks of the stream per group
    tf_random._refill(stream, groups, 0, per_group, stride, out, scratch)
    assert torch.equal(out, usual)


def test_blocks_across_a_2_to_the_32_line():
    scratch = tf_random._Scratch(torch.device("cpu"))
    stream = tf_random._Philox((1, 2), scratch)
    index = torch.tensor([2**32 - 3, 2**32 - 1, 2**32, 2**32 + 5, 3 * 2**32 + 1])
    planes = torch.empty(4, index.numel())
    tf_random._blocks_at(stream, index, planes, scratch)
    for i, block in enumerate(index.tolist()):
        one = torch.empty(4, 1)
        words = stream.blocks(torch.tensor([block & 0xFFFFFFFF]), block >> 32)
        tf_random._normal_planes(words, one, scratch)
        assert torch.equal(planes[:, i], one[:, 0])


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_prefix_stable(name, dtype):
    draw = getattr(tf_random, name)
    whole = draw((4099,), (3, 4), dtype)
    for k in (1, 2, 3, 5, 4098):
        assert torch.equal(draw((k,), (3, 4), dtype), whole[:k])
    assert torch.equal(draw((37, 3), (3, 4), dtype).view(-1), whole[:111])


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_slabs_and_out_give_the_whole_draw(name, dtype, monkeypatch):
    # Drawn a slab at a time into a permuted (non-contiguous) out: tiny chunks and slabs make
    # many slabs, with slab edges inside rows, and must give the one-slab values.
    draw = getattr(tf_random, name)
    kwargs = {"stddev": 0.5} if name != "uniform" else {"minval": -0.5}
    whole = draw((41, 7, 29), (5, -6), dtype, **kwargs)
    monkeypatch.setattr(tf_random, "_CHUNK", 1 << 4)
    monkeypatch.setattr(tf_random, "_SLAB_GROUPS", 3 << 4)
    out = torch.full((29, 41, 7), math.nan, dtype=dtype).permute(1, 2, 0)
    returned = draw((41, 7, 29), (5, -6), dtype, out=out, **kwargs)
    assert returned is out
    assert torch.equal(out.contiguous().view(INT[dtype]), whole.view(INT[dtype]))


def test_out_must_match_the_draw():
    out = torch.empty(3, 4)
    with pytest.raises(ValueError, match="shape, dtype and device"):
        tf_random.normal((4, 3), (1, 2), out=out)
    with pytest.raises(ValueError, match="shape, dtype and device"):
        tf_random.normal((3, 4), (1, 2), torch.float64, out=out)
    with pytest.raises(TypeError, match="out must be a torch"):
        tf_random.uniform((3, 4), (1, 2), out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"out cannot be written in place: .*share memory"):
        tf_random.uniform((3, 4), (1, 2), out=torch.zeros(1, 4).expand(3, 4))


def test_output_properties():
    for name in DISTRIBUTIONS:
        for dtype in DTYPES:
            x = getattr(tf_random, name)((2, 0, 3), (1, 1), dtype)
            assert x.shape == (2, 0, 3) and x.dtype == dtype
            y = getattr(tf_random, name)([5, 6], (1, 1), dtype)
            assert y.shape == (5, 6) and y.dtype == dtype and y.is_contiguous()
    t = tf_random.truncated_normal((100_000,), (8, 8), mean=1.0, stddev=0.5)
    assert float(t.min()) > 0.0 and float(t.max()) < 2.0
    u = tf_random.uniform((100_000,), (8, 8), torch.float64, minval=-2.0, maxval=3.0)
    assert float(u.min()) >= -2.0 and float(u.max()) < 3.0


def test_seed_tensors_as_tensorflow_takes_them():
    as_tuple = tf_random.normal((5, 3), (-7, 2**40))
    for seed in (
        torch.tensor([-7, 2**40]),
        np.array([-7, 2**40], dtype=np.int64),
        [np.int64(-7), torch.tensor(2**40)],
    ):
        assert torch.equal(tf_random.normal((5, 3), seed), as_tuple)
    small = tf_random.uniform((9,), torch.tensor([3, -1], dtype=torch.int32))
    assert torch.equal(small, tf_random.uniform((9,), (3, -1)))
    for bad in (
        torch.tensor([1.0, 2.0]),
        torch.tensor([True, False]),
        np.array([1.5, 2.0]),
        torch.tensor([[1, 2]]),
        torch.tensor([1, 2, 3]),
        torch.tensor(7),
    ):
        with pytest.raises(TypeError, match="1-D integer tensor or array of 2"):
            tf_random.normal((2,), bad)


def test_int32_seed_tensor_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    seed = tf.constant([-3, 2**31 - 1], tf.int32)
    theirs = tf.random.stateless_truncated_normal((7, 5), seed=seed).numpy()
    mine = tf_random.truncated_normal((7, 5), torch.from_numpy(seed.numpy()))
    assert torch.equal(mine, torch.from_numpy(theirs))


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="shape"):
        tf_random.normal(5, (1, 2))
    with pytest.raises(ValueError, match="sizes >= 0"):
        tf_random.normal((2, -1), (1, 2))
    with pytest.raises(TypeError, match="seed"):
        tf_random.normal((2,), 7)
    with pytest.raises(TypeError, match="seed"):
        tf_random.normal((2,), (1, 2.5))
    with pytest.raises(ValueError, match="int64"):
        tf_random.normal((2,), (2**63, 0))
    for dtype in (torch.int32, torch.float8_e4m3fn):
        with pytest.raises(TypeError, match=r"dtype must be .*float32 and float64"):
            tf_random.normal((2,), (1, 2), dtype)
    with pytest.raises(ValueError, match="finite"):
        tf_random.uniform((2,), (1, 2), maxval=math.inf)
    with pytest.raises(TypeError, match="stddev"):
        tf_random.truncated_normal((2,), (1, 2), stddev="1")
    with pytest.raises(TypeError, match="int"):
        tf_random.keras_seed(1.0)
    with pytest.raises(TypeError, match="int"):
        tf_random.keras_seed(True)
    with pytest.raises(ValueError, match="int64"):
        tf_random.keras_seed(-(2**63) - 1)


# --------------------------------------------------------------------------- Keras seeds


KERAS_SEEDS = [42, -5, 0, 2**31 - 1, 2**31 - 2, 2**40 + 3, -(2**63)]


def test_keras_seed_folding():
    assert tf_random.keras_seed(42) == (42, 0)
    assert tf_random.keras_seed(-5) == (2**31 - 7, 0)
    assert tf_random.keras_seed(2**31 - 2) == (0, 0)
    assert tf_random.keras_seed(2**31 - 1) == (1, 0)
    assert tf_random.keras_seed(2**40 + 3) == ((2**40 + 3) % (2**31 - 2), 0)


def _keras_cases(keras):
    """(Keras initializer, our function and its keyword arguments) for a Keras-layout shape."""

    def variance(scale, mode, distribution):
        def ours(shape):
            fan_in, fan_out = compute_fans(shape, layout="keras")
            fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
            s = scale / max(1.0, fan)
            if distribution == "uniform":
                return tf_random.uniform, {"minval": -math.sqrt(3 * s), "maxval": math.sqrt(3 * s)}
            if distribution == "untruncated_normal":
                return tf_random.normal, {"stddev": math.sqrt(s)}
            return tf_random.truncated_normal, {"stddev": math.sqrt(s) / 0.87962566103423978}

        return ours

    init = keras.initializers
    return [
        (lambda seed: init.HeNormal(seed=seed), variance(2.0, "fan_in", "truncated_normal")),
        (lambda seed: init.GlorotUniform(seed=seed), variance(1.0, "fan_avg", "uniform")),
        (lambda seed: init.LecunNormal(seed=seed), variance(1.0, "fan_in", "truncated_normal")),
        (
            lambda seed: init.VarianceScaling(0.5, "fan_out", "untruncated_normal", seed=seed),
            variance(0.5, "fan_out", "untruncated_normal"),
        ),
        (
            lambda seed: init.RandomNormal(0.1, 0.05, seed=seed),
            lambda shape: (tf_random.normal, {"mean": 0.1, "stddev": 0.05}),
        ),
        (
            lambda seed: init.RandomUniform(-0.05, 0.07, seed=seed),
            lambda shape: (tf_random.uniform, {"minval": -0.05, "maxval": 0.07}),
        ),
        (
            lambda seed: init.TruncatedNormal(0.0, 0.02, seed=seed),
            lambda shape: (tf_random.truncated_normal, {"mean": 0.0, "stddev": 0.02}),
        ),
    ]


@pytest.mark.parametrize("shape", [(13, 7), (3, 3, 5, 7), (5, 4, 9), (2, 3, 3, 3, 6)], ids=str)
def test_keras_initializers_with_int_seeds(shape):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras on the TensorFlow backend")
    for make, ours in _keras_cases(keras):
        for seed in KERAS_SEEDS:
            expected = torch.from_numpy(np.array(make(seed)(shape)))
            draw, kwargs = ours(shape)
            got = draw(shape, tf_random.keras_seed(seed), **kwargs)
            assert compare(got, expected)[0] == 0, (make(seed), seed)


def test_keras_rejects_the_seeds_keras_seed_rejects():
    keras = pytest.importorskip("keras")
    for seed in (2**63, -(2**63) - 1):
        with pytest.raises(ValueError):
            keras.initializers.HeNormal(seed=seed)((2, 2))
        with pytest.raises(ValueError):
            tf_random.keras_seed(seed)


# --------------------------------------------------------------------------- devices


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cuda_matches_cpu(name, dtype):
    shape, seed = ((1 << 20) + 3,), (2**40 + 7, -3)
    cpu = getattr(tf_random, name)(shape, seed, dtype)
    cuda = getattr(tf_random, name)(shape, seed, dtype, device="cuda").cpu()
    different, worst = compare(cuda, cpu)
    if dtype == torch.float64 and name != "uniform":
        assert worst <= 4  # CUDA's float64 log / sin / cos are not the C library's
    else:
        assert different <= shape[0] // 100_000 and worst <= 1, (different, worst)


def _correctly_rounded_sqrt_(values: torch.Tensor) -> torch.Tensor:
    # float64 sqrt rounded once more is correctly rounded for float32 (53 >= 2 * 24 + 2 bits),
    # as CUDA's sqrtf is; this CPU's torch float32 sqrt is not (an ulp off on ~15% of inputs).
    return values.copy_(values.double().sqrt_())


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_path_gives_the_numpy_paths_values(name, dtype, monkeypatch):
    # Other devices take the torch side of every numpy shortcut (words times a multiplier,
    # interleaving, nonzero, float64 Box-Muller): run the whole module that way on the CPU,
    # over many small chunks and with truncated groups that need the refill, so no GPU is
    # needed to find a mistake in that side's logic.
    shape, seed = ((1 << 18) + 3,), (2**40 + 7, -3)
    draw = getattr(tf_random, name)
    usual = draw(shape, seed, dtype)
    asked = []  # the shortcuts that were turned down
    monkeypatch.setattr(tf_random, "_FUSED", False)
    monkeypatch.setattr(tf_random, "_on_numpy", lambda tensor: asked.append(tensor) and False)
    monkeypatch.setattr(tf_random, "_sqrt_", _correctly_rounded_sqrt_)
    monkeypatch.setattr(tf_random, "_CHUNK", 1 << 12)
    torch_path = draw(shape, seed, dtype)
    assert asked
    different, worst = compare(torch_path, usual)
    if dtype == torch.float64 and name != "uniform":
        # torch's float64 log, sin and cos are not the C library's: last bits only.
        assert 0 < different < shape[0] // 10 and worst <= 4, (different, worst)
    else:
        assert different == 0, (different, worst)


@pytest.mark.parametrize(
    "fill", [tf_random._fill_normal, tf_random._fill_truncated], ids=["normal", "truncated"]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    ("size", "chunk", "seed", "first"),
    [
        (1, 1 << 17, (9, 9), 0),
        (3, 1 << 17, (9, 9), 0),
        (4097, 1 << 4, (-1, 5), 0),  # many chunks, a cut last group
        (4097, 1 << 4, (2**40 + 7, -3), 2**32 - 16),  # normal blocks cross 2^32
        # truncated groups' blocks cross 2^32: group 2^24 (float32, 256 blocks a group) or
        # 2^25 (float64, 128 blocks)
        (4097, 1 << 4, (5, -(2**63)), "crossing"),
        (4 << 18, 1 << 17, (9, 9), 0),  # truncated: groups that need a third block
    ],
)
def test_fused_kernels_give_the_torch_pipelines_values(
    fill, dtype, size, chunk, seed, first, monkeypatch
):
    # Where numba is installed, float32 and float64 normals and truncated normals on the CPU
    # come from the fused kernels; the torch pipeline (every other device, and this CPU
    # without numba) is the same algorithm in whole-chunk steps.  Both must give the same
    # bits, from any group on (``first``, a multiple of the chunk, as the slabs give it).
    kernels = pytest.importorskip("parity._tf_random_fused")
    if dtype == torch.float64 and not kernels.EXACT_FLOAT64:
        pytest.skip("numba uses SVML here: float64 keeps the torch pipeline")
    if first == "crossing":
        first = 2 ** (24 if dtype == torch.float32 else 25) - 16
    monkeypatch.setattr(tf_random, "_CHUNK", chunk)
    fused, torch_pipeline = torch.full((2, size), math.nan, dtype=dtype)
    fill(fused, seed, first)
    monkeypatch.setattr(tf_random, "_FUSED", False)
    fill(torch_pipeline, seed, first)
    assert not fused.isnan().any()
    bits = torch.int32 if dtype == torch.float32 else torch.int64
    assert torch.equal(fused.view(bits), torch_pipeline.view(bits))


def test_fused_kernels_are_used_and_a_wrong_constant_is_caught(monkeypatch, fused_reload):
    pytest.importorskip("numba")
    assert tf_random._fused_kernels() is not None
    out = torch.empty(1 << 12)
    assert tf_random._fill_fused(out, (1, 2), 0, "normal")
    kernels, _ = tf_random._fused_kernels()
    assert tf_random._fill_fused(out.double(), (1, 2), 0, "normal") == kernels.EXACT_FLOAT64
    assert not tf_random._fill_fused(out.half(), (1, 2), 0, "normal")  # float32, then rounded
    usual = tf_random.truncated_normal((1 << 12,), (1, 2))
    # sincosf's x^2 cosine coefficient off by 1e-6 changes the fused values: comparing can fail.
    c0, c1, *rest = tf_random._COS_POLY
    monkeypatch.setattr(tf_random, "_COS_POLY", [c0, c1 * (1 + 1e-6), *rest])
    tf_random._fused_kernels.cache_clear()
    wrong = tf_random.truncated_normal((1 << 12,), (1, 2))
    assert not torch.equal(wrong, usual)


def test_float64_keeps_the_torch_pipeline_where_numba_has_svml(monkeypatch):
    # With Intel's SVML, numba may vectorize log, sin and cos with SVML's functions, which are
    # not the C library's: float64 must then not take the fused kernels.
    kernels = pytest.importorskip("parity._tf_random_fused")
    usual = tf_random.truncated_normal((1001,), (4, 4), torch.float64)
    monkeypatch.setattr(kernels, "EXACT_FLOAT64", False)
    assert not tf_random._fill_fused(torch.empty(8, dtype=torch.float64), (4, 4), 0, "normal")
    assert tf_random._fill_fused(torch.empty(8), (4, 4), 0, "normal")
    assert torch.equal(tf_random.truncated_normal((1001,), (4, 4), torch.float64), usual)


def test_without_numba_the_torch_pipeline_draws(monkeypatch, fused_reload):
    usual = tf_random.normal((1001,), (4, 4))
    monkeypatch.setitem(sys.modules, "numba", None)  # importing it fails
    monkeypatch.delitem(sys.modules, "parity._tf_random_fused", raising=False)
    tf_random._fused_kernels.cache_clear()
    assert tf_random._fused_kernels() is None
    assert not tf_random._fill_fused(torch.empty(8), (4, 4), 0, "normal")
    assert torch.equal(tf_random.normal((1001,), (4, 4)), usual)


def test_with_numba_s_compiler_turned_off_the_torch_pipeline_draws(monkeypatch, fused_reload):
    # NUMBA_DISABLE_JIT=1 (for debugging numba code) would run the kernels as Python: slow,
    # and the bit-cast intrinsic cannot run at all.
    numba = pytest.importorskip("numba")
    usual = tf_random.truncated_normal((1001,), (4, 4))
    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    monkeypatch.delitem(sys.modules, "parity._tf_random_fused", raising=False)
    tf_random._fused_kernels.cache_clear()
    assert tf_random._fused_kernels() is None
    assert torch.equal(tf_random.truncated_normal((1001,), (4, 4)), usual)


def test_numba_that_cannot_cache_warns_and_the_torch_pipeline_draws(monkeypatch, fused_reload):
    usual = tf_random.truncated_normal((1001,), (4, 4))

    def no_cache(name):  # what numba raises where it has nowhere to write compiled code
        raise RuntimeError("cannot cache function 'normal': no locator available for file")

    monkeypatch.setattr(tf_random.importlib, "import_module", no_cache)
    tf_random._fused_kernels.cache_clear()
    with pytest.warns(RuntimeWarning, match="slower torch pipeline"):
        assert tf_random._fused_kernels() is None
    assert torch.equal(tf_random.truncated_normal((1001,), (4, 4)), usual)


def test_module_imports_no_tensorflow():
    code = (
        "import sys, parity.tf_random; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert parity.__version__


@pytest.mark.parametrize("shape", [(1000, 1100), (3, 700_001), (1, 5)], ids=str)
def test_normal_row_blocks_are_the_draw_in_whole_rows(shape, monkeypatch):
    # Slabs of one chunk (524,288 values): rows cut across slabs, and a row longer than a
    # slab, come out whole and in order.
    monkeypatch.setattr(tf_random, "_SLAB_GROUPS", tf_random._CHUNK)
    expected = tf_random.normal(shape, (3, -4))
    got, next_row = [], 0
    for first, block in tf_random._normal_row_blocks(*shape, (3, -4)):
        assert first == next_row and block.shape[1] == shape[1]
        got.append(block.clone())
        next_row += block.shape[0]
    assert torch.equal(torch.cat(got), expected)
