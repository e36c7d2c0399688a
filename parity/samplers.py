"""Samplers: the exact distributions the initializers draw from, filled in place.

Each distribution is a small frozen dataclass that knows its moments and support and fills a
tensor with ``fill_(tensor, generator)``; the random ones also ``draw(shape, seed, dtype,
device, out=None)`` the very values TensorFlow draws for a stateless seed pair
(``parity.tf_random``), into a new tensor or into ``out``.
Initializers (``parity.initializers``) only decide *which* distribution a weight gets; this
module decides *how* it is drawn.

The truncated normal is drawn by inverting the normal CDF over the truncation interval
(``sqrt(2) * erfinv(U(erf(-sqrt(2)), erf(sqrt(2))))``): one uniform per value, entirely in place,
no rejection rounds and no full-size temporaries.  On the CPU a uniform is made from the
generator's raw bits (one 32-bit Mersenne Twister output per float32 value, as torch's
``uniform_`` takes) with vectorized integer and float passes, which is faster than ``uniform_``
itself.  float16 and bfloat16 are drawn in float32, a bounded chunk at a time, and rounded to
nearest: the exact distribution, rounded.  On a CPU with several threads, drawing the bits
(serial in torch) overlaps with the steps after it.
"""

from __future__ import annotations

import functools
import math
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import torch

from parity.fans import FLOAT_DTYPES, compute_dtype, rounded_to

Shape = tuple[int, ...]
SeedPair = tuple[int, int]
Device = torch.device | str

# Std of a unit normal truncated to (-2, 2): Keras divides by it so the truncated draw has the
# variance the untruncated one would have.
TRUNCATED_NORMAL_STD = 0.87962566103423978
TRUNCATION = 2.0  # in units of the pre-truncation stddev, as TensorFlow and Keras truncate
_ERF_BOUND = math.erf(TRUNCATION / math.sqrt(2.0))

_WIDE_DTYPES = (torch.float32, torch.float64)
# Values are drawn and finished a chunk at a time where that is needed (float16/bfloat16, the
# CPU pipeline below): 1M values, 4 MiB of float32; two such buffers stay far below 10% of any
# tensor large enough to be chunked.
_CHUNK = 1 << 20
# torch's CPU normal_ fills 16 values at a time (and redraws the last 16 for a ragged end);
# a tensor of fewer values takes a scalar path.
_NORMAL_BLOCK = 16
# torch splits an elementwise op over threads above this many values (at::internal::GRAIN_SIZE).
_PARALLEL_GRAIN = 32768
# Reflectors per block in orthogonal_'s in-place route (fewer where a block would take more
# than 5% of a large weight's memory): wide enough for fast matrix products, narrow enough
# that each block's Gram matrix and T (width² values each) stay cheap.
_ORTHOGONAL_BLOCK = 128
# Weights of fewer values take orthogonal_'s Gaussian-buffer route: one linalg.qr call is
# quicker there than a block's dozen small operations (measured: 256 x 256 in 1.5 ms against
# 2.2 ms; 512 x 256 in 4.5 ms against 2.8 ms), and their buffer is at most 512 KiB.  So do
# seeded ones (the QR in place: 256 x 256 in 4.8-5.6 ms against 3.0 ms; 1024 x 1024 in
# 59-68 ms against 74 ms).
_ORTHOGONAL_IN_PLACE_MIN = 1 << 17
# Seeded float16/bfloat16 orthogonal_ takes CholeskyQR, keeping only AᵀA, where Keras's
# Gaussian matrix A (m x n) has m >= this many times n (see Orthogonal._draw_thin_).
_THIN_RATIO = 4
# float16/bfloat16 orthogonal_ builds float32 Q a slab of columns at a time: each slab takes
# at most 4% of the weight's bytes, or this much (below it, one slab covers the weight).
_REDUCED_SLAB_BYTES = 4 << 20

Step = Callable[[torch.Tensor], object]


# The largest |z| any normal drawn from a torch generator can take, with room: Box-Muller's
# radius sqrt(-2 ln u) from the smallest uniform, 2^-53 for torch's float64 normal_ (8.57).
# Seeded normals reach 5.68 at most (TensorFlow clamps u at 1e-7).
NORMAL_REACH = 9.0


def float32_rounded(value: float) -> float:
    """``value`` rounded to the nearest float32 (an infinity past float32's range)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def filled_value(value: float, dtype: torch.dtype) -> float:
    """What to ``fill_`` a ``dtype`` weight with for ``value``: itself within the dtype's range
    (``fill_`` rounds it), else what it rounds to through float32 for float16/bfloat16, as
    Keras's casts and the samplers go: the largest finite value just past it (65519 is
    float16's 65504, as in Keras, where torch's ``fill_`` raises), ±inf beyond."""
    if abs(value) <= _LARGEST[dtype]:
        return value
    return rounded_to(rounded_to(value, compute_dtype(dtype)), dtype)


_LARGEST = {dtype: torch.finfo(dtype).max for dtype in FLOAT_DTYPES}


def chunks(tensor: torch.Tensor, max_numel: int) -> Iterator[torch.Tensor]:
    """Views that cover ``tensor`` exactly once, each of at most ``max_numel`` values
    (or one row of the last dimension), whatever the tensor's strides."""
    if tensor.numel() <= max_numel:
        yield tensor
    elif tensor.is_contiguous():
        flat = tensor.view(-1)
        for start in range(0, flat.numel(), max_numel):
            yield flat[start : start + max_numel]
    elif tensor.dim() == 1:
        for start in range(0, tensor.numel(), max_numel):
            yield tensor[start : start + max_numel]
    elif tensor[0].numel() > max_numel:  # one slice is already too big: split each one
        for index in range(tensor.shape[0]):
            yield from chunks(tensor[index], max_numel)
    else:
        rows = max_numel // tensor[0].numel()
        for start in range(0, tensor.shape[0], rows):
            yield tensor[start : start + rows]


def _in_stride_order(tensor: torch.Tensor, dims: range) -> list[int]:
    """``dims`` from the largest stride to the smallest: the order in which the tensor's memory
    runs through them."""
    return sorted(dims, key=tensor.stride, reverse=True)


