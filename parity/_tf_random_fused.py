"""Fused CPU kernels for :mod:`parity.tf_random`, compiled with numba when it is installed.

The torch pipeline in :mod:`parity.tf_random` runs a few hundred whole-chunk operations per
chunk of blocks (Philox's rounds, glibc's ``logf`` and ``sincosf``, the rejection), each one a
pass over memory.  These kernels compute the same thing a batch of blocks at a time, each step
a loop over the batch that stays in the first-level cache and that the compiler can run in
vector registers: Philox4x32-10, the float32 Box-Muller pairs with glibc's float64
expressions (float64 pairs: the C library's ``log``, ``sin`` and ``cos`` themselves, which
TensorFlow calls and which numpy's SIMD builds can replace), and the truncated normal's
rejection in stream order.  Philox's multipliers and
glibc's tables and coefficients come from :mod:`parity.tf_random` as arguments (:func:`pack`),
and the round count is its ``_ROUNDS`` (a compile-time constant, so that the rounds unroll),
so the two routes share one copy of every constant; the tests hold them to the same bits.

Compiled with ``nogil=True`` so that :mod:`parity.tf_random`'s worker threads run them in
parallel, and ``cache=True`` so that only the first process on a machine pays for compiling
(a few seconds); numba keeps separate float roundings (no ``fastmath``, so no fused
multiply-adds), as the torch route does.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from parity.tf_random import _ROUNDS as ROUNDS  # a compile-time constant: rounds unroll

if numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the kernels would run as slow Python
    raise ImportError("numba's compiler is turned off (NUMBA_DISABLE_JIT)")


@intrinsic
def _float32_bits(typingctx: Any, x: Any) -> Any:
    """The int32 with the bits of float32 ``x``."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


# float64 normals call the C library's log, sin and cos (math.log, ...: scalar calls into
# glibc, as TensorFlow's are) -- unless numba has Intel's SVML, with which the compiler may
# replace them by SVML's vector functions, whose last bits differ.  Then float64 keeps the
# torch pipeline.
EXACT_FLOAT64 = not numba.config.USING_SVML

# The names of the int64 and float64 constants, in the order of the arrays pack() makes.
_INTS = ("mul_a", "mul_b", "mask32", "row_bias", "row_shift", "mantissa_mask", "f64_high_mask")
_FLOATS = (
    "log_floor", "log_p0", "log_p1", "log_p2", "angle_scale", "quadrant_scale", "half_pi",
    "sin_p0", "sin_p1", "sin_p2", "cos_p0", "cos_p1", "cos_p2", "cos_p3", "cos_p4",
    "f64_scale", "f64_log_floor", "two_pi",
)  # fmt: skip
MUL_A, MUL_B, MASK32, ROW_BIAS, ROW_SHIFT, MANTISSA_MASK, F64_HIGH_MASK = range(len(_INTS))
(
    LOG_FLOOR, LOG_P0, LOG_P1, LOG_P2, ANGLE_SCALE, QUADRANT_SCALE, HALF_PI,
    SIN_P0, SIN_P1, SIN_P2, COS_P0, COS_P1, COS_P2, COS_P3, COS_P4,
    F64_SCALE, F64_LOG_FLOOR, TWO_PI,
) = range(len(_FLOATS))  # fmt: skip


def pack(**values: float) -> tuple[np.ndarray, np.ndarray]:
    """The int64 and float64 arrays the kernels take as ``ints`` and ``f``, from the named
    constants (every name above, no other)."""
    if set(values) != set(_INTS + _FLOATS):
        raise ValueError(f"constants needed: {_INTS + _FLOATS}, got {tuple(values)}")
    return (
        np.array([values[name] for name in _INTS], dtype=np.int64),
        np.array([values[name] for name in _FLOATS], dtype=np.float64),
    )


_BATCH = 1024  # blocks per batch: their words and parts stay in the first-level cache


