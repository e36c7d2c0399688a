#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one run, each result written under OUT_DIR:
#   tests.log            the whole test suite, CUDA cases included (they skip without a GPU)
#   bench_cuda.*         timings (with each sampler's share of the peak memory bandwidth) for
#                        float32, float16 and bfloat16 at 1M-256M values, and orthogonal_
#   memory_cuda.*        peak extra memory on 1 GiB tensors (torch.cuda.max_memory_allocated)
#   experiments.log      the truncated-normal candidates on the GPU
#   parity-report/       the parity suite on cuda, replaying TensorFlow references
#
# Usage:   bash tools/cuda_checks.sh OUT_DIR REFERENCE.npz
# Needs torch with CUDA and this package with its test extras (pip install -e ".[test]").
# Record the references where TensorFlow is installed (the GPU machine needs no TensorFlow):
#          python -m parity record --out REFERENCE.npz
set -euo pipefail
out=${1:?usage: bash tools/cuda_checks.sh OUT_DIR REFERENCE.npz}
reference=${2:?usage: bash tools/cuda_checks.sh OUT_DIR REFERENCE.npz}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/device.txt"

python -m pytest -q -p no:cacheprovider tests 2>&1 | tee "$out/tests.log"

python tools/bench.py --devices cuda --sizes 1M,16M,64M,256M --dtypes float32,float16,bfloat16 \
    --no-tf --repeats 9 --json "$out/bench_cuda.json" --markdown "$out/bench_cuda.md"
python tools/bench.py --devices cuda --families orthogonal --orthogonal 4096,8192,8192x2048 \
    --no-tf --repeats 3 --json "$out/bench_cuda_orthogonal.json" \
    --markdown "$out/bench_cuda_orthogonal.md"
python tools/bench.py --devices cuda --no-timing --no-tf --memory --dtypes float32,bfloat16 \
    --families uniform,untruncated_normal,truncated_normal,truncated_normal_ \
    --json "$out/memory_cuda.json" --markdown "$out/memory_cuda.md"
python tools/bench.py --devices cuda --no-timing --no-tf --memory --families orthogonal \
    --orthogonal 16384 --json "$out/memory_cuda_orthogonal.json" \
    --markdown "$out/memory_cuda_orthogonal.md"

python tools/sampler_experiments.py --device cuda --numel 256M --rounds 9 \
    --chunks 16M,64M --only inverse_cdf,inverse_cdf/16M,rejection/16M,reject_icdf/16M \
    2>&1 | tee "$out/experiments.log"

python -m parity --devices cuda --reference "$reference" --out "$out/parity-report" \
    2>&1 | tail -n 5 | tee "$out/parity.log"