def _in_memory_order(tensor: torch.Tensor) -> torch.Tensor | None:
    """``tensor`` with its dimensions permuted into memory order when that makes it contiguous
    (a transposed or permuted weight), else None.  torch's elementwise ops visit such a tensor
    in memory order, so its chunks must be taken in that order too."""
    if tensor.is_contiguous():
        return tensor
    permuted = tensor.permute(_in_stride_order(tensor, range(tensor.dim())))
    return permuted if permuted.is_contiguous() else None


def _fill_(tensor: torch.Tensor, draw_: Step, finish_: Step | None = None) -> torch.Tensor:
    """Fill ``tensor`` in place with ``draw_`` (the step that consumes the generator) followed
    by ``finish_`` (a deterministic elementwise transform), both run on float32/float64 values
    (and ``normal_`` on float16 ones where :func:`_drawn_whole` says why that is the same).

    Off the CPU a float32/float64 tensor is drawn and finished whole, in any layout.  On the
    CPU so is a tensor without gaps, seen in memory order (torch's CPU ``normal_`` is
    vectorized only on a contiguous tensor: on any other view it takes a scalar path, eight
    times slower), where that gives the chunks' values (:func:`_drawn_whole`).  Otherwise the
    CPU works a chunk at a time: in the tensor's own memory, in memory order, where it is
    float32/float64 without gaps; else in a buffer of its compute dtype that is then copied
    in.  float16 and bfloat16 are so computed in float32 and rounded to nearest: torch's own
    reduced-precision ``uniform_`` rounds down (its bfloat16 mean is biased by about half a
    unit in the last place).  With several threads the two steps overlap: the generator is
    serial, so this thread draws chunk i + 1 while a worker finishes chunk i.  The chunks are
    the same either way, so the values do not depend on the thread count; in memory order
    they consume the generator as one whole-tensor draw does."""
    wide = tensor.dtype in _WIDE_DTYPES
    dense = _in_memory_order(tensor)
    whole = None
    if wide and tensor.device.type != "cpu":
        whole = tensor  # its kernels run in parallel, in any layout
    elif tensor.device.type == "cpu" and dense is not None and _drawn_whole(dense, finish_):
        whole = dense
    if whole is not None:
        draw_(whole)
        if finish_ is not None:
            finish_(whole)
        return tensor
    in_place = wide and dense is not None
    parts = list(chunks(tensor if dense is None else dense.view(-1), _CHUNK))
    if dense is not None and len(parts) > 1 and parts[-1].numel() < _NORMAL_BLOCK:
        # torch's normal_ draws fewer than 16 values by another path than the one that ends a
        # whole-tensor draw: the last full chunk takes such a tail along.
        flat = dense.view(-1)
        parts[-2:] = [flat[flat.numel() - parts[-2].numel() - parts[-1].numel() :]]
    overlap = len(parts) > 1 and tensor.device.type == "cpu" and torch.get_num_threads() > 1
    size = max(part.numel() for part in parts)
    count = 0 if in_place else 1 + overlap  # buffers: one, or one per pipeline stage
    work_dtype = compute_dtype(tensor.dtype)
    buffers = [torch.empty(size, dtype=work_dtype, device=tensor.device) for _ in range(count)]

    def finish_part_(part: torch.Tensor, work: torch.Tensor) -> None:
        if finish_ is not None:
            finish_(work)
        if work is not part:
            part.copy_(work)

    inference = torch.is_inference_mode_enabled()

    def finish_part_on_worker_(part: torch.Tensor, work: torch.Tensor) -> None:
        # Grad and inference mode are per thread: the worker takes the caller's (initializers
        # run under no_grad, and a tensor made in inference mode is written in it).
        with torch.inference_mode(inference), torch.no_grad():
            finish_part_(part, work)

    def work_for(index: int, part: torch.Tensor) -> torch.Tensor:
        if in_place:
            return part
        return buffers[index % len(buffers)][: part.numel()].view(part.shape)

    if not overlap:
        for index, part in enumerate(parts):
            work = work_for(index, part)
            draw_(work)
            finish_part_(part, work)
        return tensor
    # One short-lived worker per call: no thread outlives the call (or a fork); starting it
    # costs about 0.1 ms against the >= 5 ms a tensor of more than one chunk takes.
    _open_thread_team()
    with ThreadPoolExecutor(1) as worker:
        pending: Future[None] | None = None
        for index, part in enumerate(parts):
            work = work_for(index, part)  # two buffers: the worker holds the other one
            draw_(work)
            if pending is not None:
                pending.result()
            pending = worker.submit(finish_part_on_worker_, part, work)
        if pending is not None:
            pending.result()
    return tensor


def _drawn_whole(dense: torch.Tensor, finish_: Step | None) -> bool:
    """Whether one draw over ``dense``, a CPU tensor in memory order, is what :func:`_fill_`
    needs: the values of its chunks, with no buffer and no pipeline to gain from.

    float32/float64: where nothing follows the draw (``normal_``) or the tensor is one chunk.
    float16: for ``normal_`` where the length is a multiple of 16, since torch's float16
    ``normal_`` then writes its float32 ``normal_`` rounded to nearest, from the same generator
    draws, without the buffer or the rounding copy (1M values: 1.07-1.08x a float32
    ``normal_``, against 1.11-1.14x).  A ragged end is drawn another way, and bfloat16's
    ``normal_`` is slower than the chunks (1.31x); tests pin the equality."""
    if dense.dtype in _WIDE_DTYPES:
        return finish_ is None or dense.numel() <= _CHUNK
    return finish_ is None and dense.dtype == torch.float16 and dense.numel() % _NORMAL_BLOCK == 0


_teams = threading.local()


def _open_thread_team() -> None:
    """Have this thread open its OpenMP team (once) before a pipeline's worker opens one.

    GNU OpenMP lets idle team threads spin up to 300,000 times before they sleep, unless it
    manages more threads than there are CPUs.  With a team on the worker alone it does not,
    and the worker's idle team threads spin against this thread's serial draw: in a process
    whose first parallel op ran on a worker, a 4M-value uniform fill took 20.7 ms instead of
    8.6 ms and a truncated normal 24.7 ms instead of 14.8 ms (2 CPUs; docs/performance.md)."""
    if not getattr(_teams, "opened", False):
        torch.empty(4 * _PARALLEL_GRAIN).mul_(1.0)  # above the grain: a parallel region
        _teams.opened = True


