"""The report folder: ``report.md``, ``report.json`` (every number) and one PNG per initializer.

Each plot shows, for the initializer's case with the smallest Holm p-value (its worst case):
the ECDFs of the torch and reference samples over the exact CDF with the two-sample KS
distance marked, the ECDF differences against the critical distance, and a QQ plot of both
samples against the exact distribution.  Everything is drawn from the grid counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from parity.suite import stats
from parity.suite.runner import CaseResult, RunResult, initializer_specs

VARIANCE_POWER = 0.9


def _clean(value: Any) -> Any:
    """JSON-ready: tuples to lists, NaN and infinities to None, numpy scalars to Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _critical_distance(n: float, alpha: float) -> float:
    """The KS distance at which a test of ``n`` (effective) observations rejects at ``alpha``."""
    from scipy import stats as sps

    return float(sps.kstwobign.isf(alpha) / math.sqrt(max(1.0, n)))


def _critical_at(run: RunResult, test: str) -> float | None:
    """The KS distance at which ``test`` rejects in the case where it had fewest values."""
    n = run.smallest_n(test)
    return None if n is None else _critical_distance(n, run.worst_case_alpha)


def _case_json(case: CaseResult) -> dict[str, Any]:
    target = case.target
    return {
        "name": case.name,
        "passed": case.passed,
        "initializer": case.initializer,
        "identifier": case.identifier,
        "shape_name": case.shape_name,
        "torch_shape": case.torch_shape,
        "keras_shape": case.keras_shape,
        "dtype": case.dtype,
        "device": case.device,
        "target": None
        if target is None
        else {
            "label": target.label,
            "mean": target.mean,
            "variance": target.variance,
            "std": math.sqrt(target.variance),
            "kurtosis": target.kurtosis,
            "low": target.low,
            "high": target.high,
            "closed": target.closed,
            "discrete": target.discrete,
            "grid_points": len(target.grid),
            "ks_resolution": target.resolution,
        },
        "torch": None if case.torch is None else case.torch.scalars(),
        "references": {name: s.scalars() for name, s in case.references.items()},
        "tests": [asdict(t) for t in case.tests],
        "checks": [{**asdict(c), "passed": c.passed} for c in case.checks],
        "errors": case.errors,
        "detectable_relative_std_error": case.detectable_std_error,
        "seconds": case.seconds,
        "sampling_seconds": case.sampling_seconds,
        "testing_seconds": case.testing_seconds,
    }


def _mutants_json(outcomes: Sequence[Any]) -> list[dict[str, Any]]:
    from parity.suite.mutants import leak_probability

    rows = []
    for outcome in outcomes:
        mutant = outcome.mutant
        rows.append(
            {
                "name": mutant.name,
                "description": mutant.description,
                "identifier": mutant.identifier,
                "shape": mutant.shape,
                "caught": outcome.caught,
                "caught_by": outcome.result.failed_checks,
                "library_passed": outcome.library.passed,
                "mutant": {k: v for k, v in asdict(outcome.result).items()},
                "library": {k: v for k, v in asdict(outcome.library).items()},
            }
        )
    if rows:
        rows[0]["leak_probability_per_value"] = leak_probability()
    return rows


def run_json(
    run: RunResult | None, mutants: Sequence[Any] = (), settings: dict | None = None
) -> dict[str, Any]:
    """Every number of a run (and of a mutant zoo run) as a JSON-ready dict."""
    data: dict[str, Any] = {"settings": settings or {}}
    passed = True
    if run is not None:
        passed = run.passed
        data |= {
            "n": run.n, "seed": run.seed, "alpha": run.alpha, "max_calls": run.max_calls,
            "sources": run.sources, "notes": run.notes, "versions": run.versions,
            "seconds": run.seconds,
            "time": run.time_split(),
            "holm": {
                "family_size": run.family_size, "alpha": run.alpha,
                "worst_case_alpha": run.worst_case_alpha,
            },
            "sensitivity": {
                "variance_test_power": VARIANCE_POWER,
                "detectable_relative_std_error": run.detectable(),
                "ks_grid_resolution": 1.0 / stats.GRID_SIZE,
                "ks_smallest_n_one_sample": run.smallest_n("ks_exact"),
                "ks_smallest_n_two_sample": run.smallest_n("ks_two_sample"),
                "ks_critical_distance_one_sample": _critical_at(run, "ks_exact"),
                "ks_critical_distance_two_sample": _critical_at(run, "ks_two_sample"),
            },
            "cases": [_case_json(c) for c in run.cases],
            "layers": [
                {"name": x.name, "n_torch": x.n_torch, "n_keras": x.n_keras, **asdict(x.test)}
                for x in run.layers
            ],
        }  # fmt: skip
    if mutants:
        data["mutants"] = _mutants_json(mutants)
        passed = passed and all(o.ok for o in mutants)
    data["verdict"] = "PASS" if passed else "FAIL"
    return _clean(data)


