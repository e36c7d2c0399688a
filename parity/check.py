"""``parity.check``: does an init function draw from the distribution Keras gives a weight?

Point it at any in-place init callable — ours, ``torch.nn.init``'s, or your own port — and a
Keras identifier.  It draws ``n`` values by calling the function on fresh weights of ``shape``
and tests them against the exact distribution Keras's initializer has on that weight (from
:func:`parity.describe`, which the parity suite checks against TensorFlow itself): a one-sample
KS test, a z-test of the variance, an exact support check and, for orthogonal, an exact
orthogonality check and a z-test that the diagonal entries average 0 (a missing sign fix).
scipy is needed (``pip install keras-parity[suite]``); TensorFlow is not.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from parity.fans import FLOAT_DTYPE_NAMES, FLOAT_DTYPES, as_int, check_shape, takes_keyword

_IGNORED = ("seed",)  # the seed does not change the distribution


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found.  ``str(result)`` is :attr:`summary`.

    Attributes:
        passed: every check passed (KS, variance and, for orthogonal, the diagonal's mean at
            family-wise ``alpha`` by Holm, no value outside the support, orthogonality within
            rounding).
        ks_statistic: the one-sample KS distance to the exact distribution.
        p_value: the KS test's p-value (before Holm).
        out_of_support: values outside the support (NaN and unwritten values included).
        n: values drawn.
        variance_z, variance_p_value: the variance z-test (computed, not tested, for
            orthogonal: a scaled orthogonal matrix's mean square is exact).
        relative_std_error: ``sqrt(mean((x - μ)²)) / σ - 1``.
        orthogonality_error: ``max |QᵀQ/gain² - I|`` over the drawn matrices (orthogonal only).
        failures: why it failed, one line each (empty when it passed).
        failed_checks: which checks failed: ``"ks"``, ``"variance"``, ``"support"``,
            ``"orthogonality"``, ``"diagonal"``, ``"independence"`` (every one of 8 calls
            with one generator gave the same weight).
        notes: what does not fail the check but limits it (the candidate ignores the
            generator, so the verdict cannot be reproduced).
    """

    passed: bool
    ks_statistic: float
    p_value: float
    out_of_support: int
    n: int
    variance_z: float
    variance_p_value: float
    relative_std_error: float
    orthogonality_error: float | None
    target: str
    support: str
    candidate: str
    reference: str
    shape: tuple[int, ...]
    dtype: str
    device: str
    alpha: float
    failures: tuple[str, ...]
    failed_checks: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """A readable paragraph: verdict, what was compared, every number, and why it failed."""
        head = "PASS" if self.passed else "FAIL"
        lines = [
            f"{head}: {self.candidate} vs Keras {self.reference} on shape {self.shape} "
            f"({self.dtype}, {self.device}), n = {self.n:,}",
            f"  target: {self.target}",
            f"  KS distance {self.ks_statistic:.5f}, p = {self.p_value:.3g}",
            "  stddev: none (every value is NaN)"
            if math.isnan(self.relative_std_error)
            else f"  stddev {self.relative_std_error:+.3%} off the target's "
            + (
                "(exact for orthogonal matrices: not tested)"
                if self.orthogonality_error is not None
                else f"(z = {self.variance_z:.2f}, p = {self.variance_p_value:.3g})"
            ),
            f"  values outside the support {self.support}: {self.out_of_support:,}",
        ]
        if self.orthogonality_error is not None:
            lines.append(f"  orthogonality: max |QᵀQ/gain² - I| = {self.orthogonality_error:.3g}")
        lines += [f"  failed: {reason}" for reason in self.failures]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary


def _reference_identifier(reference: Any) -> tuple[Any, str]:
    """A parity identifier and a label for a Keras identifier, config or initializer object."""
    from parity.initializers import Initializer, keras_object_config

    if isinstance(reference, str):
        return reference, repr(reference)
    if isinstance(reference, Initializer):
        return reference, f"{reference.name}({dict(reference.config)})"
    if isinstance(reference, Mapping):
        config = {k: v for k, v in dict(reference.get("config") or {}).items() if k not in _IGNORED}
        return {**reference, "config": config}, str(reference.get("class_name", reference))
    keras_config = keras_object_config(reference)
    if keras_config is not None:
        config = {k: v for k, v in keras_config["config"].items() if k not in _IGNORED}
        name = keras_config["class_name"]
        return {"class_name": name, "config": config}, f"{name}({config})"
    raise TypeError(
        "reference must be a Keras identifier (e.g. 'he_normal'), a Keras config dict "
        "({'class_name': ..., 'config': ...}) or a Keras initializer object, "
        f"got {type(reference).__name__}"
    )