# torch's CPU uniform_ spends about 3 ns per value, most of it around the one Mersenne Twister
# output it turns into each float32; random_ on int64 takes two outputs per element in under
# 1.8 ns (measured on 1M values).  So on the CPU the uniforms of a large tensor are made from
# raw bits drawn as int64 into the values' own memory and turned into floats by vectorized
# passes: as many generator outputs per value as uniform_ takes (one 32-bit output per float32,
# two per float64), on the same grid of 2^24 (2^53) points.  The half-dozen passes cost a fixed
# ~15 us, so a tensor of fewer values than this takes uniform_ itself (the two cost the same at
# 32K values on the machine of docs/performance.md).
_BITS_MIN = 1 << 15
_UNIFORM_BITS = {torch.float32: 24, torch.float64: 53}
_BIT_WORDS = {torch.float32: torch.int32, torch.float64: torch.int64}


def _random_bits_(work: torch.Tensor, generator: torch.Generator | None) -> None:
    """Fill contiguous float32/float64 ``work`` with random bits from ``generator``.

    Value ``i`` of a float32 tensor takes half ``i % 2`` (in memory) of int64 number ``i // 2``
    of one ``random_`` stream, so pieces of even length drawn one after another hold what one
    draw over their concatenation holds."""
    words = work.view(-1).view(_BIT_WORDS[work.dtype])
    if words.dtype == torch.int64:
        words.random_(generator=generator)
        return
    pairs = words.numel() // 2
    head = words[: 2 * pairs]
    if head.storage_offset() % 2 == 0:
        head.view(torch.int64).random_(generator=generator)
    else:  # a view that starts half-way into an int64 cannot be seen as int64s
        drawn = torch.empty(pairs, dtype=torch.int64, device=work.device)
        head.copy_(drawn.random_(generator=generator).view(torch.int32))
    if words.numel() % 2:
        last = torch.empty(1, dtype=torch.int64, device=work.device)
        words[-1:].copy_(last.random_(generator=generator).view(torch.int32)[:1])


def _bits_to_uniform_(work: torch.Tensor, low: float, high: float) -> None:
    """Turn the random bits in ``work`` (see :func:`_random_bits_`) into uniforms on a grid of
    2^24 (float32) or 2^53 (float64) points from ``low`` towards ``high``, in place; rounding
    can carry the top point onto ``high`` (``Uniform`` steps it back inside)."""
    bits = _UNIFORM_BITS[work.dtype]
    words = work.view(_BIT_WORDS[work.dtype])
    words.bitwise_and_((1 << bits) - 1)
    work.copy_(words)  # exact: every integer below 2^24 (2^53) is a float32 (float64)
    work.mul_((high - low) * 2.0**-bits).add_(low)


def _fill_from_uniform_(
    tensor: torch.Tensor,
    low: float,
    high: float,
    generator: torch.Generator | None,
    then_: Step,
) -> torch.Tensor:
    """Fill ``tensor`` with uniforms on [low, high], each then mapped in place by ``then_``.

    A large tensor on the CPU gets them from raw bits and their conversion (see
    ``_BITS_MIN``); a small one, and any off the CPU, where the generator is already parallel,
    from torch's ``uniform_``.  Either can round the top of the grid onto ``high``."""
    if tensor.device.type == "cpu" and tensor.numel() >= _BITS_MIN:

        def finish_(work: torch.Tensor) -> None:
            _bits_to_uniform_(work, low, high)
            then_(work)

        return _fill_(tensor, lambda work: _random_bits_(work, generator), finish_)
    return _fill_(tensor, lambda work: work.uniform_(low, high, generator=generator), then_)


@functools.lru_cache(maxsize=512)  # small weights are initialized many times over
def _first_inside(bound: float, direction: float, dtype: torch.dtype) -> float:
    """The ``dtype`` value nearest to ``bound`` strictly on the side of ``direction``: the
    outermost value inside an open bound."""
    nearest = torch.tensor(bound, dtype=torch.float64).to(dtype)
    inside = nearest.item() > bound if direction > bound else nearest.item() < bound
    if inside:
        return nearest.item()
    return torch.nextafter(nearest, torch.tensor(direction, dtype=dtype)).item()


