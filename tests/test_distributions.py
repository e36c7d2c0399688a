"""KS tests of every random initializer against its exact distribution (scipy.stats).

Oracles are written here from Keras's formulas, independently of ``parity.describe``.

Power: n = 10^6 values per test and a rejection level alpha = 1e-6 per test (so the ~40 tests
here have a combined false-failure probability below 1e-4 for any seed; the seeds are fixed, so
a run is reproducible).  The KS critical distance is then sqrt(ln(2/alpha) / (2n)) ≈ 2.7e-3.
A relative stddev error delta moves the CDF by about delta · max|x f(x)| (0.25 for the
truncated normal, 0.24 for the normal, 0.5 for the uniform), i.e. 5e-3 at delta = 2%: detected
with power > 0.999, as ``test_two_percent_stddev_error_is_caught`` shows on a deliberately wrong
sampler, next to torch's untruncated and absolute-bound initializers standing in for Keras's.
"""

import math

import numpy as np
import pytest
import torch

import parity

stats = pytest.importorskip("scipy.stats")

ALPHA = 1e-6
N_ROWS, N_COLS = 2000, 500  # torch layout (out, in): fan_in 500, fan_out 2000, fan_avg 1250
FAN = {"glorot": (1250, 1.0), "he": (500, 2.0), "lecun": (500, 1.0)}
C = 0.87962566103423978


def exact(family: str, form: str):
    fan, scale = FAN[family]
    s = scale / fan
    if form == "uniform":
        limit = math.sqrt(3 * s)
        return stats.uniform(loc=-limit, scale=2 * limit)
    if form == "untruncated_normal":
        return stats.norm(scale=math.sqrt(s))
    return stats.truncnorm(-2, 2, scale=math.sqrt(s) / C)


def draw(init, dtype=torch.float32, seed=0, **kwargs) -> np.ndarray:
    w = torch.empty(N_ROWS, N_COLS, dtype=dtype)
    init(w, generator=torch.Generator().manual_seed(seed), **kwargs)
    return w.double().numpy().ravel()


def ks_pvalue(sample: np.ndarray, dist) -> float:
    return stats.kstest(sample, dist.cdf).pvalue


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("form", ["uniform", "normal", "untruncated_normal"])
@pytest.mark.parametrize("family", ["glorot", "he", "lecun"])
def test_named_initializers_match_exact_distribution(family, form, dtype):
    sample = draw(getattr(parity, f"{family}_{form}_"), dtype, seed=11)
    assert ks_pvalue(sample, exact(family, form)) > ALPHA


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize(
    ("init", "kwargs", "dist"),
    [
        (parity.random_normal_, {}, stats.norm(scale=0.05)),
        (parity.random_normal_, {"mean": 1.0, "stddev": 0.3}, stats.norm(1.0, 0.3)),
        (parity.random_uniform_, {}, stats.uniform(-0.05, 0.1)),
        (parity.random_uniform_, {"minval": 0.5, "maxval": 2.0}, stats.uniform(0.5, 1.5)),
        (parity.truncated_normal_, {}, stats.truncnorm(-2, 2, scale=0.05)),
        (parity.truncated_normal_, {"mean": -1, "stddev": 2}, stats.truncnorm(-2, 2, -1, 2)),
    ],
    ids=["normal", "normal-args", "uniform", "uniform-args", "truncated", "truncated-args"],
)
def test_keras_other_initializers(init, kwargs, dist, dtype):
    assert ks_pvalue(draw(init, dtype, seed=5, **kwargs), dist) > ALPHA


