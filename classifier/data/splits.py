"""Splits by policy, never by paragraph: train/validation/test shares and k folds (no policy in two parts)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

__all__ = ["kfold_by_policy", "policy_folds", "split_by_policy"]


def _shuffled_policies(dataset: Dataset, seed: int) -> list[str]:
    policies = sorted(set(dataset["policy"]))
    random.Random(seed).shuffle(policies)
    return policies


def _select_policies(dataset: Dataset, policies: Iterable[str]) -> Dataset:
    wanted = set(policies)
    return dataset.select([i for i, policy in enumerate(dataset["policy"]) if policy in wanted])


def split_by_policy(
    dataset: Dataset, fractions: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 13
) -> DatasetDict:
    """Split a dataset into ``train``/``validation``/``test`` by policy (no policy in two splits).

    Args:
        dataset: rows with a ``policy`` column.
        fractions: shares of policies for train, validation and test (summing to 1; test may be 0).
        seed: the shuffle seed; the same seed gives the same split.

    Raises:
        ValueError: fractions that do not sum to 1, or too few policies for a non-empty validation split.
    """
    from datasets import DatasetDict

    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative shares summing to 1, got {list(fractions)}")
    policies = _shuffled_policies(dataset, seed)
    n = len(policies)
    n_val = round(n * fractions[1])
    n_test = round(n * fractions[2])
    if n - n_val - n_test < 1 or (fractions[1] > 0 and n_val < 1):
        raise ValueError(f"{n} policies are too few for a split of {list(fractions)}")
    test, val, train = policies[:n_test], policies[n_test:n_test + n_val], policies[n_test + n_val:]
    return DatasetDict(
        train=_select_policies(dataset, train),
        validation=_select_policies(dataset, val),
        test=_select_policies(dataset, test),
    )


def policy_folds(
    policies: Sequence[str], k: int = 5, *, seed: int = 13, groups: dict[str, str] | None = None
) -> list[list[str]]:
    """Deal policies into ``k`` folds, shuffled with ``seed``.

    With ``groups`` (policy -> group name), each group's policies are dealt round-robin across the folds in turn,
    so that a small group (for example the five seed policies beside 90 OPP-115 ones) is spread over the folds.

    Raises:
        ValueError: ``k < 2`` or fewer policies than folds.
    """
    unique = sorted(set(policies))
    if k < 2 or k > len(unique):
        raise ValueError(f"k must be between 2 and the number of policies ({len(unique)}), got {k}")
    rng = random.Random(seed)
    by_group: dict[str, list[str]] = defaultdict(list)
    for policy in unique:
        by_group[(groups or {}).get(policy, "")].append(policy)
    folds: list[list[str]] = [[] for _ in range(k)]
    position = 0
    for group in sorted(by_group, key=lambda g: (len(by_group[g]), g)):
        members = by_group[group]
        rng.shuffle(members)
        for policy in members:
            folds[position % k].append(policy)
            position += 1
    return folds


def kfold_by_policy(
    dataset: Dataset, k: int = 5, *, seed: int = 13, groups: dict[str, str] | None = None
) -> list[tuple[Dataset, Dataset]]:
    """Return ``k`` ``(train, test)`` pairs; every policy is in exactly one test fold (see :func:`policy_folds`).

    Raises:
        ValueError: ``k < 2`` or fewer policies than folds.
    """
    folds = policy_folds(dataset["policy"], k, seed=seed, groups=groups)
    return [
        (_select_policies(dataset, [p for j, fold in enumerate(folds) if j != i for p in fold]),
         _select_policies(dataset, folds[i]))
        for i in range(k)
    ]
