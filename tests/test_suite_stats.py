"""The suite's statistics: grid KS against scipy's exact KS, targets, variance test, Holm.

No TensorFlow needed.  Sample sizes are moderate (2·10^4 to 10^5) and seeds fixed.
"""

import math

import numpy as np
import pytest
import torch

import parity
from parity.suite import stats

scipy_stats = pytest.importorskip("scipy.stats")

LAWS = {
    "uniform": parity.samplers.Uniform(-0.3, 0.5),
    "normal": parity.samplers.Normal(0.1, 0.7),
    "truncated_normal": parity.samplers.TruncatedNormal(-0.2, 0.05),
    "orthogonal": parity.samplers.Orthogonal(48, 12, 1.5),
}


def _scipy_cdf(law):
    if isinstance(law, parity.samplers.Uniform):
        return scipy_stats.uniform(law.low, law.high - law.low).cdf
    if isinstance(law, parity.samplers.Normal):
        return scipy_stats.norm(law.mean, law.std).cdf
    if isinstance(law, parity.samplers.TruncatedNormal):
        return scipy_stats.truncnorm(-2, 2, loc=law.mean, scale=law.std).cdf
    beta = scipy_stats.beta(0.5, (max(law.rows, law.cols) - 1) / 2)
    return lambda x: 0.5 + 0.5 * np.sign(x) * beta.cdf((x / law.gain) ** 2)


def _draw(law, n, seed, dtype=torch.float32):
    """n values of ``law`` (whole matrices for orthogonal), as a flat tensor."""
    generator = torch.Generator().manual_seed(seed)
    if isinstance(law, parity.samplers.Orthogonal):
        size = law.rows * law.cols
        out = torch.empty(math.ceil(n / size), law.rows, law.cols, dtype=dtype)
        for matrix in out:
            law.fill_(matrix, generator)
        return out.reshape(-1)
    return law.fill_(torch.empty(n, dtype=dtype), generator)


def _summary(target, values, chunks=1):
    reducer = stats.Reducer(target)
    for part in torch.chunk(values, chunks):
        reducer.add(part)
    return reducer.summary()


@pytest.mark.parametrize("name", list(LAWS))
def test_grid_ks_brackets_scipy_exact_ks(name):
    """D_grid <= D_scipy <= D_grid + 1/B, and the p-values agree (exact kstwo at n <= 20,000)."""
    law = LAWS[name]
    target = stats.make_target(law)
    values = _draw(law, 20_000, seed=1)
    values = values[:20_000]
    result = stats.ks_one_sample(_summary(target, values), target)
    exact = scipy_stats.kstest(values.double().numpy(), _scipy_cdf(law), method="exact")
    assert result.statistic <= exact.statistic + 1e-12
    assert exact.statistic <= result.statistic + target.resolution + 1e-12
    assert result.p_value == pytest.approx(exact.pvalue, rel=0.02, abs=1e-3)
    assert result.p_value > 1e-3  # the right law passes


@pytest.mark.parametrize("name", ["uniform", "truncated_normal"])
def test_two_sample_grid_ks_brackets_ks_2samp(name):
    law = LAWS[name]
    target = stats.make_target(law)
    a, b = _draw(law, 30_000, seed=2), _draw(law, 20_000, seed=3)
    result = stats.ks_two_sample(_summary(target, a, 3), _summary(target, b), target)
    exact = scipy_stats.ks_2samp(a.numpy(), b.numpy())
    assert result.statistic <= exact.statistic + 1e-12
    assert exact.statistic <= result.statistic + result.bound + 1e-12
    assert result.bound < 5e-4  # the largest cell share at these sizes
    assert result.n == round(30_000 * 20_000 / 50_000)
    in_memory = stats.ks_two_sample_arrays(a.numpy(), b.numpy())
    assert in_memory.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert in_memory.p_value == pytest.approx(exact.pvalue, rel=0.02)


def test_large_n_p_value_is_the_conservative_limit_law():
    for n in (50_000, 200_000):
        d = 1.5 / math.sqrt(n)
        exact = float(scipy_stats.kstwo.sf(d, n))
        assert exact <= stats.ks_p_value(d, n) <= exact * 1.015


