"""torch.nn.init conventions, bounds, dtypes, get(), and bad input."""

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import parity

from conftest import FLOAT_DTYPES

RANDOM = [
    parity.glorot_uniform_,
    parity.glorot_normal_,
    parity.glorot_untruncated_normal_,
    parity.he_uniform_,
    parity.he_normal_,
    parity.he_untruncated_normal_,
    parity.lecun_uniform_,
    parity.lecun_normal_,
    parity.lecun_untruncated_normal_,
    parity.random_normal_,
    parity.random_uniform_,
    parity.truncated_normal_,
    parity.orthogonal_,
    parity.variance_scaling_,
]
ALL = [*RANDOM, parity.identity_, parity.constant_, parity.zeros_, parity.ones_]
NAMES = [f.__name__ for f in ALL]


def seeded(seed=0, device="cpu"):
    return torch.Generator(device).manual_seed(seed)


@pytest.mark.parametrize("init", ALL, ids=NAMES)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_in_place_returns_tensor_and_keeps_dtype(init, dtype, device):
    w = torch.full((24, 12), float("nan"), dtype=dtype, device=device)
    out = init(w)
    assert out is w
    assert w.dtype == dtype and w.device.type == device
    assert torch.isfinite(w).all()


@pytest.mark.parametrize("init", RANDOM, ids=[f.__name__ for f in RANDOM])
def test_generator_reproducible(init, device):
    a = init(torch.empty(40, 30, device=device), generator=seeded(1, device))
    b = init(torch.empty(40, 30, device=device), generator=seeded(1, device))
    c = init(torch.empty(40, 30, device=device), generator=seeded(2, device))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("init", ALL, ids=NAMES)
def test_parameter_that_requires_grad(init):
    p = torch.nn.Parameter(torch.full((8, 8), float("nan")))
    init(p)
    assert p.requires_grad and p.grad_fn is None and torch.isfinite(p).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("init", [parity.glorot_normal_, parity.glorot_uniform_], ids=str)
def test_large_parameter_with_several_threads(init, dtype, thread_count):
    # Several chunks: the steps after the draw run on a worker thread, where grad mode is
    # the thread's own; they must still not be recorded on the parameter.
    thread_count(2)
    p = torch.nn.Parameter(torch.full((2100, 1100), float("nan"), dtype=dtype))
    init(p)
    assert p.requires_grad and p.grad_fn is None and torch.isfinite(p).all()
    with torch.inference_mode():  # a tensor made there may only be written there
        w = torch.full((2100, 1100), float("nan"), dtype=dtype)
        init(w)
        init(w, seed=3)
    assert torch.isfinite(w).all()


@pytest.mark.parametrize("init", ALL, ids=NAMES)
def test_meta_and_empty_tensors_are_returned_unchanged(init):
    meta = torch.empty(4, 4, device="meta")
    assert init(meta) is meta
    empty = torch.empty(0, 5)
    assert init(empty) is empty


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("init", RANDOM, ids=[f.__name__ for f in RANDOM])
def test_non_contiguous_view_writes_only_the_view(init, dtype):
    base = torch.zeros(30, 40, dtype=dtype)
    view = base[:, ::2]  # (30, 20), strides (40, 2)
    init(view)
    assert (view != 0).float().mean() > 0.99
    assert (base[:, 1::2] == 0).all()


def test_reduced_precision_large_tensor_is_chunked_correctly():
    # Bigger than one float32 chunk, and non-contiguous: every value must be written.
    base = torch.full((600, 5000), float("nan"), dtype=torch.bfloat16)
    view = base.t()
    parity.glorot_normal_(view, generator=seeded())
    assert torch.isfinite(base).all()
    bound = 2 * math.sqrt(2 / 5600) / 0.87962566103423978
    assert base.float().abs().max() <= bound * (1 + 2**-8)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tail", [0, 1, 15, 16, 17])
@pytest.mark.parametrize(
    "init", [parity.random_normal_, parity.he_normal_, parity.random_uniform_], ids=repr
)
def test_reduced_precision_is_the_float32_draw_rounded_across_chunks(init, tail, threads):
    # A half-precision draw is the whole float32 draw rounded, from the same generator draws,
    # whatever the size past the last whole chunk (torch's normal_ takes another path for fewer
    # than 16 values) and whether it is made in float32 chunks or, for a float16 normal of a
    # length divisible by 16, by torch's own float16 normal_; contiguous or transposed.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    size = (1 << 20) + tail
    layouts = {
        "contiguous": lambda dtype: torch.empty(size, 1, dtype=dtype),
        "transposed": lambda dtype: torch.empty(2, size, dtype=dtype).T,
    }
    try:
        for make in layouts.values():
            wide_generator = seeded(11)
            wide = init(make(torch.float32), generator=wide_generator)
            for dtype in (torch.float16, torch.bfloat16):
                generator = seeded(11)
                half = init(make(dtype), generator=generator)
                assert torch.equal(half, wide.to(dtype))
                assert torch.equal(generator.get_state(), wide_generator.get_state())
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.zeros(2, 1100, 1001, dtype=torch.float16)[:, :, :1000],
        lambda: torch.zeros(2, 4_200_000, dtype=torch.bfloat16)[:, ::2],
    ],
    ids=["sliced", "stepped"],
)
def test_reduced_precision_view_with_slices_bigger_than_a_chunk(make):
    # Neither view can be permuted into a contiguous tensor, and one slice along the first
    # dimension holds more than a chunk of values: each slice is split on its own.
    view = make()
    parity.truncated_normal_(view, stddev=1.0, generator=seeded())
    assert (view != 0).float().mean() > 0.999 and view.abs().max() <= 2
    base = view._base
    assert int((base != 0).sum()) == int((view != 0).sum())  # nothing outside the view


