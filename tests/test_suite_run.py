"""The parity run: the case matrix, a reduced matrix against live TensorFlow, record/replay,
the mutant zoo, the report, the layer section hook and the command line.

Power: the reduced matrix draws 5·10^4 values per side; a wrong port such as torch's
kaiming_normal_ for "he_normal" has a two-sample KS distance of 0.018 (about 2x the critical
distance at n_eff = 2.5·10^4, α = 0.01/m) and 2.3% of its values outside the support, so it
fails for sure.  The zoo runs each mutant at the n that catches it (see parity.suite.mutants).
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import parity
from parity.suite import cli, mutants, references, runner
from parity.suite.cli import main
from parity.suite.stats import GridCache, Summary, make_target

pytest.importorskip("scipy")
pytest.importorskip("rich")
pytest.importorskip("matplotlib")

REDUCED = [
    "he_normal/conv2d/float32",
    "glorot_uniform/dense/float32",
    "lecun_untruncated_normal/tiny/float32",
    "he_uniform/bias/float32",
    "truncated_normal/dense/float64",
    "random_normal/dense/float32",
    "orthogonal/lstm_recurrent/float32",
]
N = 50_000


@pytest.fixture(scope="module")
def keras_source():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    return references.KerasSource()


def _wrong_he_normal():
    import torch

    return runner.InitSpec(
        "kaiming_as_he_normal", torch.nn.init.kaiming_normal_, "he_normal", ("conv2d",)
    )


# --------------------------------------------------------------------------- the matrix


def test_default_matrix():
    cases = runner.build_cases(devices=["cpu"])
    names = [case.name for case in cases]
    assert len(names) == len(set(names)) == 2 * (9 * 8 + 3 + 4)
    nine = {f"{f}_{form}" for f in ("glorot", "he", "lecun") for form in parity.initializers.FORMS}
    others = {"random_normal", "random_uniform", "truncated_normal", "orthogonal"}
    assert {case.spec.name for case in cases} == nine | others
    every = runner.build_cases(dtypes=list(runner.DTYPES), devices=["cpu"])
    assert not [c for c in every if c.spec.name == "orthogonal" and c.dtype_name == "bfloat16"]
    for case in cases:  # both layouts describe the same law
        law = parity.describe(case.spec.identifier, case.shape)
        keras_law = parity.describe(case.spec.identifier, case.keras_shape, layout="keras")
        assert runner._same_law(law, keras_law), case.name


def test_case_selection_and_errors():
    selected = runner.build_cases(["he_normal", "*/conv3d/float64"], devices=["cpu"])
    assert {c.name for c in selected} >= {
        "he_normal/tiny/float32/cpu",
        "glorot_uniform/conv3d/float64/cpu",
    }
    assert all(c.spec.name == "he_normal" or c.shape_name == "conv3d" for c in selected)
    with pytest.raises(ValueError, match="no case matches"):
        runner.build_cases(["nothing_like_this"])
    with pytest.raises(ValueError, match="valid dtypes"):
        runner.build_cases(dtypes=["float8"])
    with pytest.raises(ValueError, match="valid devices"):
        runner.build_cases(devices=["tpu"])


# --------------------------------------------------------------------------- live TF


def test_reduced_matrix_against_live_tensorflow(keras_source):
    cases = runner.build_cases(REDUCED, devices=runner.default_devices())
    outcome = runner.run(cases, n=N, sources=[keras_source], max_calls=2_000)
    assert outcome.passed, [c.name for c in outcome.cases if not c.passed]
    for case in outcome.cases:
        assert not case.errors
        sides = {(t.test, t.side) for t in case.tests}
        assert ("ks_two_sample", keras_source.name) in sides
        assert ("ks_exact", keras_source.name) in sides  # TF itself matches the exact target
        reference = case.references[keras_source.name]
        assert reference.outside == 0
        expected = min(N, 2_000 * int(np.prod(case.keras_shape)))
        assert expected <= reference.n < expected + np.prod(case.keras_shape)
    orthogonal = next(c for c in outcome.cases if c.initializer == "orthogonal")
    assert orthogonal.references[keras_source.name].orthogonality_error < 1e-5
    # Both sides' diagonal tests: TF's own matrices have a zero-mean diagonal too.
    assert {(t.test, t.side) for t in orthogonal.tests if t.test == "diagonal"} == {
        ("diagonal", "torch"),
        ("diagonal", keras_source.name),
    }
    # No variance test where it could not fail: an orthogonal matrix's mean square is exact.
    assert not [t for t in orthogonal.tests if t.test == "variance"]
    assert outcome.family_size == 5 * len(cases)  # orthogonal: two diagonal for two variance


def test_graph_loop_draws_what_eager_calls_draw(keras_source):
    """The tf.function loop is only faster: same Keras calls, same values (the eager path is
    the one other backends use)."""
    shape = (3, 3, 8, 16)
    for identifier in ("he_normal", "orthogonal"):
        graph = keras_source._graph_draw(keras_source.initializer(identifier, 5), shape, "float32")
        eager = keras_source._eager_draw(keras_source.initializer(identifier, 5), shape, "float32")
        np.testing.assert_array_equal(graph(4), eager(4))


def test_live_tensorflow_flags_a_wrong_port(keras_source):
    case = runner.Case(_wrong_he_normal(), "conv2d", runner.DTYPES["float32"], "cpu")
    outcome = runner.run([case], n=N, sources=[keras_source])
    result = outcome.cases[0]
    assert not outcome.passed
    two_sample = next(t for t in result.tests if t.test == "ks_two_sample")
    assert not two_sample.passed and two_sample.p_holm < 1e-6
    assert next(c for c in result.checks if c.side == "torch").value > 0  # support


def test_record_and_replay_round_trip(keras_source, tmp_path):
    record = tmp_path / "tf.npz"
    selection = ["--cases", "he_normal/conv2d/float32,orthogonal/dense/float64", "--n", "20000"]
    assert main(["record", "--out", str(record), *selection]) == 0
    replayed = references.RecordedSource(record)
    assert replayed.name == f"{keras_source.name} (recorded: tf.npz)"
    # The file holds exactly what the live source draws from the same seed.
    for case in runner.build_cases(
        ["he_normal/conv2d/float32", "orthogonal/dense/float64"], devices=["cpu"]
    ):
        key = references.reference_key(case.spec.identifier, case.keras_shape, case.dtype)
        target = make_target(parity.describe(case.spec.identifier, case.shape), case.dtype)
        seed = runner.case_seed(0, f"{keras_source.name}|{key}")
        live = keras_source.summary(
            case.spec.identifier, case.keras_shape, target, 20_000, seed=seed, max_calls=25_000
        )
        stored = replayed.summary(
            case.spec.identifier, case.keras_shape, target, 0, seed=0, max_calls=0
        )
        assert np.array_equal(live.cum, stored.cum) and live.scalars() == stored.scalars()
    # Replay in a process where TensorFlow and Keras cannot be imported.
    blocker = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
        "from parity.suite.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "report"
    args = [
        "--reference",
        str(record),
        *selection,
        "--devices",
        "cpu",
        "--out",
        str(out),
        "--no-plots",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(parity.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", blocker, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((out / "report.json").read_text())
    assert data["verdict"] == "PASS" and data["sources"] == [replayed.name]
    assert all(c["references"] for c in data["cases"])
    assert not any("was recorded with" in note for note in data["notes"])
    # Replayed with another n or seed, the references are still the recorded ones: said so.
    replay = ["--reference", str(record), *selection, "--devices", "cpu", "--no-plots"]
    assert main([*replay, "--seed", "7", "--out", str(out)]) == 0
    notes = json.loads((out / "report.json").read_text())["notes"]
    assert any("recorded with --seed 0, not 7" in note for note in notes), notes
    # Cases the file does not hold are a usage error, before anything runs.
    assert (
        main(["--reference", str(record), "--cases", "he_uniform/dense/float32", "--out", str(out)])
        == 2
    )


def test_bad_reference_file(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a record")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    single = tmp_path / "array.npy"
    np.save(single, np.zeros(3))
    no_entries = tmp_path / "no_entries.npz"
    np.savez(no_entries, meta=np.array(json.dumps({"format": 1, "source": "x"})))
    listed = tmp_path / "listed.npz"
    np.savez(listed, meta=np.array("[1, 2]"))
    for path in (junk, empty, single, no_entries, listed):
        assert main(["--reference", str(path), "--out", str(tmp_path)]) == 2, path
        assert "is not a parity reference file" in capsys.readouterr().err
    assert main(["--reference", str(tmp_path / "missing.npz"), "--out", str(tmp_path)]) == 2
    # A file name with rich markup in it is printed as it is.
    assert main(["--reference", str(tmp_path / "rec[tf].npz"), "--out", str(tmp_path)]) == 2
    assert "rec[tf].npz" in capsys.readouterr().err


def test_usage_errors_before_anything_runs(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    quick = ["--exact-only", "--cases", "he_normal/dense/float32", "--n", "1000"]
    bad = [
        ([*quick, "--out", str(a_file)], "exists and is not a folder"),
        (["--exact-only", "--dtypes", ",", "--out", str(tmp_path)], "--dtypes names no dtype"),
        ([*quick, "--reference", str(a_file)], "--exact-only tests without a reference"),
        (["--reference", str(tmp_path), "--out", str(tmp_path)], "is a folder; give the recorded"),
        (["--cases", ",", "--list"], "--cases names no case"),
        (["--devices", ",", "--cases", "he_normal", "--list"], "--devices names no device"),
        (["--mutants", "--cases", "he_normal", "--out", str(tmp_path)], "does not apply"),
        (["--mutants", "--devices", "gpu", "--out", str(tmp_path)], "unknown device 'gpu'"),
        (["--devices", "cpu", "record", "--out", str(tmp_path / "x.npz")], "does not apply"),
        (["record", "--out", str(tmp_path)], "is a folder"),
        (["record", "--out", str(tmp_path / "no" / "x.npz")], "does not exist"),
    ]
    for argv, message in bad:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not a_file.is_dir()


def test_options_before_record_are_kept(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "command_record", lambda args, console: seen.update(vars(args)) or 0)
    argv = ["--cases", "he_normal/dense/float32", "--n", "1000", "--seed", "5"]
    assert main([*argv, "record", "--out", str(tmp_path / "x.npz")]) == 0
    assert seen["cases"] == ["he_normal/dense/float32"] and seen["n"] == 1000
    assert seen["seed"] == 5
    assert main(["record", "--out", str(tmp_path / "x.npz"), "--n", "2000"]) == 0
    assert seen["n"] == 2000 and seen["cases"] is None


# --------------------------------------------------------------------------- mutants


def test_mutant_zoo_is_caught_and_the_library_passes(tmp_path):
    """Every mutant fails parity.check at its n; the library's initializer for the same
    identifier and shape passes (each check at alpha / 18)."""
    assert mutants.miss_probability(mutants.LEAK_N) < 1e-7
    assert main(["--mutants", "--out", str(tmp_path), "--devices", "cpu"]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    rows = data["mutants"]
    required = {
        "torch_xavier_normal", "torch_kaiming_normal", "torch_trunc_normal_absolute",
        "missing_0.8796_factor", "fan_avg_as_sum", "keras_fans_on_torch_shape",
        "truncation_by_clamping", "keras_torch_backend_leak", "orthogonal_without_sign_fix",
    }  # fmt: skip
    assert {row["name"] for row in rows} == required
    for row in rows:
        assert row["caught"] and row["library_passed"], row["name"]
    leak = next(row for row in rows if row["name"] == "keras_torch_backend_leak")
    assert leak["caught_by"] == ["support"]  # only the exact support check can see it
    signs = next(row for row in rows if row["name"] == "orthogonal_without_sign_fix")
    assert signs["caught_by"] == ["diagonal"]  # only the diagonal moves
    assert "Mutant zoo" in (tmp_path / "report.md").read_text()


# --------------------------------------------------------------------------- report and CLI


def test_exact_only_run_writes_the_report_and_fails_on_a_wrong_port(tmp_path, monkeypatch, capsys):
    specs = runner.initializer_specs()
    monkeypatch.setattr(runner, "initializer_specs", lambda: [*specs, _wrong_he_normal()])
    out = tmp_path / "report"
    argv = ["--exact-only", "--cases", "*/conv2d/float32", "--n", "20000", "--out", str(out)]
    assert main([*argv, "--devices", "cpu"]) == 1
    # The console says why, as the report does: the side and the test that failed.
    assert "FAIL kaiming_as_he_normal/conv2d/float32/cpu: " in capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())
    assert data["verdict"] == "FAIL"
    verdicts = {c["name"]: c["passed"] for c in data["cases"]}
    assert verdicts.pop("kaiming_as_he_normal/conv2d/float32/cpu") is False
    assert all(verdicts.values())
    # ks_exact and variance per case; orthogonal/conv2d has a diagonal test for its variance.
    assert data["holm"]["family_size"] == 2 * len(data["cases"])
    assert 0 < data["sensitivity"]["detectable_relative_std_error"]["truncated_normal"] < 0.05
    text = (out / "report.md").read_text()
    assert "## Failures" in text and "kaiming_as_he_normal" in text
    assert (out / "he_normal.png").stat().st_size > 10_000


def test_layers_section_through_the_hook(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    sample = types.SimpleNamespace
    fake = types.ModuleType("parity.suite.layers")
    fake.layer_samples = lambda n_target, seed: [
        sample(name="Dense.kernel", torch=rng.uniform(-1, 1, 5000), keras=rng.uniform(-1, 1, 4000)),
        sample(name="LSTM.bias", torch=rng.uniform(-1, 1, 5000), keras=rng.uniform(-1, 2, 4000)),
    ]
    monkeypatch.setitem(sys.modules, "parity.suite.layers", fake)
    monkeypatch.setattr(parity.suite, "layers", fake, raising=False)
    if importlib.util.find_spec("keras") is None:  # --layers asks for Keras; the fake needs none
        monkeypatch.setitem(sys.modules, "keras", types.ModuleType("keras"))
    assert runner.layers_available()
    out = tmp_path / "report"
    argv = ["--exact-only", "--layers", "--cases", "he_normal/dense/float32", "--n", "20000"]
    assert main([*argv, "--devices", "cpu", "--out", str(out), "--no-plots"]) == 1
    data = json.loads((out / "report.json").read_text())
    layers = {row["name"]: row for row in data["layers"]}
    assert layers["Dense.kernel"]["passed"] and not layers["LSTM.bias"]["passed"]
    assert "Keras layers vs torch layers" in (out / "report.md").read_text()


def test_layers_without_the_module_is_a_clear_error(tmp_path, capsys):
    if runner.layers_available():
        pytest.skip("parity/suite/layers.py is installed")
    assert main(["--layers", "--exact-only", "--out", str(tmp_path)]) == 2
    assert "parity/suite/layers.py" in capsys.readouterr().out


def test_cli_help_list_and_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--cases",
        "--n",
        "--devices",
        "--dtypes",
        "--out",
        "--seed",
        "--alpha",
        "--mutants",
        "--reference",
        "record",
    ):
        assert option in text
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "--help"])
    assert exit_info.value.code == 0 and "--max-calls" in capsys.readouterr().out
    assert main(["--list", "--cases", "orthogonal", "--devices", "cpu"]) == 0
    assert "orthogonal/dense/float32/cpu" in capsys.readouterr().out
    # --list checks the options it would run with.
    assert main(["--list", "--exact-only", "--reference", str(tmp_path / "x.npz")]) == 2
    assert "do not give --reference too" in capsys.readouterr().err
    assert main(["--list", "--cases", "orthogonal", "--dtypes", "bfloat16"]) == 2
    assert "no bfloat16 orthogonal case" in capsys.readouterr().err
    bad_arguments = [
        (["--n", "many"], "expected a count"),
        (["--n", "0"], "positive whole count"),
        (["--n", "99"], "n must be between 100"),  # the two-sample KS is not calibrated there
        (["--n", "1e30"], "positive whole count"),  # past 2^53 a float count is not exact
        (["--n", "2e10"], "n must be between"),
        (["--alpha", "2"], "alpha"),
        (["--mutants", "--seed", str(2**70)], "the seed must be in"),
    ]
    for bad, message in bad_arguments:
        with pytest.raises(SystemExit) as exit_info:
            main(bad)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err, bad
    assert main(["--dtypes", "float8", "--out", str(tmp_path)]) == 2
    assert main(["--cases", "no_such_initializer", "--out", str(tmp_path)]) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_an_unwritable_output_fails_before_the_run(capsys):
    # /proc is a folder nobody may create files in, whatever the user's rights.
    quick = ["--exact-only", "--cases", "he_normal/dense/float32", "--n", "1000", "--no-plots"]
    assert main([*quick, "--out", "/proc"]) == 2
    assert "cannot write the report folder in '/proc'" in capsys.readouterr().err
    record = ["record", "--cases", "he_normal/dense/float32", "--out", "/proc/x.npz"]
    assert main(record) == 2
    assert "cannot write the record file in '/proc'" in capsys.readouterr().err


def test_sensitivity_is_stated_for_the_values_drawn_not_the_n_asked(tmp_path):
    # A 1 x 1 weight draws 25,000 values (max_calls) whatever --n says: the run's sensitivity
    # must be that case's, not that of 10^7 values.
    out = tmp_path / "report"
    argv = ["--exact-only", "--cases", "glorot_uniform/tiny/float32", "--n", "1e7", "--no-plots"]
    assert main([*argv, "--out", str(out)]) == 0
    data = json.loads((out / "report.json").read_text())
    case = data["cases"][0]
    assert data["sensitivity"]["detectable_relative_std_error"] == {
        "uniform": case["detectable_relative_std_error"]
    }
    assert data["sensitivity"]["ks_smallest_n_one_sample"] == runner.DEFAULT_MAX_CALLS
    assert case["detectable_relative_std_error"] > 0.01  # at 10^7 it would be 0.06%


def test_too_few_values_is_an_error_of_the_case_not_a_failed_test(tmp_path):
    out = tmp_path / "report"
    argv = ["--exact-only", "--cases", "glorot_uniform/tiny/float32", "--max-calls", "3"]
    assert main([*argv, "--no-plots", "--out", str(out)]) == 1
    case = json.loads((out / "report.json").read_text())["cases"][0]
    assert case["tests"] == []
    assert "only 3 values drawn" in case["errors"][0]


def test_a_report_folder_keeps_no_plot_of_an_earlier_run(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    for name in ("he_normal.png", "glorot_uniform.png", "mine.png"):
        (out / name).write_bytes(b"")
    argv = ["--exact-only", "--cases", "glorot_uniform/dense/float32", "--n", "1000"]
    assert main([*argv, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["glorot_uniform.png", "mine.png"]
    assert (out / "glorot_uniform.png").stat().st_size > 0  # this run's own plot
    assert main([*argv, "--no-plots", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["mine.png"]


def test_grid_cache_preload_is_used():
    grid = np.linspace(-1.5, 1.5, 7)
    cache = GridCache({"normal/8": grid})
    target = make_target(parity.samplers.Normal(1.0, 2.0), grids=cache, grid_size=8)
    assert np.array_equal(target.grid, 1.0 + 2.0 * grid)


def test_a_broken_reference_fails_its_case_and_the_run_goes_on():
    class Broken:
        name = "broken"

        def summary(self, identifier, keras_shape, target, n, *, seed, max_calls):
            return Summary(n=0, cum=np.zeros(len(target.grid)), sum_dev=0.0, sum_sq=0.0,
                           outside=0, minimum=0.0, maximum=0.0)  # fmt: skip

    cases = runner.build_cases(
        ["he_normal/dense/float32", "he_uniform/dense/float32"], ["float32"], ["cpu"]
    )
    outcome = runner.run(cases, n=20_000, sources=[Broken()])
    assert len(outcome.cases) == 2 and not outcome.passed
    for result in outcome.cases:
        assert any("broken: ValueError: cannot test an empty sample" in e for e in result.errors)
        assert all(t.side != "broken" for t in result.tests)  # nothing half-recorded
        assert all(c.side != "broken" for c in result.checks)


# --------------------------------------------------------------------------- time split


def _slowed(function, seconds):
    def slow(*args, **kwargs):
        time.sleep(seconds)
        return function(*args, **kwargs)

    return slow


class _SlowUniformSource:
    """A reference drawing Keras's he_uniform law with numpy, ``seconds`` per chunk."""

    name = "slow numpy"

    def __init__(self, seconds):
        self.seconds = seconds

    def summary(self, identifier, keras_shape, target, n, *, seed, max_calls):
        rng = np.random.default_rng(seed)
        limit = target.high

        def draw(k):
            time.sleep(self.seconds)
            return rng.uniform(-limit, limit, size=k * math.prod(keras_shape)).astype(np.float32)

        calls = references._calls(n, keras_shape, max_calls)
        return references._reduce(draw, keras_shape, target, calls, None)