def test_chunked_reduction_equals_one_pass():
    target = stats.make_target(LAWS["normal"])
    values = _draw(LAWS["normal"], 50_000, seed=4)
    whole, parts = _summary(target, values), _summary(target, values, chunks=7)
    assert np.array_equal(whole.cum, parts.cum)
    assert whole.n == parts.n == 50_000
    assert whole.sum_sq == pytest.approx(parts.sum_sq, rel=1e-12)
    assert (whole.minimum, whole.maximum) == (parts.minimum, parts.maximum)


def test_support_counts_nan_and_bounds():
    target = stats.make_target(parity.samplers.TruncatedNormal(0.0, 1.0))  # open (-2, 2)
    values = torch.tensor([0.0, 2.0, -2.0, 1.999, math.nan, math.inf])
    assert _summary(target, values).outside == 4
    closed = stats.make_target(parity.samplers.Uniform(-1.0, 1.0))  # closed [-1, 1]
    assert _summary(closed, torch.tensor([-1.0, 1.0, 1.0001, 0.0])).outside == 1


def _direct(target, values):
    """The summary's counts computed the plain way: sort everything, search the grid."""
    x = values.double().numpy()
    finite = np.sort(x[~np.isnan(x)])
    if target.closed:
        outside = np.count_nonzero((finite < target.low) | (finite > target.high))
    else:
        outside = np.count_nonzero((finite <= target.low) | (finite >= target.high))
    return {
        "cum": np.searchsorted(finite, target.grid, "right"),
        "nan": int(np.isnan(x).sum()),
        "outside": outside + int(np.isnan(x).sum()),
        "extremes": (finite.min(), finite.max()),
        "sum_sq": float(np.sum((finite - target.mean) ** 2)),
    }