@numba.njit(inline="always")
def _philox(block: int, c2: Any, c3: Any, keys: Any, ints: Any) -> Any:
    """The four uint32 words of the block with 64-bit index ``block`` of the stream whose high
    counter words are ``c2``, ``c3`` (uint32), under the round ``keys`` (uint32).

    32 x 32 -> 64-bit products of unsigned words, a fixed number of rounds: the compiler can
    unroll the rounds and run several blocks at once in vector registers.
    """
    mul_a, mul_b = np.uint64(ints[MUL_A]), np.uint64(ints[MUL_B])
    c0, c1 = np.uint32(block & ints[MASK32]), np.uint32(block >> 32)
    for r in range(ROUNDS):
        p0 = np.uint64(c0) * mul_a
        p1 = np.uint64(c2) * mul_b
        c0, c1, c2, c3 = (
            np.uint32(p1 >> np.uint64(32)) ^ c1 ^ keys[r, 0],
            np.uint32(p1),
            np.uint32(p0 >> np.uint64(32)) ^ c3 ^ keys[r, 1],
            np.uint32(p0),
        )
    return c0, c1, c2, c3


@numba.njit(inline="always")
def _mantissa(word: Any, ints: Any) -> Any:
    """The low 23 bits of ``word`` as an int32, which AVX2 converts to floats in vector
    registers (an int64 it does not)."""
    return np.int32(word & np.uint32(ints[MANTISSA_MASK]))


@numba.njit(inline="always")
def _radius(word: Any, ints: Any, f: Any, inv_c: Any, log_c: Any) -> Any:
    """float32 ``sqrtf(-2 logf(max(m 2^-23, 1e-7)))`` for the 23-bit mantissa of ``word``,
    scaled by 2^23 as tf_random._radius computes it."""
    x = max(np.float32(_mantissa(word, ints)), np.float32(f[LOG_FLOOR]))
    row = (np.int64(_float32_bits(x)) + ints[ROW_BIAS]) >> ints[ROW_SHIFT]
    r = np.float64(x) * inv_c[row] - 1.0
    r2 = r * r
    y = r * f[LOG_P1] + f[LOG_P2]
    y = y + r2 * f[LOG_P0]
    y = y * r2 + (r + log_c[row])
    return np.sqrt(np.float32(y) * np.float32(-2.0))


@numba.njit(inline="always")
def _sincos(word: Any, ints: Any, f: Any) -> Any:
    """float32 ``sincosf((float)(2 pi m 2^-23))`` for the 23-bit mantissa of ``word``, in
    tf_random._sincos's order of operations."""
    x = np.float64(np.float32(np.float64(_mantissa(word, ints)) * f[ANGLE_SCALE]))
    quadrant = np.floor(x * f[QUADRANT_SCALE] + 0.5)
    n = np.float32(quadrant)
    x = x - quadrant * f[HALF_PI]
    x2 = x * x
    x3 = x2 * x
    s = x3 * f[SIN_P0] + x
    s = s + (x2 * f[SIN_P2] + f[SIN_P1]) * (x3 * x2)
    x4 = x2 * x2
    c = x2 * f[COS_P1] + f[COS_P0]
    c = c + x4 * f[COS_P2]
    c = c + (x2 * f[COS_P4] + f[COS_P3]) * (x4 * x2)
    poly_s, poly_c = np.float32(s), np.float32(c)
    a = abs(n - np.float32(2.0)) - np.float32(1.0)
    b = (np.float32(2.0) - n) * (np.float32(np.floor(n * np.float32(0.5))) * np.float32(-2.0) + n)
    return poly_s * a + poly_c * b, poly_c * a - poly_s * b


@numba.njit(inline="always")
def _uniform_f64(high: Any, low: Any, ints: Any, f: Any) -> Any:
    """The float64 in [0, 1) with 20 bits of word ``high`` above the 32 of ``low``."""
    bits = (np.uint64(high) & np.uint64(ints[F64_HIGH_MASK])) << np.uint64(32)
    return np.float64(bits | np.uint64(low)) * f[F64_SCALE]


