"""TensorFlow's stateless random streams, reproduced value for value in torch.

:func:`uniform`, :func:`normal` and :func:`truncated_normal` return what
``tf.random.stateless_uniform``, ``stateless_normal`` and ``stateless_truncated_normal`` return
for the same shape, seed pair and dtype (TensorFlow on a Linux x86-64 CPU), on any torch device;
:func:`keras_seed` turns a Keras initializer's int seed into that seed pair.  Everything is
vectorized torch integer and float arithmetic, except that with numba installed, float32 and
float64 normals and truncated normals on the CPU come from fused kernels
(:mod:`parity._tf_random_fused`) that compute the same values in one pass.

How TensorFlow draws, and so how this module draws:

* **Philox4x32-10.**  A counter-based generator: a 128-bit counter and a 64-bit key go through
  ten rounds of 32x32 -> 64-bit multiplies and xors and come out as four random 32-bit words
  (a *block*).  Block ``i`` of a stream is the one at counter ``base + i``, so any block can be
  computed directly, and all of them at once.
* **Seed scrambling.**  The seed pair ``[s0, s1]`` (each sign-extended to 64 bits) is itself run
  through one Philox block under a fixed key; that block gives the stream's key (words 0, 1) and
  the high half of its base counter (words 2, 3; the low half is 0).
* **Output groups.**  Values are filled in row-major order, one fixed-size group at a time: a
  group of uniforms or normals is one block (4 float32 / float16 / bfloat16 values, 2 float64),
  computed whole and cut at the end of the tensor.  Truncated-normal group ``g`` starts its own
  stream at block ``256 g`` (``128 g`` for float64) and takes words from it until it has
  accepted enough values.  So every value is a function of its flat index alone: the first
  ``k`` values of a draw equal a size-``k`` draw from the same seed.
* **Uniform.**  A float32 in ``[0, 1)`` is ``1.m - 1`` with the 23-bit mantissa ``m`` the low
  bits of one word (10 bits for float16, 7 for bfloat16); a float64 takes 20 bits of one word
  and all 32 of the next.
* **Normal.**  Box-Muller on a pair of words: ``rho = sqrtf(-2 logf(max(u1, 1e-7)))``,
  ``theta = (float)(2 pi u2)``, values ``(rho sinf(theta), rho cosf(theta))``.  TensorFlow calls
  glibc's ``logf`` and ``sincosf``, which are not correctly rounded (they differ from the
  correctly rounded result on 0.7% and 1.3% of these inputs); this module evaluates the float64
  expressions those glibc routines evaluate, which reproduces them exactly on all 2^23 inputs
  Box-Muller can give each.  float16 / bfloat16 normals are the float32 ones rounded; float64
  normals take two float64 uniforms per pair and the C library's float64 ``log``, ``sin`` and
  ``cos``, which this module reaches through numpy on the CPU (elsewhere it uses torch's, which
  can differ in the last bits).
* **Truncated normal.**  Box-Muller values from the group's stream, in order, each kept if
  ``|z| < 2``, until the group is full; the rest of the last block is dropped.
* **Scaling.**  ``u (maxval - minval) + minval`` and ``z stddev + mean``, with bounds, mean and
  stddev first rounded to the dtype and every operation rounded to the dtype, as TensorFlow's
  separate ops round.

Example:
    >>> w = tf_random.truncated_normal((3, 3, 16, 32), keras_seed(42), stddev=0.5)
    >>> # == tf.random.stateless_truncated_normal((3, 3, 16, 32), seed=[42, 0], stddev=0.5)
"""

from __future__ import annotations

import functools
import importlib
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from parity.fans import (
    FLOAT_DTYPE_NAMES,
    FLOAT_DTYPES,
    as_int,
    check_real,
    check_shape,
    compute_dtype,
    rounded_to,
    write_problem,
)

__all__ = ["keras_seed", "normal", "philox", "truncated_normal", "uniform"]

# --------------------------------------------------------------------------- Philox4x32-10

_MASK32 = 0xFFFFFFFF
_MUL_A, _MUL_B = 0xD2511F53, 0xCD9E8D57  # round multipliers of counter words 0 and 2
_BUMP_A, _BUMP_B = 0x9E3779B9, 0xBB67AE85  # added to the key words after every round
_ROUNDS = 10
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)  # the fixed key that turns a seed pair into a stream
_RESERVED_SAMPLES = 256  # a truncated-normal group's share of its stream, in samples per value
_INT64_RANGE = (-(1 << 63), 1 << 63)

Word = int | torch.Tensor


def _round_keys(key: tuple[int, int]) -> list[tuple[int, int]]:
    """The key of each of the ten rounds."""
    k0, k1 = key
    keys = []
    for _ in range(_ROUNDS):
        keys.append((k0, k1))
        k0, k1 = (k0 + _BUMP_A) & _MASK32, (k1 + _BUMP_B) & _MASK32
    return keys


def _high_xor(product: Word, word: Word, key: int) -> Word:
    """``(high 32 bits of product) ^ word ^ key``, masked to 32 bits.

    A product of two 32-bit values needs 64 bits, which an int64 tensor holds modulo 2^64:
    the bits are right even where the signed value wraps, so ``>> 32`` then a mask is the
    high word.
    """
    if isinstance(product, torch.Tensor):
        out = product >> 32
        out ^= word
        out ^= key
        return out.bitwise_and_(_MASK32)
    if isinstance(word, torch.Tensor):
        return (word ^ ((product >> 32) ^ key)).bitwise_and_(_MASK32)
    return ((product >> 32) ^ word ^ key) & _MASK32


def philox(counter: Sequence[Word], key: tuple[int, int]) -> list[Word]:
    """Philox4x32-10: the block of four 32-bit words at ``counter`` under ``key``.

    One round maps counter ``c`` under key ``k`` to ``(hi(B c2) ^ c1 ^ k0, lo(B c2),
    hi(A c0) ^ c3 ^ k1, lo(A c0))`` with 64-bit products of the multipliers ``A = 0xD2511F53``,
    ``B = 0xCD9E8D57``; the key grows by ``(0x9E3779B9, 0xBB67AE85)`` after each of the ten.

    Args:
        counter: the four 32-bit counter words, least significant first, each a Python int or
            an int64 tensor of values in ``[0, 2^32)`` (tensors broadcast).
        key: the two 32-bit key words.

    Returns:
        The four words, ints or int64 tensors of values in ``[0, 2^32)``.

    Example:
        >>> words = philox([torch.arange(8), 0, 0, 0], (1, 2))  # blocks 0..7 of one stream
    """
    c = list(counter)
    for k0, k1 in _round_keys(key):
        p0, p1 = c[0] * _MUL_A, c[2] * _MUL_B
        # The low products (new words 1, 3) stay unmasked: only their low 32 bits are read.
        c = [_high_xor(p1, c[1], k0), p1, _high_xor(p0, c[3], k1), p0]
    return [w & _MASK32 if isinstance(w, int) else w.bitwise_and(_MASK32) for w in c]