@pytest.mark.parametrize("route", ["buffer", "one-block", "blocked"])
@pytest.mark.parametrize(("rows", "cols"), [(80, 50), (50, 80), (64, 64)])
def test_orthogonal_entries(rows, cols, route, monkeypatch):
    # Entries of a Haar (semi-)orthogonal matrix with d = max(rows, cols): x²/gain² ~ Beta(1/2,
    # (d-1)/2), symmetric.  Within one matrix the entries are weakly dependent, which only
    # makes the KS test conservative; 250 matrices pool 10^6 entries.  Routes: the Gaussian
    # buffer and QR (weights this small); random reflectors in place (tall and wide weights
    # through different views) in one block, as on weights of up to 1M values, or 2 or 3 at
    # a time, as on larger ones.
    if route != "buffer":
        monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    if route == "blocked":
        monkeypatch.setattr(parity.samplers, "_CHUNK", 0)
    gain = 1.7
    generator = torch.Generator().manual_seed(3)
    w = torch.empty(250, rows, cols, dtype=torch.float64)
    for matrix in w:
        parity.orthogonal_(matrix, gain=gain, generator=generator)
    beta = stats.beta(0.5, (max(rows, cols) - 1) / 2)

    def cdf(x):
        return 0.5 + 0.5 * np.sign(x) * beta.cdf((x / gain) ** 2)

    assert stats.kstest(w.numpy().ravel(), cdf).pvalue > ALPHA
    # And a wrong gain is rejected.
    assert stats.kstest(w.numpy().ravel() * 1.02, cdf).pvalue < ALPHA


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(300, 200), (200, 300)], ids=str)
@pytest.mark.parametrize("slabs", ["one slab", "slabs of 7 columns"])
def test_reduced_precision_orthogonal_is_the_float32_one_rounded(shape, dtype, slabs, monkeypatch):
    # Large float16/bfloat16 weights take the reflector route in float32, in one slab (the
    # values are exactly the float32 route's for the same generator, rounded to nearest) or,
    # on large weights, in slabs of columns with the reflectors drawn again for each (the
    # same, with blocks of reflectors as wide as a slab, up to the float32 rounding of the
    # products: at most one step of the dtype).
    monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_IN_PLACE_MIN", 0)
    if slabs != "one slab":
        monkeypatch.setattr(parity.samplers, "_REDUCED_SLAB_BYTES", 7 * 4 * max(shape))
        monkeypatch.setattr(parity.samplers, "_ORTHOGONAL_BLOCK", 7)  # the float32 route's
    generators = [torch.Generator().manual_seed(4) for _ in range(2)]
    reduced, wide = torch.empty(shape, dtype=dtype), torch.empty(shape)
    for weight, generator in zip((reduced, wide), generators, strict=True):
        parity.orthogonal_(weight, gain=1.3, generator=generator)
    # Both leave the generator where one pass of draws does.
    assert torch.equal(*(torch.rand(3, generator=g) for g in generators))
    rounded = wide.to(dtype)
    if slabs == "one slab":
        assert torch.equal(reduced, rounded)
    else:  # within half a step of the dtype of the float32 values, and their own rounding
        half_step = wide.abs() * torch.finfo(dtype).eps / 2
        assert ((reduced.float() - wide).abs() <= half_step + 1e-6).all()
        assert (reduced != rounded).float().mean() < 0.01
        # The slabs' float32 values themselves, against the float32 route's:
        slabbed = torch.empty(shape)
        law = parity.samplers.Orthogonal(*shape, 1.3)
        law._fill_reduced_(slabbed, law._tall_matrix(slabbed), torch.Generator().manual_seed(4))
        assert (slabbed - wide).abs().max() < 1e-6


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_reduced_precision_is_the_rounded_distribution(dtype):
    # Values must be the exact distribution rounded to nearest: compare the sample with a
    # float64 draw from the exact distribution rounded the same way (two-sample KS).
    sample = draw(parity.he_normal_, dtype, seed=9)
    exact_draw = exact("he", "normal").rvs(size=sample.size, random_state=np.random.default_rng(9))
    rounded = torch.from_numpy(exact_draw).to(dtype).double().numpy()
    assert stats.ks_2samp(sample, rounded).pvalue > ALPHA


# --------------------------------------------------------------------------- power


def test_two_percent_stddev_error_is_caught():
    def wrong(t, generator):
        parity.he_normal_(t, generator=generator)
        return t.mul_(1.02)

    assert ks_pvalue(draw(wrong, seed=11), exact("he", "normal")) < ALPHA


@pytest.mark.parametrize(
    ("name", "wrong", "family", "form"),
    [
        ("xavier_normal_ for GlorotNormal", torch.nn.init.xavier_normal_, "glorot", "normal"),
        ("kaiming_normal_ for HeNormal", torch.nn.init.kaiming_normal_, "he", "normal"),
        (
            "trunc_normal_(absolute ±2) for HeNormal",
            lambda t, generator: torch.nn.init.trunc_normal_(
                t, std=math.sqrt(2 / 500) / C, generator=generator
            ),
            "he",
            "normal",
        ),
        (
            "missing 0.8796 correction",
            lambda t, generator: parity.truncated_normal_(
                t, stddev=math.sqrt(1 / 500), generator=generator
            ),
            "lecun",
            "normal",
        ),
        (
            "nn.Linear's default, kaiming_uniform_(a=sqrt 5), for HeUniform",
            lambda t, generator: torch.nn.init.kaiming_uniform_(
                t, a=math.sqrt(5), generator=generator
            ),
            "he",
            "uniform",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_known_wrong_initializers_are_rejected(name, wrong, family, form):
    assert ks_pvalue(draw(wrong, seed=11), exact(family, form)) < ALPHA
