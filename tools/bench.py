"""Time keras-parity's initializers against torch's and TensorFlow's samplers, side by side.

For each initializer family, size, dtype and device, the parity function and its baselines fill
the same tensor in one process, round-robin (every round runs each of them once; the best
round counts, so a burst of load on a shared machine hurts all of them alike), after a warm-up
call.  Baselines:

    family              parity                  torch (same tensor)              TensorFlow (CPU)
    uniform             glorot_uniform_         uniform_(-limit, limit)          GlorotUniform
    untruncated_normal  glorot_untruncated_...  normal_(0, std)                  VarianceScaling
    truncated_normal    glorot_normal_          normal_(0, σ), trunc_normal_     GlorotNormal
                                                (a=-2σ, b=2σ)
    truncated_normal_   truncated_normal_       normal_(0, .05), trunc_normal_   TruncatedNormal
    orthogonal          orthogonal_             nn.init.orthogonal_              Orthogonal

TensorFlow baselines are Keras 3 initializers on the TF backend, called with the Keras kernel
shape holding the same number of values (they return a new tensor, so their time includes the
allocation); they run only on CPU and only when TensorFlow and Keras import.

Each case is checked against its target ratio: uniform and untruncated-normal forms <= 1.05x
torch's uniform_/normal_, truncated-normal forms <= 1.25x torch's normal_, orthogonal_ <= 1x
torch's orthogonal_, all on the same tensor.  float16/bfloat16 cases also time torch's sampler
on float32 values of the same shape: "full speed" for reduced precision means that speed.

--memory fills a tensor of >= 1 GiB with each initializer (and each torch baseline) in a fresh
subprocess and reports the peak extra memory against the 10%-of-the-tensor target (CPU: the
process's peak RSS, VmHWM on Linux, minus the RSS before the call; CUDA:
torch.cuda.max_memory_allocated minus the memory allocated before the call).  --suite-share
runs parity-suite cases (parity.suite.runner.run_case, torch side) at n = 10^7 draws each and
reports the split the runner measures: the loop of initializer calls (sampling) vs everything
else (testing); without the suite installed it times a generic sort-and-KS check instead.
--keras-init RNN,GRU,LSTM times keras_init_ on those layers (float32, the largest weight of
each --sizes) against the same Keras-like init written with torch.nn.init, and with --memory
measures keras_init_'s peak extra memory on layers whose largest weight is a --memory tensor,
from a generator and with a seed.

On CUDA each timing also gets the share of the GPU's peak memory bandwidth it reaches: the
tensor's bytes (each value written once, the least any in-place sampler moves) per second over
the theoretical peak, 2 transfers per memory clock times the bus width.

Output: a table per case (ms, values/s, parity/baseline ratios), a summary of the targets,
--json PATH (every number above, plus the machine and versions) and --markdown PATH (tables).

Examples:
    python tools/bench.py                                  # 1M, 16M, 64M float32, all devices
    python tools/bench.py --sizes 16M --dtypes float16,bfloat16 --json bench.json
    python tools/bench.py --families orthogonal --orthogonal 4096,8192
    python tools/bench.py --sizes 1M --memory --suite-share --markdown bench.md
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

import parity

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
MEMORY_TARGET = 0.10  # peak extra memory, as a share of the tensor's bytes
GIB = 1 << 30


@dataclasses.dataclass(frozen=True)
class Family:
    """One kind of initializer: the parity function timed for it, the Keras initializer (a
    config, as ``keras.initializers.serialize`` writes it) it reproduces, and the torch
    baselines it is compared to."""

    initializer: str  # parity function name
    keras: dict[str, Any]
    target: str  # the torch baseline the target ratio is taken against
    max_ratio: float
    torch_baselines: tuple[str, ...]

    @property
    def keras_name(self) -> str:
        return self.keras["class_name"]


def _keras(class_name: str, **config: Any) -> dict[str, Any]:
    return {"class_name": class_name, "config": config}


TRUNCATED_STDDEV = 0.05  # truncated_normal_'s (and Keras TruncatedNormal's) default stddev
UNTRUNCATED = _keras(
    "VarianceScaling", scale=1.0, mode="fan_avg", distribution="untruncated_normal"
)
FAMILIES: dict[str, Family] = {
    "uniform": Family("glorot_uniform_", _keras("GlorotUniform"), "torch.uniform_", 1.05,
                      ("torch.uniform_",)),
    "untruncated_normal": Family("glorot_untruncated_normal_", UNTRUNCATED, "torch.normal_",
                                 1.05, ("torch.normal_",)),
    "truncated_normal": Family("glorot_normal_", _keras("GlorotNormal"), "torch.normal_", 1.25,
                               ("torch.normal_", "torch.trunc_normal_")),
    "truncated_normal_": Family("truncated_normal_",
                                _keras("TruncatedNormal", mean=0.0, stddev=TRUNCATED_STDDEV),
                                "torch.normal_", 1.25, ("torch.normal_", "torch.trunc_normal_")),
    "orthogonal": Family("orthogonal_", _keras("Orthogonal"), "torch.orthogonal_", 1.0,
                         ("torch.orthogonal_",)),
}  # fmt: skip
DEFAULT_FAMILIES = ("uniform", "untruncated_normal", "truncated_normal", "truncated_normal_")

# --------------------------------------------------------------------------- cases


def parse_size(text: str) -> int:
    """``"64M"`` → 67108864; K, M, G are powers of 1024; plain integers and ``1e7`` work too."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"not a positive whole size: {text!r}")
    return int(value)


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def parse_matrix(text: str) -> tuple[int, int]:
    """``"4096"`` → (4096, 4096); ``"8192x2048"`` → (8192, 2048)."""
    rows, _, cols = text.lower().partition("x")
    return parse_size(rows), parse_size(cols or rows)


