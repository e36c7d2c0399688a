"""Candidate ways to draw the truncated normal, timed side by side against ``normal_``.

Every candidate fills a float32/float64 tensor in place with N(mean, std²) conditioned on the
open interval (mean - 2·std, mean + 2·std), the distribution ``parity.samplers.TruncatedNormal``
draws.  The script times them in one process, round-robin (each round runs every candidate once,
the minimum over rounds is kept, so a burst of load on a shared machine hits all of them alike),
and with ``--check`` verifies each one: no value on or outside the bounds, and a
Kolmogorov-Smirnov distance to the exact truncated-normal CDF within its 99.9% critical value.

    python tools/sampler_experiments.py                       # 64M float32 values, CPU
    python tools/sampler_experiments.py --numel 16M --check --rounds 9
    python tools/sampler_experiments.py --device cuda --numel 256M
    python tools/sampler_experiments.py --orthogonal 4096 --rounds 3

Candidates (all exact up to float rounding; the bounds are float bounds one step inside):

* ``inverse_cdf``: the whole tensor, one pass per op: ``uniform_(-erf(√2), erf(√2))``,
  ``erfinv_``, ``mul_(√2·std)``, (``add_(mean)``), ``clamp_`` one step inside the bounds.
* ``inverse_cdf/C``: the same four ops on consecutive chunks of ``C`` values, so the passes after
  ``uniform_`` read a chunk that is still in cache.
* ``ndtri/C``: ``uniform_(Φ(-2), Φ(2))`` then ``special.ndtri`` in place, chunked.
* ``rejection/C``: ``normal_(mean, std)`` per chunk; the values on or outside the bounds are
  replaced by fresh ``normal_`` draws that fall inside, drawn in batches until none is left.
* ``reject_icdf/C``: ``normal_(mean, std)`` per chunk; the values on or outside the bounds are
  replaced, in a single round, by the same number of inverse-CDF draws.  Each value is the
  truncated normal either way (accepted normals are exactly N conditioned on the interval), so
  the mixture is the truncated normal, and the positions stay independent.
* ``pipelined/C``: ``inverse_cdf/C`` with the uniforms of the next chunk drawn while a worker
  thread finishes the current one (erfinv_, mul_, clamp_); the same values as
  ``inverse_cdf/C``.  With C = 1M this is what ``parity.samplers`` did on a CPU with several
  threads before it made the uniforms from raw bits.
* ``pipelined_serial/C``: ``pipelined/C`` with the worker's ops on 16K-value pieces, below
  torch's parallel grain, so no OpenMP team is opened; the same values as ``inverse_cdf/C``.
* ``serial_pieces``: ``uniform_`` on the whole tensor, then erfinv_, mul_, clamp_ on 16K-value
  pieces on this thread only; the same values as ``inverse_cdf``.
* ``rational/C``: ``inverse_cdf/C`` with ``erfinv_`` replaced by a rational function, evaluated
  with one torch op per step (float32 runs only): ``√2·erfinv(x) ≈ x·P(s)/Q(s)``, degree 5 over 5
  in ``s = erf(√2)² − x²``, fitted at start-up to float64 ``erfinv`` (relative error about
  2e-9; ``s`` keeps every coefficient positive, so Horner's steps do not cancel).  In float32
  it is within 5.6 ulp of the exact inverse CDF, against ``erfinv_``'s 1.5 (``--check`` measures
  both over all 2^24 uniforms).
* ``pipelined_rational/C``: ``pipelined/C`` with the worker's ``erfinv_`` so replaced.
* ``parity``: ``parity.truncated_normal_`` itself: ``pipelined/1M`` with each uniform made from
  the generator's raw bits (``random_`` on int64, then integer and float passes on the worker;
  docs/performance.md, "Uniforms from raw bits"): ``inverse_cdf``'s values up to rounding
  (within 7.2e-7 at std 1), each pair of neighbours in the other order.

``--orthogonal N`` times four ways to draw a Haar orthogonal N x N matrix instead: a Gaussian
buffer and ``linalg.qr`` (parity's method for float16/bfloat16 and off the CPU), the same values
computed in place in the tensor (``geqrf`` and ``householder_product`` with ``out=`` the
tensor), the in-place version on the column-major transposed view (parity's method for square
and wide weights before it built Q from random reflectors), and ``parity.orthogonal_`` itself
(random Householder reflectors applied in place, a block at a time: the same law, other values).
"""

