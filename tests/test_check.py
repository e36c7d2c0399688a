"""parity.check and parity.testing.assert_matches_keras: pass on the library, fail on torch's
untruncated kaiming_normal_ for "he_normal", clear errors on bad input.

n = 2·10^5 per check: torch's kaiming_normal_ (untruncated N(0, 2/fan_in)) puts 2.3% of its
values outside Keras's support ±2·sqrt(2/fan_in)/0.8796 (±2.27 of its own stddev: about 4,600
values; the support check needs one) and has KS distance 0.018, 5 times the critical distance at
this n, so its failure is certain; the library passes with probability 1 - alpha.
"""

import math

import pytest
import torch

import parity
from parity.check import CheckResult, check
from parity.testing import assert_matches_keras

pytest.importorskip("scipy")

CONV = (64, 32, 3, 3)
N = 200_000


def test_library_passes_and_kaiming_normal_fails_for_he_normal():
    good = check(parity.he_normal_, "he_normal", CONV, n=N)
    assert isinstance(good, CheckResult)
    assert good.passed and good.failures == () and good.out_of_support == 0
    assert good.n >= N and good.p_value > 0.01
    assert str(good) == good.summary and good.summary.startswith("PASS")
    bad = check(torch.nn.init.kaiming_normal_, "he_normal", CONV, n=N)
    assert not bad.passed
    assert {"ks", "support"} <= set(bad.failed_checks)
    assert bad.out_of_support > 0.02 * bad.n
    assert bad.ks_statistic > 0.01
    assert "kaiming_normal_" in bad.summary and "outside the support" in bad.summary


def test_assert_matches_keras():
    result = assert_matches_keras(parity.he_normal_, "he_normal", CONV, n=N)
    assert result.passed
    with pytest.raises(AssertionError, match=r"(?s)FAIL.*kaiming_normal_.*outside the support"):
        assert_matches_keras(torch.nn.init.kaiming_normal_, "he_normal", CONV, n=N)


def test_reference_forms_agree():
    config = {"class_name": "VarianceScaling", "config": {"scale": 2.0, "seed": 7}}
    for reference in ("he_normal", "HeNormal", config, parity.get("he_normal")):
        assert check(parity.he_normal_, reference, CONV, n=50_000).passed, reference


def test_keras_initializer_object_as_reference():
    keras = pytest.importorskip("keras")
    result = check(parity.glorot_uniform_, keras.initializers.GlorotUniform(seed=3), CONV, n=N)
    assert result.passed and "GlorotUniform" in result.reference
    wrong = check(parity.glorot_uniform_, keras.initializers.HeUniform(), CONV, n=N)
    assert not wrong.passed and "variance" in wrong.failed_checks


def test_torch_xavier_uniform_is_glorot_uniform():
    # A true fact the tool should report, not a failure: same law on torch-layout shapes.
    assert check(torch.nn.init.xavier_uniform_, "glorot_uniform", (256, 128), n=N).passed


def test_orthogonality_is_checked_exactly():
    good = check(torch.nn.init.orthogonal_, "orthogonal", (128, 32), n=50_000)
    assert good.passed and good.orthogonality_error < 1e-5

    def gaussian(tensor, generator=None):  # right variance 1/d, not orthogonal
        return tensor.normal_(0.0, 1 / math.sqrt(128), generator=generator)

    bad = check(gaussian, "orthogonal", (128, 32), n=50_000)
    assert "orthogonality" in bad.failed_checks

    def one_nan(tensor, generator=None):
        parity.orthogonal_(tensor, generator=generator)
        tensor[0, 0] = math.nan

    broken = check(one_nan, "orthogonal", (64, 32), n=20_000)
    assert "orthogonality" in broken.failed_checks and math.isnan(broken.orthogonality_error)


