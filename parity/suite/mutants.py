"""A zoo of known-wrong initializers the suite must flag.

Each mutant is an in-place init ``fn(tensor, generator=...)`` impersonating a Keras identifier
on a shape where it is wrong — the mistakes ports of Keras models actually make.  The zoo run
checks every mutant and the library's own initializer for the same identifier and shape with
:func:`parity.check`; every mutant must fail and every library initializer must pass.

The subtlest one, Keras 3's torch-backend truncated normal, keeps the first of 4 normal draws
inside (-2σ, 2σ) and, when all 4 fall outside, keeps the first anyway: a value outside the
support with probability ``p = (2Φ(-2))^4 = 4.29e-6`` (one in 233,000).  Only the support
check sees it; ``n`` values miss every such value with probability ``(1 - p)^n ≈ exp(-n p)``,
so the zoo draws ``n = 4·10^6`` for it: ``exp(-17.1) = 3.6e-8``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

import parity
from parity.fans import compute_fans
from parity.samplers import TRUNCATED_NORMAL_STD, TruncatedNormal

DENSE = (256, 128)  # nn.Linear(128, 256)
CONV2D = (64, 32, 3, 3)  # nn.Conv2d(32, 64, 3)
LARGE_DENSE = (512, 256)  # nn.Linear(256, 512)
# n for mutants that change the law grossly: KS, variance or support flag them with
# p-values far below any alpha (their KS distance is >= 0.017, about 8x the critical value).
GROSS_N = 200_000
# n for the leaking sampler: it is missed with probability exp(-17.1) = 3.6e-8.
LEAK_N = 4_000_000


def leak_probability() -> float:
    """Per value, the chance that Keras's torch-backend truncated normal leaves the support."""
    outside = math.erfc(2.0 / math.sqrt(2.0))  # P(|Z| >= 2) = 2Φ(-2)
    return outside**4


def miss_probability(n: int) -> float:
    """Chance that ``n`` draws of the leaking sampler contain no value outside the support."""
    return math.exp(n * math.log1p(-leak_probability()))


@dataclass(frozen=True)
class Mutant:
    """A wrong initializer: ``function`` impersonates ``identifier`` on ``shape``."""

    name: str
    description: str
    function: Callable[..., torch.Tensor]
    identifier: Any
    shape: tuple[int, ...]
    n: int = GROSS_N


def _he_std(tensor: torch.Tensor) -> float:
    fan_in, _ = compute_fans(tensor.shape)
    return math.sqrt(2.0 / fan_in)