from __future__ import annotations

import argparse
import functools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

import parity
from parity import samplers

TRUNCATION = 2.0
ERF_BOUND = math.erf(TRUNCATION / math.sqrt(2.0))
PHI_LOW = 0.5 * math.erfc(TRUNCATION / math.sqrt(2.0))  # Φ(-2)
SQRT2 = math.sqrt(2.0)

Fill = Callable[[torch.Tensor, float, float, "torch.Generator | None"], None]
Finish = Callable[[torch.Tensor, float, float, float, float], None]


def _bounds(mean: float, std: float, dtype: torch.dtype) -> tuple[float, float]:
    """The float bounds one representable step inside (mean ± 2·std)."""
    low = torch.tensor(mean - TRUNCATION * std, dtype=dtype)
    high = torch.tensor(mean + TRUNCATION * std, dtype=dtype)
    inf = torch.tensor(math.inf, dtype=dtype)
    return torch.nextafter(low, inf).item(), torch.nextafter(high, -inf).item()


def _flat_chunks(tensor: torch.Tensor, size: int):
    flat = tensor.view(-1)
    for start in range(0, flat.numel(), size):
        yield flat[start : start + size]


def _finish_(t: torch.Tensor, mean: float, std: float, low: float, high: float) -> None:
    t.erfinv_().mul_(SQRT2 * std)
    if mean != 0.0:
        t.add_(mean)
    t.clamp_(low, high)


def _icdf_(t: torch.Tensor, mean: float, std: float, gen, low: float, high: float) -> None:
    t.uniform_(-ERF_BOUND, ERF_BOUND, generator=gen)
    _finish_(t, mean, std, low, high)


def inverse_cdf(tensor, mean, std, gen) -> None:
    _icdf_(tensor, mean, std, gen, *_bounds(mean, std, tensor.dtype))


def inverse_cdf_chunked(size: int) -> Fill:
    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        for chunk in _flat_chunks(tensor, size):
            _icdf_(chunk, mean, std, gen, low, high)

    return fill


def ndtri_chunked(size: int) -> Fill:
    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        for chunk in _flat_chunks(tensor, size):
            chunk.uniform_(PHI_LOW, 1.0 - PHI_LOW, generator=gen)
            torch.special.ndtri(chunk, out=chunk)
            chunk.mul_(std)
            if mean != 0.0:
                chunk.add_(mean)
            chunk.clamp_(low, high)

    return fill


def _outside(chunk: torch.Tensor, mean: float, low: float, high: float) -> torch.Tensor:
    """Flat indices of the values on or outside [low, high] (the bounds one step inside)."""
    bad = chunk.abs() > high if mean == 0.0 else (chunk < low).logical_or_(chunk > high)
    return bad.nonzero().squeeze(1)


def rejection_chunked(size: int) -> Fill:
    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        for chunk in _flat_chunks(tensor, size):
            chunk.normal_(mean, std, generator=gen)
            todo = _outside(chunk, mean, low, high)
            while todo.numel():
                # Enough draws to cover the rejects with high probability in one batch.
                spare = torch.empty(
                    int(todo.numel() * 1.1) + 16, dtype=chunk.dtype, device=chunk.device
                ).normal_(mean, std, generator=gen)
                spare = spare[(spare >= low).logical_and_(spare <= high)]
                take = min(todo.numel(), spare.numel())
                chunk[todo[:take]] = spare[:take]
                todo = todo[take:]

    return fill


def reject_icdf_chunked(size: int) -> Fill:
    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        for chunk in _flat_chunks(tensor, size):
            chunk.normal_(mean, std, generator=gen)
            todo = _outside(chunk, mean, low, high)
            if todo.numel():
                spare = torch.empty(todo.numel(), dtype=chunk.dtype, device=chunk.device)
                _icdf_(spare, mean, std, gen, low, high)
                chunk[todo] = spare

    return fill


