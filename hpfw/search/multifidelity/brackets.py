"""Rung and bracket arithmetic of successive halving and Hyperband (Li et al., JMLR 2018).

Pure functions over integers, table-tested against the paper's numbers: which
budgets the rungs use, how many configurations each rung holds, and which
configurations a finished rung promotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hpfw.errors import HpfwError

# What every multi-fidelity trial carries in its info; the journal and reports read it.
LINEAGE = ("config", "bracket", "rung", "budget")


@dataclass(frozen=True)
class Bracket:
    """One run of successive halving: ``sizes[i]`` configurations trained to ``budgets[i]``.

    ``s`` is Hyperband's bracket index (the number of halvings); ``iteration``
    counts repetitions of the whole set of brackets, from 0.
    """

    s: int
    sizes: tuple[int, ...]
    budgets: tuple[int, ...]
    iteration: int = 0

    @property
    def n_configs(self) -> int:
        return self.sizes[0]

    @property
    def n_trials(self) -> int:
        """Trials at most: one per configuration and rung it reaches."""
        return sum(self.sizes)

    @property
    def epochs(self) -> int:
        """Budget units trained at most when promoted trials continue from checkpoints."""
        previous = (0, *self.budgets[:-1])
        return sum(n * (b - p) for n, b, p in zip(self.sizes, self.budgets, previous, strict=True))


def check_settings(min_budget: int, max_budget: int, eta: int) -> None:
    """Raises a one-line ``HpfwError`` naming the bad setting."""
    for name, value, least in (("min_budget", min_budget, 1), ("eta", eta, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise HpfwError(f"{name} must be an integer >= {least}, got {value!r}")
    if isinstance(max_budget, bool) or not isinstance(max_budget, int) or max_budget < min_budget:
        raise HpfwError(
            f"max_budget must be an integer >= min_budget ({min_budget}), got {max_budget!r}"
        )


def max_halvings(min_budget: int, max_budget: int, eta: int) -> int:
    """``s_max``: the largest ``s`` with ``max_budget / eta**s >= min_budget``."""
    s = 0
    # Integers: floor(log(R) / log(eta)) in floats misrounds exact powers (log 243 / log 3).
    while max_budget >= min_budget * eta ** (s + 1):
        s += 1
    return s


def rung_budgets(max_budget: int, eta: int, s: int) -> tuple[int, ...]:
    """The ``s + 1`` budgets ``max_budget * eta**(i - s)``, rounded to integers.

    Budgets count down from the maximum, as in Hyperband and BOHB, so the top
    rung trains the full budget; when ``max / min`` is not a power of ``eta``
    the smallest rung gets a little more than ``min_budget``. Rounding never
    merges two rungs: neighbours differ by ``(eta - 1) * x >= 1`` before it.
    """
    return tuple(max(1, round(max_budget / eta ** (s - i))) for i in range(s + 1))


def rung_sizes(n_configs: int, eta: int, s: int) -> tuple[int, ...]:
    """``floor(n / eta**i)`` configurations in rung ``i`` (at least one), Li et al.'s ``n_i``."""
    return tuple(max(1, n_configs // eta**i) for i in range(s + 1))


def hyperband_brackets(
    min_budget: int, max_budget: int, eta: int, iterations: int = 1
) -> list[Bracket]:
    """Hyperband's brackets ``s = s_max, ..., 0``, repeated ``iterations`` times.

    Bracket ``s`` starts ``ceil((s_max + 1) / (s + 1) * eta**s)`` configurations,
    so every bracket spends about the same total budget (Li et al., Algorithm 1).
    """
    check_settings(min_budget, max_budget, eta)
    check_iterations(iterations)
    s_max = max_halvings(min_budget, max_budget, eta)
    brackets = []
    for iteration in range(iterations):
        for s in range(s_max, -1, -1):
            # Exact integer ceiling of (s_max + 1) * eta**s / (s + 1).
            n = -(-(s_max + 1) * eta**s // (s + 1))
            sizes = rung_sizes(n, eta, s)
            brackets.append(Bracket(s, sizes, rung_budgets(max_budget, eta, s), iteration))
    return brackets


def sha_brackets(
    min_budget: int, max_budget: int, eta: int, n_configs: int | None = None, iterations: int = 1
) -> list[Bracket]:
    """Successive halving from ``min_budget`` to ``max_budget``, ``iterations`` times.

    ``n_configs`` defaults to ``eta**s_max``, the number that halves down to
    exactly one configuration at the full budget (Hyperband's most aggressive
    bracket).
    """
    check_settings(min_budget, max_budget, eta)
    check_iterations(iterations)
    s = max_halvings(min_budget, max_budget, eta)
    n = eta**s if n_configs is None else n_configs
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise HpfwError(f"n_configs must be an integer >= 1, got {n_configs!r}")
    budgets = rung_budgets(max_budget, eta, s)
    return [Bracket(s, rung_sizes(n, eta, s), budgets, i) for i in range(iterations)]


def promote(
    results: Sequence[tuple[int, float | None]], k: int, score: Callable[[float], float]
) -> list[int]:
    """The ``k`` best configurations of a finished rung, in configuration order.

    ``results`` pairs each configuration id with its value, ``None`` for a
    failed or diverged trial, which is never promoted (it left no checkpoint
    to continue from). Ties go to the lower configuration id.
    """
    ranked = sorted(
        ((score(value), config) for config, value in results if value is not None),
    )
    return sorted(config for _, config in ranked[:k])


def check_iterations(iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise HpfwError(f"iterations must be an integer >= 1, got {iterations!r}")


def describe(brackets: Sequence[Bracket]) -> str:
    """One line per bracket: ``s=4: 81@1 27@3 9@9 3@27 1@81``."""
    return "\n".join(
        f"s={b.s}: " + " ".join(f"{n}@{r}" for n, r in zip(b.sizes, b.budgets, strict=True))
        for b in brackets
    )


__all__ = [
    "Bracket",
    "check_iterations",
    "check_settings",
    "describe",
    "hyperband_brackets",
    "max_halvings",
    "promote",
    "rung_budgets",
    "rung_sizes",
    "sha_brackets",
]
