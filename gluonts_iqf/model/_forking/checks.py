"""Argument checks shared by the forking estimators and modules: each raises
a ``ValueError`` naming the setting."""

from typing import Sequence


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_at_least(name: str, value: int, minimum: int) -> None:
    """``value >= minimum``."""
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_num_forking(num_forking: int, context_length: int) -> None:
    """``1 <= num_forking <= context_length``."""
    if not 1 <= num_forking <= context_length:
        raise ValueError(
            f"num_forking must be in [1, context_length={context_length}], got {num_forking}"
        )
