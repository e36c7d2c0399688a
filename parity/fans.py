"""Fans and layouts: how many inputs and outputs feed one weight.

Two layouts are understood:

* ``"torch"``: ``(out, in, *kernel)`` as in ``nn.Linear`` and ``nn.ConvNd``.
* ``"keras"``: ``(*kernel, in, out)`` as in Keras ``Dense`` and ``ConvND`` kernels.

The same layer has the same fans in both layouts.  Rank 0 and rank 1 shapes follow Keras's
rules in both layouts (``(1, 1)`` and ``(n, n)``), so a bias or a scalar never raises.
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

Layout = Literal["torch", "keras"]
LAYOUTS: tuple[Layout, ...] = ("torch", "keras")


def check_layout(layout: str) -> Layout:
    if not isinstance(layout, str):
        raise TypeError(f"layout must be a str, one of {', '.join(LAYOUTS)}; got {layout!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    return layout  # type: ignore[return-value]


def as_int(value: Any) -> int | None:
    """``value`` as an int if it is one (a Python or numpy int, anything with ``__index__``),
    else None; bools are not ints here."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


# TensorFlow's floating dtypes, the ones every initializer fills. torch's float8 formats are
# floating too, but torch cannot sample into them and Keras has no initializer for them.
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
FLOAT_DTYPE_NAMES = "float16, bfloat16, float32 and float64"


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype values of ``dtype`` are drawn and computed in: float64 for float64, else
    float32 (float16 and bfloat16 values are float32 ones rounded, as TensorFlow's are)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def rounded_to(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to nearest in ``dtype`` (±inf past its range), as a Python float."""
    return torch.tensor(value, dtype=torch.float64).to(dtype).item()


def tensor_problem(tensor: torch.Tensor) -> str | None:
    """Why ``tensor`` cannot be initialized in place ("of dtype ...", "with layout ..."), or
    None: only dense tensors of a dtype in ``FLOAT_DTYPES`` can be."""
    if tensor.is_nested or tensor.layout is not torch.strided:
        kind = "nested" if tensor.is_nested else str(tensor.layout)
        return f"with layout {kind}: only dense (torch.strided) tensors can be initialized"
    if tensor.dtype not in FLOAT_DTYPES:
        return f"of dtype {tensor.dtype}: valid dtypes are {FLOAT_DTYPE_NAMES}"
    return None


def write_problem(tensor: torch.Tensor) -> str | None:
    """Why a dense float ``tensor`` cannot be written in place ("its elements ..."), or None:
    elements that share memory, or an inference tensor outside ``torch.inference_mode``
    (torch refuses to write it only after earlier writes of the same call)."""
    overlap = False if tensor.is_contiguous() else _overlap(tensor)
    if overlap is not False:
        made = "expand()" if 0 in tensor.stride() else "as_strided() or unfold()"
        share = "share memory" if overlap else "may share memory (too many to check)"
        return (
            f"its elements {share} (shape {tuple(tensor.shape)}, strides "
            f"{tensor.stride()}, as {made} makes); initialize the tensor it views"
        )
    if tensor.is_inference() and not torch.is_inference_mode_enabled():
        return (
            "it is an inference tensor, which can only be written inside torch.inference_mode(); "
            "initialize it there, or a clone() of it"
        )
    return None


# Views with at most this many elements whose strides do not rule out overlap are checked
# element by element (an int64 offset each: 8 MiB).
_OVERLAP_CHECK_MAX = 1 << 20


def _overlap(tensor: torch.Tensor) -> bool | None:
    """Whether two indices of ``tensor`` address one element: False when each stride, in
    increasing order, lies beyond everything the smaller ones reach (any permuted or sliced
    view of a dense tensor); otherwise found by comparing every element's offset, or None
    (unknown) for a view too large to check."""
    sizes = sorted(item for item in zip(tensor.stride(), tensor.shape, strict=True) if item[1] > 1)
    reach = 0
    for stride, size in sizes:
        if stride <= reach:
            break
        reach += stride * (size - 1)
    else:
        return False
    if any(stride == 0 for stride, _ in sizes):
        return True
    if tensor.numel() > _OVERLAP_CHECK_MAX:
        return None
    offsets = torch.zeros((), dtype=torch.int64)
    for stride, size in sizes:
        offsets = (offsets.unsqueeze(-1) + stride * torch.arange(size)).flatten()
    return bool(torch.unique(offsets).numel() < offsets.numel())


def takes_keyword(function: Callable[..., Any], name: str) -> bool | None:
    """Whether ``function`` can be called with the keyword argument ``name``; None when its
    signature cannot be read (a builtin, say)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in parameters
    )


def check_real(name: str, value: Any) -> float:
    """``value`` as a float: TypeError unless it is a real number (Python or numpy; bools are
    not), ValueError unless it is finite (an int too large for a float included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_shape(shape: Any, minimum: int = 0) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, each at least ``minimum``; TypeError for anything but a
    sequence of ints (bools and floats included), ValueError for a size below ``minimum``."""
    if isinstance(shape, torch.Size) and minimum <= 0:  # its sizes are ints >= 0 already
        return tuple(shape)
    message = f"shape must be a sequence of ints, got {shape!r}"
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(message)
    dims = []
    for dim in shape:
        size = as_int(dim)
        if size is None:
            raise TypeError(message)
        if size < minimum:
            raise ValueError(f"shape must have sizes >= {minimum}, got {tuple(shape)}")
        dims.append(size)
    return tuple(dims)


def compute_fans(
    shape: Sequence[int],
    layout: Layout = "torch",
    *,
    input_axes: Sequence[int] | None = None,
    output_axes: Sequence[int] | None = None,
) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of ``shape`` in ``layout``.

    torch layout ``(out, in, *k)``: ``fan_in = in * prod(k)``, ``fan_out = out * prod(k)``.
    keras layout ``(*k, in, out)``: ``fan_in = in * prod(k)``, ``fan_out = out * prod(k)``
    (exactly Keras's ``compute_fans``).  Rank 0: ``(1, 1)``; rank 1 ``(n,)``: ``(n, n)``.
    With both ``input_axes`` and ``output_axes`` (Keras 3.15's explicit fan axes, which
    EinsumDense gives its VarianceScaling initializers), each fan is the product of those axes'
    sizes in the Keras-layout shape (:func:`keras_shape` of a torch-layout one); as in Keras,
    one of them alone changes nothing.

    Args:
        shape: the weight's shape (a ``torch.Size`` or any sequence of ints).
        layout: ``"torch"`` (default) or ``"keras"``.
        input_axes, output_axes: axes of the Keras-layout shape (negative ones count from
            the end), or None.

    Example:
        >>> compute_fans((64, 3, 3, 3))               # nn.Conv2d(3, 64, 3).weight
        (27, 576)
        >>> compute_fans((3, 3, 3, 64), layout="keras")  # the Keras Conv2D kernel
        (27, 576)
    """
    check_layout(layout)
    shape = check_shape(shape)
    if input_axes is not None and output_axes is not None:
        kernel = shape if layout == "keras" else keras_shape(shape)
        return _axes_size(kernel, "input_axes", input_axes), _axes_size(
            kernel, "output_axes", output_axes
        )
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if layout == "torch":
        fan_out, fan_in, kernel = shape[0], shape[1], shape[2:]
    else:
        fan_in, fan_out, kernel = shape[-2], shape[-1], shape[:-2]
    receptive_field = math.prod(kernel)
    return fan_in * receptive_field, fan_out * receptive_field


def check_axes(name: str, axes: Any) -> tuple[int, ...] | None:
    """``axes`` as a tuple of ints, or None; TypeError for anything else."""
    if axes is None:
        return None
    message = f"{name} must be a sequence of ints or None, got {axes!r}"
    if isinstance(axes, (str, bytes)) or not isinstance(axes, Sequence):
        raise TypeError(message)
    found = tuple(as_int(axis) for axis in axes)
    if None in found:
        raise TypeError(message)
    return found  # type: ignore[return-value]


def _axes_size(kernel: tuple[int, ...], name: str, axes: Any) -> int:
    """The product of the sizes of ``axes`` in ``kernel`` (each axis counted as often as it is
    named, as Keras counts it)."""
    size = 1
    for axis in check_axes(name, axes) or ():
        if not -len(kernel) <= axis < len(kernel):
            raise ValueError(
                f"{name}={list(axes)} has axis {axis}, outside the Keras-layout shape "
                f"{kernel} (valid axes: {-len(kernel)} to {len(kernel) - 1})"
            )
        size *= kernel[axis]
    return size


def keras_shape(torch_shape: Sequence[int]) -> tuple[int, ...]:
    """The Keras kernel shape of a torch weight: ``(out, in, *k)`` → ``(*k, in, out)``.

    This is the layout Keras gives the same layer: Linear ↔ Dense, ConvNd ↔ ConvND (grouped
    too: ``in`` is ``in/groups`` on both sides) and ConvTransposeNd ``(in, out, *k)`` ↔
    ConvNDTranspose ``(*k, out, in)``.  Rank 0 and 1 are returned as they are.

    Example:
        >>> keras_shape((64, 3, 5, 5))
        (5, 5, 3, 64)
    """
    shape = check_shape(torch_shape)
    if len(shape) < 2:
        return shape
    return (*shape[2:], shape[1], shape[0])


def from_keras_layout(values: torch.Tensor) -> torch.Tensor:
    """View a Keras-layout kernel ``(*k, in, out)`` as the torch weight ``(out, in, *k)``
    (the inverse of :func:`keras_shape`); rank 0 and 1 are returned as they are."""
    rank = values.dim()
    if rank < 2:
        return values
    return values.permute(rank - 1, rank - 2, *range(rank - 2))


def to_keras_layout(weight: torch.Tensor) -> torch.Tensor:
    """View a torch weight ``(out, in, *k)`` as its Keras-layout kernel ``(*k, in, out)``
    (the inverse of :func:`from_keras_layout`); rank 0 and 1 are returned as they are."""
    rank = weight.dim()
    if rank < 2:
        return weight
    return weight.permute(*range(2, rank), 1, 0)
