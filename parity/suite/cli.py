"""``python -m parity``: run the parity matrix, the mutant zoo, or record TF references.

Exit status: 0 when every case passes, 1 when any fails, 2 for bad usage or a missing
dependency.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_N = 1_000_000
MAX_N = 10**10  # values per side per case: 1e8 takes minutes per case, this days
EPILOG = """\
examples:
  python -m parity                          default matrix vs live TensorFlow, n = 10^6
  python -m parity --cases 'he_*' --n 1e7   every He case at 10^7 values per side
  python -m parity --cases '*/conv2d/float32/*' --dtypes float32
  python -m parity --mutants                show the suite catching known-wrong initializers
  python -m parity record --out tf.npz      save TF references (needs TensorFlow)
  python -m parity --reference tf.npz       replay them (no TensorFlow needed, e.g. on a GPU)
"""


def _count(text: str) -> int:
    """Parse 1000000, 1e6 or 1_000_000 (exactly: a float form only up to 2^53)."""
    digits = text.replace("_", "").strip()
    try:
        value = int(digits) if digits.isdigit() else float(digits)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count such as 1000000 or 1e6, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 1 or value != int(value) or value > 2**53:
        raise argparse.ArgumentTypeError(f"expected a positive whole count, got {text!r}")
    return int(value)


def _sample_size(text: str) -> int:
    """``--n``: enough values for the tests' p-values, few enough to finish."""
    from parity.suite.runner import MIN_VALUES

    value = _count(text)
    if not MIN_VALUES <= value <= MAX_N:
        raise argparse.ArgumentTypeError(
            f"n must be between {MIN_VALUES} (below, the two-sample KS p-value is not "
            f"calibrated) and {MAX_N:.0e} values per side, got {text!r}"
        )
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int seed, got {text!r}") from None
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(f"the seed must be in [-2**63, 2**63), got {text!r}")
    return value


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"alpha must be in (0, 1), got {text!r}")
    return value


def _csv(text: str) -> list[str]:
    """Comma-separated items, each once (a repeated dtype or device would repeat cases)."""
    return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


def _matrix_options(parser: argparse.ArgumentParser, inherit: bool = False) -> None:
    """The options that select and size cases.  ``inherit``: the subcommand's copies have
    no defaults, so options given before the subcommand's name are kept."""
    from parity.suite.runner import DEFAULT_DTYPES, DEFAULT_MAX_CALLS, DTYPES

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if inherit else value

    parser.add_argument(
        "--cases", action="append", metavar="GLOB", default=default(None),
        help="select cases by name init/shape/dtype/device, globs and prefixes allowed "
        "(e.g. 'he_normal', '*/conv2d', 'orthogonal/*/float64'); repeat or comma-separate",
    )  # fmt: skip
    parser.add_argument(
        "--n", type=_sample_size, default=default(None),
        help="values per side per case (default 1e6; up to 1e8 runs in bounded memory; "
        "with --mutants it raises each mutant's own n)",
    )  # fmt: skip
    parser.add_argument(
        "--dtypes", type=_csv, default=default(list(DEFAULT_DTYPES)),
        help=f"comma-separated dtypes among {', '.join(DTYPES)} (default: float32,float64)",
    )  # fmt: skip
    parser.add_argument("--seed", type=_seed, default=default(0), help="base seed (default 0)")
    parser.add_argument(
        "--max-calls", type=_count, default=default(DEFAULT_MAX_CALLS),
        help=f"cap on initializer calls per side for tiny shapes (default {DEFAULT_MAX_CALLS})",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m parity",
        description="Statistical parity of keras-parity's torch initializers with "
        "TensorFlow/Keras: KS tests against TF samples and exact distributions, a variance "
        "z-test and exact support checks, Holm-corrected, with a report folder.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _matrix_options(parser)
    parser.add_argument(
        "--devices", type=_csv, default=None,
        help="comma-separated torch devices among cpu, cuda (default: cpu, and cuda if seen)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=Path("parity-report"),
        help="report folder (default ./parity-report)",
    )  # fmt: skip
    parser.add_argument(
        "--alpha", type=_alpha, default=0.01,
        help="family-wise false-alarm rate, Holm over the whole run (default 0.01)",
    )  # fmt: skip
    parser.add_argument(
        "--reference", action="append", type=Path, metavar="FILE",
        help="replay TF references recorded with `python -m parity record` instead of "
        "importing TensorFlow (repeatable: one file per backend)",
    )  # fmt: skip
    parser.add_argument(
        "--exact-only", action="store_true",
        help="test against the exact distributions only, with no TF reference",
    )  # fmt: skip
    parser.add_argument(
        "--mutants", action="store_true",
        help="run the zoo of known-wrong initializers instead of the matrix: each must be "
        "caught, and the library must pass the same checks",
    )  # fmt: skip
    parser.add_argument(
        "--layers", action="store_true",
        help="add the section comparing Keras layers with torch layers after keras_init_",
    )  # fmt: skip
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    sub = parser.add_subparsers(dest="command", metavar="{record}")
    record = sub.add_parser(
        "record",
        help="save TF reference summaries to a file (needs TensorFlow/Keras)",
        description="Draw the Keras references of the selected cases on this machine's Keras "
        "backend and save what the statistics need (grid counts, moment sums, support "
        "counts, n) to FILE, for `python -m parity --reference FILE` elsewhere.",
    )
    _matrix_options(record, inherit=True)
    record.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="file to write (.npz)"
    )
    return parser


