"""Check parity.tf_random's glibc ``logf`` and ``sincosf`` on every input Box-Muller can give.

TensorFlow's float32 Box-Muller calls glibc's ``logf`` on ``max(m 2^-23, 1e-7)`` and
``sincosf`` on ``(float)(2 pi m 2^-23)`` for a 23-bit mantissa ``m``: 2^23 inputs each.
``tf_random`` evaluates glibc's float64 expressions in torch instead.  This script calls the C
library through ctypes for every ``m`` and compares the float32 results bit for bit: the radius
``sqrtf(-2 logf(u))``, ``sinf`` and ``cosf``, on the numpy side of the module (the CPU's), on
its torch side (the one other devices take; its square root is taken in float64 and rounded,
which is correctly rounded as CUDA's ``sqrtf`` is, while torch's float32 CPU ``sqrt`` can be an
ulp off) and from its fused CPU kernels (with numba installed).  The tests check a sample of
20,411 inputs; this checks them all, in about half a minute.

    python tools/check_glibc.py              # every CPU side
    python tools/check_glibc.py --side fused    # the fused kernels (numba)
    python tools/check_glibc.py --device cuda   # the torch side on a GPU, with its own sqrt

It needs Linux with glibc 2.28 or later (earlier versions have other ``logf`` / ``sincosf``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import math
import sys
import time
from typing import NoReturn
from unittest import mock

import numpy as np
import torch

from parity import tf_random

MANTISSAS = 1 << 23
PIECE = 1 << 18  # inputs per comparison, a multiple of 4 like the module's chunks


def _stop(message: str) -> NoReturn:
    """Exit with status 2: the check could not run (status 1 means values differ)."""
    print(message, file=sys.stderr)
    sys.exit(2)


class GlibcMissing(RuntimeError):
    """This machine has no glibc 2.28 or later to compare with."""


def load_libm() -> tuple[ctypes.CDLL, str]:
    """The C math library with ``logf`` and ``sincosf`` typed, and glibc's version."""
    libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
    path = ctypes.util.find_library("m")
    if libc is None or path is None or not hasattr(libc, "gnu_get_libc_version"):
        raise GlibcMissing("needs Linux with the GNU C library")
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    version = libc.gnu_get_libc_version().decode()
    if tuple(int(part) for part in version.split(".")[:2]) < (2, 28):
        raise GlibcMissing(
            f"glibc {version} predates the logf / sincosf that the module reproduces (2.28)"
        )
    libm = ctypes.CDLL(path)
    libm.logf.restype, libm.logf.argtypes = ctypes.c_float, [ctypes.c_float]
    libm.sincosf.restype = None
    libm.sincosf.argtypes = [ctypes.c_float] + [ctypes.POINTER(ctypes.c_float)] * 2
    return libm, version


def glibc_results(libm: ctypes.CDLL, m: np.ndarray) -> np.ndarray:
    """(radius, sin, cos) of TensorFlow's Box-Muller for mantissas ``m``, from the C library."""
    u = np.maximum(m.astype(np.float32) * np.float32(2**-23), np.float32(1e-7))
    logs = np.fromiter((libm.logf(x) for x in u.tolist()), np.float32, m.size)
    angles = (2.0 * math.pi * (m / 2.0**23)).astype(np.float32)  # rounded once, as TensorFlow
    sin, cos = ctypes.c_float(), ctypes.c_float()
    pairs = np.empty((m.size, 2), np.float32)
    for i, angle in enumerate(angles.tolist()):
        libm.sincosf(angle, ctypes.byref(sin), ctypes.byref(cos))
        pairs[i] = sin.value, cos.value
    return np.stack([np.sqrt(np.float32(-2.0) * logs), pairs[:, 0], pairs[:, 1]])


def _float64_sqrt_(values: torch.Tensor) -> torch.Tensor:
    # float64's square root, rounded to float32, is correctly rounded (53 >= 2 * 24 + 2 bits).
    return values.copy_(values.double().sqrt_())


def module_results(m: np.ndarray, side: str) -> np.ndarray:
    """The same three from ``tf_random``: on the CPU's numpy or torch side, from its fused
    kernels, or on the device ``side`` names (which takes the torch side, with the device's own
    square root)."""
    if side == "fused":
        parts = tf_random._fused_box_muller_parts(m)
        if parts is None:
            _stop("the fused side needs numba (pip install keras-parity[fast])")
        return parts
    device = torch.device("cpu" if side in ("numpy", "torch") else side)
    mantissas = torch.from_numpy(m.astype(np.int32)).to(device)
    scratch = tf_random._Scratch(device)
    patches = []
    if side == "numpy":
        patches = [mock.patch.object(tf_random, "_on_numpy", lambda tensor: True)]
    elif side == "torch":
        patches = [
            mock.patch.object(tf_random, "_on_numpy", lambda tensor: False),
            mock.patch.object(tf_random, "_sqrt_", _float64_sqrt_),
        ]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        radius = tf_random._radius(mantissas, scratch).cpu().numpy().copy()
        sin, cos = (t.cpu().numpy().copy() for t in tf_random._sincos(mantissas, scratch))
    return np.stack([radius, sin, cos])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--side",
        choices=["numpy", "torch", "fused", "all"],
        default="all",
        help="CPU side(s) to check; all: numpy, torch and, where numba is installed, fused",
    )
    parser.add_argument("--device", default="cpu", help="another device checks its torch side")
    parser.add_argument(
        "--limit", type=int, default=MANTISSAS, help="check only the first LIMIT mantissas"
    )
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    count = min(args.limit, MANTISSAS)
    try:
        usable = torch.empty(1, device=args.device).device.type != "meta"  # meta has no values
    except (RuntimeError, AssertionError) as error:  # torch raises either for a missing device
        _stop(f"device {args.device!r} is not usable here: {error}")
    if not usable:
        _stop(f"device {args.device!r} holds no values to compare")
    if torch.device(args.device).type != "cpu":
        sides = [args.device]
    else:
        sides = [args.side]
        if args.side == "all":
            fused = tf_random._fused_kernels() is not None
            sides = ["numpy", "torch", "fused"] if fused else ["numpy", "torch"]
    try:
        libm, version = load_libm()
    except GlibcMissing as error:
        _stop(str(error))
    print(f"glibc {version}", flush=True)
    start = time.perf_counter()
    differ = {side: np.zeros(3, np.int64) for side in sides}
    for first in range(0, count, PIECE):
        m = np.arange(first, min(count, first + PIECE))
        expected = glibc_results(libm, m).view(np.int32)
        for side in sides:
            differ[side] += (module_results(m, side).view(np.int32) != expected).sum(axis=1)
    names = ("sqrtf(-2 logf)", "sinf", "cosf")
    for side in sides:
        counts = ", ".join(f"{name} {n}" for name, n in zip(names, differ[side], strict=True))
        print(f"{side}: values that differ from glibc's, of {count} each: {counts}")
    print(f"{time.perf_counter() - start:.0f} s")
    return 1 if any(d.any() for d in differ.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