def test_time_split_counts_sampling_per_side_and_a_shared_reference_once(monkeypatch):
    (case,) = runner.build_cases(["he_uniform/bias/float32"], ["float32"], ["cpu"])
    slow_case = runner.Case(
        runner.InitSpec("he_uniform", _slowed(parity.he_uniform_, 0.02), "he_uniform", ("bias",)),
        "bias", case.dtype, "cpu",
    )  # fmt: skip
    source = _SlowUniformSource(0.15)
    grids = GridCache()  # built here, with scipy's import, so the cases bin in milliseconds
    make_target(parity.describe("he_uniform", case.shape), case.dtype, grids=grids)
    # The same case twice: the second reuses the reference the first drew.
    outcome = runner.run(
        [slow_case, slow_case], n=640, sources=[source], grids=grids
    )  # 10 calls per side
    first, second = outcome.cases
    assert outcome.passed
    assert first.sampling_seconds["torch"] >= 10 * 0.02
    assert first.sampling_seconds["slow numpy"] >= 0.15
    assert "slow numpy" not in second.sampling_seconds  # counted where it was drawn
    for result in (first, second):
        assert result.testing_seconds < 0.15  # 640 values to bin: 13-20 ms here; not the sleeps
        total = sum(result.sampling_seconds.values()) + result.testing_seconds
        assert total == pytest.approx(result.seconds)
    split = outcome.time_split()
    assert split["sampling"]["slow numpy"] == first.sampling_seconds["slow numpy"]
    assert split["sampling"]["torch"] == pytest.approx(
        first.sampling_seconds["torch"] + second.sampling_seconds["torch"]
    )
    assert split["sampling_share"] > 0.8
    # And the other way round: slow binning is testing, not sampling.
    add = runner.Reducer.add
    monkeypatch.setattr(
        runner.Reducer, "add", lambda self, *a, **k: (time.sleep(0.2), add(self, *a, **k))
    )
    slow_testing = runner.run_case(case, n=640, seed=0, sources=(), grids=grids)
    assert slow_testing.testing_seconds >= 0.2 > slow_testing.sampling_seconds["torch"]