# --------------------------------------------------------------------------- helpers


class UsageError(Exception):
    """A problem with the command line or the environment: exit status 2."""


def _console() -> Any:
    from rich.console import Console

    # Off a terminal (CI logs, pipes) rich would assume 80 columns and squeeze the table.
    return Console(width=None if sys.stdout.isatty() else 160)


def _progress(console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"), console=console,
    )  # fmt: skip


def _cases(args: argparse.Namespace, devices: Sequence[str] | None) -> list[Any]:
    from parity.suite.runner import build_cases

    patterns = [p for group in args.cases or [] for p in _csv(group)]
    if args.cases and not patterns:
        raise UsageError("--cases names no case; give a glob such as 'he_normal' or '*/conv2d'")
    if not args.dtypes:
        raise UsageError("--dtypes names no dtype; give some of float32,float64,float16,bfloat16")
    if devices is not None and not devices:
        raise UsageError("--devices names no device; give cpu, cuda or both")
    try:
        return build_cases(patterns or None, args.dtypes, devices)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _versions() -> dict[str, str]:
    import numpy
    import scipy
    import torch

    import parity

    found = {"parity": parity.__version__, "torch": torch.__version__, "numpy": numpy.__version__}
    found["scipy"] = scipy.__version__
    if torch.cuda.is_available():
        found["cuda_device"] = torch.cuda.get_device_name(0)
    found["cpu_count"] = str(os.cpu_count())
    return found


def _sources(args: argparse.Namespace) -> tuple[list[Any], list[str], dict[str, Any]]:
    """Reference sources, notes, and the grids recorded files were binned on."""
    from parity.suite import references

    if args.reference:
        sources, grids = [], {}
        # A file named twice is one reference (twice, its tests would count twice in Holm).
        args.reference = list({path.resolve(): path for path in args.reference}.values())
        for path in args.reference:
            if path.is_dir():
                raise UsageError(f"--reference {str(path)!r} is a folder; give the recorded file")
            try:
                source = references.RecordedSource(path)
            except (OSError, ValueError) as error:
                raise UsageError(str(error)) from None
            for key, grid in source.grids().items():
                if key in grids and not (grids[key] == grid).all():
                    raise UsageError(f"{path}: grid {key} differs from another reference file's")
                grids[key] = grid
            sources.append(source)
        notes = [f"references replayed from {p}" for p in args.reference]
        for source in sources:  # what the file holds is what it was recorded with
            recorded = source.meta.get("settings", {})
            for option in ("n", "seed", "max_calls"):
                if option in recorded and recorded[option] != getattr(args, option):
                    notes.append(
                        f"{source.path} was recorded with --{option.replace('_', '-')} "
                        f"{recorded[option]}, not {getattr(args, option)}: its references are "
                        "the recorded ones (each case's n ref says how many values)"
                    )
        return sources, notes, grids
    if args.exact_only:
        return [], ["--exact-only: no TF reference; exact distributions only"], {}
    sources, notes = references.live_sources()
    if not sources:
        raise UsageError(
            "no reference available: TensorFlow/Keras cannot be imported here "
            f"({'; '.join(notes)}). Install keras-parity[tf], replay a recorded file with "
            "--reference FILE (python -m parity record --out FILE on a machine with TF), "
            "or pass --exact-only"
        )
    return sources, notes, {}


