#!/usr/bin/env bash
# Everything that needs a CUDA GPU, step by step, each result written under OUT_DIR:
#   tests        device.txt; tests.log: the whole test suite, CUDA cases included
#   glibc        glibc.log: seed mode's logf / sincosf on the GPU against the C library's, on all
#                2^23 inputs of each (tools/check_glibc.py; needs Linux with glibc 2.28+)
#   bench        bench_cuda.{json,md}: timings (with each sampler's share of the peak memory
#                bandwidth) for float32, float16 and bfloat16 at 1M-256M values;
#                bench_cuda_orthogonal.{json,md}: orthogonal_
#   memory       memory_cuda.{json,md}, memory_cuda_orthogonal.{json,md}: peak extra memory
#                on 1 GiB tensors (torch.cuda.max_memory_allocated)
#   experiments  experiments.log: the truncated-normal candidates on the GPU
#   parity       parity.log; parity-report/report.{md,json}: the parity suite on cuda,
#                replaying TensorFlow references (no plots)
# Each step writes at most 5 files and can run as a command of its own (their GPU run times are
# not measured yet).
#
# Usage:   bash tools/cuda_checks.sh OUT_DIR REFERENCE.npz [STEP ...]   (default: every step)
# A failing step does not stop the later ones; the exit status is 1 if any failed.  Only the
# parity step reads REFERENCE.npz.
# Runs from a checkout with no install (it puts the checkout first on PYTHONPATH); needs torch
# with CUDA, numpy, scipy, rich and pytest (matplotlib for the test suite's plot tests).
# Record the references where TensorFlow is installed (the GPU machine needs no TensorFlow):
#          python -m parity record --out REFERENCE.npz
# CHECKS_SMOKE=1 runs every step on the CPU at tiny sizes: a check of this script itself (its
# parity step replays he_normal/dense/float32 only, so REFERENCE.npz must hold that case).
set -euo pipefail
usage="usage: bash tools/cuda_checks.sh OUT_DIR REFERENCE.npz [tests|glibc|bench|memory|experiments|parity ...]"
out=${1:?$usage}
reference=${2:?$usage}
shift 2
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(tests glibc bench memory experiments parity)
for step in "${steps[@]}"; do
    case $step in
        tests | glibc | bench | memory | experiments | parity) ;;
        *) echo "unknown step '$step'; $usage" >&2; exit 2 ;;
    esac
done
if [[ " ${steps[*]} " == *" parity "* ]] && [ ! -f "$reference" ]; then
    echo "no reference file '$reference'; $usage" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
mkdir -p "$out"

if [ "${CHECKS_SMOKE:-0}" = 1 ]; then
    device=cpu sizes=4K dtypes=float32 orthogonal=64 big_orthogonal=64 numel=64K chunks=16K
    memory=(--memory-numel 64K --memory-parity-only) memory_dtypes=float32
    parity_size=(--n 4096 --cases he_normal/dense --dtypes float32)
    tests=(tests/test_tf_random.py -k "philox_known or philox_tensors") glibc=(--limit 4096)
else
    device=cuda sizes=1M,16M,64M,256M dtypes=float32,float16,bfloat16
    orthogonal=4096,8192,8192x2048 big_orthogonal=16384 numel=256M chunks=16M,64M
    memory=() memory_dtypes=float32,bfloat16 parity_size=() tests=(tests) glibc=()
fi
bench=("$python" "$root/tools/bench.py" --devices "$device" --no-tf)
if [ "$device" = cuda ] && ! "$python" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "$python's torch sees no CUDA device (CHECKS_SMOKE=1 runs the steps on the CPU)" >&2
    exit 2
fi

run_tests() {
    "$python" -c "import torch; print(torch.__version__, torch.cuda.is_available() and \
torch.cuda.get_device_name())" | tee "$out/device.txt"
    (cd "$root" && "$python" -m pytest -q -p no:cacheprovider "${tests[@]}") 2>&1 \
        | tee "$out/tests.log"
}

run_glibc() {
    "$python" "$root/tools/check_glibc.py" --device "$device" "${glibc[@]}" 2>&1 \
        | tee "$out/glibc.log"
}

run_bench() {
    "${bench[@]}" --sizes "$sizes" --dtypes "$dtypes" --repeats 9 \
        --json "$out/bench_cuda.json" --markdown "$out/bench_cuda.md"
    "${bench[@]}" --families orthogonal --orthogonal "$orthogonal" --repeats 3 \
        --json "$out/bench_cuda_orthogonal.json" --markdown "$out/bench_cuda_orthogonal.md"
}

run_memory() {
    "${bench[@]}" --no-timing --memory "${memory[@]}" --dtypes "$memory_dtypes" \
        --families uniform,untruncated_normal,truncated_normal,truncated_normal_ \
        --json "$out/memory_cuda.json" --markdown "$out/memory_cuda.md"
    "${bench[@]}" --no-timing --memory "${memory[@]}" --families orthogonal \
        --orthogonal "$big_orthogonal" \
        --json "$out/memory_cuda_orthogonal.json" --markdown "$out/memory_cuda_orthogonal.md"
}

run_experiments() {
    "$python" "$root/tools/sampler_experiments.py" --device "$device" --numel "$numel" \
        --rounds 9 --chunks "$chunks" \
        --only "inverse_cdf,inverse_cdf/${chunks%%,*},rejection/${chunks%%,*},reject_icdf/${chunks%%,*}" \
        2>&1 | tee "$out/experiments.log"
}

run_parity() {
    "$python" -m parity --devices "$device" --reference "$reference" --no-plots \
        "${parity_size[@]}" --out "$out/parity-report" 2>&1 | tail -n 5 | tee "$out/parity.log"
}

# A failing step (a failed test, say) does not stop the later ones: each result is worth having.
failed=()
for step in "${steps[@]}"; do
    echo "== $step"
    set +e  # errexit is ignored inside a tested command, so test the status separately
    ( set -e; "run_$step" )
    status=$?
    set -e
    [ $status -eq 0 ] || failed+=("$step")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}" >&2
    exit 1
fi