def _stream(seed: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The key and the high counter words of the stream TensorFlow derives from a seed pair."""
    s0, s1 = (s & ((1 << 64) - 1) for s in seed)  # two's complement, 64 bits
    words = philox([s0 & _MASK32, s0 >> 32, s1 & _MASK32, s1 >> 32], _SCRAMBLE_KEY)
    return (words[0], words[1]), (words[2], words[3])


class _Scratch:
    """Named scratch buffers, reused from one chunk to the next (allocating fresh large tensors
    for every step costs more than the arithmetic)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._buffers: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, dtype: torch.dtype, n: int) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.dtype != dtype or buffer.numel() < n:
            buffer = torch.empty(n, dtype=dtype, device=self.device)
            self._buffers[name] = buffer
        return buffer[:n]


def _on_numpy(tensor: torch.Tensor) -> bool:
    """Whether a step may run through numpy on ``tensor``'s memory (on the CPU, where several
    of numpy's kernels beat torch's, or are the C library's, as noted at each use).  Every
    such step also has a torch path, the one other devices take; the tests run the whole
    module on that path too by making this false."""
    return tensor.device.type == "cpu"


def _mul(words: torch.Tensor, factor: int, out: torch.Tensor) -> torch.Tensor:
    """``words * factor`` into ``out``, int64 wrapping.  On the CPU through numpy: torch's
    int64 multiply takes about twice numpy's time there, and it is a fifth of Philox's ops."""
    if _on_numpy(words):
        np.multiply(words.numpy(), factor, out=out.numpy())
        return out
    return torch.mul(words, factor, out=out)


class _Philox:
    """The blocks of one stream, computed in scratch buffers.

    ``blocks(low, high)`` gives the four words of the blocks with 64-bit index
    ``high 2^32 + low`` in the stream (``low`` an int64 tensor of values below 2^32, ``high``
    an int); the words live in scratch buffers that the next call overwrites.
    """

    def __init__(self, seed: tuple[int, int], scratch: _Scratch) -> None:
        key, self._counter_high = _stream(seed)
        self._keys = _round_keys(key)
        self._scratch = scratch

    def blocks(self, low: torch.Tensor, high: int) -> list[torch.Tensor]:
        n = low.numel()
        free = [self._scratch(f"philox{i}", torch.int64, n) for i in range(6)]
        (k0, k1), (k2, k3), *later_keys = self._keys
        c2, c3 = self._counter_high
        # Rounds 1 and 2 by hand: only counter word 0 varies, so half their products are scalars.
        w3 = _mul(low, _MUL_A, free.pop())  # unmasked, as in philox()
        p1 = c2 * _MUL_B
        w0, w1 = ((p1 >> 32) ^ high ^ k0) & _MASK32, p1 & _MASK32
        w2 = torch.bitwise_right_shift(w3, 32, out=free.pop())
        w2.bitwise_xor_(c3 ^ k1).bitwise_and_(_MASK32)
        p0 = w0 * _MUL_A
        w1, old_w1 = _mul(w2, _MUL_B, free.pop()), w1
        free.append(w2)
        w0 = torch.bitwise_right_shift(w1, 32, out=free.pop())
        w0.bitwise_xor_(old_w1 ^ k2).bitwise_and_(_MASK32)
        w2 = w3.bitwise_xor_((p0 >> 32) ^ k3).bitwise_and_(_MASK32)
        w3 = p0 & _MASK32
        for k0, k1 in later_keys:
            p0 = _mul(w0, _MUL_A, free.pop())
            p1 = _mul(w2, _MUL_B, free.pop())
            torch.bitwise_right_shift(p1, 32, out=w0).bitwise_xor_(w1)
            w0.bitwise_xor_(k0).bitwise_and_(_MASK32)
            torch.bitwise_right_shift(p0, 32, out=w2)
            if isinstance(w3, int):
                w2.bitwise_xor_(w3 ^ k1)
            else:
                w2.bitwise_xor_(w3).bitwise_xor_(k1)
                free.append(w3)
            w2.bitwise_and_(_MASK32)
            free.append(w1)
            w1, w3 = p1, p0
        return [w0, w1.bitwise_and_(_MASK32), w2, w3.bitwise_and_(_MASK32)]


# --------------------------------------------------------------------------- glibc's logf, sincosf
#
# Box-Muller gives logf one of 2^23 inputs (a 23-bit uniform, or 1e-7 in place of 0) and
# sincosf one of 2^23 (2 pi times a 23-bit uniform, rounded to float32).  glibc 2.28 and later
# computes both in float64 -- a table lookup and a short polynomial -- rounding once to
# float32.  The code below evaluates the same float64 expressions in the same order, which
# gives glibc's float32 results on every one of those inputs (checked exhaustively against
# glibc 2.36 on x86-64, whose fused multiply-add builds give the same results there).
# The table entries and polynomial coefficients below are numeric data of those float32 routines,
# which glibc takes from Arm's optimized-routines (MIT OR Apache-2.0 WITH LLVM-exception).

_LOG_EPSILON = float(np.float32(1.0e-7))  # TensorFlow's floor for u1 before the log
_LOG_EPSILON_F64 = 1.0e-7  # the same floor for float64 normals, in float64
# The largest |z| a normal here can take: the radius sqrt(-2 ln u) at that floor (|sin| and
# |cos| are at most 1), with room for float32's rounding of it.
BOX_MULLER_REACH = math.sqrt(-2.0 * math.log(_LOG_EPSILON_F64)) * (1 + 2**-20)
_MANTISSA = 1 << 23
_TWO_PI = 2.0 * math.pi  # float64, as TensorFlow's 2 * M_PI

# logf writes x = 2^k z with z's float bits in [_LOG_OFF, 2 _LOG_OFF), splits that range into
# 16 subintervals i, each with a point c, and computes log(x) = log1p(z/c - 1) + log(c) + k ln2
# with 1/c and log(c) from a table and a cubic for log1p.
_LOG_OFF = 0x3F330000
_LOG_INV_C = [float.fromhex(h) for h in (
    "0x1.661ec79f8f3bep+0", "0x1.571ed4aaf883dp+0", "0x1.49539f0f010bp+0",
    "0x1.3c995b0b80385p+0", "0x1.30d190c8864a5p+0", "0x1.25e227b0b8eap+0",
    "0x1.1bb4a4a1a343fp+0", "0x1.12358f08ae5bap+0", "0x1.0953f419900a7p+0", "0x1p+0",
    "0x1.e608cfd9a47acp-1", "0x1.ca4b31f026aap-1", "0x1.b2036576afce6p-1",
    "0x1.9c2d163a1aa2dp-1", "0x1.886e6037841edp-1", "0x1.767dcf5534862p-1",
)]  # fmt: skip
_LOG_C = [float.fromhex(h) for h in (
    "-0x1.57bf7808caadep-2", "-0x1.2bef0a7c06ddbp-2", "-0x1.01eae7f513a67p-2",
    "-0x1.b31d8a68224e9p-3", "-0x1.6574f0ac07758p-3", "-0x1.1aa2bc79c81p-3",
    "-0x1.a4e76ce8c0e5ep-4", "-0x1.1973c5a611cccp-4", "-0x1.252f438e10c1ep-5", "0x0p+0",
    "0x1.aa5aa5df25984p-5", "0x1.c5e53aa362eb4p-4", "0x1.526e57720db08p-3",
    "0x1.bc2860d22477p-3", "0x1.1058bc8a07ee1p-2", "0x1.4043057b6ee09p-2",
)]  # fmt: skip
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOG1P_POLY = [float.fromhex(h) for h in (
    "-0x1.00ea348b88334p-2", "0x1.5575b0be00b6ap-2", "-0x1.ffffef20a4123p-2",
)]  # fmt: skip