def _check_recorded(sources: Sequence[Any], cases: Sequence[Any]) -> None:
    from parity.suite.references import RecordedSource, reference_key

    for source in sources:
        if not isinstance(source, RecordedSource):
            continue
        missing = sorted(
            {
                c.name
                for c in cases
                if not source.has(reference_key(c.spec.identifier, c.keras_shape, c.dtype))
            }
        )
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise UsageError(
                f"{source.path} has no reference for {shown}; record them with "
                "`python -m parity record --out FILE` and the same --cases/--dtypes"
            )


# --------------------------------------------------------------------------- commands


def _table(title: str, rows: list[dict[str, str]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for column in rows[0] if rows else []:
        name = column in ("case", "weight", "mutant")
        text = name or column in ("impersonates", "caught by")
        table.add_column(column, justify="left" if text else "right", no_wrap=name)
    for row in rows:
        style = "bold red" if row.get("verdict", "PASS") != "PASS" else None
        table.add_row(*(escape(value) for value in row.values()), style=style)
    return table


def _print_cases(console: Any, run: Any) -> None:
    from parity.suite.report import case_row, failure_reasons, layer_row

    title = (
        f"parity: {len(run.cases)} cases, Holm over {run.family_size} p-values at α = {run.alpha}"
    )
    console.print(_table(title, [case_row(c) for c in run.cases]))
    for case in run.cases:
        if not case.passed:  # the side that failed (the reference's, say) and why
            reasons = "; ".join(failure_reasons(case))
            console.print(f"FAIL {case.name}: {reasons}", highlight=False, markup=False)
    if run.layers:
        title = "Keras layers vs torch layers after keras_init_ (two-sample KS)"
        console.print(_table(title, [layer_row(x) for x in run.layers]))


def command_run(args: argparse.Namespace, console: Any) -> int:
    from rich.markup import escape

    from parity.suite import report, runner
    from parity.suite.stats import GridCache

    if args.reference and args.exact_only:
        raise UsageError("--exact-only tests without a reference; do not give --reference too")
    cases = _cases(args, args.devices)
    if args.list:
        for case in cases:
            console.print(case.name, highlight=False, markup=False)
        return 0
    if args.layers and not runner.layers_available():
        raise UsageError(
            "--layers compares Keras layers with torch layers after parity.keras_init_ and "
            "needs parity/suite/layers.py (layer_samples), which this installation does not have"
        )
    sources, notes, recorded_grids = _sources(args)
    _check_recorded(sources, cases)
    _check_writable(args.out, folder=True)
    versions = _versions()
    for source in sources:
        versions |= {f"reference {k}": v for k, v in source.versions().items()}
    settings = {
        "cases": args.cases, "n": args.n, "dtypes": args.dtypes,
        "devices": sorted({c.device for c in cases}), "seed": args.seed, "alpha": args.alpha,
        "max_calls": args.max_calls, "reference": [str(p) for p in args.reference or []],
    }  # fmt: skip
    console.print(
        f"parity: {len(cases)} cases, n = {args.n:,} per side, references: "
        f"{', '.join(s.name for s in sources) or 'none'}",
        highlight=False,
        markup=False,
    )
    with _progress(console) as progress:
        task = progress.add_task("cases", total=len(cases), last="")

        def advance(case: Any) -> None:
            verdict = "ok" if not case.errors else "error"
            progress.update(task, advance=1, last=f"{case.name} ({case.seconds:.1f} s, {verdict})")

        outcome = runner.run(
            cases, n=args.n, seed=args.seed, alpha=args.alpha, sources=sources,
            grids=GridCache(recorded_grids), max_calls=args.max_calls, layers=args.layers,
            notes=notes, versions=versions, on_case=advance,
        )  # fmt: skip
    _print_cases(console, outcome)
    report.write_report(args.out, outcome, settings=settings, plots=not args.no_plots)
    failed = sum(not c.passed for c in outcome.cases) + sum(
        not x.test.passed for x in outcome.layers
    )
    detect = ", ".join(f"{k} {v:.2%}" for k, v in sorted(outcome.detectable().items()))
    if detect:
        console.print(
            f"sensitivity: stddev errors of at least {detect} are detected with power 0.9"
        )
    else:
        console.print("sensitivity: none (no case got as far as its tests)")
    console.print(f"time: {report.time_line(outcome)}", highlight=False, markup=False)
    verdict = "[bold green]PASS[/]" if outcome.passed else f"[bold red]FAIL ({failed} failed)[/]"
    console.print(
        f"{verdict}: {len(outcome.cases)} cases in {outcome.seconds:.0f} s; "
        f"report in {escape(str(args.out))}/report.md"
    )
    return 0 if outcome.passed else 1


def command_mutants(args: argparse.Namespace, console: Any) -> int:
    from rich.markup import escape

    from parity.suite import mutants, report, runner

    try:
        devices = runner.check_devices(args.devices or ["cpu"])
    except ValueError as error:
        raise UsageError(str(error)) from None
    _check_writable(args.out, folder=True)
    outcomes = []
    for device in devices:
        console.print(f"mutant zoo on {device}: every mutant must be caught, the library must pass")

        def show(outcome: Any) -> None:
            status = "[green]caught[/]" if outcome.caught else "[bold red]NOT CAUGHT[/]"
            library = "library passes" if outcome.library.passed else "[bold red]library FAILS[/]"
            by = ", ".join(outcome.result.failed_checks)
            console.print(f"  {escape(outcome.mutant.name)}: {status} ({by}); {library}")

        outcomes += mutants.run_zoo(
            n=args.n, seed=args.seed, alpha=args.alpha,
            device=device, on_outcome=show,
        )  # fmt: skip
    console.print(_table("mutant zoo", report.mutant_rows(outcomes)))
    report.write_report(
        args.out, None, mutants=outcomes,
        settings={"mutants": True, "n": args.n, "seed": args.seed, "alpha": args.alpha},
    )  # fmt: skip
    ok = all(o.ok for o in outcomes)
    verdict = "[bold green]PASS[/]: every mutant caught" if ok else "[bold red]FAIL[/]"
    console.print(f"{verdict}; report in {escape(str(args.out))}/report.md")
    return 0 if ok else 1


def command_record(args: argparse.Namespace, console: Any) -> int:
    import parity
    from parity.suite import references, stats
    from parity.suite.runner import case_seed

    cases = _cases(args, ["cpu"])
    _check_writable(args.out, folder=False)  # before the slow import of Keras's backend
    try:
        source = references.KerasSource()
    except ImportError as error:
        raise UsageError(f"record needs Keras and its backend installed: {error}") from None
    grids = stats.GridCache()
    recorded: dict[str, tuple[Any, Any]] = {}
    start = time.perf_counter()
    with _progress(console) as progress:
        task = progress.add_task("references", total=len(cases), last="")
        for case in cases:
            key = references.reference_key(case.spec.identifier, case.keras_shape, case.dtype)
            if key not in recorded:
                law = parity.describe(case.spec.identifier, case.shape)
                target = stats.make_target(law, case.dtype, grids=grids)
                summary = source.summary(
                    case.spec.identifier, case.keras_shape, target, args.n,
                    seed=case_seed(args.seed, f"{source.name}|{key}"), max_calls=args.max_calls,
                )  # fmt: skip
                recorded[key] = (summary, target)
            progress.update(task, advance=1, last=case.name)
    settings = {"n": args.n, "seed": args.seed, "max_calls": args.max_calls, "dtypes": args.dtypes}
    path = references.write_record(args.out, source, recorded, grids, settings)
    console.print(
        f"recorded {len(recorded)} references from {source.name} in "
        f"{time.perf_counter() - start:.0f} s to {path} ({path.stat().st_size / 1e6:.1f} MB)",
        markup=False,
    )
    return 0


# Options of the matrix run that a command does not read: giving one is an error, not a no-op.
_NOT_READ = {
    "record": ("devices", "reference", "exact_only", "mutants", "layers", "list", "no_plots",
               "alpha"),
    "mutants": ("cases", "dtypes", "reference", "exact_only", "layers", "list", "max_calls"),
}  # fmt: skip


def _check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    command = args.command or ("mutants" if args.mutants else None)
    for name in _NOT_READ.get(command, ()):
        if getattr(args, name) != parser.get_default(name):
            option = "--" + name.replace("_", "-")
            where = "--mutants" if command == "mutants" else command
            raise UsageError(f"{option} does not apply to {where}")


def _check_writable(path: Path, folder: bool) -> None:
    """Fail now, not after the run, where the report folder or record file cannot be made."""
    what = "report folder" if folder else "record file"
    if folder:
        if path.exists() and not path.is_dir():
            raise UsageError(f"the {what} {str(path)!r} exists and is not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot make the {what} {str(path)!r}: {error}") from None
    elif path.is_dir():
        raise UsageError(f"the {what} {str(path)!r} is a folder; give a file name such as tf.npz")
    elif not path.parent.is_dir():
        raise UsageError(f"the {what}'s folder {str(path.parent)!r} does not exist")
    try:  # permissions alone do not say (a read-only file system, /proc, root's rights)
        with tempfile.TemporaryFile(dir=path if folder else path.parent):
            pass
    except OSError as error:
        where = path if folder else path.parent
        raise UsageError(f"cannot write the {what} in {str(where)!r}: {error}") from None


def _check_dependencies(args: argparse.Namespace) -> None:
    """The suite's optional dependencies, checked before anything runs."""
    needed = ["numpy", "scipy"]
    if args.command != "record" and not args.mutants and not args.no_plots and not args.list:
        needed.append("matplotlib")  # the matrix report's plots
    if args.layers and not args.list:
        needed.append("keras")
    for name in needed:
        try:
            __import__(name)
        except ImportError:
            extra = "pass --no-plots, or " if name == "matplotlib" else ""
            raise UsageError(
                f"the parity suite needs {name}: {extra}pip install 'keras-parity[suite]'"
            ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "record" or not args.mutants:
        args.n = args.n or DEFAULT_N
    try:
        console = _console()
    except ImportError:
        message = "error: the parity suite needs rich: pip install 'keras-parity[suite]'"
        print(message, file=sys.stderr)
        return 2
    try:
        _check_options(parser, args)
        _check_dependencies(args)
        if args.command == "record":
            return command_record(args, console)
        if args.mutants:
            return command_mutants(args, console)
        return command_run(args, console)
    except UsageError as error:  # on stderr, as argparse's own usage errors
        from rich.console import Console
        from rich.markup import escape

        message = f"[bold red]error:[/] {escape(str(error))}"
        Console(stderr=True, soft_wrap=True).print(message, highlight=False)  # one line, unwrapped
        return 2


if __name__ == "__main__":
    sys.exit(main())
