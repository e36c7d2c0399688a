"""Initialize a whole torch model the way Keras initializes the same model.

A torch port of a Keras model starts from torch's defaults (``kaiming_uniform_(a=√5)`` for
Linear and Conv, N(0, 1) embeddings, U(±1/√hidden) recurrent layers) instead of Keras's
(``glorot_uniform`` kernels, U(±0.05) embeddings, orthogonal recurrent kernels, unit forget
bias).  :func:`keras_init_` walks the module tree and gives every layer it knows what the
corresponding Keras layer gets by default.

Each weight is written through a *Keras-layout view* of the torch tensor: the same memory,
indexed as Keras indexes its kernel (``Linear.weight.T`` is Dense's ``(in, units)`` kernel, a
depthwise ``Conv2d`` weight ``(in·dm, 1, kh, kw)`` is viewed as DepthwiseConv2D's
``(kh, kw, in, dm)``).  Initializers are resolved with ``layout="keras"`` on that view, so the
fans, the orthogonal matrix's rows and columns, and every override are exactly Keras's.  The
one layer whose Keras fans do not follow from its kernel's shape, MultiHeadAttention since
Keras 3.15, passes them explicitly.  GRU gates come in another order in torch (r, z, n) than in
Keras (z, r, h): GRU kernels are drawn through their Keras views and their first two gate
blocks then swapped in place; GRU's bias, two torch tensors, is drawn whole and copied.

Every call plans first (what each weight gets, checked) and writes after: bad input raises
before a single value changes.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.nn.modules.lazy import LazyModuleMixin

from parity import tf_random
from parity.fans import (
    compute_dtype,
    compute_fans,
    takes_keyword,
    tensor_problem,
    write_problem,
)
from parity.initializers import (
    FAMILIES,
    FORMS,
    Initializer,
    check_fits,
    get,
    on_generator_device,
)
from parity.samplers import Distribution, chunks, rescale_

__all__ = [
    "HyperparameterChange",
    "KerasInitWarning",
    "WeightPlan",
    "keras_hyperparameters_",
    "keras_init_",
    "keras_init_plan",
]

# Keras 3.15 gives VarianceScaling initializers explicit fan axes inside EinsumDense (so inside
# MultiHeadAttention); other initializers still read the kernel's shape.
_VARIANCE_SCALING = frozenset(
    {"variance_scaling", *(f"{family}_{form}" for family in FAMILIES for form in FORMS)}
)
# Keras constructor arguments an override may name, and the one that is not an initializer.
_OPTIONS = ("unit_forget_bias",)
KERAS_ARGUMENTS: tuple[str, ...] = (
    "alpha_initializer",
    "beta_initializer",
    "bias_initializer",
    "depthwise_initializer",
    "embeddings_initializer",
    "gamma_initializer",
    "kernel_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "recurrent_initializer",
    *_OPTIONS,
)
# "3", "3.14", "3.15.1", and release suffixes such as "3.16.0rc1" or "3.15.1.dev0".
_VERSION = re.compile(r"(\d+)(?:\.(\d+)(?:\.\d+)?(?:[.+-]?[0-9A-Za-z]+)*)?")


class KerasInitWarning(UserWarning):
    """A module was left untouched by :func:`keras_init_` (no Keras counterpart known)."""


@dataclass(frozen=True)
class WeightPlan:
    """What :func:`keras_init_` writes into one Keras weight of one layer.

    Attributes:
        module: qualified name of the torch module (``""`` for the root).
        layer: the Keras layer it mirrors, e.g. ``"Dense"`` or ``"LSTM"``.
        weight: the Keras weight, e.g. ``"kernel"``, ``"recurrent_kernel"`` or ``"bias[f]"``
            (a gate block).  ``"bias_hh (zero)"`` is torch's second RNN bias, which Keras does
            not have: it is zero, so ``bias_ih + bias_hh`` is Keras's bias.
        parameters: qualified names of the torch parameters or buffers it writes.
        keras_shape: the weight's shape in Keras's layout.
        fans: ``(fan_in, fan_out)`` as Keras computes them for this weight.
        initializer: the resolved initializer (a :class:`parity.Initializer` or a callable).
        target: the distribution of every value written, or ``None`` for a callable.
    """

    module: str
    layer: str
    weight: str
    parameters: tuple[str, ...]
    keras_shape: tuple[int, ...]
    fans: tuple[int, int]
    initializer: Any
    target: Distribution | None


class HyperparameterChange(NamedTuple):
    """One attribute :func:`keras_hyperparameters_` changed."""

    module: str
    attribute: str
    old: Any
    new: Any


# --------------------------------------------------------------------------- slots


@dataclass
class _Slot:
    """One Keras weight of a layer, as a handler describes it.

    ``view`` is the torch memory indexed in Keras's layout, and ``reorder`` (GRU's gate
    order) moves what was written through it into torch's order, in place.  When no view
    exists (GRU's bias, two torch tensors) it is ``None`` and the values are drawn into a
    Keras-shaped scratch tensor that ``store`` copies to torch.  A callable override fills
    the ``torch`` tensors instead, in torch's layout, as ``torch.nn.init`` functions expect.
    """

    weight: str
    arg: str | None  # the Keras constructor argument that overrides it; None: fixed
    default: str
    keras_shape: tuple[int, ...]
    parameters: tuple[str, ...]
    torch: tuple[torch.Tensor, ...]
    view: torch.Tensor | None = None
    store: Callable[[torch.Tensor], None] | None = None
    reorder: Callable[[], None] | None = None
    fans: tuple[int, int] | None = None  # explicit fans (EinsumDense since Keras 3.15)
    # Keras draws this weight with the same initializer call as ``prefix_of`` (a stateless
    # initializer called twice): its values are the first of that weight's, rescaled.
    prefix_of: _Slot | None = None


@dataclass
class _Layer:
    """A supported module: the Keras layer it mirrors, its weights, clean-up after writing."""

    name: str
    slots: list[_Slot]
    options: tuple[str, ...] = ()
    finish: list[Callable[[], None]] = field(default_factory=list)


class _Unsupported(Exception):
    """A module that looks known but has no Keras counterpart in this configuration."""


def _direct(tensor: torch.Tensor, weight: str, arg: str | None, default: str, param: str) -> _Slot:
    """A weight whose Keras layout is the torch tensor itself (biases, norms, embeddings)."""
    return _Slot(weight, arg, default, tuple(tensor.shape), (param,), (tensor,), tensor)


def _kernel(
    tensor: torch.Tensor,
    view: torch.Tensor,
    param: str,
    weight: str = "kernel",
    arg: str = "kernel_initializer",
    default: str = "glorot_uniform",
    fans: tuple[int, int] | None = None,
) -> _Slot:
    """A kernel written through ``view``, its Keras-layout view."""
    return _Slot(weight, arg, default, tuple(view.shape), (param,), (tensor,), view, fans=fans)


def _keras_kernel_view(weight: torch.Tensor) -> torch.Tensor:
    """``(out, in, *k)`` → ``(*k, in, out)``: Dense and ConvND kernels, and ConvNDTranspose's
    ``(in, out, *k)`` → ``(*k, out, in)`` (see :func:`parity.keras_shape`)."""
    return weight.permute(*range(2, weight.dim()), 1, 0)


# --------------------------------------------------------------------------- handlers


def _dense(m: nn.Linear, ctx: _Context) -> _Layer:
    slots = [_kernel(m.weight, m.weight.T, "weight")]
    if m.bias is not None:
        slots.append(_direct(m.bias, "bias", "bias_initializer", "zeros", "bias"))
    return _Layer("Dense", slots)


def _conv(m: _ConvNd, ctx: _Context) -> _Layer:
    rank = m.weight.dim() - 2
    depthwise = not m.transposed and rank < 3 and 1 < m.groups == m.in_channels
    if depthwise:
        # (in·dm, 1, *k) → (in, dm, *k) → (*k, in, dm): Keras's depthwise kernel, whose fans
        # are k·in and k·dm (torch's reading of the same tensor gives k and k·in·dm).
        channels, multiplier = m.in_channels, m.out_channels // m.in_channels
        view = m.weight.view(channels, multiplier, *m.weight.shape[2:])
        view = view.permute(*range(2, view.dim()), 0, 1)
        kernel = _kernel(m.weight, view, "weight", arg="depthwise_initializer")
        name = f"DepthwiseConv{rank}D"
    else:
        kernel = _kernel(m.weight, _keras_kernel_view(m.weight), "weight")
        name = f"Conv{rank}DTranspose" if m.transposed else f"Conv{rank}D"
    slots = [kernel]
    if m.bias is not None:
        slots.append(_direct(m.bias, "bias", "bias_initializer", "zeros", "bias"))
    return _Layer(name, slots)


def _embedding(m: nn.Embedding | nn.EmbeddingBag, ctx: _Context) -> _Layer:
    # Keras's embeddings are (input_dim, output_dim): torch's layout, no transpose.
    slot = _direct(m.weight, "embeddings", "embeddings_initializer", "uniform", "weight")
    layer = _Layer("Embedding", [slot])
    if m.padding_idx is not None:
        # torch keeps the padding row at zero (it never gets a gradient); Keras has no such row.
        layer.finish.append(lambda: m.weight[m.padding_idx].zero_())
    return layer


def _reorder_gates(keras: torch.Tensor, dim: int) -> torch.Tensor:
    """GRU gate blocks in Keras's order (z, r, h) → torch's (r, z, n) along ``dim``."""
    z, r, h = keras.chunk(3, dim)
    return torch.cat([r, z, h], dim)


# Values swapped at a time when GRU weights are put into torch's gate order.
_SWAP_CHUNK = 1 << 20


def _gru_kernel(tensor: torch.Tensor, param: str, **kernel: Any) -> _Slot:
    """A GRU kernel written through its Keras view (``weight.T``), then put into torch's gate
    order by swapping its first two blocks of rows in place, a chunk at a time: no copy of
    the weight, which an orthogonal recurrent kernel of a large GRU would double."""

    def reorder() -> None:
        z, r, _ = tensor.detach().chunk(3, 0)
        for keras_z, keras_r in zip(chunks(z, _SWAP_CHUNK), chunks(r, _SWAP_CHUNK), strict=True):
            held = keras_z.clone()
            keras_z.copy_(keras_r)
            keras_r.copy_(held)

    slot = _kernel(tensor, tensor.T, param, **kernel)
    slot.reorder = reorder
    return slot


def _gru_bias_store(b_ih: torch.Tensor, b_hh: torch.Tensor) -> Callable[[torch.Tensor], None]:
    def store(keras: torch.Tensor) -> None:  # (2, 3u): row 0 input bias, row 1 recurrent bias
        b_ih.copy_(_reorder_gates(keras[0], 0))
        b_hh.copy_(_reorder_gates(keras[1], 0))

    return store


def _recurrent_slots(kind: str, m: nn.Module, suffix: str, unit_forget_bias: bool) -> list[_Slot]:
    """The Keras weights of one SimpleRNN / LSTM / GRU cell (one layer, one direction)."""
    names = [f"{w}{suffix}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    w_ih, w_hh, b_ih, b_hh = (getattr(m, name, None) for name in names)
    if kind == "GRU":
        # Gate order differs: kernels are drawn in Keras's order, then reordered in place.
        slots = [
            _gru_kernel(w_ih, names[0]),
            _gru_kernel(w_hh, names[1], weight="recurrent_kernel", arg="recurrent_initializer",
                        default="orthogonal"),
        ]  # fmt: skip
        if b_ih is not None:  # Keras GRU(reset_after=True): bias (2, 3u) = torch's two biases
            slots.append(
                _Slot("bias", "bias_initializer", "zeros", (2, b_ih.numel()), tuple(names[2:]),
                      (b_ih, b_hh), store=_gru_bias_store(b_ih, b_hh))
            )  # fmt: skip
        return slots
    slots = [
        _kernel(w_ih, w_ih.T, names[0]),
        _kernel(w_hh, w_hh.T, names[1], weight="recurrent_kernel",
                arg="recurrent_initializer", default="orthogonal"),
    ]  # fmt: skip
    if b_ih is None:
        return slots
    # Keras has one bias; torch adds two.  bias_ih carries Keras's bias, bias_hh is zero.
    units = w_hh.shape[1]
    if kind == "LSTM" and unit_forget_bias:
        # Keras: bias_initializer on (u,) and (2u,), ones on the forget block (i, f, c, o).
        blocks = [("bias[i]", 0, units, "bias_initializer", "zeros"),
                  ("bias[f]", units, 2 * units, None, "ones"),
                  ("bias[c,o]", 2 * units, 4 * units, "bias_initializer", "zeros")]  # fmt: skip
        bias_i, bias_f, bias_co = (_direct(b_ih[start:stop], weight, arg, default, names[2])
                                   for weight, start, stop, arg, default in blocks)  # fmt: skip
        # One initializer gives (u,) and (2u,): a random one, stateless in Keras 3, makes the
        # same draws twice, so Keras's input-gate bias is its cell-gate bias rescaled.
        bias_i.prefix_of = bias_co
        slots += [bias_i, bias_f, bias_co]
    else:
        slots.append(_direct(b_ih, "bias", "bias_initializer", "zeros", names[2]))
    slots.append(_direct(b_hh, "bias_hh (zero)", None, "zeros", names[3]))
    return slots


_RNN_MODES = {"RNN_TANH": "SimpleRNN", "RNN_RELU": "SimpleRNN", "LSTM": "LSTM", "GRU": "GRU"}


def _unit_forget_bias(kind: str, ctx: _Context) -> bool:
    return ctx.spec.get("unit_forget_bias", True) if kind == "LSTM" else True


def _rnn(m: nn.RNNBase, ctx: _Context) -> _Layer:
    if getattr(m, "proj_size", 0):
        raise _Unsupported("proj_size > 0 (an LSTM with projections) has no Keras counterpart")
    kind = _RNN_MODES[m.mode]
    suffixes = ["", "_reverse"] if m.bidirectional else [""]
    slots = [
        slot
        for layer in range(m.num_layers)
        for suffix in suffixes
        for slot in _recurrent_slots(kind, m, f"_l{layer}{suffix}", _unit_forget_bias(kind, ctx))
    ]
    name = f"Bidirectional({kind})" if m.bidirectional else kind
    return _Layer(name, slots, options=_OPTIONS if kind == "LSTM" else ())


def _rnn_cell(m: nn.RNNCellBase, ctx: _Context) -> _Layer:
    kind = "LSTM" if isinstance(m, nn.LSTMCell) else "GRU" if isinstance(m, nn.GRUCell) else ""
    kind = kind or "SimpleRNN"
    slots = _recurrent_slots(kind, m, "", _unit_forget_bias(kind, ctx))
    return _Layer(f"{kind}Cell", slots, options=_OPTIONS if kind == "LSTM" else ())


def _norm_slots(m: nn.Module) -> list[_Slot]:
    """gamma (torch's ``weight``) ones and beta (``bias``) zeros, where the layer has them."""
    slots = []
    if getattr(m, "weight", None) is not None:
        slots.append(_direct(m.weight, "gamma", "gamma_initializer", "ones", "weight"))
    if getattr(m, "bias", None) is not None:
        slots.append(_direct(m.bias, "beta", "beta_initializer", "zeros", "bias"))
    return slots


def _running_stats(m: _BatchNorm | _InstanceNorm, layer: _Layer, args: tuple[Any, Any]) -> None:
    """Moving mean zeros, moving variance ones, the batch counter reset."""
    if m.running_mean is None:
        return
    layer.slots += [
        _direct(m.running_mean, "moving_mean", args[0], "zeros", "running_mean"),
        _direct(m.running_var, "moving_variance", args[1], "ones", "running_var"),
    ]
    if m.num_batches_tracked is not None:
        layer.finish.append(m.num_batches_tracked.zero_)


def _batch_norm(m: _BatchNorm, ctx: _Context) -> _Layer:
    layer = _Layer("BatchNormalization", _norm_slots(m))
    _running_stats(m, layer, ("moving_mean_initializer", "moving_variance_initializer"))
    return layer


def _instance_norm(m: _InstanceNorm, ctx: _Context) -> _Layer:
    # Keras's instance normalization is GroupNormalization(groups=-1), without moving stats;
    # torch's optional running stats are reset to torch's own zeros and ones.
    layer = _Layer("GroupNormalization(groups=-1)", _norm_slots(m))
    _running_stats(m, layer, (None, None))
    return layer


def _layer_norm(m: nn.LayerNorm, ctx: _Context) -> _Layer:
    return _Layer("LayerNormalization", _norm_slots(m))


def _group_norm(m: nn.GroupNorm, ctx: _Context) -> _Layer:
    return _Layer("GroupNormalization", _norm_slots(m))


def _rms_norm(m: nn.RMSNorm, ctx: _Context) -> _Layer:
    slots = []
    if m.weight is not None:  # Keras's RMSNormalization takes no initializer argument
        slots.append(_direct(m.weight, "scale", None, "ones", "weight"))
    return _Layer("RMSNormalization", slots)


def _prelu(m: nn.PReLU, ctx: _Context) -> _Layer:
    return _Layer("PReLU", [_direct(m.weight, "alpha", "alpha_initializer", "Zeros", "weight")])


def _attention(m: nn.MultiheadAttention, ctx: _Context) -> _Layer:
    """Keras's MultiHeadAttention(num_heads, key_dim=E // num_heads): four EinsumDense layers.

    Keras kernels: query/key/value ``(d_in, heads, head_dim)``, output ``(heads, head_dim,
    E)``, each a view of torch's ``(out, in)`` block.  Since Keras 3.15 their fans are
    (d_in, heads·head_dim) and (heads·head_dim, E) for VarianceScaling initializers; before,
    the rank-3 rule of their shapes (see ``WeightPlan.fans``).
    """
    if m.bias_k is not None:
        raise _Unsupported("add_bias_kv=True has no Keras counterpart")
    heads, head_dim, embed = m.num_heads, m.head_dim, m.embed_dim
    if m._qkv_same_embed_dim:
        names = ("in_proj_weight",) * 3
        weights = m.in_proj_weight.chunk(3)
    else:
        names = ("q_proj_weight", "k_proj_weight", "v_proj_weight")
        weights = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
    slots = []
    for sub, name, weight in zip(("query", "key", "value"), names, weights, strict=True):
        view = weight.T.view(weight.shape[1], heads, head_dim)
        fans = (weight.shape[1], embed) if ctx.einsum_fans else None
        slots.append(_kernel(weight, view, name, weight=f"{sub}/kernel", fans=fans))
    out = m.out_proj.weight
    view = out.T.view(heads, head_dim, out.shape[0])
    fans = (embed, out.shape[0]) if ctx.einsum_fans else None
    slots.append(_kernel(out, view, "out_proj.weight", weight="output/kernel", fans=fans))
    if m.in_proj_bias is not None:
        for sub, bias in zip(("query", "key", "value"), m.in_proj_bias.chunk(3), strict=True):
            view = bias.view(heads, head_dim)  # Keras's (heads, head_dim) bias
            slots.append(_kernel(bias, view, "in_proj_bias", weight=f"{sub}/bias",
                                 arg="bias_initializer", default="zeros"))  # fmt: skip
    if m.out_proj.bias is not None:
        bias = m.out_proj.bias
        slots.append(_direct(bias, "output/bias", "bias_initializer", "zeros", "out_proj.bias"))
    return _Layer("MultiHeadAttention", slots)


# The first matching entry wins.
_HANDLERS: tuple[tuple[type | tuple[type, ...], Callable[[Any, _Context], _Layer]], ...] = (
    (nn.MultiheadAttention, _attention),
    (nn.Linear, _dense),
    (_ConvNd, _conv),
    ((nn.Embedding, nn.EmbeddingBag), _embedding),
    (nn.RNNBase, _rnn),
    (nn.RNNCellBase, _rnn_cell),
    (_BatchNorm, _batch_norm),
    (_InstanceNorm, _instance_norm),
    (nn.LayerNorm, _layer_norm),
    (nn.GroupNorm, _group_norm),
    (nn.PReLU, _prelu),
    # nn.RMSNorm exists from torch 2.4 on; the library supports torch >= 2.2.
    *([(nn.RMSNorm, _rms_norm)] if hasattr(nn, "RMSNorm") else []),
)
# Children a layer initializes itself (or leaves untouched with it): never walked on their own.
_CONSUMES: dict[type, tuple[str, ...]] = {nn.MultiheadAttention: ("out_proj",)}


def _consumed(module: nn.Module) -> tuple[str, ...]:
    return next((c for t, c in _CONSUMES.items() if isinstance(module, t)), ())


# --------------------------------------------------------------------------- overrides


def _describe_key(key: Any) -> str:
    return f"overrides[{key.__name__ if isinstance(key, type) else repr(key)}]"


def _check_overrides(overrides: Any) -> dict[Any, dict[str, Any]]:
    """Type-check ``overrides`` and resolve every identifier now (with Keras's layout)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise TypeError(
            "overrides must be a mapping from a module type or qualified module name to "
            "{'kernel_initializer': ..., ...}, got " + type(overrides).__name__
        )
    checked: dict[Any, dict[str, Any]] = {}
    for key, spec in overrides.items():
        is_type = isinstance(key, type) and issubclass(key, nn.Module)
        if not (is_type or isinstance(key, str)):
            raise TypeError(
                f"override keys must be nn.Module subclasses or qualified module names, got {key!r}"
            )
        where = _describe_key(key)
        if not isinstance(spec, Mapping):
            raise TypeError(
                f"{where} must map Keras argument names ({', '.join(KERAS_ARGUMENTS)}) to "
                f"initializer identifiers, got {type(spec).__name__}"
            )
        checked[key] = {}
        for arg, identifier in spec.items():
            if arg not in KERAS_ARGUMENTS:
                raise ValueError(
                    f"{where}: unknown Keras argument {arg!r}; valid: {', '.join(KERAS_ARGUMENTS)}"
                )
            if arg in _OPTIONS:
                if not isinstance(identifier, bool):
                    raise TypeError(f"{where}[{arg!r}] must be True or False, got {identifier!r}")
                checked[key][arg] = identifier
                continue
            try:
                checked[key][arg] = get(identifier, layout="keras")
            except (TypeError, ValueError) as error:
                raise type(error)(f"{where}[{arg!r}]: {error}") from error
    return checked


@dataclass(frozen=True)
class _Context:
    """What a handler may read: the Keras version's rules and the module's merged overrides."""

    einsum_fans: bool
    spec: Mapping[str, Any]


def _merged_overrides(
    names: list[str], module: nn.Module, overrides: dict[Any, dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Type overrides from the most general class to the most specific, then those of the
    module's names (several when it is reachable under several).

    Returns the merged ``{argument: value}`` and ``{argument: the key it came from}``.
    """
    keys = [cls for cls in reversed(type(module).__mro__) if cls in overrides]
    spec: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for key in keys + [name for name in names if name in overrides]:
        for arg, value in overrides[key].items():
            earlier = sources.get(arg)
            if isinstance(key, str) and isinstance(earlier, str) and spec[arg] != value:
                raise ValueError(
                    f"{_describe_key(earlier)} and {_describe_key(key)} name the same module "
                    f"and give it different {arg!r}; give one"
                )
            spec[arg], sources[arg] = value, key
    return spec, sources


def _owner(name: str, owners: Mapping[str, str]) -> str | None:
    """The module that handles ``name`` as part of itself, if any."""
    return next((o for p, o in owners.items() if name == p or name.startswith(p + ".")), None)


def _arguments(layer: _Layer) -> list[str]:
    return sorted({s.arg for s in layer.slots if s.arg is not None} | set(layer.options))


def _check_unused(
    overrides: dict[Any, dict[str, Any]],
    used: set[tuple[Any, str]],
    modules: list[tuple[str, nn.Module]],
    aliases: dict[str, str],
    layers: dict[str, _Layer],
    owners: dict[str, str],
) -> None:
    """Every override must change something: a key that names nothing, or an argument that no
    layer it names takes, is an error."""
    for key, spec in overrides.items():
        where = _describe_key(key)
        if isinstance(key, type):
            matched = [n for n, m in modules if isinstance(m, key)]
        else:
            matched = [aliases[key]] if key in aliases else []
        if not matched:
            if isinstance(key, type):
                raise ValueError(f"{where}: the module has no {key.__name__}")
            close = difflib.get_close_matches(key, list(aliases), n=5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"{where}: the module has no submodule named {key!r}{hint}")
        for arg in spec:
            if (key, arg) in used:
                continue
            takes = sorted(
                {
                    f"{layers[n].name} takes {', '.join(_arguments(layers[n])) or 'no overrides'}"
                    for n in matched
                    if n in layers
                }
            )
            if takes:
                raise ValueError(f"{where}: no layer it names takes {arg!r} ({'; '.join(takes)})")
            first = matched[0]
            owner = _owner(first, owners)
            if owner is not None:
                raise ValueError(f"{where}: {first!r} is part of {owner!r}; override that")
            raise ValueError(
                f"{where}: {first!r} is a {type(dict(modules)[first]).__name__}, which keras_init_ "
                "does not initialize; overrides apply to the layers it initializes"
            )


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Step:
    plan: WeightPlan
    slot: _Slot
    layer: _Layer


def _check_version(keras_version: Any) -> bool:
    """Whether MultiHeadAttention uses Keras 3.15's explicit fans."""
    if not isinstance(keras_version, str):
        raise TypeError(f"keras_version must be a string such as '3', got {keras_version!r}")
    match = _VERSION.fullmatch(keras_version)
    if match is None or int(match[1]) not in (2, 3):
        raise ValueError(
            f"unknown keras_version {keras_version!r}; valid: '3' (Keras 3.15 and later, the "
            "default), '2' (tf-keras) or a release such as '3.14' or '2.15.1'"
        )
    return int(match[1]) == 3 and (match[2] is None or int(match[2]) >= 15)


def _layer(module: nn.Module, ctx: _Context) -> _Layer | str:
    """The Keras layer ``module`` mirrors, or why it has none."""
    if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
        return "lazy parameters not materialized yet (run a forward pass first)"
    if torch.nn.utils.parametrize.is_parametrized(module):
        return "parametrized with torch.nn.utils.parametrize"
    for child in _consumed(module):
        if torch.nn.utils.parametrize.is_parametrized(module.get_submodule(child)):
            return f"its {child} is parametrized with torch.nn.utils.parametrize"
    handler = next((h for types, h in _HANDLERS if isinstance(module, types)), None)
    if handler is None:
        return "no Keras counterpart known"
    try:
        layer = handler(module, ctx)
    except _Unsupported as error:
        return str(error)
    # Never half-initialize: every parameter the module owns must be one a slot writes.
    owned = {n for n, p in module.named_parameters(recurse=False) if p is not None}
    for child in _consumed(module):  # all of a consumed child's, however deep
        params = module.get_submodule(child).named_parameters()
        owned |= {f"{child}.{n}" for n, _ in params}
    extra = owned - {p for slot in layer.slots for p in slot.parameters}
    if extra:
        return f"parameters {sorted(extra)} have no Keras counterpart"
    return layer


def _resolve(
    slot: _Slot, spec: Mapping[str, Any], sources: Mapping[str, Any], defaults: dict[str, Any]
) -> tuple[Any, Distribution | None, tuple[int, int]]:
    """The initializer a slot gets, its target distribution and the fans Keras uses."""
    if slot.arg is not None and slot.arg in spec:
        init = spec[slot.arg]
        where = f"{_describe_key(sources[slot.arg])}[{slot.arg!r}]"
    else:
        if slot.default not in defaults:
            defaults[slot.default] = get(slot.default, layout="keras")
        init = defaults[slot.default]
        where = f"Keras's default {slot.default!r}"
    fans = compute_fans(slot.keras_shape, "keras")
    if not isinstance(init, Initializer):
        return init, None, fans
    shape = slot.keras_shape
    axes = init.fan_axes
    if axes is not None:  # the initializer's own, which EinsumDense keeps too
        fans = compute_fans(shape, "keras", input_axes=axes[0], output_axes=axes[1])
    elif slot.fans is not None and init.name in _VARIANCE_SCALING:
        # EinsumDense gives a VarianceScaling initializer without both axes its own.
        fans = shape = slot.fans  # a (fan_in, fan_out) shape in Keras layout has those fans
    try:
        return init, init.target(shape), fans
    except ValueError as error:
        raise ValueError(
            f"{where} cannot initialize a weight of Keras shape {slot.keras_shape}: {error}"
        ) from error


def _qualify(module: str, local: str) -> str:
    return f"{module}.{local}" if module else local


def _plan(
    module: Any, overrides: Any, keras_version: Any, strict: Any
) -> tuple[list[_Step], list[_Layer]]:
    """Resolve and check everything ``keras_init_`` will write; write nothing."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"keras_init_ expects a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {strict!r}")
    einsum_fans = _check_version(keras_version)
    checked = _check_overrides(overrides)
    modules = list(module.named_modules())
    # A module reachable under several names (model.a = model.b = layer) is planned once,
    # under its first name; an override may name it by any of them.
    first_name = {id(sub): name for name, sub in modules}  # named_modules() lists each once
    aliases = {
        alias: first_name[id(sub)] for alias, sub in module.named_modules(remove_duplicate=False)
    }
    names_of: dict[str, list[str]] = {}
    for alias, name in aliases.items():
        names_of.setdefault(name, []).append(alias)
    used: set[tuple[Any, str]] = set()
    layers: dict[str, _Layer] = {}
    owners: dict[str, str] = {}  # a submodule another module handles → that module
    skipped: list[str] = []
    steps: list[_Step] = []
    defaults: dict[str, Any] = {}
    for name, sub in modules:
        if _owner(name, owners) is not None:
            continue
        children = _consumed(sub)
        if torch.nn.utils.parametrize.is_parametrized(sub):
            children += ("parametrizations",)  # warned about once, as part of ``sub``
        for child in children:
            owners[_qualify(name, child)] = name or "<root>"
        spec, sources = _merged_overrides(names_of[name], sub, checked)
        layer = _layer(sub, _Context(einsum_fans, spec))
        if isinstance(layer, str):
            if _handler_known(sub) or any(True for _ in sub.parameters(recurse=False)):
                skipped.append(f"{name or '<root>'!r} ({type(sub).__name__}: {layer})")
            continue
        layers[name] = layer
        taken = set(layer.options) | {slot.arg for slot in layer.slots}
        # Every key that gave a taken argument counts as used (a module's names may repeat it).
        for key in [*type(sub).__mro__, *names_of[name]]:
            used |= {(key, arg) for arg in checked.get(key, ()) if arg in taken}
        for slot in layer.slots:
            init, target, fans = _resolve(slot, spec, sources, defaults)
            parameters = tuple(_qualify(name, p) for p in slot.parameters)
            plan = WeightPlan(name, layer.name, slot.weight, parameters, slot.keras_shape, fans,
                              init, target)  # fmt: skip
            steps.append(_Step(plan, slot, layer))
    _check_unused(checked, used, modules, aliases, layers, owners)
    if skipped:
        message = (
            "keras_init_ left these modules untouched (no Keras initialization is known for "
            "them): " + "; ".join(skipped)
        )
        if strict:
            raise ValueError(message + " (strict=True)")
        warnings.warn(message, KerasInitWarning, stacklevel=3)
    return steps, list(layers.values())


def _handler_known(module: nn.Module) -> bool:
    return any(isinstance(module, types) for types, _ in _HANDLERS)


def keras_init_plan(
    module: nn.Module,
    *,
    overrides: Mapping[Any, Mapping[str, Any]] | None = None,
    keras_version: str = "3",
    strict: bool = False,
) -> list[WeightPlan]:
    """What :func:`keras_init_` would write, weight by weight, without writing anything.

    Each entry names the torch module and parameters, the Keras layer and weight they mirror,
    the Keras shape and fans, the initializer and the exact target distribution
    (``entry.target.variance``, ``.support``).

    Args:
        module, overrides, keras_version, strict: as for :func:`keras_init_`, which raises
            the same errors and warnings.

    Returns:
        One :class:`WeightPlan` per Keras weight (or gate block), in module order.

    Example:
        >>> plan = parity.keras_init_plan(torch.nn.LSTM(32, 64))
        >>> [(p.weight, p.target) for p in plan][:2]
    """
    steps, _ = _plan(module, overrides, keras_version, strict)
    return [step.plan for step in steps]


# --------------------------------------------------------------------------- writing


def _check_devices(steps: list[_Step], generator: torch.Generator | None) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    for step in steps:
        for tensor in step.slot.torch:
            if not on_generator_device(tensor, generator):
                raise ValueError(
                    f"generator is on {generator.device} but {step.plan.parameters[0]} is on "
                    f"{tensor.device}; pass a generator on the parameters' device"
                )


def _check_dtypes(steps: list[_Step], seed: int | None) -> None:
    for index, step in enumerate(steps):
        seeded = _weight_seed(step, seed, index) is not None
        for tensor in step.slot.torch:
            problem = tensor_problem(tensor)
            if problem is not None:
                raise TypeError(f"cannot initialize {step.plan.parameters[0]} {problem}")
            problem = write_problem(tensor)
            if problem is not None:
                raise ValueError(f"cannot initialize {step.plan.parameters[0]} in place: {problem}")
            if step.plan.target is not None:
                try:
                    check_fits(step.plan.target, tensor.dtype, seeded)
                except ValueError as error:
                    raise ValueError(f"{step.plan.parameters[0]}: {error}") from error


@torch.no_grad()
def _write(
    steps: list[_Step],
    layers: list[_Layer],
    generator: torch.Generator | None,
    seed: int | None = None,
) -> None:
    # Callables run first, on copies: if one raises, no parameter has changed yet.
    staged: dict[int, list[torch.Tensor]] = {}
    for index, step in enumerate(steps):
        if step.plan.target is None:
            fn = step.plan.initializer
            # Only where it surely takes one: a callable whose signature cannot be read gets none.
            kwargs = {"generator": generator} if takes_keyword(fn, "generator") else {}
            copies = [tensor.detach().clone() for tensor in step.slot.torch]
            for copy in copies:
                fn(copy, **kwargs)
            staged[index] = copies
    # Then every write in plan order, each layer's clean-up (an embedding's padding row, say)
    # right after its own weights: a parameter two modules share ends as the last one left it.
    planned: dict[int, list[int]] = {id(layer): [] for layer in layers}
    for index, step in enumerate(steps):
        planned[id(step.layer)].append(index)
    index_of = {id(step.slot): index for index, step in enumerate(steps)}
    # A weight Keras draws as the first values of another's draw → that other step.
    drawn_with = {
        index: index_of[id(step.slot.prefix_of)]
        for index, step in enumerate(steps)
        if step.slot.prefix_of is not None and _random(step)
    }
    prefixes = {whole: prefix for prefix, whole in drawn_with.items()}
    for layer in layers:  # in plan order, as the steps are
        for index in planned[id(layer)]:
            step = steps[index]
            if index in staged:
                for tensor, copy in zip(step.slot.torch, staged[index], strict=True):
                    tensor.copy_(copy)
            elif index in drawn_with:  # with the weight it is a prefix of
                continue
            elif index in prefixes:
                _draw_with_prefix(step, steps[prefixes[index]], generator, seed, index)
            else:
                _draw(step, generator, _weight_seed(step, seed, index))
        for finish in layer.finish:
            finish()


def _random(step: _Step) -> bool:
    """Whether the step draws from a random law (not a constant, not a callable)."""
    return hasattr(step.plan.target, "draw")


def _weight_seed(step: _Step, seed: int | None, index: int) -> int | None:
    """The Keras seed step ``index`` draws with, or None when it draws from a generator (or
    is not random).  An initializer with a seed of its own (a seeded override) draws that
    seed's values, as a seeded Keras initializer does whatever else is seeded.  Otherwise
    weight i of the plan gets Keras seed ``seed + i``: keras.initializers.X(seed=seed + i)'s
    values."""
    if not _random(step):
        return None
    own = getattr(step.plan.initializer, "seed", None)
    return own if own is not None else None if seed is None else seed + index


def _draw(step: _Step, generator: torch.Generator | None, weight_seed: int | None) -> None:
    """Write a step of the plan with its target distribution: Keras's values for
    ``weight_seed``, or from ``generator`` when it is None."""
    slot, target = step.slot, step.plan.target
    if any(t.is_meta or t.numel() == 0 for t in slot.torch):
        return
    if weight_seed is not None:  # random: Keras's values
        pair, like = tf_random.keras_seed(weight_seed), slot.torch[0]
        if slot.view is not None:  # drawn straight into the torch memory
            target.draw(slot.keras_shape, pair, like.dtype, like.device, out=slot.view)
        else:
            slot.store(target.draw(slot.keras_shape, pair, like.dtype, like.device))
    elif slot.view is not None:
        target.fill_(slot.view, generator)
    else:
        like = slot.torch[0]
        scratch = torch.empty(slot.keras_shape, dtype=like.dtype, device=like.device)
        slot.store(target.fill_(scratch, generator))
    if slot.reorder is not None:
        slot.reorder()


def _draw_with_prefix(
    step: _Step, prefix: _Step, generator: torch.Generator | None, seed: int | None, index: int
) -> None:
    """Write step ``index`` and ``prefix``, whose values Keras draws as the first of the
    step's (see ``_Slot.prefix_of``).  With a seed both take the step's Keras seed (Keras's
    draws are prefix-stable); from a generator the step is drawn in its compute dtype and its
    first values rescaled onto the prefix's law."""
    weight_seed = _weight_seed(step, seed, index)
    if weight_seed is not None:
        _draw(step, generator, weight_seed)
        _draw(prefix, generator, weight_seed)
        return
    whole, part = step.slot.view, prefix.slot.view
    assert whole is not None and part is not None  # bias blocks: their own Keras layout
    if whole.is_meta or whole.numel() == 0:
        return
    values = torch.empty(whole.shape, dtype=compute_dtype(whole.dtype), device=whole.device)
    whole.copy_(step.plan.target.fill_(values, generator))
    part.copy_(rescale_(values[: part.numel()], step.plan.target, prefix.plan.target))


def keras_init_(
    module: nn.Module,
    *,
    generator: torch.Generator | None = None,
    overrides: Mapping[Any, Mapping[str, Any]] | None = None,
    keras_version: str = "3",
    strict: bool = False,
    seed: int | None = None,
) -> nn.Module:
    r"""Give every layer of ``module`` the initial weights its Keras counterpart gets.

    Walks ``module.named_modules()`` and initializes, with the fans Keras computes for each:

    * ``Linear`` → Dense, ``Conv{1,2,3}d`` (grouped too) → Conv{1,2,3}D,
      ``ConvTranspose{1,2,3}d`` → Conv{1,2,3}DTranspose: kernel ``glorot_uniform``, bias 0;
      depthwise ``Conv1d/2d`` (``groups == in_channels > 1``) → DepthwiseConv1D/2D, with
      Keras's depthwise fans ``k·in`` and ``k·depth_multiplier``;
    * ``Embedding`` / ``EmbeddingBag`` → Embedding: U(-0.05, 0.05), the ``padding_idx`` row
      kept at zero;
    * ``RNN`` / ``LSTM`` / ``GRU`` (every layer and direction) and their cells → SimpleRNN /
      LSTM / GRU: kernel ``glorot_uniform`` and recurrent kernel ``orthogonal``, each over the
      whole gate-stacked matrix; biases 0 except the LSTM forget block, 1 in ``bias_ih`` and
      0 in ``bias_hh`` so that their sum is Keras's bias; GRU gates mapped z, r, h → r, z, n;
    * ``BatchNorm``, ``LayerNorm``, ``GroupNorm``, ``InstanceNorm`` (affine), ``RMSNorm``:
      scales 1, offsets 0, running statistics reset; ``PReLU``: alpha 0;
    * ``MultiheadAttention`` → MultiHeadAttention(num_heads, key_dim=head_dim): query, key,
      value and output kernels ``glorot_uniform`` with Keras 3.15's EinsumDense fans
      (``keras_version="2"`` or ``"3.14"``: the rank-3 fans of earlier releases), biases 0.

    A module that owns parameters but is none of these is left untouched and named in a
    :class:`KerasInitWarning` (a ``ValueError`` with ``strict=True``).  Hyperparameters
    (BatchNorm momentum, epsilons) are :func:`keras_hyperparameters_`'s business.

    Args:
        module: the model (or a single layer; ``model.apply(keras_init_)`` works too, but each
            ancestor re-draws its descendants, so ``keras_init_(model)`` is the cheap way).
        generator: the ``torch.Generator`` every random value is drawn from.
        overrides: like Keras's ``kernel_initializer=`` arguments:
            ``{nn.Linear: {"kernel_initializer": "he_normal"}, "decoder.0": {...}}``.  Keys are
            module types (matching subclasses) or qualified module names (which win); values
            map Keras argument names (``kernel_initializer``, ``bias_initializer``,
            ``recurrent_initializer``, ``depthwise_initializer``, ``embeddings_initializer``,
            ``gamma_initializer``, ``beta_initializer``, ``moving_mean_initializer``,
            ``moving_variance_initializer``, ``alpha_initializer``; ``unit_forget_bias`` for
            LSTMs) to Keras identifiers (strings, config dicts) applied in Keras's layout, or
            to callables ``fn(tensor, *, generator=None)`` applied in place to the torch
            tensor (in torch's layout, as ``torch.nn.init`` functions expect).
        keras_version: ``"3"`` (Keras 3.15 and later), ``"2"`` (tf-keras) or a release such
            as ``"3.14"``; it only changes MultiHeadAttention's fans.
        strict: raise instead of warning when a module is left untouched.
        seed: instead of a generator, Keras's values: weight ``i`` in the order
            :func:`keras_init_plan` lists them gets Keras seed ``seed + i``, i.e. exactly the
            values ``keras.initializers.X(seed=seed + i)`` gives that Keras weight (orthogonal:
            up to QR rounding), mapped into the torch layout.  Callable overrides are called
            without a generator.  An override with a seed of its own (a config dict's
            ``"seed"``, or ``parity.Initializer(..., seed=s)``) draws Keras's values for that
            seed on every weight it is given, whatever ``seed`` and ``generator`` say, as a
            seeded Keras initializer does.  One exception to ``seed + i``: an LSTM's
            ``bias[i]`` takes the seed of its ``bias[c,o]``, since Keras draws both with one
            initializer (with a random ``bias_initializer`` its input-gate bias is the first
            ``u`` of the cell-gate draws, rescaled; from a generator too).

    Returns:
        ``module``, initialized in place.

    Raises:
        TypeError, ValueError: for a non-Module, an override naming a module, type or Keras
            argument that matches nothing, an identifier that does not resolve or does not fit
            its weight or overflows its dtype, a generator on another device, a ``seed`` too
            close to 2**63 for the module's weight count, or (``strict``) an unknown module;
            always before any value is written.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.Flatten())
        >>> parity.keras_init_(model, generator=torch.Generator().manual_seed(0))
    """
    if seed is not None:
        if generator is not None:
            raise ValueError("give seed= (Keras's values) or generator= (a torch stream), not both")
        tf_random.keras_seed(seed)  # validate before planning anything
    steps, layers = _plan(module, overrides, keras_version, strict)
    if seed is not None and steps and seed + len(steps) - 1 >= 2**63:
        raise ValueError(
            f"seed must be at most 2**63 - {len(steps)} for this module: its {len(steps)} "
            f"weights get Keras seeds seed, seed + 1, ..., which must stay in the int64 range; "
            f"got {seed}"
        )
    _check_devices(steps, generator)
    _check_dtypes(steps, seed)
    _write(steps, layers, generator, seed)
    return module


# --------------------------------------------------------------------------- hyperparameters

# Keras's defaults, in torch's terms (torch's momentum is 1 - Keras's momentum).
_HYPERPARAMETERS: tuple[tuple[type | tuple[type, ...], dict[str, float]], ...] = (
    (_BatchNorm, {"momentum": 0.01, "eps": 1e-3}),
    ((nn.LayerNorm, nn.GroupNorm, _InstanceNorm), {"eps": 1e-3}),
    (nn.RMSNorm, {"eps": 1e-6}),
)


def keras_hyperparameters_(module: nn.Module) -> list[HyperparameterChange]:
    """Set Keras's normalization hyperparameters on every layer of ``module``.

    BatchNorm: ``momentum = 0.01`` (Keras's momentum 0.99: torch weighs the *new* batch by
    ``momentum``) and ``eps = 1e-3``; LayerNorm, GroupNorm and InstanceNorm (Keras's
    LayerNormalization and GroupNormalization): ``eps = 1e-3``; RMSNorm: ``eps = 1e-6``.
    Weights are not touched (that is :func:`keras_init_`).

    Args:
        module: the model or a single layer.

    Returns:
        One :class:`HyperparameterChange` ``(module, attribute, old, new)`` per attribute whose
        value changed.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
        >>> parity.keras_hyperparameters_(model)   # [('1', 'momentum', 0.1, 0.01), ...]
    """
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"keras_hyperparameters_ expects a torch.nn.Module, got {type(module).__name__}"
        )
    changes = []
    for name, sub in module.named_modules():
        for types, values in _HYPERPARAMETERS:
            if not isinstance(sub, types):
                continue
            for attribute, new in values.items():
                old = getattr(sub, attribute)
                if old != new:
                    setattr(sub, attribute, new)
                    changes.append(HyperparameterChange(name, attribute, old, new))
            break
    return changes
