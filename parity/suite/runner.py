"""The case matrix and how one case runs.

A case is one initializer on one weight shape (torch layout), dtype and device.  It draws ``n``
torch values by calling the library's initializer over and over on that shape, and ``n`` values
from each reference source on the Keras-layout shape of the same weight, bins both on the exact
target's grid, and runs, per side: a one-sample KS test against the exact distribution, a
variance z-test and a support check (orthogonality too, for orthogonal); and per reference: a
two-sample KS test torch vs reference.  Holm's correction then runs over every p-value of the
run at the family-wise ``alpha``.
"""

from __future__ import annotations

import fnmatch
import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import parity
from parity.fans import keras_shape
from parity.initializers import FAMILIES, FORMS
from parity.samplers import Orthogonal
from parity.suite import stats
from parity.suite.stats import CHUNK_VALUES, GridCache, Reducer, Summary, Target

# Calls per side on shapes too small to reach n (a (1, 1) weight gives one value per call).
DEFAULT_MAX_CALLS = 25_000

SHAPES: dict[str, tuple[tuple[int, ...], str]] = {
    "dense": ((256, 128), "nn.Linear(128, 256) ↔ Dense(256) kernel (128, 256)"),
    "conv1d": ((64, 32, 5), "nn.Conv1d(32, 64, 5) ↔ Conv1D kernel (5, 32, 64)"),
    "conv2d": ((64, 32, 3, 3), "nn.Conv2d(32, 64, 3) ↔ Conv2D kernel (3, 3, 32, 64)"),
    "conv3d": ((16, 8, 3, 3, 3), "nn.Conv3d(8, 16, 3) ↔ Conv3D kernel (3, 3, 3, 8, 16)"),
    "conv_transpose2d": (
        (32, 64, 4, 4),
        "nn.ConvTranspose2d(32, 64, 4) ↔ Conv2DTranspose kernel (4, 4, 64, 32)",
    ),
    "grouped_conv2d": (
        (64, 8, 3, 3),
        "nn.Conv2d(32, 64, 3, groups=4) ↔ Conv2D(groups=4) kernel (3, 3, 8, 64)",
    ),
    "lstm_recurrent": (
        (256, 64),
        "nn.LSTM(·, 64).weight_hh_l0 ↔ LSTM recurrent kernel (64, 256)",
    ),
    "dense_large": (
        (512, 256),
        "nn.Linear(256, 512) ↔ Dense(512) kernel (256, 512): 128K values, where orthogonal_ "
        "builds Q in place",
    ),
    "tiny": ((1, 1), "a 1 x 1 weight: fans clamp to max(1, ·)"),
    "bias": ((64,), "a rank-1 weight: fan_in = fan_out = 64"),
}
_FAN_SHAPES = (
    "dense", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "grouped_conv2d", "tiny", "bias",
)  # fmt: skip

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
DEFAULT_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class InitSpec:
    """One initializer of the matrix: our function, the Keras identifier it ports, its shapes."""

    name: str
    function: Callable[..., torch.Tensor]
    identifier: Any
    shapes: tuple[str, ...]


# Fewest values per side a case's tests may run on: the two-sample KS p-value (Kolmogorov's
# law at n_eff = n m / (n + m)) rejects correct pairs far too often below about 5 values each
# (measured: 100% at 1, 33% at 2, 10% at 3 against the nominal 1%), and check()'s one-sample
# variance test, a normal approximation, too often at small n (2.3% of 3000 seeds at n = 1,
# 1.8% at 10, 0.67% at 100, against alpha = 1%).
MIN_VALUES = 100


def initializer_specs() -> list[InitSpec]:
    """The nine family × form initializers, random_normal_, random_uniform_,
    truncated_normal_ and orthogonal_."""
    specs = []
    for family, (scale, mode) in FAMILIES.items():
        for form, distribution in FORMS.items():
            name = f"{family}_{form}"
            identifier: Any = name
            if form == "untruncated_normal":  # Keras has no named one: its VarianceScaling config
                identifier = {
                    "class_name": "VarianceScaling",
                    "config": {"scale": scale, "mode": mode, "distribution": distribution},
                }
            specs.append(InitSpec(name, getattr(parity, f"{name}_"), identifier, _FAN_SHAPES))
    for name in ("random_normal", "random_uniform", "truncated_normal"):
        specs.append(InitSpec(name, getattr(parity, f"{name}_"), name, ("dense",)))
    orthogonal_shapes = ("dense", "lstm_recurrent", "conv2d", "dense_large")
    specs.append(InitSpec("orthogonal", parity.orthogonal_, "orthogonal", orthogonal_shapes))
    return specs