def xavier_normal(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.nn.init.xavier_normal_(tensor, generator=generator)


def kaiming_normal(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.nn.init.kaiming_normal_(tensor, generator=generator)


def trunc_normal_absolute(
    tensor: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    # torch's a=-2, b=2 are absolute: with std 0.02 they truncate nothing.
    return torch.nn.init.trunc_normal_(tensor, std=0.02, generator=generator)


@torch.no_grad()
def missing_correction(
    tensor: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    # The truncated normal's pre-truncation stddev left at sqrt(2 / fan_in), not / 0.8796...
    return TruncatedNormal(0.0, _he_std(tensor)).fill_(tensor, generator)


@torch.no_grad()
def fan_sum(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # fan_avg taken as fan_in + fan_out instead of (fan_in + fan_out) / 2.
    fan_in, fan_out = compute_fans(tensor.shape)
    limit = math.sqrt(3.0 / (fan_in + fan_out))
    return tensor.uniform_(-limit, limit, generator=generator)


def keras_fans(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # A torch (out, in, kh, kw) weight read with Keras's (kh, kw, in, out) rule.
    return parity.he_normal_(tensor, layout="keras", generator=generator)


@torch.no_grad()
def clamped(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # Truncation by clamping: 4.6% of the mass piles up on the bounds.
    std = _he_std(tensor) / TRUNCATED_NORMAL_STD
    return tensor.normal_(0.0, std, generator=generator).clamp_(-2.0 * std, 2.0 * std)


@torch.no_grad()
def first_of_four(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # Keras 3's torch backend: 4 normals per value, the first inside (-2, 2), else the first.
    fan_in, fan_out = compute_fans(tensor.shape)
    std = math.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_NORMAL_STD
    draws = torch.randn(
        (*tensor.shape, 4), generator=generator, dtype=tensor.dtype, device=tensor.device
    )
    inside = draws.abs() < 2.0
    # argmax over {0, 1} picks the first True; a row with none gives index 0.
    pick = inside.to(torch.uint8).argmax(dim=-1, keepdim=True)
    return tensor.copy_(draws.gather(-1, pick).squeeze(-1)).mul_(std)


@torch.no_grad()
def orthogonal_without_signs(
    tensor: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    # Q of a Gaussian matrix's QR, its columns not multiplied by the signs of R's diagonal:
    # only the diagonal is biased, 0.2% of a 512 x 256 weight's entries.
    rows, cols = tensor.shape[0], tensor[0].numel()
    shape = (max(rows, cols), min(rows, cols))
    gaussian = torch.empty(shape, dtype=tensor.dtype, device=tensor.device)
    q, _ = torch.linalg.qr(gaussian.normal_(generator=generator))
    return tensor.copy_((q if rows >= cols else q.T).reshape(tensor.shape))


def zoo() -> list[Mutant]:
    """Every mutant the suite must catch."""
    return [
        Mutant(
            "torch_xavier_normal",
            "torch.nn.init.xavier_normal_ (untruncated) for Keras's truncated GlorotNormal",
            xavier_normal, "glorot_normal", DENSE,
        ),
        Mutant(
            "torch_kaiming_normal",
            "torch.nn.init.kaiming_normal_ (untruncated) for Keras's truncated HeNormal",
            kaiming_normal, "he_normal", CONV2D,
        ),
        Mutant(
            "torch_trunc_normal_absolute",
            "torch.nn.init.trunc_normal_(std=0.02) with its default absolute bounds ±2 "
            "for TruncatedNormal(stddev=0.02)",
            trunc_normal_absolute,
            {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}, DENSE,
        ),
        Mutant(
            "missing_0.8796_factor",
            "HeNormal without dividing the stddev by 0.87962566103423978",
            missing_correction, "he_normal", CONV2D,
        ),
        Mutant(
            "fan_avg_as_sum",
            "GlorotUniform with fan_avg computed as fan_in + fan_out",
            fan_sum, "glorot_uniform", DENSE,
        ),
        Mutant(
            "keras_fans_on_torch_shape",
            "HeNormal with Keras-layout fans read off a torch-layout Conv2d weight",
            keras_fans, "he_normal", CONV2D,
        ),
        Mutant(
            "truncation_by_clamping",
            "HeNormal truncated by clamping to ±2σ instead of redrawing",
            clamped, "he_normal", DENSE,
        ),
        Mutant(
            "keras_torch_backend_leak",
            "GlorotNormal as Keras 3's torch backend draws it: 4 normals, the first inside "
            f"±2σ, else the first (one value in {1 / leak_probability():,.0f} outside)",
            first_of_four, "glorot_normal", DENSE, LEAK_N,
        ),
        Mutant(
            "orthogonal_without_sign_fix",
            "Orthogonal as Q of a QR without multiplying Q's columns by the signs of R's "
            "diagonal (the diagonal test catches it; the entries' KS does not, on this shape)",
            orthogonal_without_signs, "orthogonal", LARGE_DENSE,
        ),
    ]  # fmt: skip


@dataclass(frozen=True)
class MutantOutcome:
    """One mutant and the library's initializer for the same identifier and shape."""

    mutant: Mutant
    result: Any  # parity.check.CheckResult
    library: Any

    @property
    def caught(self) -> bool:
        return not self.result.passed

    @property
    def ok(self) -> bool:
        """The mutant was flagged and the library passed."""
        return self.caught and self.library.passed


def run_zoo(
    mutants: list[Mutant] | None = None,
    *,
    n: int | None = None,
    seed: int = 0,
    alpha: float = 0.01,
    device: str = "cpu",
    on_outcome: Callable[[MutantOutcome], None] | None = None,
) -> list[MutantOutcome]:
    """Check every mutant and its library counterpart.

    Each check runs at ``alpha / (2 * len(mutants))`` (Bonferroni over the zoo's checks), so
    the chance that any correct library initializer fails is at most ``alpha``.  ``n`` raises
    (never lowers) each mutant's own sample size.
    """
    from parity.check import check

    mutants = zoo() if mutants is None else mutants
    each = alpha / (2 * max(1, len(mutants)))
    outcomes = []
    for mutant in mutants:
        size = max(mutant.n, n or 0)
        common = dict(n=size, device=device, alpha=each, seed=seed)
        result = check(mutant.function, mutant.identifier, mutant.shape, **common)
        library = check(parity.get(mutant.identifier), mutant.identifier, mutant.shape, **common)
        outcomes.append(MutantOutcome(mutant, result, library))
        if on_outcome is not None:
            on_outcome(outcomes[-1])
    return outcomes
