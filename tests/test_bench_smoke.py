"""tools/bench.py on tiny sizes: it runs, and its JSON has the cases, timings and ratios; and
tools/cuda_checks.sh in its CPU smoke mode.

Smoke tests only: benchmark numbers are not asserted (CI machines are shared and noisy).
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "tools" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench", module)
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def positive_finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def check_case(case: dict, family: str, tf: bool) -> None:
    spec = bench.FAMILIES[family]
    mine = f"parity.{spec.initializer}"
    expected = {mine, *spec.torch_baselines} | ({f"keras.{spec.keras_name}[tf]"} if tf else set())
    if case["dtype"] in ("float16", "bfloat16") and family != "orthogonal":
        expected.add(f"{spec.target} float32")
    expected -= set(case["unavailable"])  # e.g. torch's orthogonal_ has no bfloat16 QR on CPU
    assert set(case["ms"]) == expected
    assert set(case["ratios"]) == expected - {mine}
    assert all(positive_finite(v) for v in case["ms"].values())
    assert all(positive_finite(v) for v in case["values_per_s"].values())
    assert all(positive_finite(v) for v in case["ratios"].values())
    if case["device"] == "cpu":  # no peak memory bandwidth to compare with
        assert case["bandwidth_share"] == {}
    else:
        assert set(case["bandwidth_share"]) == expected
        assert all(positive_finite(v) for v in case["bandwidth_share"].values())
    target = case["target"]
    # Reduced precision is judged against torch's float32 sampler: full speed is its speed.
    half = case["dtype"] in ("float16", "bfloat16") and family != "orthogonal"
    baseline = f"{spec.target} float32" if half else spec.target
    assert target["baseline"] == baseline and target["max_ratio"] == spec.max_ratio
    if baseline in case["unavailable"]:
        assert target["ratio"] is None and target["met"] is None
        return
    assert target["ratio"] == pytest.approx(case["ms"][mine] / case["ms"][baseline])
    assert target["met"] == (target["ratio"] <= spec.max_ratio)


def test_bench_writes_every_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    argv = ["--sizes", "4K,16K", "--dtypes", "float32,bfloat16", "--devices", "cpu"]
    argv += ["--orthogonal", "64", "--repeats", "1", "--no-tf", "--json", str(out)]
    returned = bench.main(argv)
    report = json.loads(out.read_text())
    assert report == json.loads(json.dumps(returned))
    assert report["meta"]["torch"] and report["meta"]["repeats"] == 1
    families = [*bench.DEFAULT_FAMILIES, "orthogonal"]
    got = [(c["family"], c["numel"], c["dtype"]) for c in report["cases"]]
    sized = [(f, n) for f in bench.DEFAULT_FAMILIES for n in (4096, 16384)]
    assert sorted(got) == sorted(
        [(f, n, d) for f, n in [*sized, ("orthogonal", 64 * 64)] for d in ("float32", "bfloat16")]
    )
    for case in report["cases"]:
        assert case["family"] in families
        assert math.prod(case["shape"]) == case["numel"]
        check_case(case, case["family"], tf=False)
        # Only a baseline may be unavailable, never parity itself.
        assert all(label.startswith("torch.") for label in case["unavailable"])
    printed = capsys.readouterr().out
    assert "summary" in printed and "parity.glorot_normal_" in printed


def test_bench_memory_and_suite_share() -> None:
    argv = ["--sizes", "4K", "--families", "truncated_normal", "--devices", "cpu", "--no-tf"]
    argv += ["--repeats", "1", "--memory", "--memory-numel", "64K", "--memory-parity-only"]
    argv += ["--suite-share", "--suite-n", "64K", "--suite-cases", "glorot_normal/dense"]
    report = bench.main(argv)
    (memory,) = report["memory"]
    assert memory["method"] == "parity" and memory["tensor_bytes"] == 4 * 65536
    assert memory["peak_extra_bytes"] >= 0 and math.isfinite(memory["ratio"])
    suite = report["suite"]
    assert suite["n"] == 65536 and len(suite["cases"]) == 1
    assert positive_finite(suite["sampling_ms"]) and positive_finite(suite["testing_ms"])
    assert suite["sampling_share"] + suite["testing_share"] == pytest.approx(1.0)


def test_bench_keras_init_on_recurrent_layers(tmp_path: Path) -> None:
    argv = ["--sizes", "4K", "--repeats", "1", "--no-tf", "--memory", "--memory-numel", "64K"]
    argv += ["--families", "uniform", "--memory-parity-only", "--keras-init", "GRU"]
    argv += ["--markdown", str(tmp_path / "bench.md")]
    report = bench.main(argv)
    (timing,) = report["keras_init"]
    assert (timing["layer"], timing["units"], timing["numel"]) == ("GRU", 37, 4096)
    assert set(timing["ms"]) == {"parity.keras_init_", "torch.nn.init"}
    assert all(positive_finite(v) for v in timing["ms"].values())
    assert timing["ratio"] == pytest.approx(
        timing["ms"]["parity.keras_init_"] / timing["ms"]["torch.nn.init"]
    )
    rows = report["memory"][1:]  # after glorot_uniform_'s row
    assert [(r["layer"], r["method"]) for r in rows] == [("GRU", "generator"), ("GRU", "seed")]
    for row in rows:  # the largest weight holds at least the values asked for, barely
        units, gates = row["shape"][0], bench.RECURRENT_GATES[row["layer"]]
        assert gates * units**2 >= 65536 > gates * (units - 1) ** 2
        assert row["tensor_bytes"] == 4 * gates * units**2
        assert row["peak_extra_bytes"] >= 0 and math.isfinite(row["ratio"])
    assert "`keras_init_(GRU, seed=0)`" in (tmp_path / "bench.md").read_text()


@pytest.mark.tf
def test_bench_tensorflow_baselines() -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    report = bench.main(["--sizes", "4K", "--devices", "cpu", "--repeats", "1"])
    for case in report["cases"]:
        check_case(case, case["family"], tf=True)


def test_bench_rejects_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--dtypes", "int8"])
    assert "valid choices" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "0"])


def test_generic_share_without_the_suite() -> None:
    share = bench._generic_share(1 << 12, "cpu")
    (row,) = share["cases"]
    assert row["values"] == 1 << 12 and "generic" in share["what"]
    assert positive_finite(row["sampling_ms"]) and positive_finite(row["testing_ms"])


def test_theoretical_bandwidth_matches_a_data_sheet() -> None:
    # H100 SXM5 (HBM3): 2619 MHz memory clock, 5120-bit bus, 3.35 TB/s on NVIDIA's data sheet.
    assert bench.theoretical_bandwidth(2_619_000, 5120) == pytest.approx(3.352e12, rel=1e-3)
    # A100 40 GB (HBM2): 1215 MHz, 5120 bits, 1555 GB/s.
    assert bench.theoretical_bandwidth(1_215_000, 5120) == pytest.approx(1.555e12, rel=1e-3)
    assert bench.peak_bandwidth("cpu") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--repeats", "0"],
        ["--threads", "-1"],
        ["--sizes", "inf"],
        ["--sizes", "1e400"],
        ["--sizes", ","],
        ["--devices", "gpu"],
        ["--json", "/no/such/folder/b.json"],
        ["--suite-share", "--suite-cases", "no_such_case"],
    ],
)
def test_bad_options_are_usage_errors_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_bench().main([*argv, "--no-tf", "--sizes", "1K"] if "--sizes" not in argv else argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.tf
def test_cuda_checks_script_runs_every_step(tmp_path: Path) -> None:
    # tools/cuda_checks.sh runs only on GPU machines, which CI has none of: its smoke mode runs
    # every step on the CPU at tiny sizes, so a renamed option or a broken step shows up here.
    pytest.importorskip("tensorflow")
    reference = tmp_path / "reference.npz"
    record = [sys.executable, "-m", "parity", "record", "--cases", "he_normal/dense"]
    record += ["--dtypes", "float32", "--n", "4096", "--out", str(reference)]
    subprocess.run(record, cwd=ROOT, check=True, capture_output=True)
    out = tmp_path / "out"
    env = {**os.environ, "CHECKS_SMOKE": "1", "PYTHON": sys.executable}
    script = ["bash", str(ROOT / "tools" / "cuda_checks.sh"), str(out), str(reference)]
    done = subprocess.run(script, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("device.txt", "tests.log", "glibc.log", "experiments.log", "parity.log"):
        assert (out / name).read_text().strip(), name
    assert "2 passed" in (out / "tests.log").read_text()
    assert "PASS: 1 cases" in (out / "parity.log").read_text()
    glibc = (out / "glibc.log").read_text()  # every side of the CPU, in the smoke run
    sides = 3 if importlib.util.find_spec("numba") else 2  # numpy, torch (and fused kernels)
    clean = "differ from glibc's, of 4096 each: sqrtf(-2 logf) 0, sinf 0, cosf 0"
    assert glibc.count(clean) == sides
    for name, key in [("bench_cuda", "cases"), ("bench_cuda_orthogonal", "cases"),
                      ("memory_cuda", "memory"), ("memory_cuda_orthogonal", "memory")]:  # fmt: skip
        rows = json.loads((out / f"{name}.json").read_text())[key]
        assert rows and all(row["device"] == "cpu" for row in rows), name
    report = json.loads((out / "parity-report" / "report.json").read_text())
    assert report  # the report of the replayed reference
    # Each step writes at most 5 files, as the script's header says.
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert len(files) == 15, files


def test_cuda_checks_script_refuses_bad_usage(tmp_path: Path) -> None:
    script = ["bash", str(ROOT / "tools" / "cuda_checks.sh")]
    for args in ([], [str(tmp_path)], [str(tmp_path), str(tmp_path / "none.npz")]):
        done = subprocess.run([*script, *args], capture_output=True, text=True)
        assert done.returncode != 0 and "usage" in done.stderr, args
    (tmp_path / "ref.npz").write_bytes(b"")
    done = subprocess.run(
        [*script, str(tmp_path / "out"), str(tmp_path / "ref.npz"), "tset"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "unknown step 'tset'" in done.stderr
    if not torch.cuda.is_available():  # without CHECKS_SMOKE the steps need a GPU
        env = {k: v for k, v in os.environ.items() if k != "CHECKS_SMOKE"}
        env["PYTHON"] = sys.executable
        done = subprocess.run(
            [*script, str(tmp_path / "out"), str(tmp_path / "ref.npz"), "bench"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        assert done.returncode == 2 and "sees no CUDA device" in done.stderr