@numba.njit(inline="always")
def _normal_batch(
    first: int, count: int, stride: int, stream: Any, keys: Any, ints: Any, f: Any,
    inv_c: Any, log_c: Any, words: Any, z: Any,
) -> None:  # fmt: skip
    """Into float32 ``z[i, j]``: normal ``i`` of block ``first + stride j`` for ``j < count``.
    Each step is a loop of its own over the batch, so that the compiler can vectorize it."""
    c2, c3 = np.uint32(stream[0]), np.uint32(stream[1])
    for j in range(count):
        words[0, j], words[1, j], words[2, j], words[3, j] = _philox(
            first + stride * j, c2, c3, keys, ints
        )
    for j in range(count):
        z[0, j] = _radius(words[0, j], ints, f, inv_c, log_c)
    for j in range(count):
        z[2, j] = _radius(words[2, j], ints, f, inv_c, log_c)
    for j in range(count):
        sin, cos = _sincos(words[1, j], ints, f)
        z[1, j] = cos * z[0, j]
        z[0, j] = sin * z[0, j]
    for j in range(count):
        sin, cos = _sincos(words[3, j], ints, f)
        z[3, j] = cos * z[2, j]
        z[2, j] = sin * z[2, j]


@numba.njit(inline="always")
def _normal_batch_f64(
    first: int, count: int, stride: int, stream: Any, keys: Any, ints: Any, f: Any,
    words: Any, z: Any,
) -> None:  # fmt: skip
    """Into float64 ``z[i, j]``: normal ``i`` (of two) of block ``first + stride j`` for
    ``j < count``: ``sqrt(-2 log(max(u1, 1e-7)))`` times ``sin`` and ``cos`` of ``2 pi u2``, in
    tf_random._normal_planes_f64's order, with the C library's ``log``, ``sin`` and ``cos``."""
    c2, c3 = np.uint32(stream[0]), np.uint32(stream[1])
    for j in range(count):
        words[0, j], words[1, j], words[2, j], words[3, j] = _philox(
            first + stride * j, c2, c3, keys, ints
        )
    for j in range(count):
        u = max(_uniform_f64(words[0, j], words[1, j], ints, f), f[F64_LOG_FLOOR])
        angle = _uniform_f64(words[2, j], words[3, j], ints, f) * f[TWO_PI]
        radius = math.sqrt(math.log(u) * -2.0)
        z[0, j] = math.sin(angle) * radius
        z[1, j] = math.cos(angle) * radius


@numba.njit(inline="always")
def _write_blocks(out: Any, z: Any, start: int, count: int) -> None:
    """Blocks ``start``, ..., ``start + count - 1`` of ``out`` from the columns of ``z`` (a
    block's values down a column), the last block cut to the end of ``out``."""
    per_block = z.shape[0]
    for j in range(count):
        for i in range(min(per_block, out.shape[0] - per_block * (start + j))):
            out[per_block * (start + j) + i] = z[i, j]


@numba.njit(inline="always")
def _keep_inside(out: Any, group: int, kept: int, size: int, z: Any, j: int) -> int:
    """Append the values of column ``j`` of ``z`` with ``|z| < 2``, in order, to the ``kept``
    values of ``group`` in ``out`` until it has ``size``; the new count."""
    per_group = z.shape[0]
    for i in range(per_group):
        if kept < size and abs(z[i, j]) < 2.0:
            out[per_group * group + kept] = z[i, j]
            kept += 1
    return kept


# The kernels come in float32 and float64 twins that differ only in the batch they call:
# numba caches neither closures nor functions that take other functions, and choosing the
# batch by dtype through numba's overloads doubled the float32 kernels' compile time.


@numba.njit(nogil=True, cache=True)
def normal(
    out: Any, first: int, stream: Any, keys: Any, ints: Any, f: Any, inv_c: Any, log_c: Any
) -> None:
    """Fill float32 ``out`` with the normals of blocks ``first``, ``first + 1``, ..., four per
    block, the last block cut to the end of ``out``."""
    blocks = (out.shape[0] + 3) // 4
    words, z = np.empty((4, _BATCH), np.uint32), np.empty((4, _BATCH), np.float32)
    for start in range(0, blocks, _BATCH):
        count = min(_BATCH, blocks - start)
        _normal_batch(first + start, count, 1, stream, keys, ints, f, inv_c, log_c, words, z)
        _write_blocks(out, z, start, count)