def _check_arguments(
    candidate: Any, shape: Any, n: Any, alpha: Any, dtype: Any, max_calls: Any, seed: Any
) -> tuple[tuple[int, ...], int, int, int]:
    if not callable(candidate):
        raise TypeError(
            f"candidate must be an in-place init function taking (tensor, generator=...), "
            f"got {type(candidate).__name__}"
        )
    from parity.suite.runner import MIN_VALUES

    dims = check_shape(shape, minimum=1)
    counts = []
    for name, value in (("n", n), ("max_calls", max_calls)):
        count = as_int(value)
        if count is None:
            raise TypeError(f"{name} must be an int, got {value!r}")
        if count < 1:
            raise ValueError(f"{name} must be >= 1, got {count}")
        counts.append(count)
    if counts[0] < MIN_VALUES:
        raise ValueError(
            f"n must be at least {MIN_VALUES}: below it the tests' large-sample p-values raise "
            f"false alarms more often than alpha says; got {counts[0]}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    seed_value = as_int(seed)
    if seed_value is None:
        raise TypeError(f"seed must be an int (it seeds a torch.Generator), got {seed!r}")
    if not -(2**63) <= seed_value < 2**64:  # what torch.Generator.manual_seed takes
        raise ValueError(f"seed must be an int in [-2**63, 2**64), got {seed!r}")
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be a torch dtype among {FLOAT_DTYPE_NAMES}, got {dtype!r}")
    return dims, counts[0], counts[1], seed_value


def _check_device(device: Any) -> torch.device:
    """The device to draw on: one torch has a random generator for (the CPU, CUDA, ...)."""
    if isinstance(device, bool) or not isinstance(device, (str, torch.device, int)):
        raise TypeError(f"device must be a str, torch.device or CUDA index, got {device!r}")
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    try:
        torch.Generator(device=device)
    except RuntimeError as error:
        raise ValueError(
            f"check() draws on {device}, where torch has no random generator; use 'cpu' or 'cuda'"
        ) from error
    return device


def _label(function: Callable) -> str:
    module = getattr(function, "__module__", None) or ""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if name is None:
        return repr(function)
    return f"{module}.{name}" if module and not module.startswith("parity") else name


def check(
    candidate: Callable[..., Any],
    reference: Any,
    shape: Sequence[int],
    *,
    n: int = 1_000_000,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    alpha: float = 0.01,
    seed: int = 0,
    max_calls: int = 100_000,
) -> CheckResult:
    """Test whether ``candidate`` initializes a ``shape`` weight the way Keras's ``reference``
    does.

    ``candidate(w, generator=g)`` is called on fresh ``shape`` weights (torch layout, filled
    with NaN first, so unwritten values fail) until ``n`` values (at most ``max_calls`` calls).
    They are tested against the exact Keras distribution of that weight: KS distance
    ``D = sup |F_n - F|`` and ``z = (mean((x-μ)²) - σ²) / sqrt((μ4 - σ⁴)/n)``, Holm-corrected
    at family-wise ``alpha``; no value may lie outside the support.  The values are tested
    pooled; the candidate also fails if 8 calls with one generator give the same weight (it
    reseeds), and a note says if it ignores the generator.  In float16/bfloat16 the target is
    the float32 law rounded to nearest, as parity draws it (TensorFlow's own half-precision
    draws follow coarser laws and fail here).

    Args:
        candidate: an in-place init function taking ``(tensor, generator=...)``.
        reference: a Keras identifier (``"he_normal"``), config dict, or Keras initializer.
        shape: the weight's shape in torch layout (e.g. ``(64, 3, 3, 3)`` for a Conv2d).
        n: values to draw (default 10^6: a relative stddev error of about 0.5% is caught; at
            least 100, below which the tests' p-values are too low).
        device, dtype: where and in which precision to draw.
        alpha: the family-wise false-alarm rate.
        seed: seeds the ``torch.Generator`` passed to ``candidate``.
        max_calls: cap on calls for tiny shapes (``result.n`` says how many values were drawn).

    Example:
        >>> parity.check(torch.nn.init.kaiming_normal_, "he_normal", (64, 3, 3, 3)).passed
        False
    """
    from parity.initializers import describe
    from parity.samplers import Orthogonal
    from parity.suite import stats
    from parity.suite.runner import MIN_VALUES, sample_summary

    dims, n, max_calls, seed = _check_arguments(candidate, shape, n, alpha, dtype, max_calls, seed)
    identifier, reference_label = _reference_identifier(reference)
    law = describe(identifier, dims)
    target = stats.make_target(law, dtype)
    device = _check_device(device)
    orthogonal = law if isinstance(law, Orthogonal) else None
    if takes_keyword(candidate, "generator") is False:  # unreadable: the call will say
        raise TypeError(
            f"candidate {_label(candidate)} must accept a generator= keyword (as torch.nn.init "
            "functions do): check() draws from a seeded generator so that its verdict can be "
            "reproduced"
        )
    summary = sample_summary(
        candidate, dims, target, n, device=device, dtype=dtype, seed=seed,
        max_calls=max_calls, orthogonal=orthogonal,
    )  # fmt: skip
    if summary.n < MIN_VALUES:
        raise ValueError(
            f"only {summary.n} values were drawn in max_calls = {max_calls} calls of a {dims} "
            f"weight; the tests need at least {MIN_VALUES}: raise max_calls"
        )
    repeats, reproducible = _generator_use(candidate, dims, device, dtype, seed)
    ks = stats.ks_one_sample(summary, target)
    var = stats.variance_test(summary, target)
    diagonal = stats.diagonal_test(summary, target)
    # An orthogonal matrix's mean square is exactly gain²/d: no variance test there.
    tested = {"ks": ks.p_value}
    if orthogonal is None and summary.n > summary.nan:  # all NaN: the support check says so
        tested["variance"] = var.p_value
    if diagonal is not None:
        tested["diagonal"] = diagonal.p_value
    adjusted = dict(zip(tested, stats.holm(list(tested.values())), strict=True))
    interval = "[{:.6g}, {:.6g}]" if target.closed else "({:.6g}, {:.6g})"
    support = interval.format(target.low, target.high)
    failures: dict[str, str] = {}
    if adjusted["ks"] <= alpha:
        failures["ks"] = (
            f"the values are not distributed like the target (KS D = {ks.statistic:.5f}, "
            f"Holm-adjusted p = {adjusted['ks']:.3g} <= alpha = {alpha})"
        )
    if adjusted.get("variance", 1.0) <= alpha:
        failures["variance"] = (
            f"the stddev is {var.relative_std_error:+.3%} off the target's "
            f"(Holm-adjusted p = {adjusted['variance']:.3g} <= alpha = {alpha})"
        )
    if diagonal is not None and adjusted["diagonal"] <= alpha:
        failures["diagonal"] = (
            f"the diagonal entries average {diagonal.mean:+.3g} entry stddevs, not 0 (a missing "
            f"sign fix?): z = {diagonal.z:.3g}, Holm-adjusted p = {adjusted['diagonal']:.3g} <= "
            f"alpha = {alpha}"
        )
    if summary.outside:
        reasons = []
        if summary.outside > summary.nan:
            reasons.append(
                f"{summary.outside - summary.nan:,} values lie outside the support {support}"
            )
        if summary.nan:
            reasons.append(
                f"{summary.nan:,} values are NaN: written as NaN, or never written (each weight "
                "starts as NaN; the candidate must fill the tensor it is given, in place)"
            )
        failures["support"] = "; ".join(reasons)
    if repeats:
        failures["independence"] = (
            f"{_REPEATS} calls with one generator gave identical weights (does the candidate "
            "reseed?): Keras draws every weight afresh"
        )
    notes = ()
    if not reproducible:
        notes = (
            "two generators seeded alike gave different weights: the candidate draws from "
            "something else (torch's global generator?), so this verdict cannot be reproduced",
        )
    orth_error = summary.orthogonality_error
    if orth_error is not None:
        limit = stats.orthogonality_tolerance(target.standard.dim, dtype)
        if not orth_error <= limit:
            failures["orthogonality"] = (
                f"the matrices are not orthogonal: max |QᵀQ/gain² - I| = {orth_error:.3g} > "
                f"{limit:.3g}"
            )
    return CheckResult(
        passed=not failures, ks_statistic=ks.statistic, p_value=ks.p_value,
        out_of_support=summary.outside, n=summary.n, variance_z=var.z,
        variance_p_value=var.p_value, relative_std_error=var.relative_std_error,
        orthogonality_error=orth_error, target=target.label, support=support,
        candidate=_label(candidate), reference=reference_label, shape=dims,
        dtype=str(dtype).removeprefix("torch."), device=str(device), alpha=float(alpha),
        failures=tuple(failures.values()), failed_checks=tuple(failures), notes=notes,
    )  # fmt: skip


# Calls with one generator that must not all give the same weight: for a one-value bfloat16
# uniform weight (128 values per unit) a correct candidate repeats with odds 128^-(k-1).
_REPEATS = 8


@torch.no_grad()
def _generator_use(
    candidate: Callable[..., Any],
    dims: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype,
    seed: int,
) -> tuple[bool, bool]:
    """Whether ``candidate`` gives one weight ``_REPEATS`` times from one generator, and
    whether two generators seeded alike give it the same first weight."""

    def draw(generator: torch.Generator) -> torch.Tensor:
        weight = torch.full(dims, math.nan, dtype=dtype, device=device)
        candidate(weight, generator=generator)
        return weight

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:  # unwritten (NaN) values alike too
        return bool(
            torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
        )

    generator = torch.Generator(device=device).manual_seed(seed)
    first = draw(generator)
    written = not bool(first.isnan().all())  # writing nothing fails the support check alone
    repeats = written and all(same(draw(generator), first) for _ in range(_REPEATS - 1))
    return repeats, same(draw(torch.Generator(device=device).manual_seed(seed)), first)