def test_scipy_is_imported_before_the_first_case_starts_its_clock():
    # scipy.stats takes about a second to import; inside the first case it would count as that
    # case's testing time.  A fresh interpreter, so that no earlier test has imported it.
    script = """
import sys
from parity.suite import runner
assert "scipy.stats" not in sys.modules
seen = []
run_case = runner.run_case
runner.run_case = lambda *a, **k: (seen.append("scipy.stats" in sys.modules), run_case(*a, **k))[1]
cases = runner.build_cases(["he_uniform/bias/float32"], ["float32"], ["cpu"])
assert runner.run(cases, n=100).passed
print(seen)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[True]"]


def test_the_report_and_the_console_give_the_time_split(tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["--exact-only", "--cases", "he_uniform/bias/float32", "--n", "20000", "--out", str(out)]
    assert main([*argv, "--no-plots"]) == 0
    data = json.loads((out / "report.json").read_text())
    (case,) = data["cases"]
    assert set(case["sampling_seconds"]) == {"torch"}
    assert case["sampling_seconds"]["torch"] > 0 and case["testing_seconds"] > 0
    split = data["time"]
    assert split["cases"] == pytest.approx(case["seconds"])
    assert split["sampling_share"] == pytest.approx(
        case["sampling_seconds"]["torch"] / case["seconds"]
    )
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("time: cases"))
    assert f"sampling {split['sampling_share']:.0%} (torch " in line
    assert f"Time: {line.removeprefix('time: ')}." in (out / "report.md").read_text()


def test_time_line_of_a_run_that_sampled_nothing():
    from parity.suite import report

    empty = runner.RunResult([], [], 0.01, 10, 0, 10, [], [], {})
    assert report.time_line(empty) == "no case took measurable time"
    broken = runner.CaseResult("x", "x", "x", "dense", (1,), (1,), "float32", "cpu", seconds=0.5)
    empty.cases.append(broken)  # failed before drawing anything: all of its time is testing
    assert report.time_line(empty).startswith("cases 0.5 s: sampling 0% (none), testing 100%")