@dataclass(frozen=True)
class Case:
    spec: InitSpec
    shape_name: str
    dtype: torch.dtype
    device: str

    @property
    def shape(self) -> tuple[int, ...]:
        return SHAPES[self.shape_name][0]

    @property
    def keras_shape(self) -> tuple[int, ...]:
        return keras_shape(self.shape)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def name(self) -> str:
        return f"{self.spec.name}/{self.shape_name}/{self.dtype_name}/{self.device}"


def default_devices() -> list[str]:
    """``cpu``, and ``cuda`` where torch sees a GPU."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(name, f"{p}/*") for p in patterns
    )


def check_devices(devices: Sequence[str]) -> list[str]:
    """``devices`` as a list, each ``cpu`` or ``cuda`` (with a CUDA device present)."""
    for device in devices:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}; valid devices: cpu, cuda")
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    return list(devices)


def _has_reference(case: Case) -> bool:
    """TensorFlow has no bfloat16 QR, so Keras cannot draw a bfloat16 orthogonal reference."""
    return not (case.spec.name == "orthogonal" and case.dtype == torch.bfloat16)


def build_cases(
    patterns: Sequence[str] | None = None,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    devices: Sequence[str] | None = None,
) -> list[Case]:
    """The matrix, filtered by glob ``patterns`` on case names (``init/shape/dtype/device``;
    a pattern also selects every case below it, so ``he_normal`` or ``*/conv2d`` work)."""
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype {unknown[0]!r}; valid dtypes: {', '.join(DTYPES)}")
    devices = check_devices(devices) if devices is not None else default_devices()
    every = [
        Case(spec, shape, DTYPES[dtype], device)
        for spec in initializer_specs()
        for shape in spec.shapes
        for dtype in dtypes
        for device in devices
    ]
    cases = [case for case in every if _has_reference(case)]
    if patterns:
        selected = [case for case in cases if _matches(case.name, patterns)]
        if not selected:
            examples = ", ".join(case.name for case in cases[:3])
            excluded = ""
            if any(_matches(c.name, patterns) for c in every if not _has_reference(c)):
                excluded = " (there is no bfloat16 orthogonal case: TensorFlow has no bfloat16 QR)"
            raise ValueError(
                f"no case matches {', '.join(patterns)}{excluded}; case names look like "
                f"{examples} (python -m parity --list prints them all)"
            )
        return selected
    if not cases:
        raise ValueError("the selection is empty: give at least one dtype and one device")
    return cases


def case_seed(seed: int, text: str) -> int:
    """A fixed seed per (run seed, case): a case draws the same values whatever the selection
    (its verdict can still change with it: Holm's correction spans the run's tests)."""
    return zlib.crc32(f"{seed}:{text}".encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- sampling


@torch.no_grad()
def sample_summary(
    function: Callable[..., Any],
    shape: Sequence[int],
    target: Target,
    n: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    max_calls: int = DEFAULT_MAX_CALLS,
    orthogonal: Orthogonal | None = None,
) -> Summary:
    """Call ``function(weight, generator=g)`` on fresh ``shape`` weights until ``n`` values
    (or ``max_calls`` calls) and reduce them.  Weights start as NaN, so a value the function
    leaves unwritten counts as outside the support.  The time of the loop of calls (the
    loop's own share is about 1.5 µs per call, taking each weight's view) is the summary's
    ``sampling_seconds``."""
    shape = tuple(shape)
    numel = math.prod(shape)
    calls = max(1, min(math.ceil(n / numel), max_calls))
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    reducer = Reducer(target, device)
    per_chunk = min(calls, max(1, CHUNK_VALUES // numel))
    buffer = torch.empty((per_chunk, *shape), dtype=dtype, device=device)  # reused: no page faults
    done, sampling = 0, 0.0
    while done < calls:
        k = min(per_chunk, calls - done)
        weights = buffer[:k].fill_(math.nan)
        _synchronize(device)  # on a GPU, the clock must not count the fill's kernel
        start = time.perf_counter()
        for i in range(k):
            function(weights[i], generator=generator)
        _synchronize(device)
        sampling += time.perf_counter() - start
        if orthogonal is not None:
            matrices = weights.view(k, orthogonal.rows, orthogonal.cols)
            reducer.add_orthogonality(matrices, orthogonal.gain)
        reducer.add(weights, calls=k)
        done += k
    return reducer.summary(sampling_seconds=sampling)


def _synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- results


@dataclass
class TestEntry:
    """One p-value of the run; ``p_holm`` and ``passed`` are set by Holm over the run."""

    test: str
    side: str
    statistic: float
    p_value: float
    n: int
    bound: float = 0.0
    location: float = math.nan
    p_holm: float = math.nan
    passed: bool | None = None


@dataclass
class CheckEntry:
    """An exact check (no statistics): ``value`` must not exceed ``limit``."""

    check: str
    side: str
    value: float
    limit: float

    @property
    def passed(self) -> bool:
        return self.value <= self.limit


@dataclass
class CaseResult:
    name: str
    initializer: str
    identifier: Any
    shape_name: str
    torch_shape: tuple[int, ...]
    keras_shape: tuple[int, ...]
    dtype: str
    device: str
    target: Target | None = None
    torch: Summary | None = None
    references: dict[str, Summary] = field(default_factory=dict)
    tests: list[TestEntry] = field(default_factory=list)
    checks: list[CheckEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    detectable_std_error: float = math.nan
    seconds: float = 0.0
    # Per side, the time spent drawing values in this case (a reference shared by several
    # cases counts in the case that drew it).
    sampling_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def testing_seconds(self) -> float:
        """Everything but sampling: binning, moments, tests, buffers."""
        return max(0.0, self.seconds - sum(self.sampling_seconds.values()))

    @property
    def passed(self) -> bool:
        return (
            not self.errors
            and all(t.passed for t in self.tests)
            and all(c.passed for c in self.checks)
        )

    @property
    def min_p_holm(self) -> float:
        return min((t.p_holm for t in self.tests), default=math.nan)


@dataclass
class LayerResult:
    name: str
    n_torch: int
    n_keras: int
    test: TestEntry


@dataclass
class RunResult:
    cases: list[CaseResult]
    layers: list[LayerResult]
    alpha: float
    n: int
    seed: int
    max_calls: int
    sources: list[str]
    notes: list[str]
    versions: dict[str, str]
    seconds: float = 0.0

    @property
    def tests(self) -> list[TestEntry]:
        return [t for c in self.cases for t in c.tests] + [layer.test for layer in self.layers]

    @property
    def family_size(self) -> int:
        return len(self.tests)

    @property
    def worst_case_alpha(self) -> float:
        """The smallest per-test level Holm can demand: alpha / m."""
        return self.alpha / max(1, self.family_size)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases) and all(layer.test.passed for layer in self.layers)

    def time_split(self) -> dict[str, Any]:
        """Where the cases' time went: ``sampling`` per side, ``testing`` (binning, moments,
        tests), their sum ``cases``, and ``sampling_share`` of it."""
        sampling: dict[str, float] = {}
        for case in self.cases:
            for side, seconds in case.sampling_seconds.items():
                sampling[side] = sampling.get(side, 0.0) + seconds
        testing = sum(case.testing_seconds for case in self.cases)
        total = sum(sampling.values()) + testing
        return {
            "sampling": sampling,
            "testing": testing,
            "cases": total,
            "sampling_share": sum(sampling.values()) / total if total else math.nan,
        }

    def detectable(self) -> dict[str, float]:
        """Per target law, the smallest relative stddev error the variance test detects with
        power 0.9 at the Holm worst-case level in every case of that law, each at the n it
        drew (which ``max_calls`` may hold below the requested n)."""
        found: dict[str, float] = {}
        for case in self.cases:
            if case.target is None or not math.isfinite(case.detectable_std_error):
                continue
            law = case.target.standard.key.split(":")[0]
            found[law] = max(found.get(law, 0.0), case.detectable_std_error)
        return found

    def smallest_n(self, test: str) -> int | None:
        """The fewest observations any ``test`` of the run had (``n_eff`` for the
        two-sample KS), or None if it did not run."""
        return min((t.n for t in self.tests if t.test == test), default=None)


def apply_holm(tests: Sequence[TestEntry], alpha: float) -> None:
    """Set ``p_holm`` and ``passed`` on every test of the family."""
    for test, adjusted in zip(tests, stats.holm([t.p_value for t in tests]), strict=True):
        test.p_holm = adjusted
        test.passed = adjusted > alpha


# --------------------------------------------------------------------------- one case


def _same_law(a: Any, b: Any) -> bool:
    """Two ``describe`` results with the same value distribution (orthogonal: transposes)."""
    if isinstance(a, Orthogonal) and isinstance(b, Orthogonal):
        return {a.rows, a.cols} == {b.rows, b.cols} and math.isclose(a.gain, b.gain)
    return type(a) is type(b) and all(
        math.isclose(x, y, rel_tol=1e-12)
        for x, y in zip(vars(a).values(), vars(b).values(), strict=True)
    )


def _side_tests(result: CaseResult, side: str, summary: Summary, target: Target) -> None:
    ks = stats.ks_one_sample(summary, target)
    result.tests.append(
        TestEntry("ks_exact", side, ks.statistic, ks.p_value, ks.n, ks.bound, ks.location)
    )
    if not target.standard.dim:
        # An orthogonal matrix's mean square is exactly gain²/d: a variance test there could
        # not fail, and would only widen Holm's family.  Orthogonality is checked exactly.
        var = stats.variance_test(summary, target)
        result.tests.append(TestEntry("variance", side, var.z, var.p_value, summary.n))
    result.checks.append(CheckEntry("support", side, summary.outside, 0))
    if summary.orthogonality_error is not None:
        limit = stats.orthogonality_tolerance(target.standard.dim, target.dtype)
        result.checks.append(CheckEntry("orthogonality", side, summary.orthogonality_error, limit))
    diagonal = stats.diagonal_test(summary, target)
    if diagonal is not None:
        result.tests.append(TestEntry("diagonal", side, diagonal.z, diagonal.p_value, diagonal.n))


def run_case(
    case: Case,
    *,
    n: int,
    seed: int,
    sources: Sequence[Any],
    grids: GridCache,
    max_calls: int = DEFAULT_MAX_CALLS,
    reference_cache: dict[tuple[str, str], Summary] | None = None,
) -> CaseResult:
    """Run one case (every statistic but Holm, which needs the whole run)."""
    from parity.suite.references import reference_key

    start = time.perf_counter()
    identifier = case.spec.identifier
    result = CaseResult(
        case.name, case.spec.name, identifier, case.shape_name, case.shape, case.keras_shape,
        case.dtype_name, case.device,
    )  # fmt: skip
    try:
        law = parity.describe(identifier, case.shape)
        if not _same_law(law, parity.describe(identifier, case.keras_shape, layout="keras")):
            result.errors.append("the torch-layout and Keras-layout targets differ")
        target = stats.make_target(law, case.dtype, grids=grids)
        result.target = target
        orthogonal = law if isinstance(law, Orthogonal) else None
        result.torch = sample_summary(
            case.spec.function, case.shape, target, n, device=case.device, dtype=case.dtype,
            seed=case_seed(seed, case.name), max_calls=max_calls, orthogonal=orthogonal,
        )  # fmt: skip
        result.sampling_seconds["torch"] = result.torch.sampling_seconds
        if result.torch.n < MIN_VALUES:
            raise ValueError(
                f"only {result.torch.n} values drawn (--max-calls {max_calls}); the tests need "
                f"at least {MIN_VALUES} per side"
            )
        _side_tests(result, "torch", result.torch, target)
    except Exception as error:  # a broken case is reported, the run goes on
        result.errors.append(f"torch side: {type(error).__name__}: {error}")
        result.seconds = time.perf_counter() - start
        return result
    cache = reference_cache if reference_cache is not None else {}
    key = reference_key(identifier, case.keras_shape, case.dtype)
    for source in sources:
        tested, checked = len(result.tests), len(result.checks)
        try:
            if (source.name, key) not in cache:
                cache[source.name, key] = source.summary(
                    identifier, case.keras_shape, target, n,
                    seed=case_seed(seed, f"{source.name}|{key}"), max_calls=max_calls,
                )  # fmt: skip
                result.sampling_seconds[source.name] = cache[source.name, key].sampling_seconds
            summary = cache[source.name, key]
            _side_tests(result, source.name, summary, target)
            ks = stats.ks_two_sample(result.torch, summary, target)
        except Exception as error:  # a broken reference fails this case, the run goes on
            del result.tests[tested:], result.checks[checked:]
            result.errors.append(f"{source.name}: {type(error).__name__}: {error}")
            continue
        result.references[source.name] = summary
        result.tests.append(
            TestEntry(
                "ks_two_sample", source.name, ks.statistic, ks.p_value, ks.n, ks.bound, ks.location
            )
        )
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------- layers


class LayersUnavailable(RuntimeError):
    """--layers was asked for but parity/suite/layers.py is not installed."""


def layers_available() -> bool:
    """Whether ``parity.suite.layers`` (the keras_init_ layer comparison) is installed."""
    try:
        from parity.suite import layers  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name != "parity.suite.layers":
            raise
        return False
    return True


def run_layers(n: int, seed: int) -> list[LayerResult]:
    """Two-sample KS of each Keras layer weight against the torch layer after
    ``parity.keras_init_``, from ``parity.suite.layers.layer_samples``."""
    try:
        from parity.suite import layers
    except ModuleNotFoundError as error:
        if error.name != "parity.suite.layers":
            raise
        raise LayersUnavailable(
            "--layers compares Keras layers with torch layers after parity.keras_init_ and "
            "needs parity/suite/layers.py (layer_samples), which this installation does not have"
        ) from error
    results = []
    for sample in layers.layer_samples(n, seed):
        torch_values = np.asarray(sample.torch, dtype=np.float64)
        keras_values = np.asarray(sample.keras, dtype=np.float64)
        ks = stats.ks_two_sample_arrays(torch_values, keras_values)
        test = TestEntry(
            "ks_two_sample", "keras layer", ks.statistic, ks.p_value, ks.n, 0.0, ks.location
        )
        results.append(LayerResult(sample.name, torch_values.size, keras_values.size, test))
    return results


# --------------------------------------------------------------------------- a run


def run(
    cases: Sequence[Case],
    *,
    n: int,
    seed: int = 0,
    alpha: float = 0.01,
    sources: Sequence[Any] = (),
    grids: GridCache | None = None,
    max_calls: int = DEFAULT_MAX_CALLS,
    layers: bool = False,
    notes: Sequence[str] = (),
    versions: dict[str, str] | None = None,
    on_case: Callable[[CaseResult], None] | None = None,
) -> RunResult:
    """Run ``cases`` (and the layer section), then Holm over every p-value at ``alpha``."""
    start = time.perf_counter()
    # The exact laws come from scipy.stats, about a second to import: imported before the first
    # case's clock starts, so that the report's sampling/testing split is the cases' own.
    import scipy.stats  # noqa: F401

    grids = grids or GridCache()
    cache: dict[tuple[str, str], Summary] = {}
    results = []
    for case in cases:
        results.append(
            run_case(
                case, n=n, seed=seed, sources=sources, grids=grids, max_calls=max_calls,
                reference_cache=cache,
            )
        )  # fmt: skip
        if on_case is not None:
            on_case(results[-1])
    layer_results = run_layers(n, seed) if layers else []
    outcome = RunResult(
        results, layer_results, alpha, n, seed, max_calls, [s.name for s in sources],
        list(notes), dict(versions or {}),
    )  # fmt: skip
    apply_holm(outcome.tests, alpha)
    for case in results:
        variance = any(t.test == "variance" for t in case.tests)
        if case.target is not None and case.torch is not None and variance:
            case.detectable_std_error = stats.detectable_std_error(
                case.torch.n, case.target.kurtosis, outcome.worst_case_alpha
            )
    outcome.seconds = time.perf_counter() - start
    return outcome