@numba.njit(nogil=True, cache=True)
def normal_f64(
    out: Any, first: int, stream: Any, keys: Any, ints: Any, f: Any, inv_c: Any, log_c: Any
) -> None:
    """:func:`normal` for float64 ``out``: two normals per block."""
    blocks = (out.shape[0] + 1) // 2
    words, z = np.empty((4, _BATCH), np.uint32), np.empty((2, _BATCH), np.float64)
    for start in range(0, blocks, _BATCH):
        count = min(_BATCH, blocks - start)
        _normal_batch_f64(first + start, count, 1, stream, keys, ints, f, words, z)
        _write_blocks(out, z, start, count)


@numba.njit(nogil=True, cache=True)
def truncated_normal(
    out: Any, first: int, stride: int, stream: Any, keys: Any, ints: Any, f: Any,
    inv_c: Any, log_c: Any,
) -> None:  # fmt: skip
    """Fill float32 ``out`` with truncated-normal groups ``first``, ``first + 1``, ...: group
    ``g`` takes the normals of blocks ``stride g``, ``stride g + 1``, ... in order, keeping
    those with ``|z| < 2`` until it has four; the last group is cut to the end of ``out``.
    Every group's first block is drawn in batches; the 17% of groups that need more draw the
    rest one block at a time."""
    n = out.shape[0]
    words, z = np.empty((4, _BATCH), np.uint32), np.empty((4, _BATCH), np.float32)
    more = np.empty((4, 1), np.float32)
    for start in range(0, (n + 3) // 4, _BATCH):
        count = min(_BATCH, (n + 3) // 4 - start)
        block = (first + start) * stride
        _normal_batch(block, count, stride, stream, keys, ints, f, inv_c, log_c, words, z)
        for j in range(count):
            size = min(4, n - 4 * (start + j))
            kept = _keep_inside(out, start + j, 0, size, z, j)
            following = block + stride * j
            while kept < size:
                following += 1
                _normal_batch(following, 1, 1, stream, keys, ints, f, inv_c, log_c, words, more)
                kept = _keep_inside(out, start + j, kept, size, more, 0)


@numba.njit(nogil=True, cache=True)
def truncated_normal_f64(
    out: Any, first: int, stride: int, stream: Any, keys: Any, ints: Any, f: Any,
    inv_c: Any, log_c: Any,
) -> None:  # fmt: skip
    """:func:`truncated_normal` for float64 ``out``: groups of two (9% of them need more
    than their first block)."""
    n = out.shape[0]
    words, z = np.empty((4, _BATCH), np.uint32), np.empty((2, _BATCH), np.float64)
    more = np.empty((2, 1), np.float64)
    for start in range(0, (n + 1) // 2, _BATCH):
        count = min(_BATCH, (n + 1) // 2 - start)
        block = (first + start) * stride
        _normal_batch_f64(block, count, stride, stream, keys, ints, f, words, z)
        for j in range(count):
            size = min(2, n - 2 * (start + j))
            kept = _keep_inside(out, start + j, 0, size, z, j)
            following = block + stride * j
            while kept < size:
                following += 1
                _normal_batch_f64(following, 1, 1, stream, keys, ints, f, words, more)
                kept = _keep_inside(out, start + j, kept, size, more, 0)


@numba.njit(nogil=True, cache=True)
def radius_sincos(
    mantissas: Any, radius: Any, sin: Any, cos: Any, ints: Any, f: Any, inv_c: Any, log_c: Any
) -> None:
    """The three float32 parts of Box-Muller for each mantissa, for exhaustive checks."""
    for i in range(mantissas.shape[0]):
        word = np.uint32(mantissas[i])
        radius[i] = _radius(word, ints, f, inv_c, log_c)
        sin[i], cos[i] = _sincos(word, ints, f)