@pytest.mark.parametrize(
    ("dtype", "mean", "stddev", "only"),
    [
        (torch.float32, 1.0, 1e-8, 1.0),  # (1 - 2e-8, 1 + 2e-8) holds one float32: 1.0
        (torch.float32, 1e4, 1e-4, 1e4),
        (torch.float64, 1.0, 1e-17, 1.0),
        # No float32 lies in (0.1 - 2e-12, 0.1 + 2e-12): the nearest one, float32(0.1).
        (torch.float32, 0.1, 1e-12, torch.tensor(0.1, dtype=torch.float32).item()),
    ],
)
def test_truncated_normal_narrower_than_the_dtype_spacing(dtype, mean, stddev, only):
    for seed in (None, 3):  # torch's stream, and TensorFlow's values
        w = torch.empty(10_000, dtype=dtype)
        generator = seeded() if seed is None else None
        parity.truncated_normal_(w, mean=mean, stddev=stddev, generator=generator, seed=seed)
        assert (w == only).all()


@pytest.fixture
def thread_count():
    """Set torch's CPU thread count for one test and restore it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize(
    "init", [parity.glorot_normal_, parity.glorot_uniform_, parity.truncated_normal_], ids=str
)
def test_values_do_not_depend_on_the_thread_count(init, dtype, thread_count):
    # Several chunks, one of them partial, contiguous and transposed: with more than one thread
    # the draw and the finishing steps overlap chunk by chunk, with one thread they do not.
    results = []
    for threads in (1, 2):
        thread_count(threads)
        for tensor in (
            torch.empty(2100, 1100, dtype=dtype),
            torch.empty(1100, 2100, dtype=dtype).T,
        ):
            results.append(init(tensor, generator=seeded(11)))
    assert torch.isfinite(results[0]).all()
    assert torch.equal(results[0], results[2]) and torch.equal(results[1], results[3])


def cpu_uniform_reference(seed, n, low, high, dtype):
    """U[low, high) as the CPU samplers define it, computed apart from them: the generator's
    int64 ``random_`` stream (float32: value i is half i % 2 of int64 i // 2; float64: one
    int64 per value), masked to a 24-bit (53-bit) integer and scaled in the compute dtype,
    the top clamped below ``high``.  Also returns the generator, advanced as the draw must."""
    generator = seeded(seed)
    wide = dtype == torch.float64
    words = torch.empty(n if wide else (n + 1) // 2, dtype=torch.int64)
    words = words.random_(generator=generator).numpy()
    if not wide:
        words = words.view(np.int32)[:n]
    bits, float_type = (53, np.float64) if wide else (24, np.float32)
    grid = (words & ((1 << bits) - 1)).astype(float_type)
    values = grid * float_type((high - low) * 2.0**-bits) + float_type(low)
    values = np.minimum(values, np.nextafter(float_type(high), float_type(-np.inf)))
    return torch.from_numpy(values).to(dtype), generator


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("chunk", [None, 64], ids=["one-chunk", "chunked"])
def test_cpu_uniform_is_the_generators_int64_stream_on_a_grid(dtype, threads, chunk, monkeypatch):
    # Every way the tensor can sit in memory gives the values of one contiguous draw: an odd
    # count (the last value from half an int64), a view that starts half-way into an int64, a
    # transposed weight (memory order), and several chunks drawn one after another.
    if chunk is not None:
        monkeypatch.setattr(parity.samplers, "_CHUNK", chunk)
    monkeypatch.setattr(parity.samplers, "_BITS_MIN", 0)  # smaller tensors take uniform_
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    low, high = float(np.float32(-0.3)), float(np.float32(0.7))  # Keras's bounds are float32
    expected, advanced = cpu_uniform_reference(5, 33 * 31, low, high, dtype)
    storage = torch.full((33 * 31 + 1,), math.nan, dtype=dtype)
    for weight in (
        torch.empty(33, 31, dtype=dtype),
        storage[1:].view(33, 31),
        torch.empty(31, 33, dtype=dtype).T,
    ):
        generator = seeded(5)
        parity.random_uniform_(weight, low, high, generator=generator)
        in_memory_order = weight.T if weight.stride(0) == 1 else weight
        assert torch.equal(in_memory_order.reshape(-1), expected)
        assert torch.equal(generator.get_state(), advanced.get_state())
    assert storage[0].isnan()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
def test_cpu_uniform_stays_below_high_where_the_grid_rounds_onto_it(dtype, monkeypatch):
    # With these float32 bounds the top of the 2^24-point grid, (2^24 - 1) * scale + low,
    # rounds to ``high`` itself; the interval is half-open, so it must land one step below.
    # Every value is drawn as the top of the grid here (all the random bits set).  (float64's
    # grid, computed in float64, stops short of ``high`` with these bounds.)
    low, high = -0.09075304865837097, 0.5803323984146118
    samplers = parity.samplers

    def all_ones_(work, generator):
        work.view(samplers._BIT_WORDS[work.dtype]).fill_(-1)

    monkeypatch.setattr(samplers, "_BITS_MIN", 0)
    monkeypatch.setattr(samplers, "_random_bits_", all_ones_)
    weight = parity.random_uniform_(torch.empty(8, 8, dtype=dtype), low, high)
    below = torch.nextafter(torch.tensor(high), torch.tensor(-1.0))
    assert (weight == below.to(dtype)).all()  # float16/bfloat16: rounded to nearest
    # The case is real: unclamped, the float32 conversion puts the top value on ``high``.
    words = torch.full((2,), -1, dtype=torch.int32)
    samplers._bits_to_uniform_(words.view(torch.float32), low, high)
    assert (words.view(torch.float32) == torch.tensor(high)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_truncated_samples_never_reach_two_sigma(dtype):
    w = torch.empty(2_000_000, dtype=dtype)
    parity.truncated_normal_(w, mean=0.25, stddev=0.75, generator=seeded())
    assert (w > 0.25 - 1.5).all() and (w < 0.25 + 1.5).all()
    # The draw reaches close to the bounds: it truncates, it does not shrink.
    assert w.max() > 0.25 + 1.5 * 0.999 and w.min() < 0.25 - 1.5 * 0.999

    w = torch.empty(1000, 500, dtype=dtype)
    parity.he_normal_(w, generator=seeded())
    sigma = math.sqrt(2 / 500) / 0.87962566103423978
    assert (w.abs() < 2 * sigma).all()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_uniform_within_limit(dtype):
    w = torch.empty(1000, 300, dtype=dtype)
    parity.glorot_uniform_(w, generator=seeded())
    limit = torch.tensor(math.sqrt(6 / 1300), dtype=torch.float32).item()  # Keras's float32 bound
    assert w.abs().max() <= limit
    assert w.abs().max() > 0.99 * limit


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("form", ["uniform", "normal", "untruncated_normal"])
def test_reduced_precision_moments(dtype, form):
    init = getattr(parity, f"lecun_{form}_")
    w = init(torch.empty(1000, 1000, dtype=dtype), generator=seeded())
    x = w.double()
    # 1e6 values: mean within 5 standard errors, std within 0.5% (over 5 standard errors of
    # the sample std); rounding to nearest moves neither by more than a fraction of that.
    # torch's own bfloat16 uniform_ rounds down and fails the mean check (24 standard errors).
    sigma = math.sqrt(1 / 1000)
    assert abs(x.mean().item()) < 5 * sigma / math.sqrt(x.numel())
    assert x.std().item() == pytest.approx(sigma, rel=0.005)


def test_layout_changes_fans():
    shape = (64, 3, 3, 3)  # torch: fan_in = 3 * 3*3; read as Keras: fan_in = 3 * 64*3
    assert parity.describe("he_uniform", shape).high == pytest.approx(math.sqrt(6 / 27))
    keras_reading = parity.describe("he_uniform", shape, layout="keras")
    assert keras_reading.high == pytest.approx(math.sqrt(6 / 576))
    w = torch.empty(10, 40)
    parity.he_uniform_(w, layout="keras")  # Keras (in=10, out=40): limit sqrt(6/10)
    assert w.abs().max() > math.sqrt(6 / 40)


def test_explicit_fans_override_the_shape():
    target = parity.describe("glorot_uniform", (8, 8))
    w = parity.variance_scaling_(
        torch.empty(8, 8), 1.0, "fan_avg", "uniform", fan_in=100, fan_out=300
    )
    assert w.abs().max() <= math.sqrt(3 / 200) < target.high


def test_variance_scaling_targets():
    d = parity.describe({"class_name": "VarianceScaling", "config": {"scale": 3.0}}, (5, 20))
    assert d.std == pytest.approx(math.sqrt(3 / 20) / 0.87962566103423978)
    d = parity.describe(
        {"class_name": "VarianceScaling", "config": {"mode": "fan_out", "distribution": "normal"}},
        (5, 20),
    )
    assert type(d).__name__ == "TruncatedNormal"  # Keras: "normal" means truncated
    assert d.std == pytest.approx(math.sqrt(1 / 5) / 0.87962566103423978)
    d = parity.describe("lecun_normal", (1, 0))  # fan 0 -> max(1, fan)
    assert d.std == pytest.approx(1 / 0.87962566103423978)


def test_aliases_are_the_truncated_normals():
    assert parity.he_truncated_normal_ is parity.he_normal_
    assert parity.glorot_truncated_normal_ is parity.glorot_normal_
    assert parity.lecun_truncated_normal_ is parity.lecun_normal_


def test_identity_and_constants():
    w = parity.identity_(torch.empty(3, 5), gain=2.0)
    assert torch.equal(w, 2.0 * torch.eye(3, 5))
    assert (parity.constant_(torch.empty(4), 0.5) == 0.5).all()
    assert (parity.ones_(torch.empty(4)) == 1).all()
    assert (parity.zeros_(torch.full((4,), 3.0)) == 0).all()


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (16, 4, 3, 3), (8, 40, 2)])
@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_orthogonal_is_orthogonal(shape, layout):
    w = parity.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=1.5, layout=layout)
    m = w.reshape(shape[0], -1) if layout == "torch" else w.reshape(-1, shape[-1])
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    torch.testing.assert_close(gram, 2.25 * torch.eye(small, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("shape", [(600, 300), (300, 600)], ids=str)
def test_orthogonal_of_a_transposed_weight_is_built_in_its_memory(shape, dtype):
    # A torch recurrent kernel seen in Keras's layout is a transposed weight: Q is built
    # through that view as in a contiguous weight (the same values from the same generator),
    # not through a Gaussian buffer and linalg.qr (2.6 times the weight's bytes, measured).
    view = torch.empty(shape[::-1], dtype=dtype).T
    parity.orthogonal_(view, gain=1.3, generator=torch.Generator().manual_seed(4))
    contiguous = torch.empty(shape, dtype=dtype)
    parity.orthogonal_(contiguous, gain=1.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(view, contiguous)


def test_orthogonal_of_a_keras_view_of_a_convolution_is_built_in_its_memory():
    # Keras's (kh, kw, in, out) view of a torch (out, in, kh, kw) weight cannot be flattened
    # to Keras's (kh·kw·in, out) matrix without a copy; it is built as (in·kh·kw, out), the
    # same rows in memory order, and that row permutation leaves the law Haar.
    weight = torch.empty(256, 128, 3, 3)
    parity.orthogonal_(
        weight.permute(2, 3, 1, 0),
        gain=1.3,
        layout="keras",
        generator=torch.Generator().manual_seed(4),
    )
    rows_in_memory_order = torch.empty(128 * 9, 256)
    parity.orthogonal_(rows_in_memory_order, gain=1.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(weight.reshape(256, -1).T, rows_in_memory_order)


ORTHOGONAL_SHAPES = [(50, 20), (20, 50), (30, 30), (16, 4, 3, 3), (300, 200), (40, 2, 3, 3)]


@pytest.mark.parametrize("shape", ORTHOGONAL_SHAPES)
@pytest.mark.parametrize("route", ["in-place", "buffer", "seeded-in-place", "seeded-buffer"])
def test_orthogonal_float64_gain_is_exact(shape, route, monkeypatch):
    # A gain that float32 cannot hold: the float64 Gram must be gain² I to float64 rounding,
    # on the in-place route (CPU generator mode; 300 x 200 in two blocks of reflectors, 128
    # and 72), on the Gaussian-buffer route (small weights), and in seed mode (the QR in the
    # weight's memory, in two blocks for 300 x 200, but a buffer for (40, 2, 3, 3); a buffer
    # for small weights).
    if route.endswith("in-place"):
        monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    seed = 3 if route.startswith("seeded") else None
    w = parity.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=1.7, seed=seed)
    m = w.reshape(shape[0], -1)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    error = (gram / 1.7**2 - torch.eye(min(m.shape), dtype=torch.float64)).abs().max()
    assert error < 1e-12, error


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)], ids=str)
@pytest.mark.parametrize("route", ["in-place", "slabs", "buffer", "seeded"])
def test_orthogonal_gain_near_the_largest_value_stays_finite(dtype, shape, route, monkeypatch):
    # Every value is at most gain, so a gain just under the dtype's largest value is allowed;
    # the reflector routes once applied it before their products and wrote NaN and inf there
    # (float32 from a gain of about half its largest value).
    below_in_place = route == "buffer"
    monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 10**9 if below_in_place else 0)
    if route == "slabs":  # bfloat16's float32 Q in slabs of 7 columns (wider dtypes: in place)
        monkeypatch.setattr(parity.samplers, "_REDUCED_SLAB_BYTES", 7 * 4 * max(shape))
    gain = torch.finfo(dtype).max * 0.9
    seed = 3 if route == "seeded" else None
    w = parity.orthogonal_(torch.empty(shape, dtype=dtype), gain=gain, seed=seed)
    m = w.double() / gain
    gram = m.T @ m if shape[0] >= shape[1] else m @ m.T
    error = (gram - torch.eye(min(shape), dtype=torch.float64)).abs().max()
    assert w.isfinite().all()
    assert error < 50 * torch.finfo(dtype).eps, error  # measured: at most 21 eps


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("memory", ["row-major", "column-major", "every other column"], ids=str)
@pytest.mark.parametrize("size", [(300, 200), (64, 64), (500, 1), (2000, 41)], ids=str)
def test_householder_qr_in_place_matches_linalg_qr(size, memory, dtype, monkeypatch):
    # Seed mode's QR, in blocks (of 16 here, and of 2 for 2000 x 41: the 5% rule) on views
    # with any strides, must give torch's Q and R up to rounding.
    monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_BLOCK", 16)
    m, n = size
    generator = torch.Generator().manual_seed(m + n)
    gaussian = torch.randn(m, n, dtype=dtype, generator=generator)
    if memory == "row-major":
        a = gaussian.clone()
    elif memory == "column-major":
        a = gaussian.T.clone().T
    else:
        a = torch.zeros(m, 2 * n, dtype=dtype)[:, ::2].copy_(gaussian)
    q, r = torch.linalg.qr(gaussian)
    taus = torch.empty(n, dtype=dtype)
    buffer = torch.empty(m * parity.samplers._reflector_block(m, n), dtype=dtype)
    parity.samplers._householder_qr_(a, taus, buffer)
    tolerance = 1e-4 if dtype == torch.float32 else 1e-12
    assert (a.triu()[:n] - r).abs().max() < tolerance * r.abs().max()
    parity.samplers._form_q_(a, taus, buffer)
    assert (a - q).abs().max() < tolerance


def test_householder_qr_keeps_columns_with_nothing_to_reflect():
    # An upper-triangular matrix needs no reflection: LAPACK's tau is 0 there (H = I).
    a = torch.tensor([[-2.0, 1.0, 3.0], [0.0, 5.0, -1.0], [0.0, 0.0, -4.0], [0.0, 0.0, 0.0]])
    taus = torch.empty(3)
    buffer = torch.empty(12)
    parity.samplers._householder_qr_(a, taus, buffer)
    assert taus.tolist() == [0.0, 0.0, 0.0]
    parity.samplers._form_q_(a, taus, buffer)
    assert torch.equal(a, torch.eye(4, 3))


@pytest.mark.parametrize(
    ("shape", "layout", "in_place"),
    [
        ((40, 300), "torch", True),  # Keras (300, 40): the weight's transpose, tall
        ((300, 40), "torch", True),  # Keras (40, 300): Keras's Gaussian is the weight itself
        ((24, 8, 3, 5), "torch", True),  # Keras (3, 5, 8, 24): rows read in memory order
        ((40, 2, 3, 3), "torch", False),  # wide, rows (3, 3, 2) not one strided axis
        ((3, 5, 8, 24), "keras", True),
        ((3, 3, 2, 40), "keras", True),
    ],
)
def test_seeded_orthogonal_builds_q_in_the_weight(shape, layout, in_place, monkeypatch):
    monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)  # small weights too
    built = []
    qr = parity.samplers._householder_qr_
    monkeypatch.setattr(
        parity.samplers, "_householder_qr_", lambda a, *rest: (built.append(a), qr(a, *rest))
    )
    w = torch.empty(shape)
    parity.orthogonal_(w, seed=5, layout=layout)
    assert [a.untyped_storage().data_ptr() for a in built] == [w.untyped_storage().data_ptr()] * (
        in_place
    )


def keras_q64(keras_shape, seed, gain):
    """Keras's seeded orthogonal values computed in float64 from its float32 Gaussian."""
    rows, cols = math.prod(keras_shape[:-1]), keras_shape[-1]
    gaussian = parity.tf_random.normal(
        (max(rows, cols), min(rows, cols)), parity.tf_random.keras_seed(seed)
    )
    q, r = torch.linalg.qr(gaussian.double())
    q = q * r.diagonal().sign() * gain
    return (q.T if rows < cols else q).reshape(keras_shape)