# --------------------------------------------------------------------------- plots


def _worst_cases(run: RunResult) -> dict[str, CaseResult]:
    """Per initializer, the case with a reference and the smallest Holm p-value."""
    worst: dict[str, CaseResult] = {}
    for case in run.cases:
        if case.target is None or case.torch is None:
            continue
        best = worst.get(case.initializer)
        rank = (bool(case.references), -case.min_p_holm if case.tests else 0.0)
        if best is None or rank > (bool(best.references), -best.min_p_holm):
            worst[case.initializer] = case
    return worst


def plot_case(case: CaseResult, path: Path, alpha: float) -> Path:
    """ECDF overlay with the KS distance, ECDF differences, and a QQ plot, from grid counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target, grid = case.target, case.target.grid
    step = max(1, len(grid) // 4096)  # plotting 65k points per line adds nothing visible
    samples = {"torch": case.torch, **case.references}
    ecdf = {name: s.cum / s.n for name, s in samples.items()}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    ax.plot(grid[::step], target.grid_cdf[::step], color="0.6", lw=3, label="exact")
    for name, values in ecdf.items():
        ax.plot(grid[::step], values[::step], lw=1, label=name)
    for name in case.references:
        gap = np.abs(ecdf["torch"] - ecdf[name])
        k = int(np.argmax(gap))
        low, high = sorted((ecdf["torch"][k], ecdf[name][k]))
        ax.vlines(grid[k], low, high, color="red", lw=2)
        ax.annotate(
            f"KS D = {gap[k]:.2e}\n(vs {name.split(' (')[0]})", (grid[k], high),
            xytext=(10, -30), textcoords="offset points", color="red", fontsize=8,
            arrowprops={"arrowstyle": "->", "color": "red"},
        )  # fmt: skip
    ax.set(title="ECDF", xlabel="value", ylabel="F(x)")
    ax.legend(fontsize=7, loc="upper left")
    ax = axes[1]
    for name, values in ecdf.items():
        ax.plot(grid[::step], (values - target.grid_cdf)[::step], lw=0.8, label=f"{name} − exact")
    for name in case.references:
        diff = ecdf["torch"] - ecdf[name]
        ax.plot(grid[::step], diff[::step], lw=0.8, label=f"torch − {name.split(' (')[0]}")
    crit = _critical_distance(case.torch.n, alpha)
    ax.axhline(crit, color="red", ls=":", lw=0.8, label=f"critical D, one-sample (α={alpha:.1e})")
    ax.axhline(-crit, color="red", ls=":", lw=0.8)
    if case.references:
        other = next(iter(case.references.values())).n
        crit2 = _critical_distance(case.torch.n * other / (case.torch.n + other), alpha)
        ax.axhline(crit2, color="red", ls="--", lw=0.8, label="critical D, two-sample")
        ax.axhline(-crit2, color="red", ls="--", lw=0.8)
    ax.set(title="ECDF differences", xlabel="value", ylabel="ΔF(x)")
    ax.legend(fontsize=7)
    ax = axes[2]
    for name, values in ecdf.items():
        inner = (values > 0) & (values < 1)
        theory = target.ppf(np.clip(values[inner], 1e-12, 1 - 1e-12))
        ax.plot(theory[::step], grid[inner][::step], ".", ms=1.5, label=name)
    lims = [grid[0], grid[-1]]
    ax.plot(lims, lims, color="0.5", lw=0.8)
    ax.set(
        title="QQ against the exact distribution", xlabel="exact quantile", ylabel="sample quantile"
    )
    ax.legend(fontsize=7, markerscale=6)
    fig.suptitle(f"{case.name}: {target.label}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- markdown


def _p(value: float) -> str:
    return (
        "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"
    )


def _test(case: CaseResult, test: str, side: str | None = None) -> Any:
    for entry in case.tests:
        if entry.test == test and (side is None or entry.side == side):
            return entry
    return None


def case_row(case: CaseResult) -> dict[str, str]:
    """The table columns of one case, as text (shared by the console table)."""
    ks_exact = _test(case, "ks_exact", "torch")
    ks_two = _test(case, "ks_two_sample")
    ref_n = ", ".join(f"{s.n:,}" for s in case.references.values()) or "—"
    std = "—"
    if case.torch is not None and case.target is not None:
        std = f"{case.torch.std / math.sqrt(case.target.variance) - 1:+.3%}"
    outside = "—" if case.torch is None else f"{case.torch.outside:,}"
    return {
        "case": case.name,
        "n": "—" if case.torch is None else f"{case.torch.n:,}",
        "n ref": ref_n,
        "D vs exact": "—" if ks_exact is None else f"{ks_exact.statistic:.2e}",
        "D vs ref": "—" if ks_two is None else f"{ks_two.statistic:.2e}",
        "stddev error": std,
        "min Holm p": _p(case.min_p_holm),
        "outside": outside,
        "verdict": "PASS" if case.passed else "FAIL",
    }


def failure_reasons(case: CaseResult) -> list[str]:
    """Why ``case`` failed, one entry per error, failed test and failed check."""
    reasons = list(case.errors)
    reasons += [
        f"{t.test} [{t.side}]: statistic {t.statistic:.4g}, Holm p {t.p_holm:.3g}"
        for t in case.tests
        if not t.passed
    ]
    reasons += [
        f"{c.check} [{c.side}]: {c.value:.4g} > {c.limit:.4g}" for c in case.checks if not c.passed
    ]
    return reasons


def layer_row(layer: Any) -> dict[str, str]:
    """The table columns of one layer weight of the --layers section."""
    return {
        "weight": layer.name,
        "n torch": f"{layer.n_torch:,}",
        "n keras": f"{layer.n_keras:,}",
        "D": f"{layer.test.statistic:.2e}",
        "p": _p(layer.test.p_value),
        "Holm p": _p(layer.test.p_holm),
        "verdict": "PASS" if layer.test.passed else "FAIL",
    }


def _table(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row[k] for k in head) + " |" for row in rows]
    return lines


def time_line(run: RunResult) -> str:
    """How the cases' time split between sampling (per side) and testing, in one line."""
    split = run.time_split()
    if not split["cases"]:
        return "no case took measurable time"
    sides = ", ".join(f"{side} {seconds:.1f} s" for side, seconds in split["sampling"].items())
    share = split["sampling_share"]
    return (
        f"cases {split['cases']:.1f} s: sampling {share:.0%} ({sides or 'none'}), testing "
        f"{1 - share:.0%} ({split['testing']:.1f} s: binning, moments, tests)"
    )