# The table is indexed by j = (bits(x) - _LOG_OFF) >> 19 = 16 k + i.  Its 1/c entries carry
# the exact power of two 2^-(k + 23) that takes x 2^23 (the mantissa as a float) to z, which
# changes no rounding; its log entries hold log(c) + k ln2 rounded as glibc rounds them.
_LOG_SHIFT = 19


def _log_index(bits: int) -> int:
    return (bits - _LOG_OFF) >> _LOG_SHIFT


_LOG_FIRST = _log_index(int(np.float32(_LOG_EPSILON).view(np.int32)))
_LOG_ROWS = range(_LOG_FIRST, _log_index(0x3F7FFFFF) + 1)  # x in [1e-7, 1)
_LOG_TABLE_INV_C = [_LOG_INV_C[j & 15] * 2.0 ** -((j >> 4) + 23) for j in _LOG_ROWS]
_LOG_TABLE_LOG_C = [_LOG_C[j & 15] + float(j >> 4) * _LN2 for j in _LOG_ROWS]
# Adding this to the bits of x 2^23 and shifting gives the row: (23 << 23) undoes the 2^23.
_LOG_ROW_BIAS = -(23 << 23) - _LOG_OFF - (_LOG_FIRST << _LOG_SHIFT)

# sincosf takes the quadrant n = round(x 2/pi) (from a 2^24-scaled product, truncated), reduces
# r = x - n pi/2 and evaluates glibc's odd and even polynomials in r; the quadrant then swaps
# and negates them.
_HALF_PI_INV_2P24 = float.fromhex("0x1.45F306DC9C883p+23")
_HALF_PI = float.fromhex("0x1.921FB54442D18p0")
_COS_POLY = [1.0] + [float.fromhex(h) for h in (
    "-0x1.ffffffd0c621cp-2", "0x1.55553e1068f19p-5", "-0x1.6c087e89a359dp-10",
    "0x1.99343027bf8c3p-16",
)]  # fmt: skip
_SIN_POLY = [float.fromhex(h) for h in (
    "-0x1.555545995a603p-3", "0x1.1107605230bc4p-7", "-0x1.994eb3774cf24p-13",
)]  # fmt: skip


class _Tables:
    """The lookup tables as tensors on one device, made once per device."""

    _made: dict[torch.device, _Tables] = {}  # noqa: RUF012

    def __init__(self, device: torch.device) -> None:
        self.log_inv_c = torch.tensor(_LOG_TABLE_INV_C, dtype=torch.float64, device=device)
        self.log_c = torch.tensor(_LOG_TABLE_LOG_C, dtype=torch.float64, device=device)
        # For truncated normals, by the pattern of kept values among the 2k candidates of two
        # blocks (bit j: candidate j kept): the positions of the first k kept ones (a row per
        # pattern), and whether there are k; and the weights 2^j that turn the candidates'
        # kept flags into their pattern.  k = 4 values per block (float32) or 2 (float64).
        self.pick: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for k in (2, 4):
            kept = [[j for j in range(2 * k) if pattern >> j & 1] for pattern in range(4**k)]
            self.pick[k] = (
                torch.tensor([(found + [0] * k)[:k] for found in kept], device=device),
                torch.tensor([len(found) >= k for found in kept], device=device),
                torch.tensor([float(1 << j) for j in range(2 * k)], device=device),
            )

    @classmethod
    def on(cls, device: torch.device) -> _Tables:
        if device not in cls._made:
            cls._made[device] = cls(device)
        return cls._made[device]