def case_label(result: dict[str, Any]) -> str:
    """A case's size for tables: the shape for orthogonal (its rows and columns matter),
    else the number of values."""
    if result["family"] == "orthogonal":
        return "x".join(map(str, result["shape"]))
    return size_label(result["numel"])


def size_label(numel: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if numel >= scale and numel % scale == 0:
            return f"{numel // scale}{unit}"
    return str(numel)


def matrix_shape(numel: int) -> tuple[int, int]:
    """A 2-D weight shape with ``numel`` values, as square as powers of two allow."""
    cols = 1 << (numel.bit_length() // 2)
    while numel % cols:
        cols //= 2
    return numel // cols, cols


@dataclasses.dataclass(frozen=True)
class Case:
    family: str
    shape: tuple[int, ...]
    dtype: str
    device: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def cases(args: argparse.Namespace) -> list[Case]:
    found = []
    for device in args.devices:
        for dtype in args.dtypes:
            for family in args.families:
                if family == "orthogonal":
                    shapes = list(args.orthogonal)
                else:
                    shapes = [matrix_shape(numel) for numel in args.sizes]
                found += [Case(family, shape, dtype, device) for shape in shapes]
    return found


# --------------------------------------------------------------------------- the callables


def parity_fill(family: str) -> Callable[[torch.Tensor, torch.Generator], Any]:
    function = getattr(parity, FAMILIES[family].initializer)
    if family == "truncated_normal_":
        return lambda t, gen: function(t, 0.0, TRUNCATED_STDDEV, generator=gen)
    return lambda t, gen: function(t, generator=gen)


def torch_fill(label: str, family: str, shape: tuple[int, ...]) -> Callable[..., Any]:
    """A torch sampler drawing from ``family``'s target on the same tensor: the same uniform
    bounds, or the same stddev (and, for trunc_normal_, Keras's bounds at ±2 stddev)."""
    target = parity.describe(FAMILIES[family].keras, shape)
    if label == "torch.uniform_":
        low, high = target.support
        return lambda t, gen: t.uniform_(low, high, generator=gen)
    if label == "torch.normal_":
        return lambda t, gen: t.normal_(0.0, target.std, generator=gen)
    if label == "torch.trunc_normal_":  # relative bounds, given as trunc_normal_'s absolute a, b
        low, high = target.support
        return lambda t, gen: torch.nn.init.trunc_normal_(
            t, target.mean, target.std, low, high, generator=gen
        )
    if label == "torch.orthogonal_":
        return lambda t, gen: torch.nn.init.orthogonal_(t, target.gain, generator=gen)
    raise ValueError(f"unknown torch baseline {label!r}")


def tf_fill(family: str, shape: tuple[int, ...], dtype: str) -> Callable[[], Any] | None:
    """The Keras 3 (TF backend) initializer for ``family`` drawing the same number of values on
    the CPU, or None when TensorFlow or Keras is not importable."""
    tf, keras = import_tf()
    if tf is None:
        return None
    initializer = keras.initializers.get(FAMILIES[family].keras)
    kshape = parity.keras_shape(shape)

    def draw() -> Any:
        with tf.device("/CPU:0"):
            return initializer(kshape, dtype=dtype)

    return draw


_TF: tuple[Any, Any] | None = None


def import_tf(threads: int | None = None) -> tuple[Any, Any]:
    """(tensorflow, keras) on the TF backend, or (None, None); ``threads`` sets TensorFlow's
    intra-op threads on the first call."""
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            import keras
            import tensorflow as tf
        except ImportError:
            _TF = (None, None)
        else:
            _TF = (tf, keras) if keras.backend.backend() == "tensorflow" else (None, None)
            if threads and _TF[0] is not None:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
    return _TF


# --------------------------------------------------------------------------- timing


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def best_times(
    calls: dict[str, Callable[[], Any]], repeats: int, budget: float, device: str
) -> tuple[dict[str, float], dict[str, str]]:
    """Best wall time (s) of each call over up to ``repeats`` round-robin rounds after one
    warm-up call; a call stops repeating once it has used ``budget`` seconds.  Calls whose
    warm-up raises (a baseline that does not support the dtype) are left out and returned
    with their error."""
    best = dict.fromkeys(calls, math.inf)
    spent = dict.fromkeys(calls, 0.0)
    failed: dict[str, str] = {}
    for round_ in range(repeats + 1):
        for name, call in calls.items():
            if name in failed or (round_ > 1 and spent[name] >= budget):
                continue
            _sync(device)
            start = time.perf_counter()
            try:
                call()
            except Exception as error:  # a baseline without this dtype: say so, time the rest
                if round_ > 0:
                    raise
                failed[name] = f"{type(error).__name__}: {error}"
                continue
            _sync(device)
            elapsed = time.perf_counter() - start
            spent[name] += elapsed
            if round_ > 0:  # round 0 is the warm-up
                best[name] = min(best[name], elapsed)
    return {name: t for name, t in best.items() if name not in failed}, failed


def theoretical_bandwidth(memory_clock_khz: float, bus_width_bits: float) -> float:
    """Peak memory bandwidth in bytes/s: double data rate, ``bus_width_bits / 8`` bytes per
    transfer (what NVIDIA's data sheets quote: an H100 SXM's 2619 MHz, 5120 bits give 3.35 TB/s)."""
    return 2.0 * memory_clock_khz * 1e3 * bus_width_bits / 8.0


def peak_bandwidth(device: str) -> float | None:
    """The device's theoretical memory bandwidth in bytes/s; None off CUDA or where torch does
    not report the memory clock."""
    if torch.device(device).type != "cuda":
        return None
    properties = torch.cuda.get_device_properties(device)
    clock = getattr(properties, "memory_clock_rate", 0)
    width = getattr(properties, "memory_bus_width", 0)
    return theoretical_bandwidth(clock, width) if clock and width else None


def run_case(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    family = FAMILIES[case.family]
    tensor = torch.empty(case.shape, dtype=DTYPES[case.dtype], device=case.device)
    gen = torch.Generator(device=case.device).manual_seed(0)
    parity_label = f"parity.{family.initializer}"
    fills = {parity_label: parity_fill(case.family)}
    fills |= {label: torch_fill(label, case.family, case.shape) for label in family.torch_baselines}
    calls: dict[str, Callable[[], Any]] = {
        label: (lambda fill=fill: fill(tensor, gen)) for label, fill in fills.items()
    }
    written = dict.fromkeys(calls, tensor.nbytes)  # the bytes each call writes, at least
    if case.dtype in ("float16", "bfloat16") and case.family != "orthogonal":
        # Full speed for reduced precision: the same torch sampler on float32 values.
        wide = torch.empty(case.shape, dtype=torch.float32, device=case.device)
        target_fill = fills[family.target]
        calls[f"{family.target} float32"] = lambda: target_fill(wide, gen)
        written[f"{family.target} float32"] = wide.nbytes
    if args.tf and case.device == "cpu":
        draw = tf_fill(case.family, case.shape, case.dtype)
        if draw is not None:
            calls[f"keras.{family.keras_name}[tf]"] = draw
    best, failed = best_times(calls, args.repeats, args.budget, case.device)
    if parity_label in failed:
        raise RuntimeError(f"{parity_label} failed on {case}: {failed[parity_label]}")
    mine = best[parity_label]
    # Reduced precision at full speed is float32's speed: judge against that sampler.
    baseline = next((b for b in (f"{family.target} float32", family.target) if b in best), None)
    ratio = mine / best[baseline] if baseline is not None else None
    peak = peak_bandwidth(case.device)
    return {
        "family": case.family,
        "initializer": family.initializer,
        "shape": list(case.shape),
        "numel": case.numel,
        "dtype": case.dtype,
        "device": case.device,
        "ms": {label: seconds * 1e3 for label, seconds in best.items()},
        "values_per_s": {label: case.numel / seconds for label, seconds in best.items()},
        "bandwidth_share": {  # only where the device reports its peak (CUDA)
            label: written[label] / seconds / peak for label, seconds in best.items() if peak
        },
        "ratios": {
            label: mine / seconds for label, seconds in best.items() if label != parity_label
        },
        "target": {
            "baseline": baseline or family.target,
            "max_ratio": family.max_ratio,
            "ratio": ratio,
            "met": None if ratio is None else ratio <= family.max_ratio,
        },
        "unavailable": failed,
    }


# --------------------------------------------------------------------------- memory


def _orthogonal_warm_up(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` shrunk, at the same aspect ratio, to about the fewest values that take
    orthogonal_'s in-place route (when ``shape`` takes it), so that the warm-up takes the
    route the measured weight takes."""
    from parity.samplers import _ORTHOGONAL_IN_PLACE_MIN as smallest

    numel = math.prod(shape)
    if numel <= smallest:
        return shape
    rows, cols = shape[0], numel // shape[0]
    factor = math.sqrt(numel / smallest)
    small_rows = max(1, math.ceil(rows / factor))
    small_cols = max(1, math.ceil(cols / factor))
    while small_rows * small_cols < smallest:
        small_cols += 1
    return (small_rows, small_cols)


def memory_case(spec: dict[str, Any]) -> dict[str, Any]:
    """Fill one tensor with one method and measure its peak extra memory (run in a fresh
    process: CPU peak RSS is a high-water mark for the whole process)."""
    shape, device = tuple(spec["shape"]), spec["device"]
    dtype = DTYPES[spec["dtype"]]
    method, family = spec["method"], spec["family"]
    fill = parity_fill(family) if method == "parity" else torch_fill(method, family, shape)
    gen = torch.Generator(device=device).manual_seed(0)
    # Warm up on a small tensor first: code pages and lazy setup are not the sampler's memory.
    # Orthogonal: a small weight of the same shape class that takes the same route (large
    # weights build Q in place; small ones call linalg.qr).
    small = matrix_shape(1 << 16)
    if family == "orthogonal":
        small = _orthogonal_warm_up(shape)
    fill(torch.empty(small, dtype=dtype, device=device), gen)
    tensor = torch.zeros(shape, dtype=dtype, device=device)  # zeros: the pages are resident
    return _peak_extra(spec, lambda: fill(tensor, gen), tensor.numel() * tensor.element_size())


def _peak_extra(spec: dict[str, Any], call: Callable[[], Any], size: int) -> dict[str, Any]:
    """``spec``'s memory result: the peak memory ``call`` takes beyond what is allocated
    before it, and its share of ``size`` bytes (the tensor the target is about)."""
    device = spec["device"]
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        call()
        torch.cuda.synchronize(device)
        extra = torch.cuda.max_memory_allocated(device) - before
        how = "torch.cuda.max_memory_allocated"
    else:
        before = _current_rss()
        call()
        extra = max(0, _peak_rss() - before)
        how = "peak RSS (VmHWM, or getrusage ru_maxrss) minus RSS before the call"
    return {
        **spec,
        "tensor_bytes": size,
        "peak_extra_bytes": extra,
        "ratio": extra / size,
        "measured_by": how,
    }


# Recurrent layers whose kernels keras_init_ writes through Keras's (transposed) view: gate
# blocks per weight, i.e. the largest weight holds gates · units² values.
RECURRENT_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent_units(layer: str, numel: int) -> int:
    """The fewest units that give ``layer``'s largest weight at least ``numel`` values."""
    return math.isqrt(-(-numel // RECURRENT_GATES[layer]) - 1) + 1


def torch_init_like_keras(module: torch.nn.Module, generator: torch.Generator) -> None:
    """What a port written with torch.nn.init does for Keras's recurrent defaults: Glorot
    uniform input kernels, orthogonal recurrent kernels (the whole gate-stacked matrix, as
    Keras), zero biases, and LSTM's forget-gate bias of 1 (gate order and the split of
    Keras's bias over torch's two are ignored: they cost nothing)."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.startswith("weight_ih"):
                torch.nn.init.xavier_uniform_(parameter, generator=generator)
            elif name.startswith("weight_hh"):
                torch.nn.init.orthogonal_(parameter, generator=generator)
            else:
                torch.nn.init.zeros_(parameter)
                if isinstance(module, torch.nn.LSTM) and name.startswith("bias_ih"):
                    units = parameter.numel() // 4
                    parameter[units : 2 * units] = 1.0


def keras_init_timing(args: argparse.Namespace) -> list[dict[str, Any]]:
    """keras_init_ on each recurrent layer (float32) whose largest weight holds each --sizes
    number of values, against :func:`torch_init_like_keras` on the same module, round-robin."""
    from parity import keras_init_

    results = []
    for device, layer, numel in itertools.product(args.devices, args.keras_init, args.sizes):
        units = recurrent_units(layer, numel)
        module = getattr(torch.nn, layer)(units, units, device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        calls = {  # called before the loop moves on: the loop's variables are current
            "parity.keras_init_": lambda: keras_init_(module, generator=generator),  # noqa: B023
            "torch.nn.init": lambda: torch_init_like_keras(module, generator),  # noqa: B023
        }
        best, failed = best_times(calls, args.repeats, args.budget, device)
        if failed:
            raise RuntimeError(f"keras_init_ timing of {layer} failed: {failed}")
        ms = {label: seconds * 1e3 for label, seconds in best.items()}
        result = {"layer": layer, "units": units, "numel": numel, "device": device, "ms": ms,
                  "ratio": ms["parity.keras_init_"] / ms["torch.nn.init"]}  # fmt: skip
        print(
            f"keras_init_({layer}({units}, {units})) {device}: {ms['parity.keras_init_']:.1f} ms"
            f", torch.nn.init {ms['torch.nn.init']:.1f} ms, ratio {result['ratio']:.2f}",
            flush=True,
        )
        results.append(result)
    return results


def keras_init_memory_case(spec: dict[str, Any]) -> dict[str, Any]:
    """keras_init_ on one recurrent layer (``spec["layer"]``, ``spec["shape"] = [units]``),
    from a generator or with a seed (``spec["method"]``): its peak extra memory against the
    largest weight's bytes, in a fresh process like :func:`memory_case`."""
    from parity import keras_init_

    layer, units, device = getattr(torch.nn, spec["layer"]), spec["shape"][0], spec["device"]
    dtype = DTYPES[spec["dtype"]]

    def initialize(module: torch.nn.Module) -> None:
        if spec["method"] == "seed":
            keras_init_(module, seed=0)
        else:
            keras_init_(module, generator=torch.Generator(device=device).manual_seed(0))

    # Warm-up on a layer whose recurrent kernel takes the routes the measured one takes.
    initialize(layer(600, 600, device=device, dtype=dtype))
    module = layer(units, units, device=device, dtype=dtype)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()  # the pages are resident before the call
    largest = max(p.numel() * p.element_size() for p in module.parameters())
    return _peak_extra(spec, lambda: initialize(module), largest)


def _peak_rss() -> int:
    # Linux: the process's own high-water mark. getrusage's ru_maxrss would do, except that
    # a child starts from its parent's (it survives exec): a large parent inflates it.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # Unix only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _current_rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _peak_rss()


def run_memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for device in args.devices:
        for dtype in args.dtypes:
            itemsize = torch.empty((), dtype=DTYPES[dtype]).element_size()
            numel = args.memory_numel or -(-GIB // itemsize)
            for family in args.families:
                shapes = args.orthogonal if family == "orthogonal" else [matrix_shape(numel)]
                methods = ["parity"]
                if not args.memory_parity_only:
                    methods += FAMILIES[family].torch_baselines
                for shape, method in itertools.product(shapes, methods):
                    spec = {"family": family, "method": method, "shape": list(shape),
                            "dtype": dtype, "device": device}  # fmt: skip
                    try:
                        results.append(_memory_subprocess(spec, args.threads))
                    except RuntimeError as error:
                        if method == "parity":
                            raise
                        # A torch baseline without this dtype (orthogonal_ in float16, say).
                        why = str(error).strip().splitlines()[-1]  # the child's exception
                        print(f"memory {method} {dtype}: unavailable ({why})", flush=True)
            for layer, method in itertools.product(args.keras_init, ("generator", "seed")):
                units = recurrent_units(layer, numel)
                spec = {"family": "keras_init", "method": method, "layer": layer,
                        "shape": [units], "dtype": dtype, "device": device}  # fmt: skip
                results.append(_memory_subprocess(spec, args.threads))
    return results


def _memory_subprocess(spec: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """``spec`` measured in a fresh process, judged against the target and printed."""
    command = [sys.executable, __file__, "--memory-child", json.dumps(spec)]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement {spec} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["met"] = result["ratio"] <= MEMORY_TARGET
    print(_memory_line(result), flush=True)
    return result


def _memory_label(result: dict[str, Any]) -> tuple[str, str]:
    """What a memory row measured, and the shape it names."""
    if result["family"] == "keras_init":
        how = "seed=0" if result["method"] == "seed" else "generator"
        return f"keras_init_({result['layer']}, {how})", f"{result['shape'][0]} units"
    name = FAMILIES[result["family"]].initializer
    method = f"parity.{name}" if result["method"] == "parity" else result["method"]
    return method, "x".join(map(str, result["shape"]))


def _memory_line(result: dict[str, Any]) -> str:
    method, shape = _memory_label(result)
    verdict = "met" if result["met"] else "NOT met"
    return (
        f"memory {method:32s} {shape:>12s} {result['dtype']:9s} {result['device']:5s} "
        f"tensor {result['tensor_bytes'] / GIB:6.2f} GiB  peak extra "
        f"{result['peak_extra_bytes'] / 2**20:8.1f} MiB = {result['ratio']:7.2%} "
        f"(target <= {MEMORY_TARGET:.0%}: {verdict})"
    )


# --------------------------------------------------------------------------- sampling vs testing


SUITE_CASES = (
    "glorot_uniform/dense",
    "glorot_normal/dense",
    "glorot_normal/tiny",
    "orthogonal/dense",
)


def suite_share(n: int, device: str, patterns: list[str]) -> dict[str, Any]:
    """Split a parity-suite run at ``n`` draws per case into sampling and testing time.

    With the parity suite installed, its own cases run (``parity.suite.runner.run_case``, torch
    side, no reference source), which split their time themselves: sampling is the time of the
    loop of initializer calls, testing everything else (weight buffers, grid binning, moments, KS
    and variance tests).  Without it, one generic case: ``n`` truncated-normal draws vs a
    float64 sort, exact CDF, Kolmogorov-Smirnov distance and moments.
    """
    try:
        from parity.suite import runner, stats
    except ImportError:
        return _generic_share(n, device)
    cases = runner.build_cases(patterns, dtypes=["float32"], devices=[device])
    grids = stats.GridCache()  # shared, as in a run: each law's grid is built once
    rows = []
    for case in cases:
        for draws in (min(n, 1 << 12), n):  # a small warm-up run first: grids, imports, caches
            result = runner.run_case(case, n=draws, seed=0, sources=(), grids=grids)
            if result.errors:
                raise RuntimeError(f"suite case {case.name} failed: {result.errors}")
        sampling = result.sampling_seconds["torch"]
        rows.append(_share_row(case.name, result.torch.n, sampling, result.testing_seconds))
    sampled = sum(row["sampling_ms"] for row in rows)
    tested = sum(row["testing_ms"] for row in rows)
    return {
        "n": n,
        "device": device,
        "what": "parity.suite.runner.run_case (torch side, no reference source, grids built "
        "in a warm-up run)",
        "cases": rows,
        **_share_row("all", sum(row["values"] for row in rows), sampled / 1e3, tested / 1e3),
    }


def _share_row(name: str, values: int, sampling: float, testing: float) -> dict[str, Any]:
    total = sampling + testing
    return {
        "case": name,
        "values": values,
        "sampling_ms": sampling * 1e3,
        "testing_ms": testing * 1e3,
        "sampling_share": sampling / total,
        "testing_share": testing / total,
    }


def _generic_share(n: int, device: str) -> dict[str, Any]:
    shape = matrix_shape(n)
    target = parity.describe("glorot_normal", shape)
    tensor = torch.empty(shape, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    fill = parity_fill("truncated_normal")

    def sample() -> None:
        fill(tensor, gen)

    def test() -> None:
        values = tensor.reshape(-1).double().sort().values
        low = torch.special.ndtr(torch.tensor(target.support[0] / target.std))
        high = torch.special.ndtr(torch.tensor(target.support[1] / target.std))
        cdf = (torch.special.ndtr(values / target.std) - low) / (high - low)
        ranks = torch.arange(1, n + 1, dtype=torch.float64, device=device)
        distance = torch.maximum(ranks / n - cdf, cdf - (ranks - 1) / n).max()
        float(distance), float(values.mean()), float(values.var())

    best, _ = best_times({"sampling": sample, "testing": test}, 3, 60.0, device)
    row = _share_row("glorot_normal_ " + "x".join(map(str, shape)), n, *best.values())
    what = "generic (no parity.suite): sampler vs float64 sort + exact CDF + KS + moments"
    return {"n": n, "device": device, "what": what, "cases": [row], **row}


# --------------------------------------------------------------------------- output


def print_case(result: dict[str, Any]) -> None:
    shape = "x".join(map(str, result["shape"]))
    print(
        f"{result['family']} ({result['initializer']}) {shape} = "
        f"{size_label(result['numel'])} {result['dtype']} {result['device']}"
    )
    parity_label = f"parity.{result['initializer']}"
    target = result["target"]
    for label, ms in result["ms"].items():
        ratio = result["ratios"].get(label)
        text = f"  {label:34s} {ms:10.1f} ms {result['values_per_s'][label] / 1e6:8.0f} M/s"
        if label in result.get("bandwidth_share", {}):
            text += f" {result['bandwidth_share'][label]:6.1%} of peak bandwidth"
        if label != parity_label:
            text += f"   parity/this {ratio:6.3f}"
        if label == target["baseline"]:
            verdict = "met" if target["met"] else "NOT met"
            text += f"  (target <= {target['max_ratio']}: {verdict})"
        print(text)
    for label, error in result["unavailable"].items():
        print(f"  {label:34s} unavailable: {error.splitlines()[0]}")


def print_share(share: dict[str, Any]) -> None:
    print(
        f"\nsampling vs testing, n = {share['n']:,} per case on {share['device']}: {share['what']}"
    )
    for row in [*share["cases"], share] if len(share["cases"]) > 1 else share["cases"]:
        print(
            f"  {row['case']:36s} {row['values']:>12,} values  sampling {row['sampling_ms']:8.0f} "
            f"ms ({row['sampling_share']:4.0%})  testing {row['testing_ms']:8.0f} ms "
            f"({row['testing_share']:4.0%})"
        )


def print_summary(results: list[dict[str, Any]]) -> None:
    print("\nsummary: parity time / target baseline time")
    print(f"  {'family':20s} {'size':>6s} {'dtype':9s} {'device':6s} {'ratio':>7s}  target")
    for result in results:
        target = result["target"]
        head = (
            f"  {result['family']:20s} {case_label(result):>6s} {result['dtype']:9s} "
            f"{result['device']:6s}"
        )
        if target["ratio"] is None:
            print(f"{head} {'-':>7s}  {target['baseline']} unavailable")
            continue
        verdict = "met" if target["met"] else "NOT met"
        limit = f"<= {target['max_ratio']} vs {target['baseline']}"
        print(f"{head} {target['ratio']:7.3f}  {limit}: {verdict}")


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (what docs/performance.md shows)."""
    lines = []
    if report["cases"]:
        lines += [
            "| family | parity function | values | dtype | device | parity ms | parity M/s "
            "| baseline: ms (parity / baseline) | target |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for case in report["cases"]:
            mine = f"parity.{case['initializer']}"
            others = "<br>".join(
                f"{label}: {case['ms'][label]:.1f} ({ratio:.2f}×)"
                for label, ratio in case["ratios"].items()
            )
            target = case["target"]
            verdict = (
                "n/a" if target["ratio"] is None
                else f"{target['ratio']:.2f}× ≤ {target['max_ratio']}: "
                + ("met" if target["met"] else "**not met**")
            )  # fmt: skip
            share = case.get("bandwidth_share", {})
            others = "<br>".join(
                [others]
                + [
                    f"{label}: {fraction:.0%} of peak bandwidth"
                    for label, fraction in share.items()
                ]
            )
            lines.append(
                f"| {case['family']} | `{case['initializer']}` | {case_label(case)} "
                f"| {case['dtype']} | {case['device']} | {case['ms'][mine]:.1f} "
                f"| {case['values_per_s'][mine] / 1e6:.0f} | {others} | {verdict} |"
            )
    if report["keras_init"]:
        lines += [
            "",
            "| keras_init_ on | largest weight | device | parity ms | torch.nn.init ms | ratio |",
            "|---|---|---|---|---|---|",
        ]
        for row in report["keras_init"]:
            lines.append(
                f"| `{row['layer']}({row['units']}, {row['units']})` | {row['numel']:,} values "
                f"| {row['device']} | {row['ms']['parity.keras_init_']:.1f} "
                f"| {row['ms']['torch.nn.init']:.1f} | {row['ratio']:.2f}× |"
            )
    if report["memory"]:
        lines += [
            "",
            "| function | shape | dtype | device | tensor | peak extra | share | ≤ 10% |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in report["memory"]:
            method, shape = _memory_label(row)
            lines.append(
                f"| `{method}` | {shape.replace('x', '×')} | {row['dtype']} "
                f"| {row['device']} | {row['tensor_bytes'] / GIB:.2f} GiB "
                f"| {row['peak_extra_bytes'] / 2**20:.1f} MiB | {row['ratio']:.1%} "
                f"| {'met' if row['met'] else '**not met**'} |"
            )
    if report["suite"]:
        lines += ["", "| suite case | values | sampling ms | testing ms | sampling share |"]
        lines.append("|---|---|---|---|---|")
        suite = report["suite"]
        rows = [*suite["cases"], suite] if len(suite["cases"]) > 1 else suite["cases"]
        for row in rows:
            lines.append(
                f"| {row['case']} | {row['values']:,} | {row['sampling_ms']:.0f} "
                f"| {row['testing_ms']:.0f} | {row['sampling_share']:.0%} |"
            )
    return "\n".join(lines) + "\n"


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was (None where unknown)."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def metadata(args: argparse.Namespace) -> dict[str, Any]:
    tf, keras = import_tf(args.threads) if args.tf else (None, None)
    return {
        "torch": torch.__version__,
        "parity": getattr(parity, "__version__", None),
        "tensorflow": getattr(tf, "__version__", None),
        "keras": getattr(keras, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "load_average": _load_average(),
        "repeats": args.repeats,
        "timing": "best wall time of round-robin repeats after one warm-up call",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# --------------------------------------------------------------------------- command line


def _list(kind: Callable[[str], Any], choices: Any = None) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        values = [kind(item) for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected at least one comma-separated value")
        for value in values:
            if choices is not None and value not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown value {value!r}; valid choices: {', '.join(choices)}"
                )
        return values

    return parse


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="bench.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    devices = "cpu,cuda" if torch.cuda.is_available() else "cpu"
    cli.add_argument(
        "--sizes",
        type=_list(parse_size),
        default=[1 << 20, 1 << 24, 1 << 26],
        help="values per tensor, comma-separated (default 1M,16M,64M)",
    )
    cli.add_argument(
        "--dtypes",
        type=_list(str, DTYPES),
        default=["float32"],
        help=f"comma-separated among {', '.join(DTYPES)} (default float32)",
    )
    cli.add_argument(
        "--devices",
        type=_list(str, ("cpu", "cuda")),
        default=devices.split(","),
        help=f"comma-separated torch devices (default {devices})",
    )
    cli.add_argument(
        "--families",
        type=_list(str, FAMILIES),
        default=None,
        help=f"comma-separated among {', '.join(FAMILIES)} (default: all but "
        "orthogonal, plus orthogonal when --orthogonal is given)",
    )
    cli.add_argument(
        "--orthogonal",
        type=_list(parse_matrix),
        default=[],
        help="orthogonal_ matrices, n (n x n) or RxC, e.g. 4096,8192,8192x2048",
    )
    cli.add_argument("--repeats", type=_positive(int), default=5, help="timed rounds (default 5)")
    cli.add_argument(
        "--budget",
        type=_positive(float),
        default=10.0,
        help="seconds after which a slow call stops repeating (default 10)",
    )
    cli.add_argument(
        "--threads",
        type=_positive(int),
        default=None,
        help="torch.set_num_threads (and TensorFlow's intra-op threads)",
    )
    cli.add_argument(
        "--no-tf", dest="tf", action="store_false", help="skip the TensorFlow baselines"
    )
    cli.add_argument(
        "--no-timing",
        dest="timing",
        action="store_false",
        help="skip the timing table (with --memory or --suite-share)",
    )
    cli.add_argument(
        "--memory",
        action="store_true",
        help="measure peak extra memory on >= 1 GiB tensors, one subprocess each",
    )
    cli.add_argument(
        "--memory-numel",
        type=parse_size,
        default=None,
        help="values per tensor for --memory (default: 1 GiB's worth)",
    )
    cli.add_argument(
        "--keras-init",
        type=_list(str, RECURRENT_GATES),
        default=[],
        help=f"also time keras_init_ on these recurrent layers (among "
        f"{', '.join(RECURRENT_GATES)}; float32), their largest weight of each --sizes, against "
        "torch.nn.init's Keras-like init; with --memory, measure its memory on a largest "
        "weight of a --memory tensor, from a generator and with a seed",
    )
    cli.add_argument(
        "--memory-parity-only",
        action="store_true",
        help="--memory measures parity only, not the torch baselines",
    )
    cli.add_argument(
        "--suite-share", action="store_true", help="time sampling vs testing for a parity-style run"
    )
    cli.add_argument(
        "--suite-n", type=parse_size, default=10**7, help="draws for --suite-share (default 1e7)"
    )
    cli.add_argument(
        "--suite-cases",
        type=_list(str),
        default=list(SUITE_CASES),
        help=f"parity suite case patterns for --suite-share (default {','.join(SUITE_CASES)})",
    )
    cli.add_argument("--json", type=Path, default=None, help="write the results here")
    cli.add_argument(
        "--markdown", type=Path, default=None, help="write the results as Markdown tables here"
    )
    cli.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    return cli  # fmt: skip


def _check(cli: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What the parser cannot check alone; fails before anything is timed."""
    if "cuda" in args.devices and not torch.cuda.is_available():
        cli.error("--devices cuda: torch sees no CUDA device")
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path is not None and not path.parent.is_dir():
            cli.error(f"{option}: the folder {str(path.parent)!r} does not exist")
    if args.suite_share:
        from parity.suite.runner import build_cases

        try:
            build_cases(args.suite_cases, dtypes=["float32"], devices=[args.devices[0]])
        except ValueError as error:
            cli.error(f"--suite-cases: {error}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cli = parser()
    args = cli.parse_args(argv)
    _check(cli, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        spec = json.loads(args.memory_child)
        case = keras_init_memory_case if spec["family"] == "keras_init" else memory_case
        print(json.dumps(case(spec)))
        return {}
    if args.families is None:
        args.families = [*DEFAULT_FAMILIES, *(["orthogonal"] if args.orthogonal else [])]
    if "orthogonal" in args.families and not args.orthogonal:
        args.orthogonal = [(4096, 4096)]
    report: dict[str, Any] = {
        "meta": metadata(args), "cases": [], "keras_init": [], "memory": None, "suite": None
    }  # fmt: skip
    for case in cases(args) if args.timing else []:
        result = run_case(case, args)
        report["cases"].append(result)
        print_case(result)
        sys.stdout.flush()
    if report["cases"]:
        print_summary(report["cases"])
    if args.timing and args.keras_init:
        print()
        report["keras_init"] = keras_init_timing(args)
    if args.memory:
        print()
        report["memory"] = run_memory(args)
    if args.suite_share:
        report["suite"] = suite_share(args.suite_n, args.devices[0], args.suite_cases)
        print_share(report["suite"])
    report["meta"]["load_average_after"] = _load_average()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.markdown:
        args.markdown.write_text(markdown(report))
        print(f"wrote {args.markdown}")
    return report


if __name__ == "__main__":
    main()