def _ks_sensitivity(run: RunResult) -> str:
    parts = []
    for test, label in (("ks_exact", "one-sample"), ("ks_two_sample", "two-sample")):
        n, distance = run.smallest_n(test), _critical_at(run, test)
        if n is not None and distance is not None:
            parts.append(f"D ≥ {distance:.2e} ({label}, at its fewest values: n = {n:,})")
    return f" The KS tests reject at {' and '.join(parts)}." if parts else ""


def _method(run: RunResult) -> list[str]:
    detect = run.detectable()
    sens = (
        ", ".join(f"{law} {delta:.2%}" for law, delta in sorted(detect.items()))
        or "— (no case got as far as its tests)"
    )
    return [
        "## Method",
        "",
        f"Per case, {run.n:,} values per side (fewer for shapes that need more than "
        f"{run.max_calls:,} initializer calls; the tables give each n). Torch values come from "
        "calling the library's initializer on fresh weights of the torch-layout shape; "
        "reference values from the real Keras initializer on the Keras-layout shape of the "
        "same weight, called repeatedly with fresh seeds. Both are binned on the exact "
        "target's grid and tested:",
        "",
        "* **ks_exact** — one-sample KS against the exact distribution (`parity.describe` "
        "mapped to scipy.stats: uniform, norm, truncnorm(-2, 2), and for orthogonal "
        "entry²/gain² ~ Beta(1/2, (d-1)/2) with a symmetric sign), for torch and reference;",
        "* **ks_two_sample** — torch vs reference, p-value at n_eff = n·m/(n+m);",
        "* **variance** — z = (mean((x-μ)²) − σ²)/sqrt((μ4 − σ⁴)/n) with the target's μ, σ², μ4 "
        "(not for orthogonal, whose mean square is exactly gain²/d);",
        "* **support** — values outside the support (must be 0; NaN counts as outside); "
        "**orthogonality** — max |QᵀQ/gain² − I| over every drawn matrix, within rounding;",
        "* **diagonal** (orthogonal) — z = Σ Q_ii/gain / sqrt(N/d) over the N diagonal entries "
        "drawn: 0 mean for a Haar matrix, with variance exactly N/d; a missing sign fix "
        "(which only the diagonal shows, too little of a large matrix for the pooled KS) gives "
        "z ≈ −0.8·sqrt(N).",
        "",
        f"Holm's correction runs over all {run.family_size} p-values of the run at "
        f"family-wise α = {run.alpha}; the worst-case per-test level is "
        f"α/m = {run.worst_case_alpha:.2e}.",
        "",
        f"**Sensitivity.** With the values each case drew (the tables give each n), the "
        f"variance test detects a relative stddev error of at least {sens} with power ≥ "
        f"{VARIANCE_POWER} at α/m in every case (2δ ≥ (z₁₋α/2m + z₀.₉)·sqrt((κ − 1)/n), κ the "
        f"kurtosis).{_ks_sensitivity(run)}",
        "",
        f"**Resolution.** Continuous targets use an equal-probability grid of B = "
        f"{stats.GRID_SIZE:,} cells: the grid KS distance is at most 1/B = "
        f"{1 / stats.GRID_SIZE:.2e} below the true one (the two-sample bound, the largest "
        "cell share of either sample, is in report.json), which makes the p-values slightly "
        "conservative. float16/bfloat16 targets are the float32 law rounded to nearest; every "
        "representable value is a grid point, so D is exact, and the continuous KS p-value is "
        "conservative for such discrete data. Entries of one orthogonal matrix are weakly, "
        "negatively dependent (column norms are fixed), which also makes KS conservative; a "
        "variance test would be degenerate there (the mean square of a matrix's entries is "
        "exactly gain²/d), so orthogonality is checked exactly instead.",
        "",
    ]