def _with_edges(target, values, seed):
    """``values`` with the inputs binning can get wrong mixed in: every 37th grid point and
    the floats just either side of it, in float64 and in the values' dtype, the support's
    bounds, signed zeros, infinities, NaN."""
    grid = torch.from_numpy(target.grid)[::37]
    up, down = torch.tensor(math.inf, dtype=torch.float64), torch.tensor(-math.inf).double()
    specials = [target.low, target.high, -0.0, 0.0, math.inf, -math.inf, math.nan, 1e300]
    edges = torch.cat([grid, grid.nextafter(up), grid.nextafter(down), torch.tensor(specials)])
    nearest = grid.to(values.dtype)
    mixed = torch.cat(
        [values, edges.to(values.dtype), nearest.nextafter(up.to(values.dtype)),
         nearest.nextafter(down.to(values.dtype))]
    )  # fmt: skip
    return mixed[torch.randperm(mixed.numel(), generator=torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(LAWS))
def test_summary_equals_direct_counts(name, dtype):
    # The reducer never sorts: float32/float64 values are located through a table of cells,
    # float16/bfloat16 ones counted per bit pattern.  Both must count exactly as a sort does,
    # on grid points themselves and on their neighbours too.
    law = LAWS[name]
    target = stats.make_target(law, dtype)
    values = _with_edges(target, _draw(law, 300_000, seed=9, dtype=dtype), seed=9)
    summary = _summary(target, values, chunks=3)
    direct = _direct(target, values.double())
    assert np.array_equal(summary.cum, direct["cum"])
    assert (summary.nan, summary.outside) == (direct["nan"], direct["outside"])
    assert (summary.minimum, summary.maximum) == direct["extremes"]
    assert summary.n == values.numel()
    finite = values[torch.isfinite(values)]  # the sums of the sample without its infinities
    assert _summary(target, finite).sum_sq == pytest.approx(
        _direct(target, finite.double())["sum_sq"], rel=1e-12
    )


@pytest.mark.parametrize("route", ["comparisons", "bisection"])
def test_a_grid_crowded_past_one_point_per_cell_is_still_exact(route, monkeypatch):
    # The entries of 2 x 2 Haar matrices follow the arcsine law: its quantiles crowd at ±gain,
    # closer than the narrowest cells (20 points in the fullest), so a value is compared with
    # several points of its cell, or, past _MAX_STEPS of them, located by bisection.
    monkeypatch.setattr(stats, "_MAX_STEPS", 100 if route == "comparisons" else 1)
    law = parity.samplers.Orthogonal(2, 2, 1.0)
    target = stats.make_target(law)
    values = _with_edges(target, _draw(law, 100_000, seed=10), seed=10)
    reducer = stats.Reducer(target)
    reducer.add(values)
    assert reducer._locators[values.dtype].steps > 1
    assert np.array_equal(reducer.summary().cum, _direct(target, values)["cum"])


def test_float32_values_of_a_grid_past_float32s_range_are_located_in_float64():
    # float32 values are located in float32 against the grid points rounded down; a grid
    # reaching past float32's largest value has no float32 lower end, so those values are
    # located in float64 instead, and still counted exactly.
    law = parity.samplers.Normal(0.0, 1e38)
    target = stats.make_target(law)
    assert target.grid[0] < -torch.finfo(torch.float32).max
    values = _with_edges(target, _draw(law, 100_000, seed=12), seed=12)
    reducer = stats.Reducer(target)
    reducer.add(values)
    assert reducer._locators[torch.float32].dtype == torch.float64
    assert np.array_equal(reducer.summary().cum, _direct(target, values)["cum"])


@pytest.mark.parametrize(
    ("law", "dtype", "grid_size"),
    [(parity.samplers.TruncatedNormal(0.0, 1e-40), torch.bfloat16, stats.GRID_SIZE),
     (parity.samplers.Normal(0.0, 1e-36), torch.float32, 8)],
    ids=["subnormal-atoms", "narrow-grid"],
)  # fmt: skip
def test_a_grid_too_narrow_for_float32_cells_is_still_exact(law, dtype, grid_size):
    # The cells' scale, L / width, is past float32's largest value for these grids (five
    # bfloat16 subnormals; eight quantiles of N(0, 1e-36)); located with it, a value on the
    # first grid point got a NaN cell (an IndexError, or a wrong count).  They bisect.
    target = stats.make_target(law, dtype, grid_size=grid_size)
    grid = torch.from_numpy(target.grid).float()
    values = torch.cat([grid, 2 * grid, torch.tensor([1e-45, 0.0, -1e-45])])
    reducer = stats.Reducer(target)
    reducer.add(values)
    assert values.dtype == torch.float32 and stats._narrowed(values, dtype) is values
    assert np.array_equal(reducer.summary().cum, _direct(target, values)["cum"])


def test_integer_values_are_counted_as_their_float64_values():
    # Values are located in their own dtype only for float32 and float64; any other dtype
    # (an integer tensor given to Reducer.add, say) is widened to float64 first.
    target = stats.make_target(parity.samplers.Uniform(-3.0, 3.0))
    values = torch.tensor([-2, 0, 1, 2, 5])
    summary = _summary(target, values)
    assert np.array_equal(summary.cum, _direct(target, values.double())["cum"])
    assert summary.outside == 1 and (summary.minimum, summary.maximum) == (-2.0, 5.0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_widened_half_values_are_counted_as_half_values(dtype):
    # A reference's bfloat16 values arrive as float32 (numpy has none).  Located on the grid of
    # every bfloat16 value (22,097 points in one cell near 0) they took 45 s per 1M values;
    # they are counted per bit pattern instead, with the same summary.  float32 values that
    # are not the dtype's stay float32 (and are still counted exactly).
    law = LAWS["uniform"]
    target = stats.make_target(law, dtype)
    values = _draw(law, 200_000, seed=11).to(dtype)
    summaries = []
    for x in (values, values.float()):
        reducer = stats.Reducer(target)
        reducer.add(x)
        summaries.append(reducer.summary())
    assert np.array_equal(summaries[0].cum, summaries[1].cum)
    assert summaries[0].scalars() == summaries[1].scalars()
    off_grid = values.float()
    off_grid[0] = torch.nextafter(off_grid[0], torch.tensor(math.inf))  # no longer a half value
    assert stats._narrowed(off_grid, dtype).dtype == torch.float32
    reducer = stats.Reducer(target)
    reducer.add(off_grid)
    assert np.array_equal(reducer.summary().cum, _direct(target, off_grid)["cum"])


@pytest.mark.parametrize("threads", [1, 2])
def test_large_chunk_summary_equals_direct_counts(threads):
    # A chunk is reduced in pieces; NaNs fall in some pieces only.  Every field must equal a
    # direct count over the whole sample.
    target = stats.make_target(LAWS["normal"])
    values = _draw(LAWS["normal"], 3_000_000, seed=8)
    values[[5, 2_999_990]] = math.nan
    values[7] = math.inf
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        summary = _summary(target, values)
    finally:
        torch.set_num_threads(before)
    x = values.double().numpy()
    finite = x[~np.isnan(x)]
    assert np.array_equal(summary.cum, np.searchsorted(np.sort(finite), target.grid, "right"))
    assert summary.n == 3_000_000 and summary.outside == 3  # two NaNs, one inf
    assert summary.maximum == math.inf and summary.minimum == finite.min()


def test_moments_match_scipy():
    law = LAWS["truncated_normal"]
    target = stats.make_target(law)
    frozen = scipy_stats.truncnorm(-2, 2, loc=law.mean, scale=law.std)
    assert target.variance == pytest.approx(frozen.var(), rel=1e-10)
    assert target.fourth == pytest.approx(frozen.expect(lambda x: (x - law.mean) ** 4), rel=1e-8)
    assert target.variance == pytest.approx(law.variance, rel=1e-10)
    ortho = stats.make_target(LAWS["orthogonal"])
    d, gain = 48, 1.5
    beta = scipy_stats.beta(0.5, (d - 1) / 2)
    assert ortho.variance == pytest.approx(gain**2 * beta.mean(), rel=1e-12)
    assert ortho.fourth == pytest.approx(gain**4 * beta.moment(2), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_reduced_precision_target_is_the_rounded_law(dtype):
    law = parity.samplers.TruncatedNormal(0.0, 0.1)
    target = stats.make_target(law, dtype)
    assert target.discrete and target.resolution == 0.0
    pmf = np.diff(target.grid_cdf, prepend=0.0)
    assert pmf.min() >= 0 and target.grid_cdf[-1] == 1.0
    assert target.variance == pytest.approx(law.variance, rel=1e-3)
    # Rounding a float32 draw: our sampler's reduced-precision route passes ...
    values = law.fill_(torch.empty(200_000, dtype=dtype), torch.Generator().manual_seed(5))
    summary = _summary(target, values)
    result = stats.ks_one_sample(summary, target)
    assert result.p_value > 1e-3 and summary.outside == 0
    # ... and D on the atoms is the exact discrete statistic.
    sample = np.sort(values.double().numpy())
    ecdf = np.searchsorted(sample, target.grid, side="right") / sample.size
    assert result.statistic == pytest.approx(np.abs(ecdf - target.grid_cdf).max(), abs=1e-15)
    # A 5% wider law fails.
    wide = parity.samplers.TruncatedNormal(0.0, 0.105)
    bad = wide.fill_(torch.empty(200_000, dtype=dtype), torch.Generator().manual_seed(6))
    assert stats.ks_one_sample(_summary(target, bad), target).p_value < 1e-6


def test_non_random_targets_are_refused():
    with pytest.raises(ValueError, match="not a random distribution"):
        stats.make_target(parity.samplers.Constant(0.0))
    with pytest.raises(ValueError, match="zero spread"):
        stats.make_target(parity.samplers.Normal(0.0, 0.0))
    with pytest.raises(ValueError, match="1 x 1 orthogonal"):
        stats.make_target(parity.samplers.Orthogonal(1, 1, 1.0))
    # Rounded to float16, a tiny stddev leaves one value: no variance test can be made.
    with pytest.raises(ValueError, match="no spread to test"):
        stats.make_target(parity.samplers.TruncatedNormal(0.0, 1e-8), torch.float16)


def test_holm_matches_a_hand_computed_example():
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([]) == []


def test_variance_test_detects_the_stated_error_with_power_0_9():
    """At the analytic detectable stddev error δ, the z-test flags >= 15 of 20 samples
    (power 0.9 predicts 18; P(< 15) = 1.1% under it); at δ = 0 it flags at most 1 (α = 1e-3)."""
    alpha, n, trials = 1e-3, 50_000, 20
    law = parity.samplers.Uniform(-0.1, 0.1)
    target = stats.make_target(law)
    delta = stats.detectable_std_error(n, target.kurtosis, alpha)
    assert 0.005 < delta < 0.02
    mutant = parity.samplers.Uniform(-0.1 * (1 + delta), 0.1 * (1 + delta))
    caught = {0.0: 0, delta: 0}
    for seed in range(trials):
        for shift, sampler in ((0.0, law), (delta, mutant)):
            values = sampler.fill_(torch.empty(n), torch.Generator().manual_seed(100 + seed))
            p = stats.variance_test(_summary(target, values), target).p_value
            caught[shift] += p < alpha
    assert caught[delta] >= 15
    assert caught[0.0] <= 1
