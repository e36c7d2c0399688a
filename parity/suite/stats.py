"""Streaming statistics: exact targets, grid Kolmogorov–Smirnov tests, a variance z-test, Holm.

A sample of any size is reduced, one chunk at a time, to a :class:`Summary`: how many values lie
at or below each point of a fixed grid, running moment sums, and how many values lie outside the
support.  Every statistic is computed from summaries alone, so 10^8 values never sit in memory
at once, and a TensorFlow sample can be recorded on one machine and replayed on another.

Grid KS.  For a continuous target ``F`` the grid is the ``B - 1`` interior quantiles
``g_k = F^-1(k / B)`` (``B = 2^16``), so every cell holds probability ``1/B``.  The statistic is
``D_grid = max_k |F_n(g_k) - F(g_k)|``; between two grid points both ``F_n`` and ``F`` are
monotone and ``F`` rises by ``1/B``, so the true statistic obeys
``D_grid <= D <= D_grid + 1/B``.  For two samples ``F_n`` and ``G_m`` on the same grid,
``D_grid <= D <= D_grid + c`` where ``c`` is the largest share of either sample in one cell
(reported as the bound).  Using ``D_grid`` makes the p-values slightly conservative.

float16 and bfloat16 values are discrete: the grid is every representable value in the support
and the target puts on each the probability that a float32 draw rounds to it (the continuous
CDF at the midpoints between neighbours).  The grid then holds every atom, so ``D_grid`` is the
exact statistic; the continuous KS p-value is conservative for discrete data.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from parity.fans import rounded_to
from parity.samplers import Normal, Orthogonal, TruncatedNormal, Uniform

GRID_SIZE = 1 << 16
# Above this many (effective) observations the exact KS distribution (scipy's kstwo) is slow;
# its limit law kstwobign is then larger, i.e. conservative, by under 1.4% down to p = 1e-6
# (2.2% at 1e-12).
_EXACT_KS_MAX_N = 20_000
_DISCRETE_DTYPES = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------- standard laws


@dataclass(frozen=True)
class Standard:
    """A mean-zero law every target is an affine image of: ``X = loc + scale * S``.

    ``key`` names it (``"uniform"`` on [-1, 1], ``"normal"``, ``"truncated_normal"`` on
    (-2, 2), ``"orthogonal:<d>"``: one entry of a Haar d-dimensional unit vector).
    """

    key: str

    @property
    def _scipy(self) -> Any:
        from scipy import stats

        if self.key == "uniform":
            return stats.uniform(loc=-1.0, scale=2.0)
        if self.key == "normal":
            return stats.norm()
        if self.key == "truncated_normal":
            return stats.truncnorm(-2.0, 2.0)
        # An entry q of a uniform unit vector in R^d: q^2 ~ Beta(1/2, (d-1)/2), sign symmetric.
        return stats.beta(0.5, (self.dim - 1) / 2.0)

    @property
    def dim(self) -> int:
        return int(self.key.split(":")[1]) if self.key.startswith("orthogonal:") else 0

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if not self.dim:
            return self._scipy.cdf(x)
        return 0.5 + 0.5 * np.sign(x) * self._scipy.cdf(np.minimum(x * x, 1.0))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if not self.dim:
            return self._scipy.ppf(q)
        return np.sign(q - 0.5) * np.sqrt(self._scipy.ppf(np.abs(2.0 * q - 1.0)))

    @property
    def moments(self) -> tuple[float, float]:
        """``(E[S^2], E[S^4])``."""
        if self.key == "uniform":
            return 1.0 / 3.0, 1.0 / 5.0
        if self.key == "normal":
            return 1.0, 3.0
        if self.key == "truncated_normal":
            return float(self._scipy.var()), float(self._scipy.moment(4))
        d = self.dim
        return 1.0 / d, 3.0 / (d * (d + 2.0))

    @property
    def bounds(self) -> tuple[float, float, bool]:
        """``(low, high, closed)`` of the support."""
        if self.key == "normal":
            return -math.inf, math.inf, False
        if self.key == "truncated_normal":
            return -2.0, 2.0, False
        return -1.0, 1.0, True


class GridCache:
    """Standard quantile grids ``S^-1(k/B)``, computed once per law and size.

    A recorded reference carries the grids it was binned on; replaying preloads them so the
    bins match bit for bit whatever scipy version is installed.
    """

    def __init__(self, grids: dict[str, np.ndarray] | None = None) -> None:
        self.grids: dict[str, np.ndarray] = dict(grids or {})

    def get(self, standard: Standard, size: int) -> np.ndarray:
        key = f"{standard.key}/{size}"
        if key not in self.grids:
            self.grids[key] = standard.ppf(np.arange(1, size, dtype=np.float64) / size)
        return self.grids[key]


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, eq=False)
class Target:
    """The exact distribution one sample is tested against, with its KS grid.

    ``grid`` and ``grid_cdf`` are the points the samples are binned at and ``F`` there;
    ``mean``, ``variance`` and ``fourth`` are central moments; a value is in the support when
    ``low < x < high`` (``low <= x <= high`` when ``closed``).  Closed bounds are widened to
    their ``dtype`` rounding where that lies outside: the sampler's own bounds.
    """

    label: str
    standard: Standard
    loc: float
    scale: float
    dtype: torch.dtype
    grid: np.ndarray
    grid_cdf: np.ndarray
    mean: float
    variance: float
    fourth: float
    low: float
    high: float
    closed: bool
    discrete: bool

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return self.standard.cdf((np.asarray(x, dtype=np.float64) - self.loc) / self.scale)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        return self.loc + self.scale * self.standard.ppf(q)

    @property
    def kurtosis(self) -> float:
        return self.fourth / self.variance**2

    @property
    def resolution(self) -> float:
        """Largest gap between ``D_grid`` and the true one-sample ``D`` (0: exact)."""
        return 0.0 if self.discrete else 1.0 / (len(self.grid) + 1)


def _affine(distribution: Any) -> tuple[Standard, float, float, str]:
    if isinstance(distribution, Uniform):
        loc, half = (
            (distribution.low + distribution.high) / 2,
            (distribution.high - distribution.low) / 2,
        )
        return Standard("uniform"), loc, half, f"U({distribution.low:.6g}, {distribution.high:.6g})"
    if isinstance(distribution, Normal):
        return (
            Standard("normal"), distribution.mean, distribution.std,
            f"N({distribution.mean:.6g}, {distribution.std:.6g}²)",
        )  # fmt: skip
    if isinstance(distribution, TruncatedNormal):
        return (
            Standard("truncated_normal"), distribution.mean, distribution.std,
            f"TN({distribution.mean:.6g}, {distribution.std:.6g}², ±2σ)",
        )  # fmt: skip
    if isinstance(distribution, Orthogonal):
        d = max(distribution.rows, distribution.cols)
        if d < 2:
            raise ValueError("a 1 x 1 orthogonal matrix is ±gain: there is no distribution to test")
        label = f"Orthogonal({distribution.rows}x{distribution.cols}, gain={distribution.gain:.6g})"
        return Standard(f"orthogonal:{d}"), 0.0, abs(distribution.gain), label
    raise ValueError(
        f"{type(distribution).__name__} is not a random distribution; the statistics need "
        "Uniform, Normal, TruncatedNormal or Orthogonal (compare constants directly)"
    )


def orthogonality_tolerance(dim: int, dtype: torch.dtype) -> float:
    """Largest ``max |QᵀQ/gain² - I|`` accepted for a ``dim``-row orthogonal draw in ``dtype``.

    Rounding gives errors near ``sqrt(dim) * eps``; measured maxima stay under twice that.
    """
    return 8.0 * math.sqrt(dim) * torch.finfo(dtype).eps


@functools.lru_cache(maxsize=4)
def _pattern_values(dtype: torch.dtype) -> torch.Tensor:
    """The float64 value of every 16-bit ``dtype`` pattern, indexed by the pattern read as an
    unsigned integer (NaN for the NaN patterns)."""
    bits = torch.arange(1 << 16, dtype=torch.int32).to(torch.int16)
    return bits.view(dtype).to(torch.float64)


def representable(dtype: torch.dtype, low: float, high: float) -> np.ndarray:
    """Every finite ``dtype`` value in ``[round(low), round(high)]``, sorted, as float64."""
    values = _pattern_values(dtype).numpy()
    atoms = np.unique(values[np.isfinite(values)])  # also merges -0.0 and 0.0
    return atoms[(atoms >= rounded_to(low, dtype)) & (atoms <= rounded_to(high, dtype))]


def make_target(
    distribution: Any,
    dtype: torch.dtype = torch.float32,
    *,
    grids: GridCache | None = None,
    grid_size: int = GRID_SIZE,
) -> Target:
    """The :class:`Target` of a ``parity.describe`` distribution for samples of ``dtype``.

    float32/float64: the continuous law on an equal-probability grid of ``grid_size`` cells.
    float16/bfloat16: the law of a float32 draw rounded to nearest ``dtype`` value.

    Example:
        >>> t = make_target(parity.describe("he_normal", (64, 3, 3, 3)))
        >>> t.variance   # 2 / 27
    """
    standard, loc, scale, label = _affine(distribution)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"{label} has zero spread: there is no distribution to test")
    s_low, s_high, closed = standard.bounds
    var, fourth = standard.moments
    if standard.dim:  # entries may exceed gain by rounding; orthogonality is checked apart
        widen = 1.0 + orthogonality_tolerance(standard.dim, dtype)
        s_low, s_high = s_low * widen, s_high * widen
    low, high = loc + scale * s_low, loc + scale * s_high
    if closed:
        # Keras and torch compute in the sample's dtype from bounds rounded to it, so a value
        # may equal the rounded bound just outside the float64 one (TensorFlow's float32
        # uniform returns minval itself when its random mantissa is 0).
        low, high = min(low, rounded_to(low, dtype)), max(high, rounded_to(high, dtype))
    common = dict(label=label, standard=standard, loc=loc, scale=scale, dtype=dtype)
    if dtype not in _DISCRETE_DTYPES:
        grid = loc + scale * (grids or GridCache()).get(standard, grid_size)
        grid_cdf = standard.cdf((grid - loc) / scale)
        return Target(
            **common, grid=grid, grid_cdf=grid_cdf, mean=loc, variance=var * scale**2,
            fourth=fourth * scale**4, low=low, high=high, closed=closed, discrete=False,
        )  # fmt: skip
    atoms = representable(dtype, low, high)
    # P(round(X) <= a_k) = F(midpoint between a_k and the next atom); the last atom takes the rest.
    mids = (atoms[:-1] + atoms[1:]) / 2
    grid_cdf = np.append(standard.cdf((mids - loc) / scale), 1.0)
    pmf = np.diff(grid_cdf, prepend=0.0)
    mean = float(np.dot(atoms, pmf))
    dev = atoms - mean
    variance, fourth = float(np.dot(dev**2, pmf)), float(np.dot(dev**4, pmf))
    if not fourth - variance**2 > 0:  # one value, or two equally likely: nothing to test
        raise ValueError(
            f"{label} rounded to {dtype} takes {np.count_nonzero(pmf)} value(s) with a fixed "
            "second moment: there is no spread to test"
        )
    return Target(
        **common, grid=atoms, grid_cdf=grid_cdf, mean=mean, variance=variance, fourth=fourth,
        low=float(atoms[0]), high=float(atoms[-1]), closed=True, discrete=True,
    )  # fmt: skip


# --------------------------------------------------------------------------- summaries


@dataclass
class Summary:
    """What the statistics need of one sample.

    ``cum[k]`` counts values ``<= grid[k]``; ``sum_dev`` and ``sum_sq`` are sums of ``x - mean``
    and ``(x - mean)^2`` over the non-NaN values (``mean`` is the target's); ``outside`` counts
    values outside the support, NaN included, and ``nan`` the NaNs; ``orthogonality_error`` is
    the largest ``max |QᵀQ/gain² - I|`` over the drawn matrices, and ``diagonal_sum`` the sum
    of their ``diagonal_count`` diagonal entries over gain (orthogonal targets only).
    ``sampling_seconds`` is the time spent drawing the values in this process (0 for a
    replayed record); it is not a statistic, so :meth:`scalars` leaves it out.
    """

    n: int
    cum: np.ndarray
    sum_dev: float
    sum_sq: float
    outside: int
    minimum: float
    maximum: float
    calls: int = 0
    orthogonality_error: float | None = None
    diagonal_sum: float = 0.0
    diagonal_count: int = 0
    nan: int = 0
    sampling_seconds: float = field(default=0.0, compare=False)

    def scalars(self) -> dict[str, Any]:
        """Every field but ``cum``, JSON-ready."""
        return {
            "n": self.n, "sum_dev": self.sum_dev, "sum_sq": self.sum_sq, "outside": self.outside,
            "minimum": self.minimum, "maximum": self.maximum, "calls": self.calls,
            "orthogonality_error": self.orthogonality_error,
            "diagonal_sum": self.diagonal_sum, "diagonal_count": self.diagonal_count,
            "nan": self.nan,
        }  # fmt: skip

    @property
    def std(self) -> float:
        """Root mean square deviation of the non-NaN values from the target's mean."""
        return math.sqrt(self.sum_sq / max(1, self.n - self.nan))


# Values drawn and reduced at once, per side: a sample of any size takes bounded memory.
CHUNK_VALUES = 1 << 22
# A chunk is reduced this many values at a time: the temporaries stay in cache.
_PIECE = 1 << 18
# Cells a grid's range is cut into to locate values (see _GridLocator): the fewest, and the
# most, tried in turn until no cell holds more than one grid point.
_MIN_CELLS = 1 << 18
_MAX_CELLS = 1 << 22
# A grid whose fullest cell still holds more points than this is searched by bisection
# instead: each comparison step costs about 5 ns per value, a bisection 65-90 ns.
_MAX_STEPS = 12


def _take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]``.  On the CPU through numpy, whose ``take`` gathers about twice as fast
    as torch's indexing."""
    if table.device.type != "cpu":
        return table[index]
    return torch.from_numpy(np.take(table.numpy(), index.numpy()))