def pipelined(size: int, finish: Finish = _finish_) -> Fill:
    """The chunked inverse CDF with the two halves of each chunk's work overlapped: this thread
    draws the uniforms of chunk i + 1 (torch's CPU uniform_ is serial) while one worker thread
    runs erfinv_, mul_ and clamp_ on chunk i.  The uniforms are drawn in the same order as
    ``inverse_cdf/C``, so the values are identical to it.  The worker lives for one call only
    (no thread survives a fork; starting it costs about 0.1 ms)."""

    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        if tensor.numel() <= size:
            tensor.uniform_(-ERF_BOUND, ERF_BOUND, generator=gen)
            finish(tensor, mean, std, low, high)
            return
        with ThreadPoolExecutor(1) as worker:
            pending = None
            for chunk in _flat_chunks(tensor, size):
                chunk.uniform_(-ERF_BOUND, ERF_BOUND, generator=gen)
                if pending is not None:
                    pending.result()
                pending = worker.submit(finish, chunk, mean, std, low, high)
            pending.result()

    return fill


# torch runs an elementwise op on one thread below this many values (aten's GRAIN_SIZE is 32768):
# no OpenMP team, so no stall when another process holds the other core.
SERIAL_VALUES = 1 << 14


def _finish_serial_(t: torch.Tensor, mean: float, std: float, low: float, high: float) -> None:
    for piece in _flat_chunks(t, SERIAL_VALUES):
        _finish_(piece, mean, std, low, high)


def pipelined_serial(size: int) -> Fill:
    """``pipelined/C`` with the worker's erfinv_, mul_ and clamp_ run on pieces of 16K values,
    each below torch's parallel grain: the overlap comes from the two threads alone, and no op
    opens an OpenMP team (whose barrier stalls for a scheduler slice on a busy machine)."""
    return pipelined(size, _finish_serial_)


def serial_pieces(tensor, mean, std, gen) -> None:
    """One thread, no OpenMP: ``uniform_`` on the whole tensor (torch's is serial anyway), then
    erfinv_, mul_ and clamp_ piece by piece (16K values, in cache, each below the grain)."""
    low, high = _bounds(mean, std, tensor.dtype)
    tensor.uniform_(-ERF_BOUND, ERF_BOUND, generator=gen)
    _finish_serial_(tensor, mean, std, low, high)


RATIONAL_DEGREE = 5


@functools.cache
def _rational_coefficients() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """P and Q (increasing powers, Q(0) = 1) with x·P(s)/Q(s) ≈ √2·erfinv(x) for |x| <= erf(√2),
    s = erf(√2)² − x²: linearized least squares, reweighted towards the largest relative error
    (Lawson's iteration), the best of 60 rounds: close to the minimax error."""
    import numpy as np

    top = ERF_BOUND**2
    nodes = 4000
    s = top / 2 * (1 - np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes))
    x = np.sqrt(top - s)
    target = SQRT2 * torch.erfinv(torch.from_numpy(x)).numpy() / x
    powers = np.vander(s, RATIONAL_DEGREE + 1, increasing=True)
    # P(s) − target·(Q(s) − 1) = target, each row scaled by 1 / (target·Q_previous(s)).
    system = np.concatenate([powers, -target[:, None] * powers[:, 1:]], axis=1)
    weights, q_previous, best = np.full(nodes, 1.0 / nodes), np.ones(nodes), (math.inf, None)
    for _ in range(60):
        scale = np.sqrt(weights) / (target * q_previous)
        solution = np.linalg.lstsq(system * scale[:, None], target * scale, rcond=None)[0]
        p = solution[: RATIONAL_DEGREE + 1]
        q = np.concatenate([[1.0], solution[RATIONAL_DEGREE + 1 :]])
        q_previous = powers @ q
        error = np.abs(powers @ p / q_previous / target - 1)
        if error.max() < best[0]:
            best = (error.max(), (tuple(p), tuple(q)))
        weights = np.maximum(weights * error, 1e-300)
        weights /= weights.sum()
    return best[1]