@pytest.mark.parametrize(
    ("shape", "layout", "thin"),
    [
        ((64, 1024), "torch", True),  # Keras (1024, 64): tall, 16 times as many rows
        ((1024, 64), "torch", True),  # Keras (64, 1024): wide, so Keras draws (1024, 64)
        ((16, 8, 3, 3), "torch", True),  # Keras (3, 3, 8, 16): 72 rows, 16 columns
        ((3, 5, 8, 120), "keras", False),  # 120 rows, 120 columns: square
        ((300, 200), "torch", False),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("large", [True, False], ids=["large route", "small route"])
def test_seeded_half_orthogonal_is_float64_q_rounded(
    shape, layout, thin, dtype, large, monkeypatch
):
    # Keras runs its float16 QR in float16 (0.6 off orthogonal on a 16384 x 16 Q): the library
    # computes Keras's Q from Keras's Gaussian in float32 and rounds it once.  Every value is
    # within one step of float64's Q (plus float32's error, which shows in values near 0),
    # and few are not the nearest.
    if large:
        monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    took_thin = []
    thin_draw = parity.samplers.Orthogonal._draw_thin_
    monkeypatch.setattr(
        parity.samplers.Orthogonal,
        "_draw_thin_",
        lambda self, *args: took_thin.append(True) or thin_draw(self, *args),
    )
    weight = parity.orthogonal_(torch.empty(shape, dtype=dtype), gain=1.3, seed=9, layout=layout)
    keras = weight if layout == "keras" else parity.fans.to_keras_layout(weight)
    exact = keras_q64(tuple(keras.shape), 9, 1.3)
    info = torch.finfo(dtype)
    off = (keras.double() - exact).abs()
    assert bool((off <= info.eps * exact.abs().clamp(min=info.tiny) + 2e-6).all()), off.max()
    assert (keras != exact.to(dtype)).double().mean() < 0.01
    assert took_thin == [True] * (large and thin)


def test_seeded_half_orthogonal_falls_back_where_cholesky_fails(monkeypatch):
    monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    monkeypatch.setattr(parity.samplers, "_cholesky_upper_", lambda gram: False)
    weight = parity.orthogonal_(torch.empty(64, 2048, dtype=torch.float16), seed=2)
    exact = keras_q64((2048, 64), 2, 1.0)
    assert (parity.fans.to_keras_layout(weight) != exact.half()).double().mean() < 0.01


@pytest.mark.parametrize("n", [1, 200, 600])
def test_cholesky_in_place_matches_linalg(n):
    a = torch.randn(2 * n + 5, n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    gram = a.mT @ a
    expected = torch.linalg.cholesky(gram, upper=True)
    assert parity.samplers._cholesky_upper_(gram)  # blocks of 256 rows: 1, 1 and 3 of them
    torch.testing.assert_close(gram, expected, rtol=0, atol=1e-10)
    not_definite = torch.diag(torch.tensor([1.0, 2.0, -1.0, 3.0]))
    assert not parity.samplers._cholesky_upper_(not_definite)


SEEDED_ORTHOGONAL_MEMORY = """
import sys, torch, parity
def kib(field):  # this process's own figures (getrusage's peak starts from the parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))
dtype, rows, cols = getattr(torch, sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
parity.orthogonal_(torch.empty(64, 2048, dtype=dtype), seed=1)  # warm-up: code, LAPACK, kernels
w = torch.ones(rows, cols, dtype=dtype)
before = kib("VmRSS:")  # with the weight's pages written, so they count before
parity.orthogonal_(w, seed=1)
extra = (kib("VmHWM:") - before) * 1024
q = w.float() if rows <= cols else w[:, :256].float().T  # orthonormal rows
gram = q @ q.T
print(extra / (w.numel() * w.element_size()), (gram - torch.eye(len(q))).abs().max().item())
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(
    ("dtype", "rows", "cols", "tolerance"),
    [
        # Linear(65536, 1024), 256 MiB: the Gaussian, the QR and Q share the weight's memory;
        # the extra is a 16 MiB slab of draws, one block of 51 reflectors (13 MiB) and
        # LAPACK's and BLAS's buffers (8% in all, measured; the Gaussian, QR's copy of it
        # and Q took 218% before).
        ("float32", 1024, 65536, 1e-5),
        # Linear(1024, 131072) in float16, 256 MiB: Keras's Gaussian is thin, so only AᵀA
        # (4 MiB) and the slab are extra (8.8-9.0%, measured; a float32 Gaussian and
        # linalg.qr took over 500%). Its first 256 columns: 4.9e-6 off orthonormal, measured.
        ("float16", 131072, 1024, 1e-4),
    ],
)
def test_seeded_orthogonal_memory(dtype, rows, cols, tolerance):
    done = subprocess.run(
        [sys.executable, "-c", SEEDED_ORTHOGONAL_MEMORY, dtype, str(rows), str(cols)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    share, error = map(float, done.stdout.split())
    assert share < 0.2, share
    assert error < tolerance, error


# --------------------------------------------------------------------------- get()


@pytest.mark.parametrize(
    ("identifier", "kind", "param"),
    [
        ("he_normal", "TruncatedNormal", ("std", math.sqrt(2 / 30) / 0.87962566103423978)),
        ("HeNormal", "TruncatedNormal", ("std", math.sqrt(2 / 30) / 0.87962566103423978)),
        ("glorot_uniform", "Uniform", ("high", math.sqrt(6 / 50))),
        ("lecun_uniform", "Uniform", ("high", math.sqrt(3 / 30))),
        ("normal", "Normal", ("std", 0.05)),
        ("uniform", "Uniform", ("high", 0.05)),
        ("random_normal", "Normal", ("std", 0.05)),
        ("truncated_normal", "TruncatedNormal", ("std", 0.05)),
        ("TruncatedNormal", "TruncatedNormal", ("std", 0.05)),
        ("zero", "Constant", ("value", 0.0)),
        ("one", "Constant", ("value", 1.0)),
        ("ones", "Constant", ("value", 1.0)),
        ("constant", "Constant", ("value", 0.0)),
        ("orthogonal", "Orthogonal", ("gain", 1.0)),
        ("OrthogonalInitializer", "Orthogonal", ("gain", 1.0)),
        ("identity", "Identity", ("gain", 1.0)),
        ("variance_scaling", "TruncatedNormal", ("std", math.sqrt(1 / 30) / 0.87962566103423978)),
    ],
)
def test_get_strings(identifier, kind, param):
    init = parity.get(identifier)
    target = parity.describe(identifier, (20, 30))
    assert type(target).__name__ == kind
    assert getattr(target, param[0]) == pytest.approx(param[1])
    w = init(torch.empty(20, 30), generator=seeded())
    assert w.shape == (20, 30)


def test_get_config_dicts_keras3_and_tf_keras():
    keras3 = {
        "module": "keras.initializers",
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform", "seed": None},
        "registered_name": None,
    }
    tf_keras = {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 2.0, "seed": None}}
    assert parity.describe(keras3, (10, 4)).high == pytest.approx(math.sqrt(6 / 10))
    assert parity.describe(tf_keras, (3,)) == parity.describe("normal", (3,)).__class__(1.0, 2.0)


def test_get_returns_callables_unchanged():
    fn = torch.nn.init.zeros_
    assert parity.get(fn) is fn
    init = parity.get("he_normal")
    assert parity.get(init) is init


def test_get_keeps_a_config_seed():
    init = parity.get({"class_name": "HeNormal", "config": {"seed": 42}})
    assert init.seed == 42
    assert torch.equal(init(torch.empty(6, 4)), parity.he_normal_(torch.empty(6, 4), seed=42))
    unseeded = parity.get({"class_name": "HeNormal", "config": {"seed": None}})
    assert unseeded.seed is None
    with pytest.raises(ValueError, match="takes no seed"):
        parity.get({"class_name": "Zeros", "config": {"seed": 1}})


def test_get_takes_keras_initializer_objects():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    seeded_init = parity.get(keras.initializers.HeNormal(seed=3))
    assert seeded_init.name == "he_normal" and seeded_init.seed == 3
    assert parity.get(keras.initializers.Identity(gain=0.5)).config == {"gain": 0.5}
    uniform = parity.get(keras.initializers.RandomUniform(-1.0, 2.0))
    assert uniform.config == {"minval": -1.0, "maxval": 2.0} and uniform.seed is None
    w = seeded_init(torch.empty(4, 6))
    assert torch.equal(w, parity.he_normal_(torch.empty(4, 6), seed=3))
    stateful = keras.initializers.Orthogonal(seed=keras.random.SeedGenerator(3))
    with pytest.raises(ValueError, match="SeedGenerator"):
        parity.get(stateful)


def test_get_takes_keras_initializer_classes_as_keras_does():
    # keras.initializers.get(HeNormal) instantiates the class; it was returned as a callable
    # here, which took the tensor for HeNormal's seed.
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    assert parity.get(keras.initializers.HeNormal) == parity.get("HeNormal")
    assert (parity.get(keras.initializers.Zeros)(torch.ones(3)) == 0).all()
    with pytest.raises(ValueError, match="unknown initializer 'Dense'"):
        parity.get(keras.layers.Dense)


def test_get_refuses_subclasses_of_keras_initializers():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")

    class Doubled(keras.initializers.GlorotUniform):  # draws what GlorotUniform does, twice
        def __call__(self, shape, dtype=None):
            return 2 * super().__call__(shape, dtype)

    class Custom(keras.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return keras.ops.ones(shape, dtype)

    for init, base in [
        (Doubled(), "GlorotUniform"),
        (Doubled, "GlorotUniform"),  # the class too
        (Custom(), "Initializer"),
    ]:
        with pytest.raises(TypeError, match=f"derives from Keras's {base} but is not one of"):
            parity.get(init)
        model = torch.nn.Linear(3, 2)
        before = model.weight.detach().clone()
        with pytest.raises(TypeError, match=r"overrides\[Linear\]\['kernel_initializer'\]"):
            parity.keras_init_(model, overrides={torch.nn.Linear: {"kernel_initializer": init}})
        assert torch.equal(model.weight, before)


def test_get_takes_keras_fan_axes():
    init = parity.get(
        {"class_name": "HeNormal", "config": {"input_axes": [0], "output_axes": [1, 2]}},
        layout="keras",
    )
    assert init.config == {"input_axes": (0,), "output_axes": (1, 2)}
    assert init.target((6, 4, 5)) == parity.describe("he_normal", (6, 1), layout="keras")
    torch_layout = parity.get({"class_name": "GlorotUniform", "config": init.config})
    assert torch_layout.target((5, 4, 6)) == parity.describe(
        "glorot_uniform", (6, 20), layout="keras"
    )
    # Keras writes None for both when they are not set, and uses them only when both are.
    unset = {"class_name": "VarianceScaling", "config": {"input_axes": None, "output_axes": None}}
    assert parity.get(unset).config == parity.get("variance_scaling").config
    one = parity.get({"class_name": "LecunNormal", "config": {"input_axes": [0]}}, layout="keras")
    assert one.target((6, 4, 5)) == parity.describe("lecun_normal", (6, 4, 5), layout="keras")


def test_bad_fan_axes_fail_at_get_or_before_writing():
    with pytest.raises(TypeError, match="output_axes must be a sequence of ints"):
        parity.get({"class_name": "HeUniform", "config": {"input_axes": [0], "output_axes": 1}})
    with pytest.raises(ValueError, match="does not take input_axes"):
        parity.get({"class_name": "RandomNormal", "config": {"input_axes": [0]}})
    axes = {"input_axes": [2], "output_axes": [0]}
    init = parity.get({"class_name": "HeUniform", "config": axes})
    w = torch.full((4, 3), 7.0)
    with pytest.raises(ValueError, match=r"input_axes=\[2\] has axis 2, outside .* \(3, 4\)"):
        init(w)
    assert bool((w == 7.0).all())


def test_get_against_keras_serialize():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    names = ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
             "lecun_uniform", "random_normal", "random_uniform", "truncated_normal", "orthogonal",
             "identity", "zeros", "ones", "variance_scaling"]  # fmt: skip
    for name in names:
        config = keras.initializers.serialize(keras.initializers.get(name))
        resolved = parity.get(config)
        assert resolved.name == parity.get(name).name, name
        assert resolved.config == parity.get(name).config, name
    # keras.initializers.get("constant") itself raises in Keras 3.15 (from_config needs "value").
    constant = parity.get(keras.initializers.serialize(keras.initializers.Constant(0.5)))
    assert constant.config == {"value": 0.5}


def test_get_resolves_every_keras_initializer_name():
    """Each name keras.initializers exports (classes and string aliases alike) resolves, and a
    default-constructed Keras object of that class resolves to the same initializer."""
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    helpers = {"get", "serialize", "deserialize", "Initializer"}
    names = [name for name in dir(keras.initializers) if not name.startswith("_")]
    names = [name for name in names if name not in helpers]
    assert len(names) >= 35  # Keras 3.15 exports 35
    for name in names:
        init = parity.get(name)
        exported = getattr(keras.initializers, name)
        if isinstance(exported, type):
            from_object = parity.get(exported())
            assert (from_object.name, from_object.config) == (init.name, init.config), name


# --------------------------------------------------------------------------- bad input


UNSUPPORTED_DTYPES = [torch.int32, torch.int64, torch.bool, torch.complex64] + [
    getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, name)
]


@pytest.mark.parametrize("dtype", UNSUPPORTED_DTYPES, ids=str)
@pytest.mark.parametrize("init", ALL, ids=NAMES)
def test_unsupported_dtypes_raise_type_error(init, dtype):
    # float8 tensors are floating point too, but no sampler (torch's or ours) fills them
    w = torch.ones(4, 4).to(dtype)
    before = w.clone()
    with pytest.raises(TypeError, match=rf"{dtype}.*float16, bfloat16, float32 and float64"):
        init(w)
    assert torch.equal(w.view(torch.uint8), before.view(torch.uint8))


def _sparse_coo():
    return torch.eye(4).to_sparse()


def _sparse_csr():
    return torch.eye(4).to_sparse_csr()


def _nested():
    return torch.nested.nested_tensor([torch.ones(2, 4), torch.ones(3, 4)])


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's notes on its beta sparse/nested APIs
@pytest.mark.parametrize("make", [_sparse_coo, _sparse_csr, _nested], ids=lambda f: f.__name__)
@pytest.mark.parametrize("init", ALL, ids=NAMES)
def test_non_dense_tensors_raise_type_error(init, make):
    w = make()
    before = [t.clone() for t in (w.unbind() if w.is_nested else [w.to_dense()])]
    with pytest.raises(TypeError, match=r"with layout .*only dense \(torch\.strided\) tensors"):
        init(w)
    after = w.unbind() if w.is_nested else [w.to_dense()]
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_not_a_tensor():
    with pytest.raises(TypeError, match=r"expected a torch\.Tensor"):
        parity.he_normal_([[1.0, 2.0]])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("init", RANDOM, ids=[f.__name__ for f in RANDOM])
def test_generator_on_another_device_leaves_tensor_untouched(init):
    for w, generator in [
        (torch.ones(64, 64), torch.Generator("cuda")),
        (torch.ones(64, 64, device="cuda"), torch.Generator()),
    ]:
        with pytest.raises(ValueError, match=r"generator is on .* but the tensor is on"):
            init(w, generator=generator)
        assert (w == 1).all()


def test_bad_generator_leaves_tensor_untouched():
    w = torch.ones(4, 4)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        parity.he_normal_(w, generator=42)
    assert (w == 1).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "fan_sum"}, ValueError, "fan_in, fan_out, fan_avg"),
        ({"distribution": "gaussian"}, ValueError, "truncated_normal, untruncated_normal, uniform"),
        ({"scale": 0.0}, ValueError, "scale must be > 0"),
        ({"scale": -1.0}, ValueError, "scale must be > 0"),
        ({"scale": float("inf")}, ValueError, "scale must be finite"),
        ({"scale": float("nan")}, ValueError, "scale must be finite"),
        ({"scale": "2"}, TypeError, "scale must be a real number"),
        ({"layout": "jax"}, ValueError, "valid layouts"),
        ({"fan_in": -3}, ValueError, r"fan_in must be an int in \[0, 2\*\*63\)"),
        ({"mode": ["fan_in"]}, TypeError, "mode must be a str, one of fan_in"),
        ({"layout": None}, TypeError, "layout must be a str, one of torch, keras"),
    ],
)
def test_variance_scaling_bad_arguments(kwargs, error, match):
    w = torch.ones(4, 4)
    with pytest.raises(error, match=match):
        parity.variance_scaling_(w, **kwargs)
    assert (w == 1).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda w: parity.orthogonal_(w[0]), "rank >= 2"),
        (lambda w: parity.identity_(w[0]), "2-D"),
        (lambda w: parity.identity_(w.reshape(2, 2, 4)), "2-D"),
        (lambda w: parity.truncated_normal_(w, stddev=0.0), "stddev must be > 0"),
        (lambda w: parity.random_normal_(w, stddev=-1.0), "stddev must be >= 0"),
        (lambda w: parity.random_uniform_(w, 1.0, -1.0), "minval must be <= maxval"),
        (lambda w: parity.constant_(w, float("nan")), "value must be finite"),
        (lambda w: parity.orthogonal_(w, gain=float("inf")), "gain must be finite"),
    ],
)
def test_bad_arguments_leave_tensor_untouched(call, match):
    w = torch.ones(4, 4)
    with pytest.raises(ValueError, match=match):
        call(w)
    assert (w == 1).all()


@pytest.mark.parametrize(
    ("dtype", "call", "match"),
    [
        (torch.float16, lambda w: parity.identity_(w, 70000.0), "beyond the largest finite"),
        (torch.float16, lambda w: parity.constant_(w, 1e6), "beyond the largest finite"),
        (torch.float32, lambda w: parity.identity_(w, 1e308), "beyond the largest finite"),
        (torch.bfloat16, lambda w: parity.orthogonal_(w, gain=1e39), "beyond the largest finite"),
        (torch.float16, lambda w: parity.truncated_normal_(w, stddev=4e4), "reaches 80000"),
        (torch.float16, lambda w: parity.random_normal_(w, mean=1e5), "reach.* = 100000"),
        # Unbounded, but no normal drawn here goes past 9 std: 7500 x 9 > 65504, 7000 x 9 not.
        (torch.float16, lambda w: parity.random_normal_(w, stddev=7500.0), "9 std = 67500"),
        # Seeded normals reach 5.68 std (TensorFlow's Box-Muller), computed as TensorFlow does.
        (torch.float32, lambda w: parity.random_normal_(w, 0, 1e38, seed=3), "seed= would write"),
        (torch.float32, lambda w: parity.random_normal_(w, 0, 1e38), "9 std = 9e"),
        (
            torch.float16,
            lambda w: parity.variance_scaling_(w, 1e10, distribution="untruncated_normal"),
            "beyond the largest finite",
        ),
        (torch.float32, lambda w: parity.constant_(w, 10**400), "value must be finite"),
        (torch.float32, lambda w: parity.he_normal_(w, fan_in=10**400), r"in \[0, 2\*\*63\)"),
        (torch.float32, lambda w: parity.random_uniform_(w, -3e38, 3e38), "range.*overflows"),
        (torch.float16, lambda w: parity.random_uniform_(w, -4e4, 4e4, seed=1), "overflows"),
        (torch.float64, lambda w: parity.random_uniform_(w, -1e300, 1.0), "float32's range"),
        # mean + 2 std is past float64's range: the bound itself is inf, and without the
        # check about 15% of the values were clamped to float64's largest.
        (
            torch.float64,
            lambda w: parity.truncated_normal_(w, mean=1.7e308, stddev=1e307),
            "bound that overflows to infinity",
        ),
        (
            torch.float64,
            lambda w: parity.truncated_normal_(w, stddev=9e307),
            "bound that overflows to infinity",
        ),
    ],
)
def test_values_that_overflow_the_dtype_raise_and_leave_tensor_untouched(dtype, call, match):
    w = torch.full((4, 4), 7.0, dtype=dtype)
    with pytest.raises(ValueError, match=match):
        call(w)
    assert (w == 7).all()


@pytest.mark.parametrize("init", ALL, ids=NAMES)
@pytest.mark.parametrize(
    ("view", "made"),
    [
        (lambda base: base[:6].view(1, 6).expand(6, 6), "expand()"),
        (lambda base: base.as_strided((6, 6), (2, 1)), "as_strided()"),  # rows overlap
        (lambda base: base.unfold(0, 6, 1)[:6], "unfold()"),
    ],
    ids=["expand", "as_strided", "unfold"],
)
def test_views_whose_elements_share_memory_raise_and_leave_base_untouched(init, view, made):
    # Written in place, a truncated normal's steps would meet twice on shared elements
    # (NaNs, measured, on the as_strided view); so every initializer refuses them.
    base = torch.full((36,), 7.0)
    with pytest.raises(ValueError, match=rf"share memory.*{re.escape(made)}"):
        init(view(base))
    assert (base == 7).all()


def test_views_of_distinct_elements_are_initialized():
    views = [
        torch.empty(8, 4).T,
        torch.empty(10, 10)[::2, 1::3],
        torch.empty(3, 4, 5).permute(2, 0, 1),
        torch.empty(5, 5).diagonal(),
        torch.empty(4, 1).expand(4, 1),  # stride 0 on a dimension of size 1 is harmless
    ]
    for view in views:
        assert parity.he_normal_(view, generator=seeded()).isfinite().all()


@pytest.mark.parametrize("init", RANDOM, ids=[f.__name__ for f in RANDOM])
@pytest.mark.parametrize(
    ("shape", "strides"),
    [((3, 3), (2, 3)), ((2, 5), (5, 2)), ((3, 3, 2), (2, 3, 9))],
    ids=["(3,3)/(2,3)", "(2,5)/(5,2)", "(3,3,2)/(2,3,9)"],
)
def test_interleaved_views_of_distinct_elements_are_initialized(init, shape, strides):
    # Strides that interleave without meeting (offsets 0, 3, 6, 2, 5, 8, 4, 7, 10 for the
    # first): checked element by element, and written as a dense tensor of that shape is.
    base = torch.zeros(64)
    view = base.as_strided(shape, strides)
    offsets = sum(
        torch.arange(n).view([-1 if d == k else 1 for d in range(len(shape))]) * st
        for k, (n, st) in enumerate(zip(shape, strides, strict=True))
    )
    assert offsets.unique().numel() == view.numel()  # the view's elements are distinct
    init(view, seed=3)
    assert torch.equal(view, init(torch.zeros(shape), seed=3))
    untouched = torch.ones(64, dtype=torch.bool)
    untouched[offsets.flatten()] = False
    assert (base[untouched] == 0).all()


def test_inference_tensor_raises_before_writing_outside_inference_mode():
    with torch.inference_mode():
        weight = torch.full((4, 4), 7.0)
    with pytest.raises(ValueError, match="inference tensor"):
        parity.he_normal_(weight)
    assert (weight == 7).all()
    with torch.inference_mode():  # where torch lets it be written
        assert parity.zeros_(weight).eq(0).all()


def test_numpy_scalars_are_real_numbers_and_ints():
    np = pytest.importorskip("numpy")
    a = parity.random_normal_(torch.empty(50), stddev=np.float32(0.5), generator=seeded())
    b = parity.random_normal_(torch.empty(50), stddev=0.5, generator=seeded())
    assert torch.equal(a, b)
    a = parity.he_normal_(torch.empty(4, 4), fan_in=np.int64(2), generator=seeded())
    b = parity.he_normal_(torch.empty(4, 4), fan_in=2, generator=seeded())
    assert torch.equal(a, b)
    with pytest.raises(TypeError, match="fan_in must be a non-negative int"):
        parity.he_normal_(torch.empty(4, 4), fan_in="2")
    with pytest.raises(TypeError, match="fan_in must be a non-negative int"):
        parity.he_normal_(torch.empty(4, 4), fan_in=2.0)


def test_generator_on_wrong_device_leaves_tensor_untouched():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    w = torch.ones(64, 64, device="cuda")
    with pytest.raises(RuntimeError):
        parity.he_normal_(w, generator=torch.Generator())
    assert (w == 1).all()


@pytest.mark.parametrize(
    ("identifier", "error", "match"),
    [
        ("he_gaussian", ValueError, "valid identifiers: .*glorot_uniform.*he_normal"),
        ({"config": {}}, ValueError, "needs a 'class_name'"),
        ({"class_name": "HeNormal", "config": {"scale": 2}}, ValueError, "does not take scale"),
        ({"class_name": "Nope", "config": {}}, ValueError, "unknown initializer 'Nope'"),
        ({"class_name": "RandomNormal", "config": {"stddev": -1}}, ValueError, "stddev"),
        (3.5, TypeError, "string, a Keras config dict, a Keras initializer or a callable"),
    ],
)
def test_get_bad_identifiers(identifier, error, match):
    with pytest.raises(error, match=match):
        parity.get(identifier)


def test_a_python_float_constant_beyond_float32_fails_on_float64_after_a_numpy_one_passed():
    # Keras casts a Python float through float32 (an infinity here); a numpy float64 keeps
    # its value.  The overflow check is cached by value, so the float32 one sits outside it.
    np = pytest.importorskip("numpy")
    weight = torch.full((3,), 7.0, dtype=torch.float64)
    assert parity.constant_(weight, np.float64(1e300)).eq(1e300).all()
    weight.fill_(7.0)
    with pytest.raises(ValueError, match="within float32's range"):
        parity.constant_(weight, 1e300)
    assert weight.eq(7.0).all()
