"""Write docs/api.md from the public docstrings: `python tools/gen_api_docs.py [--check]`.

With --check, exit 1 when docs/api.md is not what the docstrings give (the tests run this).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import sys
from pathlib import Path

import parity

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
HEADER = """# API reference

Generated from the docstrings by `python tools/gen_api_docs.py`; do not edit by hand.
Every initializer works in place on dense float16, bfloat16, float32 and float64 tensors, CPU or
CUDA, non-contiguous views and `nn.Parameter`s, runs under `no_grad`, and returns the tensor.
"""
SECTIONS = {
    "Variance scaling (the Keras named initializers)": [
        "variance_scaling_", "glorot_uniform_", "glorot_normal_", "glorot_untruncated_normal_",
        "he_uniform_", "he_normal_", "he_untruncated_normal_", "lecun_uniform_", "lecun_normal_",
        "lecun_untruncated_normal_",
    ],
    "Keras's other initializers": [
        "random_normal_", "random_uniform_", "truncated_normal_", "orthogonal_", "identity_",
        "stft_", "constant_", "zeros_", "ones_",
    ],
    "Identifiers, fans and targets": ["get", "describe", "compute_fans", "keras_shape"],
    "Whole models": ["keras_init_", "keras_hyperparameters_", "keras_init_plan"],
    "Checking your own code": ["check"],
    "Seed mode: TensorFlow's random streams (`parity.tf_random`)": [
        "tf_random.uniform", "tf_random.normal", "tf_random.truncated_normal",
        "tf_random.keras_seed",
    ],
    "Types and constants": [
        "Initializer", "CheckResult", "WeightPlan", "HyperparameterChange", "KerasInitWarning",
        "Layout", "KERAS_IDENTIFIERS",
    ],
}  # fmt: skip
ALIASES = "`glorot_truncated_normal_`, `he_truncated_normal_` and `lecun_truncated_normal_` are "
ALIASES += "the same functions as `glorot_normal_`, `he_normal_` and `lecun_normal_`.\n"


def signature(obj: object) -> str:
    """The signature with annotations as written (not quoted, as inspect prints them)."""
    sig = inspect.signature(obj)
    parts, star_done = [], False
    for param in sig.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        text = param.name
        if param.annotation is not param.empty:
            annotation = param.annotation
            text += f": {getattr(annotation, '__forward_arg__', annotation)}"  # NamedTuple's
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    returns = f" -> {sig.return_annotation}" if sig.return_annotation is not sig.empty else ""
    return f"({', '.join(parts)}){returns}".replace("torch.Tensor", "Tensor")


def public(name: str) -> object:
    """``parity.<name>``, a dotted name reaching into a submodule (``tf_random.uniform``)."""
    return functools.reduce(getattr, name.split("."), parity)


def entry(name: str, obj: object) -> str:
    """A heading and docstring for a function or class, the value for anything else."""
    if inspect.isfunction(obj):
        heading = f"`{name}{signature(obj)}`"
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"):  # or a NamedTuple
        heading = f"`class {name}{signature(obj).removesuffix(' -> None')}`"
    elif inspect.isclass(obj):
        heading = f"`class {name}({', '.join(base.__name__ for base in obj.__bases__)})`"
    else:
        return f"\n### `{name}`\n\n```text\n{name} = {obj!r}\n```\n"
    return f"\n### {heading}\n\n```text\n{inspect.cleandoc(obj.__doc__ or '')}\n```\n"


def render() -> str:
    parts = [HEADER]
    for title, names in SECTIONS.items():
        parts.append(f"\n## {title}\n")
        if "glorot_normal_" in names:
            parts.append(ALIASES)
        parts.extend(entry(name, public(name)) for name in names)
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/api.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run python tools/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