def _sqrt_(values: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root, in place.  torch's CPU sqrt is not correctly rounded on
    every build (it can be an ulp off); numpy's is the hardware's, and so is CUDA's."""
    if _on_numpy(values):
        array = values.numpy()
        np.sqrt(array, out=array)
        return values
    return values.sqrt_()


def _radius(m: torch.Tensor, scratch: _Scratch) -> torch.Tensor:
    """float32 ``sqrtf(-2 logf(max(m 2^-23, 1e-7)))`` for 23-bit int32 mantissas ``m``, with
    glibc's ``logf``, in a scratch buffer."""
    n, tables = m.numel(), _Tables.on(m.device)
    x = scratch("f32a", torch.float32, n).copy_(m).clamp_(min=_LOG_EPSILON * _MANTISSA)
    row = torch.add(x.view(torch.int32), _LOG_ROW_BIAS, out=scratch("i32c", torch.int32, n))
    row.bitwise_right_shift_(_LOG_SHIFT)
    lookup = scratch("f64b", torch.float64, n)
    r = scratch("f64a", torch.float64, n).copy_(x)  # x 2^23, exact
    r.mul_(torch.index_select(tables.log_inv_c, 0, row, out=lookup)).sub_(1.0)  # z/c - 1
    r2 = torch.mul(r, r, out=scratch("f64c", torch.float64, n))
    y = torch.mul(r, _LOG1P_POLY[1], out=scratch("f64d", torch.float64, n)).add_(_LOG1P_POLY[2])
    y.add_(torch.mul(r2, _LOG1P_POLY[0], out=scratch("f64e", torch.float64, n)))
    y.mul_(r2).add_(r.add_(torch.index_select(tables.log_c, 0, row, out=lookup)))
    # logf's float32 result times -2 (exact), then sqrtf.
    return _sqrt_(scratch("radius", torch.float32, n).copy_(y).mul_(-2.0))


def _sincos(m: torch.Tensor, scratch: _Scratch) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``sincosf((float)(2 pi m 2^-23))`` for 23-bit int32 mantissas ``m``, as glibc
    computes it, in scratch buffers."""
    n = m.numel()
    f64 = [scratch(f"f64{c}", torch.float64, n) for c in "abcde"]
    f32 = [scratch(f"f32{c}", torch.float32, n) for c in "abcdefg"]
    x = f64[0].copy_(m).mul_(_TWO_PI / _MANTISSA)
    x.copy_(f32[0].copy_(x))  # the angle, rounded to float32
    # Quadrant n = round(x 2/pi) (glibc truncates x 2/pi 2^24, adds 2^23, shifts by 24), and
    # r = x - n pi/2 with n pi/2 rounded.
    quadrant = torch.mul(x, _HALF_PI_INV_2P24 * 2.0**-24, out=f64[1]).add_(0.5).floor_()
    n_f32 = f32[1].copy_(quadrant)
    x.sub_(quadrant.mul_(_HALF_PI))  # n pi/2 rounded, then subtracted
    x2 = torch.mul(x, x, out=f64[1])
    x3 = torch.mul(x2, x, out=f64[2])
    s = torch.mul(x3, _SIN_POLY[0], out=f64[3]).add_(x)
    s1 = torch.mul(x2, _SIN_POLY[2], out=f64[4]).add_(_SIN_POLY[1])
    s.add_(s1.mul_(x3.mul_(x2)))  # + x^5 (s2 + x^2 s3)
    x4 = torch.mul(x2, x2, out=x3)
    c = torch.mul(x2, _COS_POLY[1], out=x).add_(_COS_POLY[0])
    c.add_(torch.mul(x4, _COS_POLY[2], out=s1))
    c2 = torch.mul(x2, _COS_POLY[4], out=s1).add_(_COS_POLY[3])
    c.add_(c2.mul_(x4.mul_(x2)))  # + x^6 (c3 + x^2 c4)
    poly_s, poly_c = f32[0].copy_(s), f32[2].copy_(c)
    # Quadrant n turns (poly_s, poly_c) by n quarter turns: sin = s a + c b, cos = c a - s b
    # with (a, b) = (cos, sin)(n pi/2) = (|n - 2| - 1, (n odd) (2 - n)) for n in 0..4.  One of
    # a, b is 0 and the other +-1, so these sums are exact.
    a = torch.sub(n_f32, 2.0, out=f32[3]).abs_().sub_(1.0)
    odd = torch.mul(n_f32, 0.5, out=f32[4]).floor_().mul_(-2.0).add_(n_f32)
    b = torch.sub(2.0, n_f32, out=n_f32).mul_(odd)
    term = torch.mul(poly_c, b, out=odd)
    sin = torch.mul(poly_s, a, out=f32[5]).add_(term)
    torch.mul(poly_s, b, out=term)
    cos = torch.mul(poly_c, a, out=f32[6]).sub_(term)
    return sin, cos


# --------------------------------------------------------------------------- blocks to values
#
# Each function turns the four words of G blocks into the values those blocks give, written
# into ``planes`` of shape (values per block, G): plane i holds value i of every block.

_CHUNK = 1 << 17  # blocks (or truncated-normal groups) per step; a power of two below 2^24
_UNIFORM_BITS = {torch.float16: 10, torch.bfloat16: 7, torch.float32: 23}
_F64_HIGH_MASK = (1 << 20) - 1  # a float64 uniform's bits from its first word, above 32 more
_F64_SCALE = 2.0**-52

Transform = Callable[[list[torch.Tensor], torch.Tensor, _Scratch], None]


def _per_block(dtype: torch.dtype) -> int:
    return 2 if dtype == torch.float64 else 4


def _uniform_f64(high: torch.Tensor, low: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The float64 in [0, 1) with 20 bits of ``high`` above the 32 of ``low``."""
    bits = torch.bitwise_and(high, _F64_HIGH_MASK).bitwise_left_shift_(32).bitwise_or_(low)
    return out.copy_(bits).mul_(_F64_SCALE)


def _uniform_planes(words: list[torch.Tensor], planes: torch.Tensor, scratch: _Scratch) -> None:
    if planes.dtype == torch.float64:
        for i in range(2):
            _uniform_f64(words[2 * i], words[2 * i + 1], planes[i])
        return
    bits = _UNIFORM_BITS[planes.dtype]  # 1.m - 1 == m 2^-bits, exactly
    for i in range(4):
        planes[i].copy_(words[i].bitwise_and_((1 << bits) - 1)).mul_(2.0**-bits)


def _normal_planes(words: list[torch.Tensor], planes: torch.Tensor, scratch: _Scratch) -> None:
    if planes.dtype == torch.float64:
        _normal_planes_f64(words, planes, scratch)
        return
    # Pairs (w0, w1) and (w2, w3) side by side: (2, G) mantissas for the radius and the angle.
    g = words[0].numel()
    radial = scratch("i32a", torch.int32, 2 * g).view(2, g)
    angular = scratch("i32b", torch.int32, 2 * g).view(2, g)
    for i in range(2):
        radial[i].copy_(words[2 * i])  # int64 to int32 keeps the low 32 bits
        angular[i].copy_(words[2 * i + 1])
    radius = _radius(radial.bitwise_and_(0x7FFFFF).view(-1), scratch).view(2, g)
    sin, cos = _sincos(angular.bitwise_and_(0x7FFFFF).view(-1), scratch)
    pairs = planes.view(2, 2, g)  # [pair, sin or cos, block]
    torch.mul(sin.view(2, g), radius, out=pairs[:, 0])
    torch.mul(cos.view(2, g), radius, out=pairs[:, 1])


@functools.cache
def _numpy_is_c_library(name: str) -> bool:
    """Whether numpy's float64 ``name`` gives the C library's results here.  Where the CPU has
    AVX-512, numpy has its own float64 ``log``, which differs from glibc's in the last bit on
    about 0.15% of inputs (measured on 200,000 uniforms in (0, 6))."""
    probe = np.random.default_rng(0).random(1 << 16) * 8.0 + 2.0**-30
    c_library = getattr(math, name)
    return bool(np.array_equal(getattr(np, name)(probe), [c_library(x) for x in probe]))


def _c_library(name: str, values: np.ndarray, out: np.ndarray) -> None:
    """The C library's float64 ``name`` (``math.name``) of ``values`` into ``out``: through
    numpy where numpy's is the same, else one value at a time (about 40 ns per value)."""
    if _numpy_is_c_library(name):
        getattr(np, name)(values, out=out)
    else:
        out[:] = np.fromiter(map(getattr(math, name), values), np.float64, values.size)


def _normal_planes_f64(words: list[torch.Tensor], planes: torch.Tensor, scratch: _Scratch) -> None:
    """float64 Box-Muller: one pair per block, two float64 uniforms per pair.

    TensorFlow calls the C library's float64 ``log``, ``sqrt`` and ``sincos``.  On the CPU this
    calls the C library's too (:func:`_c_library`) and numpy's correctly rounded ``sqrt``;
    elsewhere torch's functions.
    (With numba, the CPU's float64 normals come from the fused kernels instead, which call the
    C library's functions themselves.)
    """
    n = words[0].numel()
    u = _uniform_f64(words[0], words[1], scratch("f64a", torch.float64, n))
    u.clamp_(min=_LOG_EPSILON_F64)
    angle = _uniform_f64(words[2], words[3], scratch("f64b", torch.float64, n)).mul_(_TWO_PI)
    if _on_numpy(u):
        radius, theta = u.numpy(), angle.numpy()
        _c_library("log", radius, radius)
        radius *= -2.0
        np.sqrt(radius, out=radius)
        _c_library("sin", theta, planes[0].numpy())
        _c_library("cos", theta, theta)
    else:
        u.log_().mul_(-2.0).sqrt_()
        torch.sin(angle, out=planes[0])
        angle.cos_()
    planes[0].mul_(u)
    torch.mul(angle, u, out=planes[1])


# --------------------------------------------------------------------------- filling tensors


def _map_chunks(
    seed: tuple[int, int],
    device: torch.device,
    count: int,
    work: Callable[[_Philox, _Scratch, int, int], Any],
) -> list[Any]:
    """``[work(stream, scratch, start, stop) for each chunk start..stop-1 of range(count)]``.

    On the CPU the chunks go to ``torch.get_num_threads()`` worker threads, each running its
    torch ops single-threaded: thousands of small ops each split over all cores would wait on
    one another (and on anything else running) at every op, while whole chunks per thread
    only share the work queue.
    """
    starts = range(0, count, _CHUNK)
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    if min(threads, len(starts)) <= 1:
        scratch = _Scratch(device)
        stream = _Philox(seed, scratch)
        return [work(stream, scratch, s, min(count, s + _CHUNK)) for s in starts]
    results: list[Any] = [None] * len(starts)
    errors: list[BaseException] = []
    queue = iter(enumerate(starts))
    lock = threading.Lock()
    inference = torch.is_inference_mode_enabled()

    # Grad and inference mode are per thread: each worker takes the caller's, so it may write
    # a tensor the caller made in inference mode.
    @torch.inference_mode(inference)
    @torch.no_grad()
    def worker() -> None:
        torch.set_num_threads(1)
        try:
            scratch = _Scratch(device)
            stream = _Philox(seed, scratch)
            while not errors:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                results[item[0]] = work(stream, scratch, item[1], min(count, item[1] + _CHUNK))
        except BaseException as error:  # raised again in the calling thread
            errors.append(error)
        finally:
            torch.set_num_threads(threads)  # the setting new threads start from

    pool = [threading.Thread(target=worker) for _ in range(min(threads, len(starts)))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _fill_fixed(out: torch.Tensor, seed: tuple[int, int], first: int, transform: Transform) -> None:
    """Fill flat ``out`` with groups ``first``, ``first + 1``, ... of a fixed-count
    distribution, one block per group (``first`` a multiple of ``_CHUNK``)."""
    per_block = _per_block(out.dtype)
    full = out.numel() // per_block
    body = out[: full * per_block].view(full, per_block)

    def chunk(stream: _Philox, scratch: _Scratch, start: int, stop: int) -> None:
        planes = scratch("planes", out.dtype, per_block * (stop - start)).view(per_block, -1)
        blocks = _block_range(first + start, first + stop, scratch)
        transform(stream.blocks(blocks, (first + start) >> 32), planes, scratch)
        _interleave_(body[start:stop], planes)

    _map_chunks(seed, out.device, full, chunk)
    tail = out.numel() - full * per_block
    if tail:  # the last group is computed whole and cut
        scratch = _Scratch(out.device)
        planes = scratch("planes", out.dtype, per_block).view(per_block, 1)
        last = first + full
        words = _Philox(seed, scratch).blocks(_block_range(last, last + 1, scratch), last >> 32)
        transform(words, planes, scratch)
        out[full * per_block :].copy_(planes[:tail, 0])


def _interleave_(groups: torch.Tensor, planes: torch.Tensor) -> None:
    """Write plane ``i`` (value ``i`` of every group) into column ``i`` of ``groups``.  One
    strided copy per plane: torch's transposing ``copy_`` is several times slower, and on the
    CPU numpy's strided copy is about three times faster than torch's."""
    numpy = _on_numpy(groups) and groups.dtype != torch.bfloat16  # numpy has no bfloat16
    for i, plane in enumerate(planes):
        if numpy:
            np.copyto(groups[:, i].numpy(), plane.numpy())
        else:
            groups[:, i].copy_(plane)


def _block_range(start: int, stop: int, scratch: _Scratch) -> torch.Tensor:
    """The low 32 bits of start..stop-1, where no multiple of 2^32 lies strictly inside."""
    low = start & _MASK32
    return torch.arange(low, low + stop - start, out=scratch("low", torch.int64, stop - start))


def _fill_truncated(out: torch.Tensor, seed: tuple[int, int], first: int) -> None:
    """Fill flat ``out`` (float32 or float64) with TensorFlow's truncated normal groups
    ``first``, ``first + 1``, ... (``first`` a multiple of ``_CHUNK``).  (The fused kernel,
    where it applies, takes each group's blocks in order until it has its values.)

    Every group first takes the first block of its stream; 83% (float32) or 91% (float64) of
    groups keep all of that block's values.  The others then take their second block, and the
    few still short of values are drawn again with more blocks.
    """
    per_group = _per_block(out.dtype)
    stride = _RESERVED_SAMPLES * per_group // 4  # blocks reserved per group
    if _fill_fused(out, seed, first, "truncated_normal", stride):
        return
    groups, full = -(-out.numel() // per_group), out.numel() // per_group
    positions, enough, weights = _Tables.on(out.device).pick[per_group]

    def chunk(stream: _Philox, scratch: _Scratch, start: int, stop: int) -> torch.Tensor:
        planes = scratch("planes", out.dtype, per_group * (stop - start)).view(per_group, -1)
        group = first + start  # the stream's own numbering
        blocks = _block_range(group, group + stop - start, scratch).mul_(stride)
        _normal_planes(
            stream.blocks(blocks.bitwise_and_(_MASK32), (group * stride) >> 32), planes, scratch
        )
        whole = min(stop, full) - start
        _interleave_(
            out[start * per_group :][: whole * per_group].view(-1, per_group), planes[:, :whole]
        )
        if stop > full:  # the last group is computed whole and cut
            out[full * per_group :].copy_(planes[: out.numel() - full * per_group, -1])
        magnitude = torch.abs(planes, out=scratch("abs", out.dtype, planes.numel()).view_as(planes))
        rows = _nonzero(magnitude.amax(dim=0) >= 2.0)
        if not rows.numel():
            return rows
        # The groups with a value outside (-2, 2), right away (nothing piles up across chunks):
        # the candidates of their first two blocks in stream order; a table maps the pattern of
        # those inside to the positions of the first per_group of them.
        candidates = torch.empty(2 * per_group, rows.numel(), dtype=out.dtype, device=out.device)
        torch.index_select(planes, 1, rows, out=candidates[:per_group])
        rows += start
        _blocks_at(stream, (rows + first) * stride + 1, candidates[per_group:], scratch)
        # The pattern is a sum of distinct powers of two below 2^8, exact in float32.
        pattern = (weights @ (candidates.abs() < 2.0).to(weights.dtype)).long()
        chosen = torch.gather(candidates.t(), 1, positions.index_select(0, pattern))
        _write_groups(out, rows, chosen)  # every row; those still short are redone below
        return rows[_nonzero(~enough.index_select(0, pattern))]

    short = torch.cat(_map_chunks(seed, out.device, groups, chunk))
    if short.numel():
        scratch = _Scratch(out.device)
        _refill(_Philox(seed, scratch), short, first, per_group, stride, out, scratch)


def _nonzero(mask: torch.Tensor) -> torch.Tensor:
    """The indices of a 1-D bool mask's true entries, ascending.  On the CPU through numpy,
    whose flatnonzero is several times faster than torch's nonzero there."""
    if _on_numpy(mask):
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().squeeze(1)


def _write_groups(out: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
    """``values`` (rows, values per group) into the groups ``rows`` (ascending) of flat
    ``out``, the last group cut to the end of ``out``."""
    per_group = values.shape[1]
    full = out.numel() // per_group
    if rows.numel() and int(rows[-1]) >= full:
        out[full * per_group :].copy_(values[-1, : out.numel() - full * per_group])
        rows, values = rows[:-1], values[:-1]
    out[: full * per_group].view(full, per_group).index_copy_(0, rows, values)


# Blocks the refill draws first.  A group that reaches it (fewer than 4 of 8 float32
# candidates inside (-2, 2), about 1 group in 10^5; float64: fewer than 2 of 4, about 4 in
# 10^4) then falls short again with 4 blocks about 2 times in 10^10 (float64: 1 in 10^5).
_REFILL_BLOCKS = 4


def _refill(
    stream: _Philox,
    rows: torch.Tensor,
    first: int,
    per_group: int,
    stride: int,
    out: torch.Tensor,
    scratch: _Scratch,
) -> None:
    """The groups ``rows`` (ascending; group ``first + row`` of the stream) the general way:
    the candidates of each group's first few blocks in stream order, the first per_group of
    them inside (-2, 2) kept; groups with fewer inside are drawn again with twice the blocks.
    (These groups are rare, so drawing their first blocks again costs little.)
    """
    blocks = _REFILL_BLOCKS
    while rows.numel():
        steps = torch.arange(blocks, device=out.device)
        index = ((rows + first) * stride).unsqueeze(1) + steps  # (row, step)
        planes = torch.empty(per_group, index.numel(), dtype=out.dtype, device=out.device)
        _blocks_at(stream, index.view(-1), planes, scratch)
        # Each row's candidates in stream order: step by step, a block's values in order.
        candidates = planes.view(per_group, rows.numel(), blocks).permute(1, 2, 0)
        candidates = candidates.reshape(rows.numel(), blocks * per_group)
        outside = (candidates.abs() >= 2.0).to(torch.uint8)
        # A stable sort puts the candidates inside first, each row's in stream order.
        order = torch.argsort(outside, dim=1, stable=True)[:, :per_group]
        filled = outside.sum(dim=1) <= blocks * per_group - per_group
        done = _nonzero(filled)
        chosen = torch.gather(candidates, 1, order).index_select(0, done)
        _write_groups(out, rows.index_select(0, done), chosen)
        rows = rows[_nonzero(~filled)]
        blocks *= 2


def _blocks_at(
    stream: _Philox, index: torch.Tensor, planes: torch.Tensor, scratch: _Scratch
) -> None:
    """The normal values of the blocks at 64-bit stream indices ``index``, into ``planes``
    (values per block, blocks)."""
    per_block = planes.shape[0]
    for start in range(0, index.numel(), _CHUNK):
        part = index[start : start + _CHUNK]
        target = planes[:, start : start + part.numel()]
        lowest, highest = (int(end) >> 32 for end in torch.aminmax(part))
        if lowest == highest and target.is_contiguous():
            _normal_planes(stream.blocks(part & _MASK32, lowest), target, scratch)
            continue
        values = scratch("crossing", planes.dtype, per_block * part.numel()).view(per_block, -1)
        for high in torch.unique(part >> 32).tolist():  # blocks on both sides of a 2^32 line
            inside = _nonzero((part >> 32) == high)
            some = torch.empty(per_block, inside.numel(), dtype=planes.dtype, device=planes.device)
            _normal_planes(stream.blocks(part[inside] & _MASK32, high), some, scratch)
            values[:, inside] = some
        target.copy_(values)


# --------------------------------------------------------------------------- fused CPU kernels
#
# With numba installed (``pip install keras-parity[fast]``), float32 and float64 normals and
# truncated normals on the CPU come from parity._tf_random_fused: the same arithmetic on a small
# batch of blocks at a time, in the cache, instead of a few hundred passes over memory per
# chunk; float32 2.6-4.9 and float64 1.5-2.7 times faster (docs/seed-exact.md).

_FUSED = True  # whether to use the fused kernels where they apply (the tests turn it off)


@functools.cache
def _fused_kernels() -> Any:
    """parity._tf_random_fused and the constants its kernels take, or None without numba."""
    try:
        kernels = importlib.import_module("parity._tf_random_fused")
    except ImportError:  # numba is not installed, or its compiler is turned off
        return None
    except RuntimeError as error:  # numba has nowhere to keep compiled kernels, say
        warnings.warn(
            f"keras-parity: numba is installed but its kernels cannot be set up ({error}); "
            "seed mode uses the slower torch pipeline",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    ints, floats = kernels.pack(
        mul_a=_MUL_A, mul_b=_MUL_B, mask32=_MASK32, row_bias=_LOG_ROW_BIAS,
        row_shift=_LOG_SHIFT, mantissa_mask=_MANTISSA - 1, f64_high_mask=_F64_HIGH_MASK,
        f64_scale=_F64_SCALE, f64_log_floor=_LOG_EPSILON_F64, two_pi=_TWO_PI,
        log_floor=_LOG_EPSILON * _MANTISSA, log_p0=_LOG1P_POLY[0], log_p1=_LOG1P_POLY[1],
        log_p2=_LOG1P_POLY[2], angle_scale=_TWO_PI / _MANTISSA,
        quadrant_scale=_HALF_PI_INV_2P24 * 2.0**-24, half_pi=_HALF_PI,
        sin_p0=_SIN_POLY[0], sin_p1=_SIN_POLY[1], sin_p2=_SIN_POLY[2],
        cos_p0=_COS_POLY[0], cos_p1=_COS_POLY[1], cos_p2=_COS_POLY[2], cos_p3=_COS_POLY[3],
        cos_p4=_COS_POLY[4],
    )  # fmt: skip
    tables = (np.array(_LOG_TABLE_INV_C), np.array(_LOG_TABLE_LOG_C))
    return kernels, (ints, floats, *tables)


def _fill_fused(
    out: torch.Tensor, seed: tuple[int, int], first: int, name: str, *args: int
) -> bool:
    """Fill flat float32 or float64 CPU ``out`` with the fused kernel ``name`` (groups
    ``first``, ..., of 4 or 2 values, extra int ``args`` before the stream's), chunk by chunk
    on the worker threads; False, doing nothing, where no fused kernel applies."""
    fused = _fused_kernels() if _FUSED else None
    if fused is None or out.device.type != "cpu":
        return False
    kernels, constants = fused
    if out.dtype not in (torch.float32, torch.float64) or (
        out.dtype == torch.float64 and not kernels.EXACT_FLOAT64
    ):
        return False
    per_group = _per_block(out.dtype)
    kernel = getattr(kernels, name if per_group == 4 else f"{name}_f64")
    values = out.numpy()
    key, high = _stream(seed)
    stream = (np.array(high, dtype=np.uint32), np.array(_round_keys(key), dtype=np.uint32))

    def chunk(philox: _Philox, scratch: _Scratch, start: int, stop: int) -> None:
        part = values[per_group * start : per_group * stop]
        kernel(part, first + start, *args, *stream, *constants)

    _map_chunks(seed, out.device, -(-out.numel() // per_group), chunk)
    return True


def _fused_box_muller_parts(mantissas: np.ndarray) -> np.ndarray | None:
    """The fused kernels' float32 radius, sin and cos (stacked) for int32 ``mantissas``, as
    :func:`_radius` and :func:`_sincos` give them; None without numba.  For the checks."""
    fused = _fused_kernels()
    if fused is None:
        return None
    kernels, constants = fused
    parts = np.empty((3, mantissas.size), np.float32)
    kernels.radius_sincos(mantissas.astype(np.int32), *parts, *constants)
    return parts


# --------------------------------------------------------------------------- public API


def _check_seed(seed: Any) -> tuple[int, int]:
    message = (
        "seed must be a pair of ints in the int64 range [-2**63, 2**63) (a sequence, or a 1-D "
        f"integer tensor or array of 2, as TensorFlow takes), got {seed!r}"
    )
    if isinstance(seed, (torch.Tensor, np.ndarray)) and seed.ndim == 1:
        seed = seed.tolist()  # float and bool elements become floats and bools: refused below
    if isinstance(seed, (str, bytes)) or not isinstance(seed, Sequence) or len(seed) != 2:
        raise TypeError(message)
    pair = []
    for item in seed:
        s = as_int(item)
        if s is None:
            raise TypeError(message)
        if not _INT64_RANGE[0] <= s < _INT64_RANGE[1]:
            raise ValueError(message)
        pair.append(s)
    return pair[0], pair[1]


def _check_dtype(dtype: Any) -> torch.dtype:
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be a torch dtype among {FLOAT_DTYPE_NAMES}, got {dtype!r}")
    return dtype


def _in_dtype(name: str, value: Any, dtype: torch.dtype) -> float:
    """The real number ``value`` rounded to ``dtype``, as TensorFlow converts a Python scalar
    to a tensor."""
    return rounded_to(check_real(name, value), dtype)


def _uniform_affine(minval: Any, maxval: Any, dtype: torch.dtype) -> tuple[float, float]:
    """``(maxval - minval, minval)`` as TensorFlow has them: the bounds rounded to ``dtype``,
    then subtracted in it."""
    low, high = _in_dtype("minval", minval, dtype), _in_dtype("maxval", maxval, dtype)
    return (torch.tensor(high, dtype=dtype) - torch.tensor(low, dtype=dtype)).item(), low


def _normal_affine(mean: Any, stddev: Any, dtype: torch.dtype) -> tuple[float, float]:
    """``(stddev, mean)`` rounded to ``dtype``, as TensorFlow has them."""
    return _in_dtype("stddev", stddev, dtype), _in_dtype("mean", mean, dtype)


def _value_range(
    law: str, a: float, b: float, dtype: torch.dtype, reach: float = math.inf
) -> tuple[float, float]:
    """The least and the greatest value :func:`uniform` (``law="uniform"``, ``a, b`` = minval,
    maxval), :func:`normal` (``"normal"``, mean and stddev, its ``|z|`` taken as at most
    ``reach``) or :func:`truncated_normal` can write in ``dtype``: the extreme standard values
    through TensorFlow's arithmetic, which rounds the parameters to ``dtype`` and computes in
    it, so the result can pass bounds that the exact parameters keep (an infinity where
    ``maxval - minval`` rounds past float16's range, say)."""
    if law == "uniform":
        scale, shift = _uniform_affine(a, b, dtype)
        standard = torch.tensor([0.0, 1.0 - torch.finfo(dtype).eps], dtype=dtype)
    else:
        scale, shift = _normal_affine(a, b, dtype)
        computing = compute_dtype(dtype)
        if law == "truncated_normal":  # the largest |z| below 2, then rounded to dtype
            z = torch.nextafter(
                torch.tensor(2.0, dtype=computing), torch.tensor(0.0, dtype=computing)
            )
        else:
            z = torch.tensor(reach, dtype=computing)
        standard = torch.stack([-z, z]).to(dtype)
    values = _scale_shift_(standard, scale, shift)
    return values.min().item(), values.max().item()


def _scale_shift_(values: torch.Tensor, scale: float, shift: float) -> torch.Tensor:
    """``values * scale + shift`` in the values' dtype, two roundings (TensorFlow's two ops).
    Multiplying by 1 changes nothing; adding 0 turns -0 (a float16 value can round to it)
    into +0, so it is always done."""
    if scale != 1.0:
        values.mul_(scale)
    return values.add_(shift)


# Groups drawn per step into a scratch buffer before they are written into the output: whole
# chunks (so every step starts on a chunk boundary), enough of them to keep the threads busy;
# 4M float32 values, 16 MiB.
_SLAB_GROUPS = 8 * _CHUNK


def _draw(
    shape: Any,
    seed: Any,
    dtype: torch.dtype,
    device: Any,
    fill: Callable[[torch.Tensor, tuple[int, int], int], None],
    scale: float,
    shift: float,
    out: torch.Tensor | None,
) -> torch.Tensor:
    """Check the arguments, then draw into ``out`` (a new tensor when None) a slab at a time:
    fill a flat buffer of the computing dtype, scale it in ``dtype``, write it in row-major
    order.  Every value is a function of its flat index, so slabs give the whole draw's values,
    and no full-size temporary is made."""
    dims, pair = check_shape(shape), _check_seed(seed)
    device = torch.device(device)
    out = _check_out(out, dims, dtype, device)
    computing = dtype if fill is _fill_uniform else compute_dtype(dtype)
    per_group = _per_block(computing)
    slab = _SLAB_GROUPS * per_group
    with torch.no_grad():
        buffer = torch.empty(min(out.numel(), slab), dtype=computing, device=device)
        for start in range(0, out.numel(), slab):
            values = buffer[: min(slab, out.numel() - start)]
            fill(values, pair, start // per_group)
            _write_flat_(out, start, _scale_shift_(values.to(dtype), scale, shift))
    return out


def _normal_row_blocks(
    rows: int, cols: int, seed: tuple[int, int]
) -> Iterator[tuple[int, torch.Tensor]]:
    """``stateless_normal((rows, cols), seed)`` in float32 on the CPU, as blocks of whole rows:
    ``(first_row, block)`` in order, each block a view of one reused buffer (a slab of draws
    and the part of a row it cut off), valid until the next is taken, and the caller's to
    overwrite.  For work that needs whole rows of a matrix too large to draw at once."""
    slab = _SLAB_GROUPS * _per_block(torch.float32)
    buffer = torch.empty(min(slab, rows * cols) + cols, dtype=torch.float32)
    carried, row = 0, 0  # the values of a row cut off at the end of the last slab
    for start in range(0, rows * cols, slab):
        count = min(slab, rows * cols - start)
        _fill_normal(buffer[carried : carried + count], seed, start // _per_block(torch.float32))
        whole = (carried + count) // cols
        if whole:
            yield row, buffer[: whole * cols].view(whole, cols)
        carried = carried + count - whole * cols
        buffer[:carried].copy_(buffer[whole * cols : whole * cols + carried])
        row += whole


def _check_out(
    out: torch.Tensor | None, dims: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    if out is None:
        return torch.empty(dims, dtype=dtype, device=device)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor or None, got {type(out).__name__}")
    same_device = out.device.type == device.type and device.index in (None, out.device.index)
    if tuple(out.shape) != dims or out.dtype != dtype or not same_device:
        raise ValueError(
            f"out must have the shape, dtype and device asked for ({dims}, {dtype}, {device}), "
            f"got ({tuple(out.shape)}, {out.dtype}, {out.device})"
        )
    problem = write_problem(out)
    if problem is not None:
        raise ValueError(f"out cannot be written in place: {problem}")
    return out


def _write_flat_(view: torch.Tensor, start: int, values: torch.Tensor) -> None:
    """Write flat ``values`` into the row-major positions ``start, start + 1, ...`` of
    ``view``, whatever its strides: whole rows in one copy, a partial first or last row by
    recursing into it."""
    if view.dim() == 0:
        view.copy_(values.reshape(()))
        return
    if view.dim() == 1:
        view[start : start + values.numel()].copy_(values)
        return
    row = view[0].numel()
    stop = start + values.numel()
    first_whole, last_whole = -(-start // row), stop // row
    if first_whole > last_whole:  # inside one row
        index = start // row
        _write_flat_(view[index], start - index * row, values)
        return
    head = first_whole * row - start
    if head:
        _write_flat_(view[first_whole - 1], row - head, values[:head])
    whole = values[head : head + (last_whole - first_whole) * row]
    view[first_whole:last_whole].copy_(whole.view(-1, *view.shape[1:]))
    tail = stop - last_whole * row
    if tail:
        _write_flat_(view[last_whole], 0, values[values.numel() - tail :])


def _fill_uniform(out: torch.Tensor, seed: tuple[int, int], first: int) -> None:
    _fill_fixed(out, seed, first, _uniform_planes)


def _fill_normal(out: torch.Tensor, seed: tuple[int, int], first: int) -> None:
    if not _fill_fused(out, seed, first, "normal"):
        _fill_fixed(out, seed, first, _normal_planes)


def uniform(
    shape: Sequence[int],
    seed: Sequence[int] | torch.Tensor | np.ndarray,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    minval: float = 0.0,
    maxval: float = 1.0,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``tf.random.stateless_uniform(shape, seed, minval, maxval, dtype)``, value for value.

    ``u (maxval - minval) + minval`` with ``u`` uniform on ``[0, 1)`` on the dtype's grid
    (``2^-23`` for float32, ``2^-52`` float64, ``2^-10`` float16, ``2^-7`` bfloat16), computed
    in ``dtype`` as TensorFlow computes it.  Bit-exact on every element for every dtype.

    Args:
        shape: the output shape.
        seed: the seed pair ``[s0, s1]``, ints in the int64 range (or, as TensorFlow's
            seed tensor, a 1-D integer tensor or array of two).
        dtype: torch.float32 (default), float64, float16 or bfloat16.
        device: where to create the tensor.
        minval, maxval: the bounds (finite; rounded to ``dtype`` first, as TensorFlow does).
            Like TensorFlow's, a value whose arithmetic passes the dtype's largest finite
            value is written as ±inf (NaN where ``u = 0`` meets an infinite width); the
            initializers refuse such bounds instead.
        out: a tensor of ``shape``, ``dtype`` and ``device`` (any strides) to write the values
            into instead of a new tensor; they are drawn a slab at a time, so no full-size
            temporary is made.

    Returns:
        A new tensor of ``shape``, or ``out`` filled with the values.

    Example:
        >>> u = tf_random.uniform((2, 3), (1, 2), minval=-1.0, maxval=1.0)
        >>> # == tf.random.stateless_uniform((2, 3), seed=[1, 2], minval=-1.0, maxval=1.0)
    """
    dtype = _check_dtype(dtype)
    width, low = _uniform_affine(minval, maxval, dtype)
    return _draw(shape, seed, dtype, device, _fill_uniform, width, low, out)


def normal(
    shape: Sequence[int],
    seed: Sequence[int] | torch.Tensor | np.ndarray,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    mean: float = 0.0,
    stddev: float = 1.0,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``tf.random.stateless_normal(shape, seed, mean, stddev, dtype)``, value for value.

    ``z stddev + mean`` with ``z`` from Box-Muller (module docstring), computed in ``dtype``.
    float32 values match TensorFlow on a Linux x86-64 CPU bit for bit (float16 and bfloat16 are
    those rounded), and so do float64 ones on the CPU; on other devices float64 values can
    differ from TensorFlow's in the last bit, where torch's float64 ``log``, ``sin`` or ``cos``
    differ from glibc's.

    Args:
        shape: the output shape.
        seed: the seed pair ``[s0, s1]``, ints in the int64 range (or, as TensorFlow's
            seed tensor, a 1-D integer tensor or array of two).
        dtype: torch.float32 (default), float64, float16 or bfloat16.
        device: where to create the tensor.
        mean, stddev: finite; rounded to ``dtype`` first, as TensorFlow does.  Like
            TensorFlow's, a value past the dtype's largest finite value is written as ±inf;
            the initializers refuse such parameters instead.
        out: as for :func:`uniform`.

    Returns:
        A new tensor of ``shape``, or ``out`` filled with the values.

    Example:
        >>> z = tf_random.normal((256, 128), (42, 0), stddev=0.05)
        >>> # == tf.random.stateless_normal((256, 128), seed=[42, 0], stddev=0.05)
    """
    dtype = _check_dtype(dtype)
    scale, shift = _normal_affine(mean, stddev, dtype)
    return _draw(shape, seed, dtype, device, _fill_normal, scale, shift, out)


def truncated_normal(
    shape: Sequence[int],
    seed: Sequence[int] | torch.Tensor | np.ndarray,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    mean: float = 0.0,
    stddev: float = 1.0,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``tf.random.stateless_truncated_normal(shape, seed, mean, stddev, dtype)``, value for
    value.

    ``z stddev + mean`` with ``z`` a standard normal conditioned on ``|z| < 2`` by rejection
    (module docstring), computed in ``dtype``; exactness as for :func:`normal`.

    Args:
        shape: the output shape.
        seed: the seed pair ``[s0, s1]``, ints in the int64 range (or, as TensorFlow's
            seed tensor, a 1-D integer tensor or array of two).
        dtype: torch.float32 (default), float64, float16 or bfloat16.
        device: where to create the tensor.
        mean, stddev: as for :func:`normal` (values past the dtype's range are ±inf, as in
            TensorFlow).  ``stddev`` is the standard deviation before truncation.
        out: as for :func:`uniform`.

    Returns:
        A new tensor of ``shape``, or ``out`` filled with the values.

    Example:
        >>> w = tf_random.truncated_normal((3, 3, 16, 32), keras_seed(7), stddev=0.1)
        >>> # == keras.initializers.TruncatedNormal(stddev=0.1, seed=7)((3, 3, 16, 32))
    """
    dtype = _check_dtype(dtype)
    scale, shift = _normal_affine(mean, stddev, dtype)
    return _draw(shape, seed, dtype, device, _fill_truncated, scale, shift, out)


_KERAS_SEED_MODULUS = 2**31 - 2  # tf.int32.max - 1


def keras_seed(seed: int) -> tuple[int, int]:
    """The stateless seed pair Keras 3 (TensorFlow backend) draws with for an int ``seed``.

    A Keras random initializer (or ``keras.random.*`` op) given ``seed=s`` calls the
    ``tf.random.stateless_*`` op with the seed pair ``[s mod (2^31 - 2), 0]``: Keras makes the
    int64 pair ``[s, 0]`` and folds it into int32 with a floor modulo by ``2^31 - 2``.  So
    negative seeds map to positive ones, and ``s`` and ``s + 2147483646`` draw the same values.

    Args:
        seed: an int in the int64 range (Keras rejects others).

    Returns:
        ``(s0, s1)`` for :func:`uniform`, :func:`normal` and :func:`truncated_normal`.

    Example:
        >>> keras_seed(-5)
        (2147483641, 0)
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not _INT64_RANGE[0] <= seed < _INT64_RANGE[1]:
        raise ValueError(f"seed must be in the int64 range [-2**63, 2**63), got {seed}")
    return seed % _KERAS_SEED_MODULUS, 0