@dataclass(frozen=True)
class Uniform:
    """U[low, high)."""

    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    @property
    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return _fill_from_uniform_(tensor, self.low, self.high, generator, self._below_high_)

    def _below_high_(self, work: torch.Tensor) -> None:
        """Rounding can carry the top of the grid onto ``high`` (in torch's own ``uniform_``
        too), and the interval leaves it out: step such a value inside."""
        if self.high > self.low:
            work.clamp_max_(_first_inside(self.high, -math.inf, work.dtype))

    def draw(
        self,
        shape: Shape,
        seed: SeedPair,
        dtype: torch.dtype,
        device: Device,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        from parity import tf_random

        return tf_random.uniform(
            shape, seed, dtype, device, minval=self.low, maxval=self.high, out=out
        )

    def seeded_range(self, dtype: torch.dtype) -> tuple[float, float]:
        """The least and greatest value :meth:`draw` can write in ``dtype``."""
        from parity import tf_random

        return tf_random._value_range("uniform", self.low, self.high, dtype)


@dataclass(frozen=True)
class Normal:
    """N(mean, std²), untruncated."""

    mean: float
    std: float

    @property
    def variance(self) -> float:
        return self.std**2

    @property
    def support(self) -> tuple[float, float]:
        return -math.inf, math.inf

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return _fill_(tensor, lambda work: work.normal_(self.mean, self.std, generator=generator))

    def draw(
        self,
        shape: Shape,
        seed: SeedPair,
        dtype: torch.dtype,
        device: Device,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        from parity import tf_random

        return tf_random.normal(
            shape, seed, dtype, device, mean=self.mean, stddev=self.std, out=out
        )

    def seeded_range(self, dtype: torch.dtype) -> tuple[float, float]:
        """The least and greatest value :meth:`draw` can write in ``dtype``: TensorFlow's
        Box-Muller takes ``|z|`` to 5.68 at most (``tf_random.BOX_MULLER_REACH``)."""
        from parity import tf_random

        reach = tf_random.BOX_MULLER_REACH
        return tf_random._value_range("normal", self.mean, self.std, dtype, reach)


@dataclass(frozen=True)
class TruncatedNormal:
    """N(mean, std²) conditioned on the open interval (mean - 2·std, mean + 2·std).

    ``std`` is the stddev *before* truncation (TensorFlow's and Keras's convention); the
    drawn values have stddev ``std * TRUNCATED_NORMAL_STD``.  For float32 and float64 no value
    ever lies on or outside the bounds (unless no value of the dtype lies between them, when
    each value is one of the two nearest); float16/bfloat16 values are the float32 draw rounded
    to nearest, as TensorFlow's are, so they may equal the rounded bound.
    """

    mean: float
    std: float

    @property
    def variance(self) -> float:
        return (self.std * TRUNCATED_NORMAL_STD) ** 2

    @property
    def support(self) -> tuple[float, float]:
        return self.mean - TRUNCATION * self.std, self.mean + TRUNCATION * self.std

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # The inverse CDF clamps inside the bounds: a uniform on the top of the grid is fine.
        return _fill_from_uniform_(tensor, -_ERF_BOUND, _ERF_BOUND, generator, self._inverse_cdf_)

    def draw(
        self,
        shape: Shape,
        seed: SeedPair,
        dtype: torch.dtype,
        device: Device,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        from parity import tf_random

        return tf_random.truncated_normal(
            shape, seed, dtype, device, mean=self.mean, stddev=self.std, out=out
        )

    def seeded_range(self, dtype: torch.dtype) -> tuple[float, float]:
        """The least and greatest value :meth:`draw` can write in ``dtype``: TensorFlow's
        arithmetic can round a value onto or past a bound of :attr:`support`."""
        from parity import tf_random

        return tf_random._value_range("truncated_normal", self.mean, self.std, dtype)

    def _inverse_cdf_(self, tensor: torch.Tensor) -> None:
        """Map U(-erf(√2), erf(√2)) values in place to the truncated normal."""
        low, high = self.support
        tensor.erfinv_().mul_(math.sqrt(2.0) * self.std)
        if self.mean != 0.0:
            tensor.add_(self.mean)
        # Rounding can land a value on or outside a bound; the support is open, so step inside.
        _clamp_inside_(tensor, low, high)


def _clamp_inside_(tensor: torch.Tensor, low: float, high: float) -> None:
    """Clamp ``tensor`` to the ``dtype`` values strictly between ``low`` and ``high`` (if none
    lies between them, to the two nearest)."""
    lowest = _first_inside(low, math.inf, tensor.dtype)
    highest = _first_inside(high, -math.inf, tensor.dtype)
    if lowest > highest:
        lowest, highest = highest, lowest
    tensor.clamp_(lowest, highest)


def _reflector_block(m: int, n: int) -> int:
    """Reflectors per block for an ``m × n`` matrix built in place: at most
    ``_ORTHOGONAL_BLOCK``, and for a large weight few enough that a block (``m × block``
    values) stays within 5% of it."""
    block = min(n, _ORTHOGONAL_BLOCK)
    if m * n > _CHUNK:
        block = max(1, min(block, n // 20))
    return block


def _wy_factor(v: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
    """The upper-triangular ``T`` with ``H_0 H_1 ... H_{b-1} = I - V T Vᵀ`` for the
    reflectors ``H_k = I - tau_k v_k v_kᵀ`` in the columns of ``v`` (compact WY form).

    ``T⁻¹`` is the strict upper triangle of ``VᵀV`` plus ``diag(1 / tau)``, for the given
    ``taus`` (LAPACK's reflectors) or, with None, ``tau = 2 / vᵀv`` (exact reflectors of
    vectors of any length: half of ``VᵀV``'s diagonal).  A zero column with ``tau = 0``
    (``H = I``) gets 1 there, which leaves it out.  ``VᵀV`` and the solve run in float64:
    from a float32 ``VᵀV``, float32 Q came out 6e-6 off orthogonal at 8192 × 2048 (torch's
    QR: 1e-6); from a float64 one, 2e-7."""
    gram = _gram64(v).triu_()
    diagonal = gram.diagonal()
    if taus is None:
        diagonal.mul_(0.5)
    else:
        diagonal.copy_(taus.double().reciprocal())
    diagonal.masked_fill_((diagonal == 0) | diagonal.isinf(), 1.0)
    identity = torch.eye(v.shape[1], dtype=gram.dtype, device=gram.device)
    return torch.linalg.solve_triangular(gram, identity, upper=True).to(v.dtype)


def _householder_qr_(a: torch.Tensor, taus: torch.Tensor, buffer: torch.Tensor) -> None:
    """Householder QR of the ``m × n`` matrix ``a`` (``m >= n``, any strides) in its own
    memory, as LAPACK's ``geqrf`` leaves it: R on and above the diagonal, reflector ``k``
    below it in column ``k`` (its leading 1 implied), its ``tau`` in ``taus[k]``.

    Blocked as LAPACK blocks it: each panel of columns is factored by ``torch.geqrf`` in a
    column-major copy (``buffer``: at least ``m × block`` values), then its reflectors update
    the columns to its right with matrix products."""
    m, n = a.shape
    block = _reflector_block(m, n)
    for start in range(0, n, block):
        panel, work, block_taus = _panel(a, taus, buffer, start, block)
        torch.geqrf(work, out=(work, block_taus))
        panel.copy_(work)
        end = start + work.shape[1]
        if end < n:
            v, t = _block_reflector(work, block_taus)
            trailing = a[start:, end:]
            trailing.addmm_(v, t.mT @ (v.mT @ trailing), alpha=-1.0)  # (I - V T Vᵀ)ᵀ C


def _panel(
    a: torch.Tensor, taus: torch.Tensor, buffer: torch.Tensor, start: int, block: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The panel of ``a``'s columns ``start, ..., start + width - 1`` from row ``start`` down,
    a column-major copy of it in ``buffer``, and its slice of ``taus``."""
    m, n = a.shape
    width = min(block, n - start)
    panel = a[start:, start : start + width]
    work = buffer[: (m - start) * width].view(width, m - start).mT.copy_(panel)
    return panel, work, taus[start : start + width]


def _block_reflector(work: torch.Tensor, taus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``V`` and ``T`` of the reflectors LAPACK leaves in ``work`` (``H = I - V T Vᵀ``): its
    columns made full, with zeros above the diagonal, ones on it, and a zero column where
    ``tau = 0`` (LAPACK's ``H = I``)."""
    work.tril_(-1).diagonal().fill_(1.0)
    v = work.mul_((taus != 0).to(work.dtype))
    return v, _wy_factor(v, taus)


def _form_q_(a: torch.Tensor, taus: torch.Tensor, buffer: torch.Tensor) -> None:
    """Overwrite ``a``, as :func:`_householder_qr_` leaves it, with the first ``n`` columns
    of ``Q = H_0 H_1 ... H_{n-1}`` (LAPACK's ``orgqr``, in place): the blocks last to first,
    each one's reflectors copied to ``buffer`` before its columns are overwritten."""
    m, n = a.shape
    block = _reflector_block(m, n)
    for start in reversed(range(0, n, block)):
        panel, work, block_taus = _panel(a, taus, buffer, start, block)
        v, t = _block_reflector(work, block_taus)
        width = v.shape[1]
        if start + width < n:  # the later columns, zero above row start + width
            trailing = a[start:, start + width :]
            trailing.addmm_(v, t @ (v.mT @ trailing), alpha=-1.0)
        # This block's columns: H [I; 0] = [I; 0] - V T V[:width]ᵀ; zero above row start.
        panel.zero_().addmm_(v, t @ v[:width].mT, alpha=-1.0).diagonal().add_(1.0)
        a[:start, start : start + width].zero_()


def _random_reflectors(
    buffer: torch.Tensor,
    m: int,
    start: int,
    block: int,
    n: int,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reflectors ``start, ..., start + width - 1`` of Stewart's construction (see
    ``Orthogonal._fill_in_place_``), drawn into ``buffer`` as an ``(m - start) × width``
    matrix whose column ``j`` holds ``u_j`` from row ``j`` down, with R's diagonal for them."""
    width = min(block, n - start)
    reflectors = buffer[: (m - start) * width].view(m - start, width)
    reflectors.normal_(generator=generator).tril_()  # column j: a vector of m - start - j
    # v = x + c e_0 with c = sign(x_0) |x| maps x to -c e_0: R's diagonal is -c.
    head = reflectors.diagonal()
    c = torch.linalg.vector_norm(reflectors, dim=0).copysign_(head)
    head.add_(c)
    # Scaled to about unit length (the scale is free: H = I - 2uuᵀ/uᵀu).  c and x_0 share a
    # sign, so |v|² = |x|² + 2 c x_0 + c² = 2 |c| |x_0 + c|: no second pass.
    norms = head.abs().mul_(c.abs()).mul_(2.0).sqrt_()
    reflectors.div_(norms.clamp_(min=torch.finfo(norms.dtype).tiny))
    return reflectors, c.neg_()


def _cholesky_upper_(gram: torch.Tensor, block: int = 256) -> bool:
    """Overwrite the symmetric ``gram`` with its upper Cholesky factor ``R`` (``RᵀR = gram``,
    zeros below the diagonal) in its own memory, a block of rows at a time
    (``torch.linalg.cholesky`` would copy it); False if it is not positive definite."""
    n = gram.shape[0]
    for start in range(0, n, block):
        end = min(n, start + block)
        factor, info = torch.linalg.cholesky_ex(gram[start:end, start:end], upper=True)
        if info.item():
            return False
        gram[start:end, start:end] = factor
        if end < n:  # this block's rows of R solve R_kkᵀ R_k,rest = G_k,rest
            rest = gram[start:end, end:]
            rest.copy_(torch.linalg.solve_triangular(factor.mT, rest, upper=False))
            gram[end:, end:].addmm_(rest.mT, rest, alpha=-1.0)
    gram.triu_()
    return True


def _gram64(u: torch.Tensor, rows: int = 1024) -> torch.Tensor:
    """``uᵀu`` in float64, converting ``rows`` rows of ``u`` at a time (a float64 copy of all
    of ``u`` would double its memory)."""
    gram = torch.zeros(u.shape[1], u.shape[1], dtype=torch.float64, device=u.device)
    for start in range(0, u.shape[0], rows):
        part = u[start : start + rows].double()
        gram.addmm_(part.mT, part)
    return gram


@dataclass(frozen=True)
class Orthogonal:
    """A Haar-random (semi-)orthogonal ``rows × cols`` matrix times ``gain``, reshaped to the
    weight: orthonormal columns when ``rows >= cols``, orthonormal rows otherwise.

    Drawn as Keras draws it: a standard normal ``(max, min)`` matrix, reduced QR, each column
    of Q multiplied by the sign of R's diagonal, transposed when ``rows < cols``.  Weights of at
    least 128K values on the CPU that :meth:`_matrix` can view as a matrix (contiguous ones,
    transposed or permuted ones) get the same law built in their own memory from random
    Householder reflectors (``_fill_in_place_``), without the Gaussian matrix or its QR.
    With a seed (``draw``), Keras's Gaussian matrix is drawn into the weight and its QR and Q
    computed there (``_householder_qr_``, ``_form_q_``); a float16 or bfloat16 weight, which
    cannot hold it, gets Q from ``AᵀA`` where the matrix is thin (``_draw_thin_``), else from
    a float32 copy.
    """

    rows: int
    cols: int
    gain: float

    @property
    def mean(self) -> float:
        return 0.0

    @property
    def variance(self) -> float:
        return self.gain**2 / max(self.rows, self.cols)

    @property
    def support(self) -> tuple[float, float]:
        return -abs(self.gain), abs(self.gain)

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        in_place = tensor.device.type == "cpu" and tensor.numel() >= _ORTHOGONAL_IN_PLACE_MIN
        matrix = self._matrix(tensor) if in_place else None
        if matrix is not None:
            if tensor.dtype in _WIDE_DTYPES:
                self._fill_in_place_(self._tall_matrix(matrix), generator)
            else:
                self._fill_reduced_(tensor, self._tall_matrix(matrix), generator)
            return tensor
        gaussian = torch.empty(self._tall, dtype=compute_dtype(tensor.dtype), device=tensor.device)
        gaussian.normal_(generator=generator)
        return tensor.copy_(self._orthogonalize(gaussian).reshape(tensor.shape))

    def _fill_in_place_(self, q: torch.Tensor, generator: torch.Generator | None) -> None:
        """The same law built in ``q``, the weight's tall ``m × n`` matrix (:meth:`_tall_matrix`),
        without a Gaussian matrix.

        Householder QR of a Gaussian ``m × n`` matrix (``m >= n``) makes reflector ``k`` from
        column ``k`` of what the earlier reflectors left, and that column is again a standard
        Gaussian vector of length ``m - k``, independent of the earlier ones (the law is
        rotation invariant).  So Q times the signs of R's diagonal has the law of
        ``H_0 H_1 ... H_{n-1} [D; 0]``, each ``H_k`` the reflector of a fresh Gaussian vector
        ``x`` (mapping ``x`` to ``-sign(x_0) |x| e_0``) and ``D`` the diagonal of the
        ``-sign(x_0)``: Stewart's construction of Haar matrices.  The product is applied to
        ``[D; 0]`` in the weight's memory, the last reflectors first, a block of them at a
        time as ``I - U T Uᵀ`` (matrix products); only one block of reflectors is extra.
        ``gain`` multiplies the finished Q: the products on the way can exceed Q's entries,
        and would overflow for a gain near the dtype's largest value."""
        m, n = q.shape
        block = _reflector_block(m, n)
        q.zero_()
        buffer = torch.empty(m * block, dtype=q.dtype, device=q.device)  # one block
        for start in reversed(range(0, n, block)):
            reflectors, r_diagonal = _random_reflectors(buffer, m, start, block, n, generator)
            q[start:, start:].diagonal()[: r_diagonal.numel()].copy_(_signs(r_diagonal))
            # u is only about unit length, so T takes each uᵀu as computed (tau = 2 / uᵀu); a
            # zero x (never, in practice) gives u = 0 and H = I.
            t = _wy_factor(reflectors)
            trailing = q[start:, start:]
            trailing.addmm_(reflectors, t @ (reflectors.mT @ trailing), alpha=-1.0)
        if self.gain != 1.0:
            q.mul_(self.gain)

    def _fill_reduced_(
        self, tensor: torch.Tensor, q: torch.Tensor, generator: torch.Generator | None
    ) -> None:
        """``_fill_in_place_``'s law for a float16/bfloat16 weight (``q``: its tall matrix): Q
        built in float32 and rounded to nearest, a slab of columns at a time (each at most 4%
        of the weight's bytes, or 4 MiB), so that no float32 copy of the whole weight is needed.

        Column ``j`` of ``H_0 ... H_{n-1} [D; 0]`` depends only on the reflectors before
        it (the later ones leave rows above them alone), and those are drawn again for each
        slab from the generator states recorded in a first pass.  The generator ends where
        one pass leaves it, as in ``_fill_in_place_``."""
        m, n = q.shape
        byte_budget = max(_REDUCED_SLAB_BYTES, q.numel() * q.element_size() // 25)
        width = max(1, min(n, byte_budget // (4 * m)))
        block = min(n, _ORTHOGONAL_BLOCK, width)
        if width == n:  # one slab: the whole float32 Q at once, in the weight's own axis order
            values = torch.empty(tensor.shape, dtype=torch.float32)
            self._fill_in_place_(self._tall_matrix(values.view(self.rows, self.cols)), generator)
            tensor.copy_(values)
            return
        stream = generator if generator is not None else torch.default_generator
        buffer = torch.empty(m * block, dtype=torch.float32)
        starts = list(reversed(range(0, n, block)))
        states, factors = {}, {}
        scales = torch.empty(n, dtype=torch.float32)
        for start in starts:  # the first pass: states, R's diagonal and each block's T
            states[start] = stream.get_state()
            reflectors, r_diagonal = _random_reflectors(buffer, m, start, block, n, stream)
            scales[start : start + r_diagonal.numel()] = _signs(r_diagonal)
            factors[start] = _wy_factor(reflectors)
        end = stream.get_state()
        slab_buffer = torch.empty(m * width, dtype=torch.float32)
        for first in range(0, n, width):
            last = min(n, first + width)
            slab = slab_buffer[: m * (last - first)].view(m, last - first).zero_()
            slab[first:last].diagonal().copy_(scales[first:last])
            for start in starts:
                if start < last:
                    stream.set_state(states[start])
                    reflectors, _ = _random_reflectors(buffer, m, start, block, n, stream)
                    part = slab[start:]
                    part.addmm_(reflectors, factors[start] @ (reflectors.mT @ part), alpha=-1.0)
            q[:, first:last].copy_(slab.mul_(self.gain) if self.gain != 1.0 else slab)
        stream.set_state(end)

    def _matrix(self, tensor: torch.Tensor) -> torch.Tensor | None:
        """The weight as a ``rows × cols`` view whose rows or columns are contiguous, or None
        where its strides allow none: matrix products then read and write it without copies.

        The axes flattened into rows are taken in memory order, and so are those flattened
        into columns: a contiguous weight is read as it is, the transpose of one (Keras's
        view of a torch recurrent kernel) as that transpose, and Keras's ``(kh, kw, in, out)``
        view of a torch convolution as ``(in·kh·kw, out)``, its rows permuted.  That changes
        no law: a Haar (semi-)orthogonal matrix with its rows or its columns permuted is
        again one."""
        split = next(
            (k for k in range(tensor.dim() + 1) if math.prod(tensor.shape[:k]) == self.rows),
            None,
        )
        if split is None:
            return None
        rows, cols = range(split), range(split, tensor.dim())
        order = _in_stride_order(tensor, rows) + _in_stride_order(tensor, cols)
        try:
            matrix = tensor.permute(order).view(self.rows, self.cols)
        except RuntimeError:  # the row axes (or the column axes) are not one strided axis
            return None
        return matrix if 1 in matrix.stride() else None

    def _tall_matrix(self, matrix: torch.Tensor) -> torch.Tensor:
        """The ``rows × cols`` matrix as an ``m × n`` one with ``m >= n``: a tall weight's as
        it is, a wide one's through its transpose, whose columns are its rows."""
        return matrix if self.rows >= self.cols else matrix.mT

    def draw(
        self,
        shape: Shape,
        seed: SeedPair,
        dtype: torch.dtype,
        device: Device,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Keras's values for a Keras-layout ``shape`` (flattened as Keras flattens it), up to
        the rounding of the QR here against TensorFlow's; written into ``out`` if given.

        Into a float32/float64 CPU ``out`` of at least ``_ORTHOGONAL_IN_PLACE_MIN`` values
        whose memory can be read as Keras's Gaussian matrix (``_gaussian_matrix``), the
        Gaussian is drawn there and Q built over it in place (blocked Householder QR, then Q
        from the reflectors), with one block of reflectors as the only large buffer.  Into a
        float16/bfloat16 one, Q is computed in float32 and rounded: by ``_draw_thin_`` where
        Keras's matrix has ``_THIN_RATIO`` times as many rows as columns, else in a float32
        copy of ``out``.  Otherwise the Gaussian matrix is drawn whole and handed to
        ``linalg.qr``."""
        from parity import tf_random

        keras = Orthogonal(math.prod(shape[:-1]), shape[-1], self.gain)
        matrix = None
        if (
            out is not None
            and out.device.type == "cpu"
            and out.numel() >= _ORTHOGONAL_IN_PLACE_MIN  # below, one linalg.qr is quicker
        ):
            if dtype not in _WIDE_DTYPES:
                m, n = keras._tall
                if n * _THIN_RATIO <= m and keras._draw_thin_(out, seed):
                    return out
                # Q in float32, in a float32 copy's memory, then rounded: twice the weight's
                # bytes.
                values = self.draw(shape, seed, torch.float32, device, out=torch.empty(shape))
                return out.copy_(values)
            matrix = keras._gaussian_matrix(out)
        if matrix is None:
            gaussian = tf_random.normal(keras._tall, seed, compute_dtype(dtype), device)
            values = keras._orthogonalize(gaussian).reshape(shape).to(dtype)
            return values if out is None else out.copy_(values)
        assert out is not None
        drawn = keras._in_draw_order(out)
        tf_random.normal(drawn.shape, seed, dtype, device, out=drawn)
        m, n = matrix.shape
        taus = torch.empty(n, dtype=dtype)
        buffer = torch.empty(m * _reflector_block(m, n), dtype=dtype)
        _householder_qr_(matrix, taus, buffer)
        scales = self._column_scales(matrix.diagonal().clone())
        _form_q_(matrix, taus, buffer)
        matrix.mul_(scales)
        return out

    def _draw_thin_(self, out: torch.Tensor, seed: SeedPair) -> bool:
        """Keras's values into a float16/bfloat16 Keras-layout ``out`` whose Gaussian matrix
        ``A`` (``m × n``) is thin, without a float32 copy of it: ``Q = A R⁻¹`` with ``R`` the
        Cholesky factor of ``AᵀA`` (CholeskyQR), ``A`` drawn twice, a slab of rows at a time.
        Keras's Q times the signs of R's diagonal is the Q of the QR whose R has a positive
        diagonal, which is the one Cholesky gives.  Only ``AᵀA`` (``n × n`` float32) is kept.

        CholeskyQR loses orthogonality as ``κ(A)² ε``; a Gaussian matrix with
        ``m >= _THIN_RATIO n`` has ``κ`` about ``(1 + √(n/m)) / (1 - √(n/m)) <= 3``, and this Q
        came closer to float64's than float32 Householder's did (fewer float16 values
        rounded otherwise).  False, with nothing written, if ``AᵀA`` is not numerically
        positive definite."""
        from parity import tf_random

        m, n = self._tall
        gram = torch.zeros(n, n, dtype=torch.float32)
        for _, block in tf_random._normal_row_blocks(m, n, seed):
            gram.addmm_(block.mT, block)
        del block  # a view of this pass's slab of draws: freed before the next pass's
        if not _cholesky_upper_(gram):
            return False
        target = self._in_draw_order(out)  # Keras's Q is the tall (m, n) matrix there
        for first, block in tf_random._normal_row_blocks(m, n, seed):
            torch.linalg.solve_triangular(gram, block, upper=True, left=False, out=block)
            tf_random._write_flat_(target, first * n, block.mul_(self.gain).view(-1))
        return True

    def _gaussian_matrix(self, out: torch.Tensor) -> torch.Tensor | None:
        """Keras's tall Gaussian matrix as a 2-D view of the Keras-layout ``out``, or None.

        Keras draws a ``(rows, cols)`` matrix when ``rows >= cols``, flattening every axis
        but the last into the rows; else a ``(cols, rows)`` one that it transposes after the
        QR.  The rows of a tall matrix may come in any order (the QR of ``P A`` is ``P Q``
        times the same R), so the leading axes may be taken in the order of their strides;
        its columns may not be reordered."""
        if self.rows >= self.cols:  # its rows in the order of their strides
            lead = sorted(range(out.dim() - 1), key=out.stride, reverse=True)
            candidate = out.permute(*lead, -1)
        else:
            candidate = self._in_draw_order(out)
        try:
            return candidate.view(self._tall)
        except RuntimeError:  # the leading axes do not make one strided axis
            return None

    def _in_draw_order(self, out: torch.Tensor) -> torch.Tensor:
        """The Keras-layout ``out`` with its axes in the order Keras draws its Gaussian
        matrix (and, after the QR, holds Q): as it is when ``rows >= cols``, else its last
        axis first, since Keras then draws the transposed ``(cols, rows)`` matrix."""
        return out if self.rows >= self.cols else out.movedim(-1, 0)

    @property
    def _tall(self) -> tuple[int, int]:
        return max(self.rows, self.cols), min(self.rows, self.cols)

    def _orthogonalize(self, gaussian: torch.Tensor) -> torch.Tensor:
        q, r = torch.linalg.qr(gaussian)
        q.mul_(self._column_scales(r.diagonal()))
        return q.T if self.rows < self.cols else q

    def _column_scales(self, r_diagonal: torch.Tensor) -> torch.Tensor:
        """What Q's columns are multiplied by: the sign of R's diagonal, which makes Q Haar,
        times ``gain`` (in the diagonal's dtype: a float64 Q must not get a float32 gain)."""
        return _signs(r_diagonal).mul_(self.gain)


def _signs(r_diagonal: torch.Tensor) -> torch.Tensor:
    """The signs of R's diagonal, in its dtype.  sign(0) would zero a column; R's diagonal
    is almost surely nonzero, so +1 there."""
    return torch.where(r_diagonal < 0, -1.0, 1.0).to(r_diagonal.dtype)


@dataclass(frozen=True)
class Constant:
    """Every value equal to ``value``.

    ``from_python_float``: the value came as a Python float, which Keras casts to a float32
    tensor before the weight's dtype, so a float64 weight gets it rounded to float32
    (``Constant(0.1)``: 0.10000000149011612); ints and numpy float64 values keep theirs.  It
    is left out of equality, as of the repr: both describe the same value.
    """

    value: float
    from_python_float: bool = field(default=False, repr=False, compare=False)

    def value_in(self, dtype: torch.dtype) -> float:
        """The value a weight of ``dtype`` gets, before its own rounding."""
        if self.from_python_float and dtype == torch.float64:
            return float32_rounded(self.value)
        return self.value

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    @property
    def support(self) -> tuple[float, float]:
        return self.value, self.value

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return tensor.fill_(filled_value(self.value_in(tensor.dtype), tensor.dtype))


@dataclass(frozen=True)
class Identity:
    """``gain`` on the main diagonal of a 2-D weight, zeros elsewhere."""

    gain: float

    @property
    def support(self) -> tuple[float, float]:
        return min(0.0, self.gain), max(0.0, self.gain)

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # Keras multiplies eye() by gain: a negative gain makes its zeros -0.0.
        tensor.fill_(math.copysign(0.0, self.gain))
        tensor.diagonal().fill_(filled_value(self.gain, tensor.dtype))
        return tensor


@dataclass(frozen=True)
class STFTKernel:
    """One side of a windowed DFT as a Conv1D kernel: Keras's ``STFT`` initializer.

    In the Keras layout ``(frames, 1, bins)``, with ``n = 2 (bins - 1)`` the FFT length::

        kernel[t, 0, f] = cos(-2π t f / n) · w[t] / s      ("real"; sin for "imag")

    ``w`` is the window (all ones when None, and then ``s = 1``); ``s`` is its L2 norm
    (``"density"``), its L1 norm (``"spectrum"``) or 1 (None).  Each step is rounded to the
    weight's dtype where Keras's is: the phase ``((-2 t) · (f / n)) · π`` product by product,
    the window, its norm, and ``cos · w``, then ``/ s``.  Only ``cos`` and ``sin`` (of that
    rounded phase) and the norm's sum are evaluated in float64 and rounded once, so the values
    follow Keras's rounding of the phase, within an ulp or two of its float32 ``cos``.
    """

    frames: int
    bins: int
    side: Literal["real", "imag"]
    window: tuple[float, ...] | None = field(repr=False)
    scaling: Literal["density", "spectrum"] | None

    @property
    def support(self) -> tuple[float, float]:
        if self.window is None:
            return -1.0, 1.0
        window = torch.tensor(self.window, dtype=torch.float64)
        bound = (window.abs().max() / self._norm(window)).item()
        return -bound, bound

    def _norm(self, window: torch.Tensor) -> torch.Tensor:
        """``s`` of a float64 window (the window's own values, already rounded as needed)."""
        if self.scaling == "density":
            return window.square().sum().sqrt()
        if self.scaling == "spectrum":
            return window.abs().sum()
        return torch.ones((), dtype=torch.float64)

    def _rounded_window(
        self, dtype: torch.dtype, device: Device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The window and its norm in ``dtype``, as Keras has them: the window rounded, then
        its norm (of the rounded values) rounded."""
        assert self.window is not None
        window = torch.tensor(self.window, dtype=torch.float64, device=device).to(dtype)
        return window, self._norm(window.double()).to(dtype)

    def dtype_problem(self, dtype: torch.dtype) -> str | None:
        """Why this kernel cannot be written in ``dtype`` (its window or norm rounds to an
        infinity, or its norm to zero), or None."""
        if self.window is None:
            return None
        window, norm = self._rounded_window(dtype)
        if not window.isfinite().all():
            return f"the window's values overflow {dtype}"
        if not (norm.isfinite() and norm > 0):
            return f"the window's {self.scaling} norm is {norm.item():g} in {dtype}"
        return None

    def fill_(self, tensor: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Fill the Keras-layout kernel ``tensor`` of shape ``(frames, 1, bins)``."""
        dtype, device = tensor.dtype, tensor.device

        def rounded(value: float) -> torch.Tensor:
            return torch.tensor(value, dtype=torch.float64, device=device).to(dtype)

        frequency = torch.arange(self.bins, dtype=dtype, device=device) / rounded(
            2 * (self.bins - 1)
        )
        pi = rounded(math.pi)
        wave = torch.Tensor.cos_ if self.side == "real" else torch.Tensor.sin_
        window = norm = None
        if self.window is not None:
            window, norm = self._rounded_window(dtype, device)
        rows = max(1, _CHUNK // self.bins)  # bounded temporaries, whatever the kernel's size
        for start in range(0, self.frames, rows):
            stop = min(start + rows, self.frames)
            time = torch.arange(start, stop, dtype=dtype, device=device)
            phase = time.mul_(-2).unsqueeze(1).mul(frequency).mul_(pi)
            values = wave(phase.double()).to(dtype)
            if window is not None:
                values = values.mul_(window[start:stop, None]).div_(norm)
            tensor[start:stop, 0].copy_(values)
        return tensor


Distribution = Uniform | Normal | TruncatedNormal | Orthogonal | Constant | Identity | STFTKernel


def _center_and_spread(law: Uniform | Normal | TruncatedNormal) -> tuple[float, float]:
    if isinstance(law, Uniform):
        return law.mean, law.high - law.low
    return law.mean, law.std


def rescale_(
    tensor: torch.Tensor, source: Uniform | Normal | TruncatedNormal, target: Distribution
) -> torch.Tensor:
    """Map values drawn from ``source`` in place onto ``target``, a law of the same family
    (a uniform, normal or truncated normal with other parameters), by the affine map between
    the two: what a stateless initializer does when it is called twice on different shapes
    (the same standard draws, scaled for each).  Values are kept strictly inside a bounded
    support, where rounding could take them onto or past a bound."""
    if type(source) is not type(target):
        raise TypeError(f"cannot rescale {source} onto {target}: not the same family")
    (center, spread), (new_center, new_spread) = map(_center_and_spread, (source, target))
    # A point law (minval == maxval, stddev 0) draws its center: any ratio keeps it there.
    tensor.sub_(center).mul_(new_spread / spread if spread else 1.0).add_(new_center)
    if not isinstance(target, Normal):
        _clamp_inside_(tensor, *target.support)
    return tensor
