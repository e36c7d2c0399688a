"""Keras's weight initializers as in-place torch functions.

Every initializer is two things: a *target* — the distribution Keras gives a weight of a given
shape (``parity.samplers``) — and a thin public function that checks its input and fills the
tensor from that target.  The nine ``{glorot, he, lecun} × {uniform, normal,
untruncated_normal}`` functions are declarations over one core, :func:`variance_scaling_`.

Conventions follow ``torch.nn.init``: tensor first, trailing underscore, in place, returns the
tensor, runs under ``no_grad``, ``generator=`` on every random initializer, any float dtype,
CPU and CUDA, non-contiguous views; meta and empty tensors are returned as they are.  Bad input
raises before a single value is written.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import torch

from parity.fans import (
    Layout,
    as_int,
    check_axes,
    check_layout,
    check_real,
    check_shape,
    compute_fans,
    keras_shape,
    tensor_problem,
    to_keras_layout,
    write_problem,
)
from parity.samplers import (
    NORMAL_REACH,
    TRUNCATED_NORMAL_STD,
    Constant,
    Distribution,
    Identity,
    Normal,
    Orthogonal,
    STFTKernel,
    TruncatedNormal,
    Uniform,
    filled_value,
    float32_rounded,
)

Mode = Literal["fan_in", "fan_out", "fan_avg"]
VarianceDistribution = Literal["truncated_normal", "untruncated_normal", "uniform"]
STFTSide = Literal["real", "imag"]
STFTScaling = Literal["density", "spectrum"]
MODES: tuple[Mode, ...] = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS: tuple[VarianceDistribution, ...] = (
    "truncated_normal",
    "untruncated_normal",
    "uniform",
)


class InitFn(Protocol):
    def __call__(
        self, tensor: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


# --------------------------------------------------------------------------- input checks


def _check_tensor(tensor: Any) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor to initialize, got {type(tensor).__name__}")
    problem = tensor_problem(tensor)
    if problem is not None:
        raise TypeError(f"cannot initialize a tensor {problem}")
    problem = write_problem(tensor)
    if problem is not None:
        raise ValueError(f"cannot initialize this tensor in place: {problem}")
    return tensor


def _check_generator(generator: Any, tensor: torch.Tensor) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    if not on_generator_device(tensor, generator):
        raise ValueError(
            f"generator is on {generator.device} but the tensor is on {tensor.device}; "
            "pass a generator on the tensor's device"
        )


def on_generator_device(tensor: torch.Tensor, generator: torch.Generator) -> bool:
    """Whether ``generator`` can fill ``tensor`` (torch draws only from a generator on the
    tensor's device type; a meta tensor is never drawn into)."""
    return tensor.is_meta or tensor.device.type == generator.device.type


def _positive(name: str, value: Any) -> float:
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _fan(name: str, value: Any) -> int | None:
    if value is None:
        return None
    fan = as_int(value)
    if fan is None:
        raise TypeError(f"{name} must be a non-negative int or None, got {value!r}")
    if not 0 <= fan < 2**63:  # the largest fan a torch shape can have
        raise ValueError(f"{name} must be an int in [0, 2**63) or None, got {value!r}")
    return fan


def _keras_bound(name: str, value: float) -> float:
    """A Python float as Keras's TensorFlow backend casts it: ``tf.cast`` of a Python float
    makes a float32 tensor first, so the value is rounded to float32 whatever the weight's
    dtype (a float64 weight draws from U[float32(minval), float32(maxval)), and
    ``Constant(0.1)`` fills it with float32(0.1))."""
    rounded = float32_rounded(value)
    if math.isinf(rounded):
        raise ValueError(
            f"{name} must lie within float32's range (Keras passes it through float32), "
            f"got {value!r}"
        )
    return rounded


def _choice(name: str, value: Any, choices: Sequence[str]) -> Any:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {', '.join(choices)}; got {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(choices)}")
    return value


def _seed_pair(seed: Any, generator: torch.Generator | None) -> tuple[int, int] | None:
    if seed is None:
        return None
    if generator is not None:
        raise ValueError("give seed= (Keras's values) or generator= (a torch stream), not both")
    from parity import tf_random  # only seeded calls pay for the Philox tables

    return tf_random.keras_seed(seed)


def check_fits(target: Distribution, dtype: torch.dtype, seeded: bool = False) -> None:
    """Raise ValueError if ``target`` can give a value beyond ``dtype``'s largest finite value
    (or, for a uniform, if ``maxval - minval`` is: both torch and TensorFlow draw
    ``u (max - min) + min``; for an untruncated normal, if ``|mean| + 9 std`` is, beyond any
    normal drawn here), so that no initializer silently writes infinities.  ``seeded``: drawn
    with ``seed=``, in TensorFlow's arithmetic, which rounds the parameters to ``dtype`` first
    and can overflow where the exact ones do not."""
    if isinstance(target, Constant) and math.isinf(target.value_in(dtype)):
        # Outside the cache below, whose key leaves from_python_float out.
        raise ValueError(
            "value must lie within float32's range (Keras passes a Python float through "
            f"float32), got {target.value!r}"
        )
    message = _overflow(target, dtype, seeded)
    if message is not None:
        raise ValueError(message)


@functools.lru_cache(maxsize=1024)  # small weights are initialized many times over
def _overflow(target: Distribution, dtype: torch.dtype, seeded: bool) -> str | None:
    largest = torch.finfo(dtype).max
    if isinstance(target, STFTKernel):
        problem = target.dtype_problem(dtype)
        if problem is not None:
            return f"{target} cannot be computed in {dtype}: {problem}"
    if isinstance(target, (Constant, Identity)):  # one value, rounded to the dtype as Keras does
        value = target.value_in(dtype) if isinstance(target, Constant) else target.gain
        filled = filled_value(value, dtype)
        if math.isinf(filled):
            return (
                f"{target} is beyond the largest finite {dtype} value ({largest:g}): it rounds to "
                f"{filled}"
            )
        return None
    low, high = target.support
    if isinstance(target, Normal):  # unbounded, but no sampler here goes past this many stds
        if seeded:  # TensorFlow's reach, in its arithmetic: below
            return _seeded_overflow(target, dtype)
        reach = abs(target.mean) + NORMAL_REACH * target.std
        reaches = f"can reach |mean| + {NORMAL_REACH:g} std ="
    else:  # an infinite bound of a bounded law is an overflow: mean + 2 std past float64's
        reach = max(abs(low), abs(high), abs(getattr(target, "mean", 0.0)))
        reaches = "reaches"
    if math.isinf(reach):
        return (
            f"{target} has a bound that overflows to infinity (support {low:g} to {high:g}), "
            f"past the largest finite {dtype} value ({largest:g})"
        )
    if math.isinf(filled_value(reach, dtype)):  # just past the largest value rounds down to it
        return (
            f"{target} {reaches} {reach:g}, beyond the largest finite {dtype} value ({largest:g})"
        )
    if isinstance(target, Uniform) and high - low > largest:
        return (
            f"the uniform range maxval - minval = {high - low:g} overflows {dtype} (largest "
            f"finite value {largest:g})"
        )
    if seeded and isinstance(target, (Uniform, TruncatedNormal)):
        return _seeded_overflow(target, dtype)
    return None


def _seeded_overflow(target: Uniform | Normal | TruncatedNormal, dtype: torch.dtype) -> str | None:
    least, greatest = target.seeded_range(dtype)
    if math.isfinite(least) and math.isfinite(greatest):
        return None
    parameters, formula = (
        ("the bounds", "u (maxval - minval) + minval")
        if isinstance(target, Uniform)
        else ("mean and stddev", "z stddev + mean")
    )
    return (
        f"{target} with seed= would write infinities or NaN in {dtype}: TensorFlow rounds "
        f"{parameters} to {dtype} and computes {formula} in it, which passes its largest "
        f"finite value ({torch.finfo(dtype).max:g})"
    )


@torch.no_grad()
def _fill_(
    tensor: torch.Tensor,
    target: Distribution,
    generator: torch.Generator | None,
    seed: int | None = None,
    layout: Layout = "torch",
) -> torch.Tensor:
    """Fill a checked tensor from a target: the one place every initializer writes.

    With a seed, the values are TensorFlow's for that seed, drawn in the Keras layout of the
    weight and written into the torch layout."""
    _check_generator(generator, tensor)
    seed_pair = _seed_pair(seed, generator)
    check_layout(layout)
    check_fits(target, tensor.dtype, seeded=seed_pair is not None)
    if tensor.is_meta or tensor.numel() == 0:
        return tensor
    if seed_pair is None:
        return target.fill_(tensor, generator)
    kernel = tensor if layout == "keras" else to_keras_layout(tensor)  # a view: written through
    target.draw(tuple(kernel.shape), seed_pair, tensor.dtype, tensor.device, out=kernel)
    return tensor


# --------------------------------------------------------------------------- targets


def variance_scaling_target(
    shape: Sequence[int],
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: str = "truncated_normal",
    *,
    layout: Layout = "torch",
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> Uniform | Normal | TruncatedNormal:
    """The distribution Keras's ``VarianceScaling`` gives a weight of ``shape``."""
    scale = _positive("scale", scale)
    mode = _choice("mode", mode, MODES)
    if not isinstance(distribution, str):
        raise TypeError(f"distribution must be a string, got {distribution!r}")
    distribution = distribution.lower()
    if distribution == "normal":  # Keras's legacy alias
        distribution = "truncated_normal"
    distribution = _choice("distribution", distribution, DISTRIBUTIONS)
    computed_in, computed_out = compute_fans(shape, check_layout(layout))
    given_in, given_out = _fan("fan_in", fan_in), _fan("fan_out", fan_out)
    fan_in = computed_in if given_in is None else given_in
    fan_out = computed_out if given_out is None else given_out
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, fan)
    if distribution == "uniform":
        limit = _keras_bound("the uniform limit", math.sqrt(3.0 * variance))
        return Uniform(-limit, limit)
    if distribution == "untruncated_normal":
        return Normal(0.0, math.sqrt(variance))
    return TruncatedNormal(0.0, math.sqrt(variance) / TRUNCATED_NORMAL_STD)


def _orthogonal_target(shape: Sequence[int], gain: float, layout: Layout) -> Orthogonal:
    gain = check_real("gain", gain)
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal_ needs a tensor of rank >= 2, got shape {shape}")
    if check_layout(layout) == "torch":  # (out, in, *k): one row per output unit
        return Orthogonal(shape[0], math.prod(shape[1:]), gain)
    return Orthogonal(math.prod(shape[:-1]), shape[-1], gain)


def _identity_target(shape: Sequence[int], gain: float) -> Identity:
    if len(shape) != 2:
        raise ValueError(f"identity_ needs a 2-D tensor, got shape {tuple(shape)}")
    return Identity(check_real("gain", gain))


def _uniform_target(minval: float, maxval: float) -> Uniform:
    minval, maxval = check_real("minval", minval), check_real("maxval", maxval)
    if minval > maxval:
        raise ValueError(f"minval must be <= maxval, got minval={minval}, maxval={maxval}")
    return Uniform(_keras_bound("minval", minval), _keras_bound("maxval", maxval))


def _normal_target(mean: float, stddev: float) -> Normal:
    stddev = check_real("stddev", stddev)
    if stddev < 0:
        raise ValueError(f"stddev must be >= 0, got {stddev}")
    return Normal(check_real("mean", mean), stddev)


def _truncated_target(mean: float, stddev: float) -> TruncatedNormal:
    return TruncatedNormal(check_real("mean", mean), _positive("stddev", stddev))


Window = str | Sequence[float] | torch.Tensor | None
_STFT_SIDES: tuple[STFTSide, ...] = ("real", "imag")
_STFT_SCALINGS: tuple[STFTScaling, ...] = ("density", "spectrum")


def _named_window(name: str, frames: int, periodic: bool) -> tuple[float, ...]:
    """The window Keras's STFT takes for a name: ``scipy.signal.get_window(name, frames,
    fftbins=periodic)``, the very call Keras makes, so every name it accepts works the same."""
    try:
        from scipy.signal import get_window
    except ImportError as error:
        raise ImportError(
            f"window={name!r} is computed by scipy.signal.get_window, as Keras computes it: "
            "install scipy (pip install 'keras-parity[stft]'), or pass the window's values"
        ) from error
    try:
        values = get_window(name, frames, fftbins=periodic)
    except ValueError as error:
        raise ValueError(
            f"invalid window {name!r} ({error}); valid windows: any name "
            "scipy.signal.get_window takes without parameters (e.g. 'hann', 'hamming', "
            "'blackman', 'boxcar'), a 1-D sequence of values, or None"
        ) from None
    return tuple(float(value) for value in values)


def _window_values(window: Window) -> tuple[float, ...]:
    """An explicit window as finite float64 values."""
    try:
        values = torch.as_tensor(window, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            "window must be a window name, a 1-D sequence of numbers or None, "
            f"got {type(window).__name__}"
        ) from None
    if values.dim() != 1:
        raise ValueError(f"window must be 1-D, got shape {tuple(values.shape)}")
    if not values.isfinite().all():
        raise ValueError("window must hold finite values")
    return tuple(values.tolist())


def _stft_params(
    side: Any, window: Any, scaling: Any, periodic: Any
) -> tuple[STFTSide, Window, STFTScaling | None, bool]:
    """Keras's STFT arguments, checked without a shape (a named window is looked up once, as
    Keras does when the initializer is made)."""
    side = _choice("side", side, _STFT_SIDES)
    if scaling is not None and scaling not in _STFT_SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; valid choices: density, spectrum, None")
    if not isinstance(periodic, bool):
        raise TypeError(f"periodic must be a bool, got {periodic!r}")
    if isinstance(window, str):
        _named_window(window, 1, periodic)
    elif window is not None:
        window = _window_values(window)
    return side, window, scaling, periodic


def _stft_target(
    shape: Sequence[int],
    layout: Layout,
    side: STFTSide,
    window: Window,
    scaling: STFTScaling | None,
    periodic: bool,
) -> STFTKernel:
    side, window, scaling, periodic = _stft_params(side, window, scaling, periodic)
    kernel = tuple(shape) if check_layout(layout) == "keras" else keras_shape(shape)
    if len(kernel) != 3 or kernel[1] != 1 or kernel[2] < 2:
        expected = "(frames, 1, bins)" if layout == "keras" else "(bins, 1, frames)"
        raise ValueError(
            f"stft_ needs a Conv1d weight with one input channel and at least 2 frequency bins, "
            f"{expected} in the {layout} layout, got shape {tuple(shape)}"
        )
    frames, _, bins = kernel
    if isinstance(window, tuple) and len(window) != frames:
        raise ValueError(f"window has {len(window)} values; the kernel has {frames} frames")
    if frames == 0:  # an empty weight: nothing to window
        window = None
    elif isinstance(window, str):
        window = _named_window(window, frames, periodic)
    target = STFTKernel(frames, bins, side, window, scaling)
    if window is not None and not math.isfinite(target.support[1]):
        raise ValueError(f"the window's {scaling} norm is 0: it cannot be normalized")
    return target


# --------------------------------------------------------------------------- the core


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: VarianceDistribution = "truncated_normal",
    *,
    layout: Layout = "torch",
    fan_in: int | None = None,
    fan_out: int | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    r"""Fill ``tensor`` the way Keras's ``VarianceScaling`` initializer does.

    With :math:`n` = ``fan_in``, ``fan_out`` or ``(fan_in + fan_out) / 2`` (``mode``) and
    :math:`s = \text{scale} / \max(1, n)`:

    * ``"truncated_normal"``: :math:`\mathcal{N}(0, \sigma^2)` truncated to
      :math:`(-2\sigma, 2\sigma)` with :math:`\sigma = \sqrt{s} / 0.87962566103423978`, so the
      values have variance :math:`s` (``"normal"`` is accepted as an alias, as in Keras);
    * ``"untruncated_normal"``: :math:`\mathcal{N}(0, s)`;
    * ``"uniform"``: :math:`\mathcal{U}(-\sqrt{3s}, \sqrt{3s})`.

    Args:
        tensor: the weight to fill in place (any float dtype, any device).
        scale: positive, finite scaling factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or ``"uniform"``.
        layout: how to read fans from the shape: ``"torch"`` ``(out, in, *k)`` or
            ``"keras"`` ``(*k, in, out)``; see :func:`parity.compute_fans`.
        fan_in, fan_out: explicit fans, overriding those computed from the shape.
        generator: the ``torch.Generator`` to draw from.
        seed: instead of a generator, Keras's int seed: the values are exactly those Keras 3
            draws with that seed on the TensorFlow backend for the Keras kernel of this weight
            (see :func:`parity.keras_shape`), permuted into the torch layout.

    Example:
        >>> w = torch.empty(256, 128)
        >>> parity.variance_scaling_(w, 2.0, "fan_in", "truncated_normal")  # Keras HeNormal
    """
    _check_tensor(tensor)
    target = variance_scaling_target(
        tensor.shape, scale, mode, distribution, layout=layout, fan_in=fan_in, fan_out=fan_out
    )
    return _fill_(tensor, target, generator, seed, layout)


# The nine Keras named initializers: family → (scale, mode), form → distribution.
FAMILIES: dict[str, tuple[float, Mode]] = {
    "glorot": (1.0, "fan_avg"),
    "he": (2.0, "fan_in"),
    "lecun": (1.0, "fan_in"),
}
FORMS: dict[str, VarianceDistribution] = {
    "uniform": "uniform",
    "normal": "truncated_normal",
    "untruncated_normal": "untruncated_normal",
}
_FAN_TEXT = {"fan_avg": "(fan_in + fan_out) / 2", "fan_in": "fan_in", "fan_out": "fan_out"}
_FORM_TEXT = {
    "uniform": "U(-sqrt(3 s), sqrt(3 s))",
    "truncated_normal": "N(0, sigma^2) truncated to (-2 sigma, 2 sigma), "
    "sigma = sqrt(s) / 0.87962566103423978 (Keras's *Normal: TRUNCATED)",
    "untruncated_normal": "N(0, s), not truncated",
}
_KERAS_CLASS = {"glorot": "Glorot", "he": "He", "lecun": "Lecun"}


def _named_initializer(family: str, form: str) -> Callable[..., torch.Tensor]:
    scale, mode = FAMILIES[family]
    distribution = FORMS[form]

    def initializer(
        tensor: torch.Tensor,
        *,
        layout: Layout = "torch",
        fan_in: int | None = None,
        fan_out: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> torch.Tensor:
        return variance_scaling_(
            tensor, scale, mode, distribution,
            layout=layout, fan_in=fan_in, fan_out=fan_out, generator=generator, seed=seed,
        )  # fmt: skip

    name = f"{family}_{form}_"
    keras_name = (
        f"keras.initializers.{_KERAS_CLASS[family]}{form.title().replace('_', '')}"
        if form != "untruncated_normal"
        else f"VarianceScaling({scale}, {mode!r}, 'untruncated_normal')"
    )
    initializer.__name__ = initializer.__qualname__ = name
    initializer.__doc__ = f"""Fill ``tensor`` like ``{keras_name}``.

    ``s = {scale} / max(1, {_FAN_TEXT[mode]})``; values ~ {_FORM_TEXT[distribution]}.
    Same as ``variance_scaling_(tensor, {scale}, {mode!r}, {distribution!r})``.

    Args:
        tensor: the weight to fill in place (any float dtype, any device).
        layout: ``"torch"`` (default, ``(out, in, *k)``) or ``"keras"`` (``(*k, in, out)``).
        fan_in, fan_out: explicit fans, overriding those computed from the shape.
        generator: the ``torch.Generator`` to draw from.
        seed: instead of a generator, Keras's int seed: exactly Keras's values for it.

    Example:
        >>> conv = torch.nn.Conv2d(3, 64, 3)
        >>> parity.{name}(conv.weight)
    """
    return initializer


glorot_uniform_ = _named_initializer("glorot", "uniform")
glorot_normal_ = _named_initializer("glorot", "normal")
glorot_untruncated_normal_ = _named_initializer("glorot", "untruncated_normal")
he_uniform_ = _named_initializer("he", "uniform")
he_normal_ = _named_initializer("he", "normal")
he_untruncated_normal_ = _named_initializer("he", "untruncated_normal")
lecun_uniform_ = _named_initializer("lecun", "uniform")
lecun_normal_ = _named_initializer("lecun", "normal")
lecun_untruncated_normal_ = _named_initializer("lecun", "untruncated_normal")
# Keras's *Normal initializers ARE truncated normals: these names say so explicitly.
glorot_truncated_normal_ = glorot_normal_
he_truncated_normal_ = he_normal_
lecun_truncated_normal_ = lecun_normal_


# --------------------------------------------------------------------------- the others


def random_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    stddev: float = 0.05,
    *,
    generator: torch.Generator | None = None,
    layout: Layout = "torch",
    seed: int | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` like ``keras.initializers.RandomNormal``: N(mean, stddev²), untruncated.

    Args:
        tensor: the tensor to fill in place.
        mean: the mean (default 0).
        stddev: the standard deviation, >= 0 (default 0.05, Keras's).
        generator: the ``torch.Generator`` to draw from.
        layout: with ``seed``, the layout Keras's values are mapped from: ``"torch"`` permutes
            the Keras kernel ``(*k, in, out)`` into ``(out, in, *k)``; use ``"keras"`` for
            weights stored as Keras stores them (e.g. ``nn.Embedding``).
        seed: instead of a generator, Keras's int seed: exactly Keras's values for it.

    Example:
        >>> emb = torch.empty(1000, 64)
        >>> parity.random_normal_(emb, stddev=0.02)
    """
    _check_tensor(tensor)
    return _fill_(tensor, _normal_target(mean, stddev), generator, seed, layout)


def random_uniform_(
    tensor: torch.Tensor,
    minval: float = -0.05,
    maxval: float = 0.05,
    *,
    generator: torch.Generator | None = None,
    layout: Layout = "torch",
    seed: int | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` like ``keras.initializers.RandomUniform``: U[minval, maxval) (in
    float16/bfloat16 the float32 draw rounded to nearest, so maxval itself can occur).

    Args:
        tensor: the tensor to fill in place.
        minval, maxval: the bounds, ``minval <= maxval`` (default ±0.05, Keras's), rounded
            to float32 first as Keras rounds them (this matters for float64 weights only).
        generator: the ``torch.Generator`` to draw from.
        layout: with ``seed``, the layout Keras's values are mapped from: ``"torch"`` permutes
            the Keras kernel ``(*k, in, out)`` into ``(out, in, *k)``; use ``"keras"`` for
            weights stored as Keras stores them (e.g. ``nn.Embedding``).
        seed: instead of a generator, Keras's int seed: exactly Keras's values for it.

    Example:
        >>> emb = torch.nn.Embedding(1000, 64)
        >>> parity.random_uniform_(emb.weight)      # Keras Embedding's default
    """
    _check_tensor(tensor)
    return _fill_(tensor, _uniform_target(minval, maxval), generator, seed, layout)


def truncated_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    stddev: float = 0.05,
    *,
    generator: torch.Generator | None = None,
    layout: Layout = "torch",
    seed: int | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` like ``keras.initializers.TruncatedNormal``: N(mean, stddev²) truncated
    to (mean - 2·stddev, mean + 2·stddev).

    Bounds are *relative* to stddev (unlike ``torch.nn.init.trunc_normal_``'s absolute ``a, b``)
    and stddev is the stddev *before* truncation, with no 0.8796 correction, as in Keras.

    Args:
        tensor: the tensor to fill in place.
        mean: the mean (default 0).
        stddev: the pre-truncation standard deviation, > 0 (default 0.05, Keras's).
        generator: the ``torch.Generator`` to draw from.
        layout: with ``seed``, the layout Keras's values are mapped from: ``"torch"`` permutes
            the Keras kernel ``(*k, in, out)`` into ``(out, in, *k)``; use ``"keras"`` for
            weights stored as Keras stores them (e.g. ``nn.Embedding``).
        seed: instead of a generator, Keras's int seed: exactly Keras's values for it.  Those
            are ``z·stddev + mean`` rounded in the dtype, so where stddev is tiny next to
            ``|mean|`` some lie on or past a bound, as Keras's do (mean 1, stddev 1e-7,
            float32: 1.5% of them).  Generator mode's float32 and float64 values never leave
            the open interval; float16 and bfloat16 ones are float32 values rounded, which
            can equal the rounded bound.

    Example:
        >>> w = torch.empty(768, 768)
        >>> parity.truncated_normal_(w, stddev=0.02)   # values in (-0.04, 0.04)
    """
    _check_tensor(tensor)
    return _fill_(tensor, _truncated_target(mean, stddev), generator, seed, layout)


def orthogonal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    *,
    layout: Layout = "torch",
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Fill ``tensor`` like ``keras.initializers.Orthogonal``: a Haar-random (semi-)orthogonal
    matrix times ``gain``.

    The weight is read as a matrix: ``(shape[0], prod(shape[1:]))`` in torch layout (one row per
    output unit), ``(prod(shape[:-1]), shape[-1])`` in Keras layout; the matrix has orthonormal
    columns when it has at least as many rows as columns and orthonormal rows otherwise.  A torch
    weight's matrix is its Keras kernel's transposed, with the columns reordered for a conv
    (torch's ``(in, *k)`` against Keras's ``(*k, in)``), and Haar matrices stay Haar under both,
    so both layouts give Keras's distribution.

    Args:
        tensor: the tensor to fill in place, rank >= 2.
        gain: multiplicative factor (default 1).
        layout: ``"torch"`` (default) or ``"keras"``.
        generator: the ``torch.Generator`` to draw from.
        seed: instead of a generator, Keras's int seed: Keras's values for it, up to the
            rounding of the QR (computed in the weight's memory here).  In float16, Keras's
            QR runs in float16 and is far from orthogonal on thin matrices; here Q is computed
            in float32 from Keras's float32 draws and rounded once.

    Example:
        >>> lstm = torch.nn.LSTM(32, 64)
        >>> parity.orthogonal_(lstm.weight_hh_l0)       # (4*64, 64)
    """
    _check_tensor(tensor)
    return _fill_(tensor, _orthogonal_target(tensor.shape, gain, layout), generator, seed, layout)


def identity_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Fill a 2-D ``tensor`` like ``keras.initializers.Identity``: ``gain * eye(rows, cols)``.

    Args:
        tensor: a 2-D tensor to fill in place.
        gain: the diagonal value (default 1).

    Example:
        >>> w = torch.empty(4, 6)
        >>> parity.identity_(w, gain=0.5)
    """
    _check_tensor(tensor)
    return _fill_(tensor, _identity_target(tensor.shape, gain), None)


def stft_(
    tensor: torch.Tensor,
    side: STFTSide = "real",
    window: Window = "hann",
    scaling: STFTScaling | None = "density",
    periodic: bool = False,
    *,
    layout: Layout = "torch",
) -> torch.Tensor:
    """Fill a Conv1d weight with one side of a windowed DFT, like ``keras.initializers.STFT``
    (the kernels of Keras's ``STFTSpectrogram``).

    For a weight of ``nn.Conv1d(1, bins, frames)``, shape ``(bins, 1, frames)``, with FFT
    length ``n = 2 (bins - 1)``: ``w[f, 0, t] = cos(-2π t f / n) · window[t] / s`` for
    ``side="real"`` and ``sin(...)`` for ``"imag"``, where ``s = sqrt(Σ window²)``
    (``"density"``), ``Σ |window|`` (``"spectrum"``) or 1 (None, or no window).  The phase is
    rounded to the weight's dtype step by step as Keras rounds it, so the values are Keras's:
    measured against Keras 3.15 on TensorFlow 2.21's CPU, within 2.2 float32 eps of the
    kernel's largest value (1.3 eps in float16 and bfloat16), where Keras's float32 ``cos`` and
    window norm are not correctly rounded (see :class:`parity.samplers.STFTKernel`).

    Args:
        tensor: a ``(bins, 1, frames)`` weight (``(frames, 1, bins)`` with ``layout="keras"``).
        side: ``"real"`` (cosines, default) or ``"imag"`` (sines).
        window: a name ``scipy.signal.get_window`` knows (default ``"hann"``; needs scipy, as
            Keras does), the window's ``frames`` values, or None for no window.
        scaling: ``"density"`` (default), ``"spectrum"`` or None.
        periodic: take the periodic (DFT-even) form of a named window instead of the
            symmetric one (default False, as in Keras).
        layout: ``"torch"`` (default) or ``"keras"``.

    Example:
        >>> conv = torch.nn.Conv1d(1, 257, kernel_size=512, bias=False)  # FFT length 512
        >>> parity.stft_(conv.weight, "imag", window="hamming")
    """
    _check_tensor(tensor)
    target = _stft_target(tensor.shape, layout, side, window, scaling, periodic)
    kernel = tensor if layout == "keras" else to_keras_layout(tensor)  # a view: written through
    _fill_(kernel, target, None)
    return tensor


def constant_(tensor: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """Fill ``tensor`` with ``value``, like ``keras.initializers.Constant``.

    As in Keras, a Python float fills a float64 tensor rounded to float32 first
    (``Constant(0.1)`` gives a float64 weight 0.10000000149011612); an int or a numpy float64
    keeps its value.

    Args:
        tensor: the tensor to fill in place.
        value: a finite number (default 0).

    Example:
        >>> b = torch.empty(64)
        >>> parity.constant_(b, 0.1)
    """
    _check_tensor(tensor)
    return _fill_(tensor, _constant(value), None)


def _constant(value: Any) -> Constant:
    return Constant(check_real("value", value), from_python_float=type(value) is float)


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with zeros, like ``keras.initializers.Zeros``.

    Example:
        >>> b = torch.empty(64)
        >>> parity.zeros_(b)
    """
    return constant_(tensor, 0.0)


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill ``tensor`` with ones, like ``keras.initializers.Ones``.

    Example:
        >>> gamma = torch.empty(64)
        >>> parity.ones_(gamma)
    """
    return constant_(tensor, 1.0)


# --------------------------------------------------------------------------- get()


def _snake(name: str) -> str:
    """A Keras class name in snake case, acronyms kept whole: ``"HeNormal"`` → ``"he_normal"``,
    ``"STFTInitializer"`` → ``"stft_initializer"``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@dataclass(frozen=True)
class _Entry:
    """How one Keras initializer maps: its function, target, and accepted config keys."""

    function: Callable[..., torch.Tensor]
    target: Callable[..., Distribution]
    params: tuple[str, ...]
    uses_layout: bool
    random: bool = True
    # Checks the parameters without a shape; None: the target of a (1, 1) weight checks them.
    check: Callable[..., object] | None = None


# Keras 3.15's explicit fan axes, which VarianceScaling initializers take (see compute_fans).
_AXES = ("input_axes", "output_axes")


def _axes_fans(
    shape: Sequence[int], layout: Layout, input_axes: Any = None, output_axes: Any = None
) -> dict[str, int]:
    """``fan_in`` and ``fan_out`` from a config's fan axes; none unless both are given (as in
    Keras, one alone changes nothing)."""
    if input_axes is None or output_axes is None:
        return {}
    fans = compute_fans(shape, layout, input_axes=input_axes, output_axes=output_axes)
    return dict(zip(("fan_in", "fan_out"), fans, strict=True))


def _variance_entry(function: Callable[..., torch.Tensor], **fixed: Any) -> _Entry:
    """A VarianceScaling initializer: ``fixed`` scale, mode and distribution, or none."""

    def target(shape: Sequence[int], layout: Layout, **config: Any) -> Distribution:
        axes = {key: config.pop(key) for key in _AXES if key in config}
        fans = _axes_fans(shape, layout, **axes)
        return variance_scaling_target(shape, **fixed, **config, layout=layout, **fans)

    params = () if fixed else ("scale", "mode", "distribution")
    return _Entry(function, target, (*params, *_AXES), uses_layout=True)


def _named_entry(family: str, form: str) -> _Entry:
    scale, mode = FAMILIES[family]
    function = globals()[f"{family}_{form}_"]
    return _variance_entry(function, scale=scale, mode=mode, distribution=FORMS[form])


_ENTRIES: dict[str, _Entry] = {
    f"{family}_{form}": _named_entry(family, form)
    for family in FAMILIES
    for form in ("uniform", "normal")
}
_ENTRIES |= {
    "variance_scaling": _variance_entry(variance_scaling_),
    "random_normal": _Entry(
        random_normal_, lambda shape, layout, **kw: _normal_target(**kw), ("mean", "stddev"), True
    ),
    "random_uniform": _Entry(
        random_uniform_,
        lambda shape, layout, **kw: _uniform_target(**kw),
        ("minval", "maxval"),
        True,
    ),
    "truncated_normal": _Entry(
        truncated_normal_,
        lambda shape, layout, **kw: _truncated_target(**kw),
        ("mean", "stddev"),
        True,
    ),
    "orthogonal": _Entry(
        orthogonal_,
        lambda shape, layout, gain: _orthogonal_target(shape, gain, layout),
        ("gain",),
        True,
    ),
    "identity": _Entry(
        identity_,
        lambda shape, layout, gain: _identity_target(shape, gain),
        ("gain",),
        False,
        random=False,
    ),
    "constant": _Entry(
        constant_,
        lambda shape, layout, value: _constant(value),
        ("value",),
        False,
        random=False,
    ),
    "stft": _Entry(
        stft_,
        _stft_target,
        ("side", "window", "scaling", "periodic"),
        True,
        random=False,
        check=_stft_params,
    ),
    "zeros": _Entry(zeros_, lambda shape, layout: Constant(0.0), (), False, random=False),
    "ones": _Entry(ones_, lambda shape, layout: Constant(1.0), (), False, random=False),
}
# Keras's defaults for the parameters a string identifier leaves out.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "variance_scaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
    "random_normal": {"mean": 0.0, "stddev": 0.05},
    "random_uniform": {"minval": -0.05, "maxval": 0.05},
    "truncated_normal": {"mean": 0.0, "stddev": 0.05},
    "orthogonal": {"gain": 1.0},
    "identity": {"gain": 1.0},
    "constant": {"value": 0.0},
    "stft": {"side": "real", "window": "hann", "scaling": "density", "periodic": False},
}
# Keras's extra string identifiers and class-name aliases.
_ALIASES = {
    "normal": "random_normal",
    "uniform": "random_uniform",
    "zero": "zeros",
    "one": "ones",
    "orthogonal_initializer": "orthogonal",
    "identity_initializer": "identity",
    "stft_initializer": "stft",
}
KERAS_IDENTIFIERS: tuple[str, ...] = tuple(sorted([*_ENTRIES, *_ALIASES]))
# Config keys Keras serializes that do not change the distribution.
_IGNORED_CONFIG_KEYS = {"dtype", "name"}


def _canonical(name: str) -> str:
    key = name if name.islower() else _snake(name)
    key = _ALIASES.get(key, key)
    if key not in _ENTRIES:
        raise ValueError(
            f"unknown initializer {name!r}; valid identifiers: {', '.join(KERAS_IDENTIFIERS)} "
            "(or their Keras class names, e.g. 'GlorotUniform')"
        )
    return key


@dataclass(frozen=True)
class Initializer:
    """A resolved Keras initializer: call it on a tensor, or ask for its target distribution.

    Made by :func:`get`; ``Initializer("he_normal")(w)`` is ``he_normal_(w)``, and
    ``Initializer("he_normal", seed=42)(w)`` is ``he_normal_(w, seed=42)`` (Keras's values).
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    layout: Layout = "torch"
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a Keras initializer name (a str), got {self.name!r}")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"config must be a mapping of parameters, got {self.config!r}")
        object.__setattr__(self, "name", _canonical(self.name))
        check_layout(self.layout)
        entry = _ENTRIES[self.name]
        if self.seed is not None:
            if not entry.random:
                raise ValueError(f"{self.name} is not random and takes no seed")
            _seed_pair(self.seed, None)  # validate now
        unknown = set(self.config) - set(entry.params)
        if unknown:
            raise ValueError(
                f"{self.name} does not take {', '.join(sorted(map(str, unknown)))}; "
                f"valid parameters: {', '.join(entry.params) or 'none'}"
            )
        config = {**_DEFAULTS.get(self.name, {}), **self.config}
        for key in _AXES:
            if key in config:
                config[key] = check_axes(key, config[key])
        object.__setattr__(self, "config", config)
        if entry.check is None:  # validate the parameters now, not at the first call
            # (fan axes name axes of the weight to come: a (1, 1) weight cannot check them)
            _ENTRIES[self.name].target((1, 1), self.layout, **_without(config, _AXES))
        else:
            entry.check(**config)

    @property
    def fan_axes(self) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """``(input_axes, output_axes)`` when the config gives both (Keras 3.15's explicit fan
        axes, which then replace the shape's fans), else None."""
        axes = tuple(self.config.get(key) for key in _AXES)
        return None if None in axes else axes  # type: ignore[return-value]

    def target(self, shape: Sequence[int]) -> Distribution:
        """The distribution this initializer gives a weight of ``shape``."""
        return _ENTRIES[self.name].target(tuple(shape), self.layout, **self.config)

    def __call__(
        self, tensor: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_tensor(tensor)
        entry = _ENTRIES[self.name]
        kwargs = _without(self.config, _AXES)
        if self.fan_axes is not None:
            kwargs |= _axes_fans(tensor.shape, self.layout, *self.fan_axes)
        if entry.uses_layout:
            kwargs["layout"] = self.layout
        if entry.random:
            if self.seed is not None and generator is not None:
                raise ValueError(
                    f"this {self.name} initializer has seed={self.seed} (Keras's values for that "
                    "seed) and takes no generator; use one without a seed to draw from a generator"
                )
            kwargs["generator"] = generator
            kwargs["seed"] = self.seed
        else:
            _check_generator(generator, tensor)
        return entry.function(tensor, **kwargs)


def _without(config: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in keys}


def keras_object_config(identifier: Any) -> dict[str, Any] | None:
    """``keras.initializers.serialize(identifier)``'s class name and config for a Keras (or
    tf-keras) initializer object, without importing Keras; None for anything else."""
    get_config = getattr(identifier, "get_config", None)
    if not _from_keras(type(identifier)) or not callable(get_config):
        return None
    config = dict(get_config())
    if type(identifier).__name__ == "Identity" and "gain" not in config:
        config["gain"] = identifier.gain  # Keras 3.15's Identity.get_config() leaves it out
    return {"class_name": type(identifier).__name__, "config": config}


def _from_keras(cls: type) -> bool:
    """Whether ``cls`` is defined in Keras or tf-keras."""
    return cls.__module__.split(".")[0] in ("keras", "tf_keras")


def _keras_ancestor(cls: type) -> str | None:
    """The name of the first Keras (or tf-keras) class that ``cls``, another package's class,
    derives from (a user's subclass of a Keras initializer), or None."""
    if _from_keras(cls):
        return None
    return next((base.__name__ for base in cls.__mro__[1:] if _from_keras(base)), None)


def _from_config(identifier: Mapping[str, Any], layout: Layout) -> Initializer:
    if "class_name" not in identifier:
        raise ValueError(
            "an initializer config dict needs a 'class_name' key, as in "
            "keras.initializers.serialize(...); got keys: " + ", ".join(map(str, identifier))
        )
    config = dict(identifier.get("config") or {})
    seed = config.pop("seed", None)
    if isinstance(seed, Mapping):
        raise ValueError(
            "this initializer's seed is a Keras SeedGenerator, whose values depend on its "
            "state; only an int seed (or None) can be reproduced"
        )
    for key in _AXES:  # Keras 3.15 writes them, None unless set
        if key in config and config[key] is None:
            del config[key]
    for key in _IGNORED_CONFIG_KEYS:
        config.pop(key, None)
    return Initializer(str(identifier["class_name"]), config, layout, seed)


def get(identifier: Any, *, layout: Layout = "torch") -> InitFn:
    """Resolve a Keras initializer identifier to an in-place init function.

    Accepts Keras string identifiers (``"he_normal"``, ``"glorot_uniform"``, ``"zeros"``,
    ``"uniform"``, ...), Keras class names (``"HeNormal"``), Keras 3 and tf-keras config dicts
    (``{"class_name": "VarianceScaling", "config": {...}}`` as ``keras.initializers.serialize``
    writes them), Keras initializer objects (read through their config; a user's subclass of
    one is refused, since it may draw otherwise), Keras initializer classes (their defaults,
    as Keras instantiates them) and callables (returned unchanged).  The
    result is called as
    ``fn(tensor, *, generator=None)`` and returns the tensor.  A config's ``seed`` is kept: the
    initializer then draws Keras's values for that seed (see ``seed=`` on the initializers).
    A VarianceScaling config's ``input_axes`` and ``output_axes`` (Keras 3.15) are kept too:
    when both are given, the fans are those axes' sizes in the weight's Keras-layout shape
    (see :func:`parity.compute_fans`).

    Args:
        identifier: a string, a config dict, a Keras initializer, an :class:`Initializer`
            (returned reading fans in ``layout``) or a callable.
        layout: how the resolved initializer reads fans from a tensor's shape.

    Example:
        >>> init = parity.get({"class_name": "HeNormal", "config": {"seed": None}})
        >>> init(torch.empty(64, 3, 3, 3))
    """
    check_layout(layout)
    if isinstance(identifier, Initializer):  # read in the layout asked for, as any other form
        return identifier if identifier.layout == layout else replace(identifier, layout=layout)
    if isinstance(identifier, str):
        return Initializer(identifier, {}, layout)
    if isinstance(identifier, Mapping):
        return _from_config(identifier, layout)
    keras_config = keras_object_config(identifier)
    if keras_config is not None:
        return _from_config(keras_config, layout)
    is_class = isinstance(identifier, type)
    if is_class and _from_keras(identifier):  # Keras instantiates a class with its defaults
        return Initializer(identifier.__name__, {}, layout)
    cls = identifier if is_class else type(identifier)
    ancestor = _keras_ancestor(cls)
    if ancestor is not None:
        raise TypeError(
            f"{cls.__name__} derives from Keras's {ancestor} but is not one of "
            "Keras's own initializers, so what it draws is not known here (a subclass can "
            "change it); pass the Keras initializer it stands for (a name such as "
            "'glorot_uniform', a config dict or a Keras initializer object) or a torch callable"
        )
    if callable(identifier):
        return identifier
    raise TypeError(
        "an initializer identifier must be a string, a Keras config dict, a Keras initializer "
        "or a callable, "
        f"got {type(identifier).__name__}"
    )


def describe(identifier: Any, shape: Sequence[int], *, layout: Layout = "torch") -> Distribution:
    """The exact distribution a Keras identifier gives a weight of ``shape``.

    Example:
        >>> parity.describe("he_normal", (64, 3, 3, 3))
        TruncatedNormal(mean=0.0, std=0.3094...)
    """
    init = get(identifier, layout=layout)
    if not isinstance(init, Initializer):
        raise TypeError("describe() needs a Keras identifier or config, not a callable")
    return init.target(check_shape(shape))