def test_unwritten_values_fail_the_support_check():
    def half_written(tensor, generator=None):
        tensor[: tensor.shape[0] // 2].uniform_(-0.05, 0.05, generator=generator)

    result = check(half_written, "random_uniform", (64, 64), n=20_000)
    assert not result.passed and result.out_of_support == result.n // 2
    assert "values are NaN" in result.summary and "outside the support" not in result.failures[0]
    assert abs(result.relative_std_error) < 0.03  # over the written values only

    def new_tensor(tensor, generator=None):  # returns its values instead of writing them
        return torch.empty_like(tensor).uniform_(-0.05, 0.05, generator=generator)

    result = check(new_tensor, "random_uniform", (64, 64), n=20_000)
    assert f"{result.n:,} values are NaN" in result.summary
    assert "independence" not in result.failed_checks and not result.notes  # NaN says it all
    # No stddev to test: the variance test neither fails nor prints a NaN percentage.
    assert "variance" not in result.failed_checks and "nan%" not in result.summary
    assert "stddev: none (every value is NaN)" in result.summary


def test_a_candidate_that_reseeds_fails_and_one_that_ignores_the_generator_is_noted():
    def reseeding(tensor, generator=None):  # every layer would get the same weights
        return parity.he_normal_(tensor, generator=torch.Generator().manual_seed(0))

    result = check(reseeding, "he_normal", (512, 512))
    assert result.failed_checks == ("independence",)  # the pooled values alone pass
    assert "8 calls with one generator gave identical weights" in result.summary

    def global_generator(tensor, generator=None):
        return parity.he_normal_(tensor)

    result = check(global_generator, "he_normal", (256, 128), n=N)
    assert result.passed and "cannot be reproduced" in result.notes[0]
    assert not check(parity.he_normal_, "he_normal", (256, 128), n=N).notes


def test_tiny_shapes_cap_the_calls():
    result = check(parity.he_uniform_, "he_uniform", (1, 1), n=10**6, max_calls=3_000)
    assert result.n == 3_000 and result.passed


def test_reduced_precision():
    result = check(parity.glorot_uniform_, "glorot_uniform", (256, 128), n=N, dtype=torch.float16)
    assert result.passed and result.dtype == "float16"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda():
    assert check(parity.he_normal_, "he_normal", CONV, n=N, device="cuda").passed
    assert not check(torch.nn.init.kaiming_normal_, "he_normal", CONV, n=N, device="cuda").passed


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"candidate": "he_normal"}, TypeError, "candidate must be an in-place init function"),
        ({"reference": 42}, TypeError, "reference must be a Keras identifier"),
        ({"reference": "he_nromal"}, ValueError, "unknown initializer"),
        ({"reference": "zeros"}, ValueError, "not a random distribution"),
        ({"shape": "64x3"}, TypeError, "shape must be a sequence of ints"),
        ({"shape": (64, 0)}, ValueError, "sizes >= 1"),
        ({"shape": (2.5, 3)}, TypeError, "shape must be a sequence of ints"),
        ({"n": 0}, ValueError, "n must be >= 1"),
        # The variance test's false alarms: 2.3% of 3000 seeds at n = 1 (alpha 1%).
        ({"n": 99}, ValueError, "n must be at least 100"),
        ({"shape": (1, 1), "n": 1000, "max_calls": 99}, ValueError, "only 99 values were drawn"),
        ({"n": 1e6}, TypeError, "n must be an int"),
        ({"alpha": 1.5}, ValueError, "alpha must be a number in"),
        ({"alpha": "0.1"}, TypeError, "alpha must be a number in"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"seed": None}, TypeError, "seed must be an int"),
        ({"seed": 2**70}, ValueError, r"seed must be an int in \[-2\*\*63, 2\*\*64\)"),
        ({"device": "meta"}, ValueError, "no random generator"),
        ({"device": "bogus"}, ValueError, "unknown device 'bogus'"),
        ({"device": 2.0}, TypeError, "device must be"),
        ({"dtype": torch.int32}, TypeError, "float16, bfloat16, float32 and float64"),
        ({"dtype": torch.float8_e5m2}, TypeError, "float16, bfloat16, float32 and float64"),
        ({"max_calls": True}, TypeError, "max_calls must be an int"),
    ],
)
def test_bad_input(kwargs, error, message):
    arguments = {"candidate": parity.he_normal_, "reference": "he_normal", "shape": CONV}
    arguments |= kwargs
    positional = [arguments.pop(k) for k in ("candidate", "reference", "shape")]
    with pytest.raises(error, match=message):
        check(*positional, **arguments)


def test_numpy_alpha_and_seed_are_numbers():
    np = pytest.importorskip("numpy")
    result = check(
        parity.he_normal_, "he_normal", CONV, n=N, alpha=np.float32(0.01), seed=np.int64(3)
    )
    assert result.passed


def test_a_seeded_candidate_is_refused_with_the_reason():
    # A seeded initializer draws the same values on every call: no sample to test.
    seeded = parity.get({"class_name": "HeNormal", "config": {"seed": 3}})
    with pytest.raises(ValueError, match=r"has seed=3.*takes no generator"):
        check(seeded, "he_normal", CONV, n=1_000)


def test_candidate_without_generator_keyword():
    def no_generator(tensor):
        return tensor.normal_()

    with pytest.raises(TypeError, match="must accept a generator= keyword"):
        check(no_generator, "he_normal", CONV, n=1_000)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        check(parity.he_normal_, "he_normal", CONV, n=1_000, device="cuda")