def _horner_(out: torch.Tensor, s: torch.Tensor, coefficients: tuple[float, ...]) -> None:
    """``out`` = the polynomial at ``s``, one ``addcmul`` per step."""
    constants = [torch.tensor(c, dtype=s.dtype) for c in coefficients]
    torch.addcmul(constants[-2], s, constants[-1], out=out)
    for constant in reversed(constants[:-2]):
        torch.addcmul(constant, out, s, out=out)


_scratch_buffers = threading.local()


def _scratch(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two buffers shaped like ``t``, kept per thread: fresh ones for every chunk (fresh memory
    to fault in) took ``rational/1M`` from 1.24-1.25x to 1.87-1.90x ``normal_``."""
    kept = getattr(_scratch_buffers, "pair", None)
    if kept is None or kept[0].numel() < t.numel() or kept[0].device != t.device:
        kept = _scratch_buffers.pair = tuple(torch.empty_like(t.view(-1)) for _ in range(2))
    return kept[0][: t.numel()].view(t.shape), kept[1][: t.numel()].view(t.shape)


def _finish_rational_(t: torch.Tensor, mean: float, std: float, low: float, high: float) -> None:
    p, q = _rational_coefficients()
    s, work = _scratch(t)
    torch.addcmul(torch.tensor(ERF_BOUND**2, dtype=t.dtype), t, t, value=-1, out=s)
    _horner_(work, s, tuple(c * std for c in p))
    t.mul_(work)
    _horner_(work, s, q)
    t.div_(work)
    if mean != 0.0:
        t.add_(mean)
    t.clamp_(low, high)


def rational_accuracy() -> str:
    """The rational's and ``erfinv_``'s error, in float32 ulps of the exact value, over every
    point of the library's float32 uniform grid on (-erf(√2), erf(√2)) (2^24 of them), at
    std 1."""
    x = torch.arange(1 << 24, dtype=torch.int32).view(torch.float32)  # every 24-bit pattern
    samplers._bits_to_uniform_(x, -ERF_BOUND, ERF_BOUND)
    exact = SQRT2 * torch.erfinv(x.double())
    magnitude = exact.float().abs()
    ulp = (torch.nextafter(magnitude, torch.tensor(math.inf)) - magnitude).double()
    found = []
    for name, finish in (("rational", _finish_rational_), ("erfinv_", _finish_)):
        values = x.clone()
        finish(values, 0.0, 1.0, -math.inf, math.inf)
        error = (values.double() - exact).abs() / ulp
        found.append(f"{name} max {error.max():.2f} ulp, mean {error.mean():.2f}")
    return "; ".join(found)


def rational_chunked(size: int) -> Fill:
    def fill(tensor, mean, std, gen) -> None:
        low, high = _bounds(mean, std, tensor.dtype)
        for chunk in _flat_chunks(tensor, size):
            chunk.uniform_(-ERF_BOUND, ERF_BOUND, generator=gen)
            _finish_rational_(chunk, mean, std, low, high)

    return fill


def library(tensor, mean, std, gen) -> None:
    parity.truncated_normal_(tensor, mean=mean, stddev=std, generator=gen)


def candidates(chunk_sizes: list[int], dtype: torch.dtype = torch.float32) -> dict[str, Fill]:
    found: dict[str, Fill] = {
        "inverse_cdf": inverse_cdf,
        "serial_pieces": serial_pieces,
        "parity": library,
    }
    for size in chunk_sizes:
        label = _size_label(size)
        found[f"inverse_cdf/{label}"] = inverse_cdf_chunked(size)
        found[f"ndtri/{label}"] = ndtri_chunked(size)
        found[f"rejection/{label}"] = rejection_chunked(size)
        found[f"reject_icdf/{label}"] = reject_icdf_chunked(size)
        found[f"pipelined/{label}"] = pipelined(size)
        found[f"pipelined_serial/{label}"] = pipelined_serial(size)
        if dtype == torch.float32:  # a fit good to about 2e-9 is far from float64's precision
            found[f"rational/{label}"] = rational_chunked(size)
            found[f"pipelined_rational/{label}"] = pipelined(size, _finish_rational_)
    return found


# --------------------------------------------------------------------------- orthogonal


def orthogonal_qr(tensor: torch.Tensor, gen) -> None:
    """The buffer method for a square float32 matrix: a Gaussian buffer, linalg.qr, the
    columns of Q times the signs of R's diagonal, copied into the tensor."""
    gaussian = torch.empty_like(tensor).normal_(generator=gen)
    q, r = torch.linalg.qr(gaussian)
    tensor.copy_(q.mul_(torch.where(r.diagonal() < 0, -1.0, 1.0)))


def orthogonal_in_place(tensor: torch.Tensor, gen) -> None:
    """The same values with no Gaussian buffer and no R: the Gaussian drawn into the tensor,
    Householder QR (geqrf) and Q (householder_product) written back over it; R's diagonal is
    the diagonal geqrf leaves."""
    tensor.normal_(generator=gen)
    tau = torch.empty(tensor.shape[-1], dtype=tensor.dtype)
    torch.geqrf(tensor, out=(tensor, tau))
    signs = torch.where(tensor.diagonal() < 0, -1.0, 1.0)
    torch.linalg.householder_product(tensor, tau, out=tensor)
    tensor.mul_(signs)


def orthogonal_in_place_t(tensor: torch.Tensor, gen) -> None:
    """``orthogonal_in_place`` on the transposed view, which is column-major (LAPACK's layout),
    so no layout copy is needed.  Other values (Q of the transposed Gaussian, transposed), the
    same Haar distribution: a Gaussian matrix and its transpose have the same law."""
    orthogonal_in_place(tensor.mT, gen)


def orthogonal_reflectors(tensor: torch.Tensor, gen) -> None:
    """parity's method: Q built in the tensor from random Householder reflectors."""
    parity.orthogonal_(tensor, generator=gen)


ORTHOGONAL = {
    "qr": orthogonal_qr,
    "in_place": orthogonal_in_place,
    "in_place_t": orthogonal_in_place_t,
    "reflectors": orthogonal_reflectors,
}


def orthogonal_main(n: int, rounds: int) -> None:
    x = torch.empty(n, n)
    eye = torch.eye(n)
    first = {}
    for name, fill in ORTHOGONAL.items():
        fill(x, torch.Generator().manual_seed(5))
        first[name] = x.clone()
        error = (x.T @ x - eye).abs().max().item()
        print(f"check {name:12s} max |QᵀQ - I| = {error:.1e}")
    same = torch.equal(first["qr"], first["in_place"])
    print(f"check in_place gives the same values as qr: {same}")
    gen = torch.Generator().manual_seed(0)
    timed = {name: (lambda fill=fill: fill(x, gen)) for name, fill in ORTHOGONAL.items()}
    timed["torch.nn.init.orthogonal_"] = lambda: torch.nn.init.orthogonal_(x, generator=gen)
    best = round_robin(timed, rounds, torch.device("cpu"))
    for name, seconds in best.items():
        print(f"{name:26s} {seconds * 1e3:9.1f} ms {seconds / best['qr']:6.3f}x qr")


# --------------------------------------------------------------------------- checks


def ks_check(fill: Fill, n: int, mean: float, std: float, dtype: torch.dtype) -> tuple[bool, str]:
    """Draw ``n`` values; pass when all lie strictly inside the bounds and the KS distance to
    the exact truncated-normal CDF is below its 99.9% critical value (1.9495 / sqrt(n))."""
    gen = torch.Generator().manual_seed(1234)
    x = torch.empty(n, dtype=dtype)
    fill(x, mean, std, gen)
    low, high = mean - TRUNCATION * std, mean + TRUNCATION * std
    inside = bool(((x > low) & (x < high)).all())
    z = (x.double().sort().values - mean) / std
    mass = math.erf(TRUNCATION / SQRT2)
    cdf = (torch.special.ndtr(z) - PHI_LOW) / mass
    grid = torch.arange(1, n + 1, dtype=torch.float64) / n
    distance = max((grid - cdf).max().item(), (cdf - (grid - 1.0 / n)).max().item())
    critical = 1.9495 / math.sqrt(n)
    ok = inside and distance < critical
    return ok, f"inside={inside} KS D={distance:.2e} (99.9% crit {critical:.2e})"


def same_values(first: Fill, second: Fill, n: int, dtype: torch.dtype) -> bool:
    """Whether two fills give bitwise the same values from the same generator state."""
    values = []
    for fill in (first, second):
        x = torch.empty(n, dtype=dtype)
        fill(x, 0.1, 0.05, torch.Generator().manual_seed(99))
        values.append(x)
    return torch.equal(values[0], values[1])


# --------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def round_robin(
    fills: dict[str, Callable[[], object]],
    rounds: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Best time (seconds) of each callable over ``rounds`` interleaved rounds, after one
    warm-up call each.  ``clock`` is wall time by default; ``time.process_time`` counts the
    CPU time of all this process's threads instead (the work done, which other processes on a
    busy machine barely disturb)."""
    for fn in fills.values():
        fn()
    _sync(device)
    best = dict.fromkeys(fills, math.inf)
    for _ in range(rounds):
        for name, fn in fills.items():
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            best[name] = min(best[name], clock() - start)
    return best


def _size_label(size: int) -> str:
    for unit, scale in (("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numel", type=parse_size, default=parse_size("64M"))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--chunks",
        default="64K,256K,1M,4M",
        help="comma-separated chunk sizes (values) for the chunked candidates",
    )
    parser.add_argument("--only", default=None, help="comma-separated candidate names")
    parser.add_argument("--mean", type=float, default=0.0)
    parser.add_argument("--std", type=float, default=0.05)
    parser.add_argument("--check", action="store_true", help="KS and range check, n = 2^22")
    parser.add_argument(
        "--cpu-time", action="store_true", help="time CPU seconds of all threads, not wall time"
    )
    parser.add_argument(
        "--orthogonal", type=int, default=None, help="time orthogonal variants on n x n instead"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.orthogonal:
        given = {
            "--device": args.device != "cpu",
            "--dtype": args.dtype != "float32",
            "--cpu-time": args.cpu_time,
        }
        ignored = [option for option, set_ in given.items() if set_]
        if ignored:
            parser.error(
                f"--orthogonal times float32 on the CPU, wall time; drop {', '.join(ignored)}"
            )
        orthogonal_main(args.orthogonal, args.rounds)
        return
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    found = candidates([parse_size(s) for s in args.chunks.split(",") if s], dtype)
    if args.only:
        found = {name: found[name] for name in args.only.split(",")}
    if args.check:
        for name, fill in found.items():
            ok, text = ks_check(fill, 1 << 22, args.mean, args.std, dtype)
            print(f"check {name:22s} {'ok  ' if ok else 'FAIL'} {text}")
            if name.startswith(("pipelined/", "pipelined_serial/")):
                size = parse_size(name.split("/")[1])
                same = same_values(fill, inverse_cdf_chunked(size), 1 << 22, dtype)
                print(f"check {name:22s} {'ok  ' if same else 'FAIL'} same values as inverse_cdf/C")
        if any(name.startswith("rational/") for name in found):
            print(f"check rational: {rational_accuracy()}")
    x = torch.empty(args.numel, dtype=dtype, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    mean, std = args.mean, args.std
    timed: dict[str, Callable[[], object]] = {
        "normal_": lambda: x.normal_(mean, std, generator=gen),
        "uniform_": lambda: x.uniform_(-1.0, 1.0, generator=gen),
    }
    for name, fill in found.items():
        timed[name] = lambda fill=fill: fill(x, mean, std, gen)
    clock = time.process_time if args.cpu_time else time.perf_counter
    best = round_robin(timed, args.rounds, device, clock)
    base = best["normal_"]
    print(
        f"{args.numel:,} {args.dtype} values on {device}, {torch.get_num_threads()} threads, "
        f"best of {args.rounds} interleaved rounds, {'CPU' if args.cpu_time else 'wall'} time"
    )
    for name, seconds in best.items():
        print(
            f"{name:22s} {seconds * 1e3:9.1f} ms {args.numel / seconds / 1e6:9.0f} M/s "
            f"{seconds / base:6.3f}x normal_"
        )


if __name__ == "__main__":
    main()
