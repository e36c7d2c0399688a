"""Assertions for other projects' test suites.

>>> from parity.testing import assert_matches_keras
>>> assert_matches_keras(my_port.init_conv_, "he_normal", (64, 3, 3, 3))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def assert_matches_keras(
    candidate: Callable[..., Any], reference: Any, shape: Sequence[int], **kwargs: Any
) -> Any:
    """Assert that ``candidate`` initializes a ``shape`` weight like Keras's ``reference``.

    Runs :func:`parity.check` (same arguments; ``n``, ``device``, ``dtype``, ``alpha``,
    ``seed``, ``max_calls`` as keywords) and raises ``AssertionError`` carrying its summary when
    any check fails; returns the :class:`parity.check.CheckResult` otherwise.

    Args:
        candidate: an in-place init function taking ``(tensor, generator=...)``.
        reference: a Keras identifier, config dict or Keras initializer object.
        shape: the weight's shape in torch layout.
        **kwargs: passed on to :func:`parity.check`.

    Example:
        >>> assert_matches_keras(parity.he_normal_, "he_normal", (64, 3, 3, 3))
        >>> assert_matches_keras(torch.nn.init.kaiming_normal_, "he_normal", (64, 3, 3, 3))
        AssertionError: FAIL: torch.nn.init.kaiming_normal_ vs Keras 'he_normal' ...
    """
    from parity.check import check

    result = check(candidate, reference, shape, **kwargs)
    if not result.passed:
        raise AssertionError(result.summary)
    return result
