"""Probability levels: the one validator and parser every entry point uses
(knot levels of the IQF, service levels of the decision module, levels of
the metrics, plots and the command line), and the knot nearest the median.

Levels are probabilities strictly inside (0, 1). A text spec is either a
comma-separated list (``"0.05,0.5,0.95"``) or a decimal range
``"start:stop[:step]"`` (``"0.90:0.99"``, step 0.01 by default), whose values
are the floats nearest the exact decimals (``"0.95"`` gives the literal
``0.95``).
"""

from decimal import Decimal, InvalidOperation
from typing import Sequence, Union

import numpy as np

#: Step of a ``"start:stop"`` range without one: one percentage point.
DEFAULT_RANGE_STEP = "0.01"

Levels = Union[str, float, Sequence[float], np.ndarray]


def _parse_range(text: str, name: str) -> np.ndarray:
    """``"start:stop"`` / ``"start:stop:step"`` -> levels, exact decimals."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or any(p == "" for p in parts):
        raise ValueError(
            f"malformed {name} string {text!r}: expected 'start:stop' or "
            "'start:stop:step', e.g. '0.90:0.99' or '0.90:0.99:0.005'"
        )
    if len(parts) == 2:
        parts.append(DEFAULT_RANGE_STEP)
    try:
        start, stop, step = (Decimal(p) for p in parts)
    except InvalidOperation:
        raise ValueError(
            f"malformed {name} string {text!r}: start, stop and step must be decimal numbers"
        ) from None
    if not all(v.is_finite() for v in (start, stop, step)):
        raise ValueError(
            f"malformed {name} string {text!r}: start, stop and step must be "
            "finite numbers (got NaN or infinity)"
        )
    if step <= 0:
        raise ValueError(f"{name} string {text!r}: step must be > 0, got {step}")
    if start > stop:
        raise ValueError(f"{name} string {text!r}: start {start} is greater than stop {stop}")
    count, remainder = divmod(stop - start, step)
    if remainder != 0:
        raise ValueError(
            f"{name} string {text!r}: stop {stop} is not start {start} plus a "
            f"whole number of steps {step}"
        )
    return np.array([float(start + k * step) for k in range(int(count) + 1)])


def _parse_list(text: str, name: str) -> np.ndarray:
    """``"0.05,0.5,0.95"`` -> levels (not yet range-checked)."""
    parts = [p.strip() for p in text.split(",")]
    if any(p == "" for p in parts):
        raise ValueError(f"{name}: expected a comma-separated list of levels in (0, 1), got {text!r}")
    values = []
    for p in parts:
        try:
            values.append(float(p))
        except ValueError:
            raise ValueError(
                f"{name}: {p!r} is not a number (levels must lie in (0, 1); give a "
                "comma-separated list or a 'start:stop[:step]' range)"
            ) from None
    return np.asarray(values, dtype=np.float64)


def parse_levels(text: str, name: str = "levels") -> np.ndarray:
    """A text spec (a ``"start:stop[:step]"`` range or a comma-separated
    list) -> float64 array (n,), not yet checked (see :func:`check_levels`)."""
    text = str(text).strip()
    if ":" in text:
        return _parse_range(text, name)
    return _parse_list(text, name)


def check_levels(
    levels: Levels,
    name: str = "levels",
    *,
    increasing: bool = True,
    sort: bool = False,
    min_count: int = 1,
) -> np.ndarray:
    """Validate probability levels and return them as a float64 array (n,).

    Parameters
    ----------
    levels
        A number, a 1-D sequence or array of numbers, or a text spec
        (:func:`parse_levels`).
    name
        The argument's name in error messages (``"knot_levels"``,
        ``"--levels"``, ...).
    increasing
        Require strictly increasing levels (no repeats).
    sort
        Sort first (then repeats are still rejected when ``increasing``).
    min_count
        Fewest levels accepted.

    Raises
    ------
    ValueError
        Naming the problem: malformed text, non-numeric or boolean entries,
        not one-dimensional, too few, NaN, outside the open interval (0, 1),
        unsorted or repeated.
    """
    if isinstance(levels, str):
        values = parse_levels(levels, name)
    else:
        if isinstance(levels, (bytes, dict, set, frozenset)):
            raise ValueError(
                f"{name} must be a 'start:stop[:step]' string or a sequence of "
                f"floats, got {type(levels).__name__}"
            )
        arr = np.asarray(levels)
        if arr.dtype.kind == "b":
            raise ValueError(f"{name} must be numbers, got booleans {levels!r}")
        if arr.dtype.kind not in "fiu":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be numbers in (0, 1), got {levels!r}") from None
        values = np.atleast_1d(arr.astype(np.float64))
        if values.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {values.shape}")
    if values.size < max(min_count, 1):
        if values.size == 0:
            raise ValueError(f"{name} is empty: give at least {max(min_count, 1)} level(s)")
        raise ValueError(f"{name} needs at least {min_count} levels, got {values.size}: {values.tolist()}")
    if np.isnan(values).any():
        raise ValueError(f"{name} contain NaN: {values.tolist()}")
    bad = values[~((values > 0.0) & (values < 1.0))]
    if bad.size:
        raise ValueError(f"{name} must lie strictly inside (0, 1); got {bad.tolist()} in {values.tolist()}")
    if sort:
        values = np.sort(values)
    if increasing:
        steps = np.diff(values)
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0))
            kind = "repeated" if steps[i] == 0 else "unsorted"
            raise ValueError(
                f"{name} must be strictly increasing; {kind} levels {values[i]} "
                f"and {values[i + 1]} in {values.tolist()}"
            )
    return values


def median_index(levels: Sequence[float]) -> int:
    """Index of the level nearest 0.5 (the first of two equally near): the
    reference knot from which IQF values are built outward."""
    return int(np.argmin(np.abs(np.asarray(levels, dtype=np.float64) - 0.5)))