def write_report(
    folder: str | Path,
    run: RunResult | None,
    *,
    mutants: Sequence[Any] = (),
    settings: dict | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Write ``report.md``, ``report.json`` and the plots; returns the JSON data."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = run_json(run, mutants, settings)
    written: set[str] = set()
    lines = ["# Parity report", "", f"**Verdict: {data['verdict']}**", ""]
    if run is not None:
        failed = [c for c in run.cases if not c.passed]
        lines += [
            f"{len(run.cases)} cases, {len(run.cases) - len(failed)} passed, {len(failed)} "
            f"failed; seed {run.seed}; {run.seconds:.0f} s.",
            "",
            f"Time: {time_line(run)}.",
            "",
            "References: " + (", ".join(run.sources) or "none (exact distributions only)"),
            "",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(run.versions.items())),
            "",
        ]
        lines += [f"* {note}" for note in run.notes] + ([""] if run.notes else [])
        lines += _method(run)
        lines += ["## Cases", "", *_table([case_row(c) for c in run.cases]), ""]
        if failed:
            lines += ["## Failures", ""]
            for case in failed:
                lines += [f"* **{case.name}**: " + "; ".join(failure_reasons(case))]
            lines.append("")
        if plots:
            lines += ["## Plots", ""]
            for name, case in sorted(_worst_cases(run).items()):
                written.add(f"{name}.png")
                path = plot_case(case, folder / f"{name}.png", run.worst_case_alpha)
                lines += [
                    f"### {name} (worst case: {case.name})",
                    "",
                    f"![{name}]({path.name})",
                    "",
                ]
        if run.layers:
            lines += ["## Keras layers vs torch layers after keras_init_", ""]
            lines += _table([layer_row(x) for x in run.layers])
            lines.append("")
    if mutants:
        lines += mutant_lines(mutants)
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    for spec in initializer_specs():  # an earlier run's plots would sit beside this report
        stale = folder / f"{spec.name}.png"
        if stale.name not in written and stale.exists():
            stale.unlink()
    return data


def mutant_rows(outcomes: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {
            "mutant": o.mutant.name,
            "impersonates": json.dumps(o.mutant.identifier),
            "shape": str(o.mutant.shape),
            "n": f"{o.result.n:,}",
            "caught by": ", ".join(o.result.failed_checks) or "NOT CAUGHT",
            "outside": f"{o.result.out_of_support:,}",
            "library": "passes" if o.library.passed else "FAILS",
        }
        for o in outcomes
    ]


def mutant_lines(outcomes: Sequence[Any]) -> list[str]:
    from parity.suite.mutants import LEAK_N, leak_probability, miss_probability

    lines = [
        "## Mutant zoo",
        "",
        "Known-wrong initializers, each checked with `parity.check` against the Keras "
        "identifier it impersonates, next to the library's own initializer for the same "
        f"identifier and shape (each check at α/{2 * len(outcomes)}, Bonferroni over the zoo).",
        "",
        *_table(mutant_rows(outcomes)),
        "",
        f"The torch-backend leak puts a value outside ±2σ with probability "
        f"(2Φ(−2))⁴ = {leak_probability():.3e} (one in {1 / leak_probability():,.0f}); "
        f"n = {LEAK_N:,} misses every one with probability {miss_probability(LEAK_N):.1e}.",
        "",
    ]
    for o in outcomes:
        lines += [f"* **{o.mutant.name}**: {o.mutant.description}"]
    return [*lines, ""]