def _at_or_below(grid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Each float64 grid point as the greatest ``dtype`` value at or below it.  For a value
    ``x`` of ``dtype``, ``x > g`` exactly when ``x`` exceeds that value, so the grid can be
    searched in the sample's own dtype."""
    narrow = grid.to(dtype)
    too_high = narrow.to(grid.dtype) > grid
    return torch.where(too_high, narrow.nextafter(narrow.new_tensor(-math.inf)), narrow)


class _GridLocator:
    """How many points of a sorted grid lie below each value of one dtype, in linear time,
    exactly.

    The grid's points are first taken into the values' dtype (:func:`_at_or_below`): float32
    samples are located in float32, with half the memory traffic of float64.  The range is
    cut into ``L`` equal cells, and a value's cell is
    ``floor((x - g_first) · L / (g_last - g_first))``, clamped to the range, computed in that
    dtype for values and grid points alike.  IEEE subtraction and multiplication are
    monotone, so the cell never decreases as ``x`` grows: every grid point of an earlier cell
    is below ``x`` and none of a later one is.  Only the points of ``x``'s own cell need a
    comparison, and ``L`` is the smallest power of two from 2^18 to 2^22 that leaves at most
    one point in each cell (2^18 does for every law the suite draws).  A grid denser than that
    somewhere (an arcsine-like law) takes one comparison per point of its fullest cell, or,
    past ``_MAX_STEPS`` of them (bfloat16's every value, crowded near 0), a bisection.
    """

    def __init__(self, grid: torch.Tensor, dtype: torch.dtype) -> None:
        self.dtype = dtype
        narrow = _at_or_below(grid, dtype)
        if not bool(torch.isfinite(narrow).all()):  # past float32's range: stay in float64
            self.dtype, narrow = grid.dtype, grid
        grid = narrow
        self.low = float(grid[0])
        width = float(grid[-1]) - self.low
        self.points = torch.cat([grid, grid.new_tensor([math.inf])])  # a cell's past-the-end
        self.cells = _MIN_CELLS
        if width > 0 and not math.isfinite(float(grid.new_tensor(_MAX_CELLS / width))):
            # A grid so narrow (a few subnormal atoms, say) that the cells' scale is past the
            # dtype's range, where 0 · inf would make a NaN cell: bisect instead.
            self.steps = _MAX_STEPS + 1
            return
        while True:
            self.scale = self.cells / width if width > 0 else 1.0
            # first[c]: grid points in the cells before c (int32 halves the table's cache use)
            self.first = torch.searchsorted(
                self.cell(grid), torch.arange(self.cells + 1, device=grid.device), out_int32=True
            )
            self.steps = int((self.first[1:] - self.first[:-1]).max())
            if self.steps <= 1 or self.cells >= _MAX_CELLS:
                break
            self.cells *= 2

    def cell(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sub(x, self.low).mul_(self.scale).clamp_(0, self.cells - 1).int()

    def below(self, x: torch.Tensor) -> torch.Tensor:
        """For each value of ``x`` (no NaN), the number of grid points ``< x``."""
        x = x.to(self.dtype)
        if self.steps > _MAX_STEPS:
            return torch.searchsorted(self.points[:-1], x, out_int32=True)
        count = _take(self.first, self.cell(x))
        for _ in range(self.steps):
            count += _take(self.points, count) < x
        return count


def _narrowed(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` in ``dtype`` (float16/bfloat16) where it holds that dtype's values widened (a
    reference's bfloat16 values come as float32, numpy having no bfloat16), so that they are
    counted per bit pattern; else ``x`` as it is."""
    if dtype not in _DISCRETE_DTYPES or x.dtype in _DISCRETE_DTYPES:
        return x
    narrow = x.to(dtype)
    same = (narrow.to(x.dtype) == x) | torch.isnan(x)
    return narrow if bool(same.all()) else x


class Reducer:
    """Accumulates chunks of one sample into a :class:`Summary` on the chunks' device.

    No value is sorted: float32 and float64 values are located on the grid in linear time
    (:class:`_GridLocator`) and counted per grid cell; float16 and bfloat16 values are counted
    per bit pattern (65,536 of them) and each pattern placed once.  So the cost per value is a
    handful of elementwise passes, whatever numpy's sort does on the machine.
    """

    def __init__(self, target: Target, device: torch.device | str = "cpu") -> None:
        self.target = target
        self.device = torch.device(device)
        self.grid = torch.from_numpy(target.grid).to(self.device)
        self.cells = torch.zeros(len(target.grid) + 1, dtype=torch.int64, device=self.device)
        self.sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        self.outside = 0
        self.nans = 0
        self.extremes = [math.inf, -math.inf]
        self._locators: dict[torch.dtype, _GridLocator] = {}  # one per values' dtype
        self.n = 0
        self.calls = 0
        self.orthogonality_error: float | None = None
        self.diagonal = [0.0, 0]  # sum of Q_ii / gain, count

    @torch.no_grad()
    def add(self, values: torch.Tensor, calls: int = 0) -> None:
        """Add every value of ``values`` (any shape, float dtype, the reducer's device)."""
        x = _narrowed(values.reshape(-1), self.target.dtype)
        self.n += x.numel()
        self.calls += calls
        if x.numel() == 0:
            return
        if x.dtype in _DISCRETE_DTYPES:
            self._add_patterns(x)
            return
        if x.dtype not in (torch.float32, torch.float64):  # integers, say: counted as float64
            x = x.to(torch.float64)
        if x.dtype not in self._locators:
            self._locators[x.dtype] = _GridLocator(self.grid, x.dtype)
        locator = self._locators[x.dtype]
        for start in range(0, x.numel(), _PIECE):
            piece = x[start : start + _PIECE]
            low, high = torch.stack(torch.aminmax(piece)).tolist()  # NaN if any value is NaN
            if math.isnan(low) or math.isnan(high):
                nan = torch.isnan(piece)
                nans = int(nan.sum())
                self.nans += nans
                self.outside += nans
                piece = piece[~nan]
                if piece.numel() == 0:
                    continue
                low, high = torch.stack(torch.aminmax(piece)).tolist()
            self.cells += torch.bincount(locator.below(piece), minlength=self.cells.numel())
            piece = piece.to(torch.float64)
            dev = piece - self.target.mean if self.target.mean else piece
            self.sums += torch.stack([dev.sum(), torch.dot(dev, dev)])
            self._add_range(low, high, piece, 1)

    def _add_patterns(self, x: torch.Tensor) -> None:
        """float16/bfloat16: count each bit pattern, then place the (at most 65,536) distinct
        values once, each weighted by its count."""
        patterns = x.view(torch.int16).to(torch.int64).bitwise_and_(0xFFFF)
        counts = torch.bincount(patterns, minlength=1 << 16)
        values = _pattern_values(x.dtype).to(x.device)
        nan = torch.isnan(values)
        nans = int(counts[nan].sum())
        self.nans += nans
        self.outside += nans
        seen = (counts > 0) & ~nan
        values, counts = values[seen], counts[seen]
        if values.numel() == 0:
            return
        self.cells.index_add_(0, torch.searchsorted(self.grid, values), counts)
        dev = values - self.target.mean if self.target.mean else values
        weights = counts.to(torch.float64)
        self.sums += torch.stack([torch.dot(dev, weights), torch.dot(dev * dev, weights)])
        low, high = torch.stack(torch.aminmax(values)).tolist()
        self._add_range(low, high, values, counts)

    def _add_range(
        self, low: float, high: float, values: torch.Tensor, weights: torch.Tensor | int
    ) -> None:
        """Record the least and greatest of ``values`` (each counted ``weights`` times), and
        count those outside the support only where the two say some are."""
        self.extremes = [min(self.extremes[0], low), max(self.extremes[1], high)]
        t = self.target
        inside = t.low <= low and high <= t.high if t.closed else t.low < low and high < t.high
        if inside:
            return
        if t.closed:
            outside = (values < t.low) | (values > t.high)
        else:
            outside = (values <= t.low) | (values >= t.high)
        self.outside += int((outside * weights).sum())

    @torch.no_grad()
    def add_orthogonality(self, matrices: torch.Tensor, gain: float) -> None:
        """Record how far each matrix of a ``(k, rows, cols)`` batch is from ``gain`` times a
        (semi-)orthogonal one: ``max |QᵀQ/gain² - I|`` over the smaller Gram matrix."""
        q = matrices.to(torch.float64)
        gram = q.transpose(1, 2) @ q if q.shape[1] >= q.shape[2] else q @ q.transpose(1, 2)
        eye = torch.eye(gram.shape[-1], dtype=torch.float64, device=gram.device)
        error = (gram / gain**2 - eye).abs().amax().item()
        earlier = self.orthogonality_error
        # NaN is kept (max() would drop it): a NaN entry must fail the orthogonality check.
        if earlier is None or math.isnan(error) or error > earlier:
            self.orthogonality_error = error
        diagonal = q.diagonal(dim1=1, dim2=2)
        self.diagonal = [
            self.diagonal[0] + diagonal.sum().item() / gain,
            self.diagonal[1] + diagonal.numel(),
        ]

    def summary(self, sampling_seconds: float = 0.0) -> Summary:
        """The sample so far; ``sampling_seconds``: the time its values took to draw."""
        sum_dev, sum_sq = self.sums.tolist()
        # cells[j] counts values with j grid points below them: those <= g_k have at most k.
        cum = torch.cumsum(self.cells[:-1], 0)
        return Summary(
            n=self.n, cum=cum.cpu().numpy(), sum_dev=sum_dev, sum_sq=sum_sq,
            outside=self.outside, minimum=self.extremes[0], maximum=self.extremes[1],
            calls=self.calls, orthogonality_error=self.orthogonality_error,
            diagonal_sum=self.diagonal[0], diagonal_count=self.diagonal[1], nan=self.nans,
            sampling_seconds=sampling_seconds,
        )  # fmt: skip


# --------------------------------------------------------------------------- tests


@dataclass(frozen=True)
class KSResult:
    """A KS statistic from grid counts: ``statistic`` is ``D_grid``, the true ``D`` lies in
    ``[statistic, statistic + bound]``; ``location`` is the grid point of the largest gap."""

    statistic: float
    p_value: float
    n: int
    bound: float
    location: float


@dataclass(frozen=True)
class VarianceResult:
    """z-test of the sample variance about the target's known mean.

    ``z = (mean((x-μ)²) - σ²) / sqrt((μ4 - σ⁴)/n)``; ``relative_std_error`` is
    ``sqrt(mean((x-μ)²)) / σ - 1``.
    """

    z: float
    p_value: float
    relative_std_error: float


def ks_p_value(statistic: float, n: float) -> float:
    """P(D_n >= statistic) for the two-sided KS statistic of ``n`` observations.

    Exact (scipy's ``kstwo``) up to 20,000 observations, the limit law ``kstwobign`` at
    ``statistic * sqrt(n)`` beyond (larger than the exact value, i.e. conservative, by under
    1.4% down to p = 1e-6, 2.2% at 1e-12).  For two samples ``n`` is ``n_eff`` and the law the
    asymptotic one, as scipy's ``ks_2samp(method="asymp")``.
    """
    from scipy import stats

    n = max(1, round(n))
    if n <= _EXACT_KS_MAX_N:
        return float(stats.kstwo.sf(statistic, n))
    return float(stats.kstwobign.sf(statistic * math.sqrt(n)))


def ks_one_sample(summary: Summary, target: Target) -> KSResult:
    """Grid KS of one sample against the exact target: ``D_grid = max_k |F_n(g_k) - F(g_k)|``."""
    if summary.n == 0:
        raise ValueError("cannot test an empty sample")
    gap = np.abs(summary.cum / summary.n - target.grid_cdf)
    k = int(np.argmax(gap))
    d = float(gap[k])
    return KSResult(
        d, ks_p_value(d, summary.n), summary.n, target.resolution, float(target.grid[k])
    )


def _largest_cell(summary: Summary) -> float:
    cells = np.diff(summary.cum, prepend=0, append=summary.n)
    return float(cells.max()) / summary.n


def ks_two_sample(a: Summary, b: Summary, target: Target) -> KSResult:
    """Grid KS between two samples binned on the same grid; p-value at ``n_eff = n m/(n + m)``."""
    if a.n == 0 or b.n == 0:
        raise ValueError("cannot test an empty sample")
    gap = np.abs(a.cum / a.n - b.cum / b.n)
    k = int(np.argmax(gap))
    d = float(gap[k])
    n_eff = a.n * b.n / (a.n + b.n)
    bound = 0.0 if target.discrete else max(_largest_cell(a), _largest_cell(b))
    return KSResult(d, ks_p_value(d, n_eff), round(n_eff), bound, float(target.grid[k]))


def ks_two_sample_arrays(a: np.ndarray, b: np.ndarray) -> KSResult:
    """Exact two-sample KS of two in-memory samples (``D`` evaluated at every value)."""
    a = np.sort(np.asarray(a, dtype=np.float64).ravel())
    b = np.sort(np.asarray(b, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("cannot test an empty sample")
    points = np.concatenate([a, b])
    gap = np.abs(
        np.searchsorted(a, points, "right") / a.size - np.searchsorted(b, points, "right") / b.size
    )
    k = int(np.argmax(gap))
    n_eff = a.size * b.size / (a.size + b.size)
    return KSResult(
        float(gap[k]), ks_p_value(float(gap[k]), n_eff), round(n_eff), 0.0, float(points[k])
    )


def _two_sided_p(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal Z (0 for a non-finite z)."""
    from scipy import stats

    return float(2.0 * stats.norm.sf(abs(z))) if math.isfinite(z) else 0.0


def variance_test(summary: Summary, target: Target) -> VarianceResult:
    """Two-sided z-test of ``mean((x - μ)²)`` against ``σ²`` (see :class:`VarianceResult`),
    over the non-NaN values (NaNs fail the support check); p = 0 when every value is NaN."""

    if summary.n == 0:
        raise ValueError("cannot test an empty sample")
    n = summary.n - summary.nan
    if n == 0:
        return VarianceResult(math.nan, 0.0, math.nan)
    second = summary.sum_sq / n
    z = (second - target.variance) / math.sqrt((target.fourth - target.variance**2) / n)
    return VarianceResult(z, _two_sided_p(z), math.sqrt(second / target.variance) - 1.0)


@dataclass(frozen=True)
class DiagonalResult:
    """z-test of the mean of orthogonal draws' diagonal entries (see :func:`diagonal_test`);
    ``mean`` is that mean over gain, in units of an entry's stddev ``1 / sqrt(d)``."""

    z: float
    p_value: float
    mean: float
    n: int


def diagonal_test(summary: Summary, target: Target) -> DiagonalResult | None:
    """Two-sided z-test that the diagonal entries of orthogonal draws average 0 (None when no
    diagonal was recorded).

    For a Haar matrix ``E[Q_ij Q_kl] = δ_ik δ_jl / d`` (``d`` its larger side), so the sum of
    ``N`` diagonal entries over gain has mean 0 and variance ``N / d`` exactly: ``z = sum /
    sqrt(N / d)``.  Leaving out Keras's sign fix (multiplying Q's columns by the signs of R's
    diagonal) biases every diagonal entry towards ``-|x_0| / |x|`` (about ``-sqrt(2 / (π d))``),
    so ``z ≈ -0.8 sqrt(N)``: far outside any threshold from a few hundred entries, where the
    pooled entries' KS, in which only the diagonal moves, misses it on large matrices.
    """

    count, d = summary.diagonal_count, target.standard.dim
    if not count or not d:
        return None
    z = summary.diagonal_sum / math.sqrt(count / d)
    return DiagonalResult(z, _two_sided_p(z), summary.diagonal_sum / count * math.sqrt(d), count)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: reject ``p_i`` at family-wise level ``alpha`` iff adjusted <= alpha.

    ``adj(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` over the ascending order ``p_(j)``.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def detectable_std_error(n: int, kurtosis: float, alpha: float, power: float = 0.9) -> float:
    """Smallest relative stddev error ``δ`` the variance z-test detects with ``power``.

    A stddev ``σ(1 + δ)`` moves ``E[(x-μ)²]`` by about ``2δσ²``; the test at two-sided level
    ``alpha`` sees it with that power when
    ``2δ >= (z_{1-alpha/2} + z_power) · sqrt((kurtosis - 1) / n)``.
    """
    from scipy import stats

    z = stats.norm.isf(alpha / 2.0) + stats.norm.ppf(power)
    return float(z * math.sqrt((kurtosis - 1.0) / n) / 2.0)
