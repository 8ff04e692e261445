"""Carving stratified validation/test splits out of training data, and standardising them."""

from __future__ import annotations

import numpy as np

from hpfw.data.dataset import SPLITS, Dataset
from hpfw.errors import DataError
from hpfw.values import one_line

# Below this a feature is treated as constant (digits has always-blank border
# pixels); dividing by ~0 would blow those features up to inf/NaN.
_MIN_STD = 1e-8

Splits = dict[str, tuple[np.ndarray, ...]]  # split name -> (x, y)


def carve(
    splits: Splits,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    num_classes: int,
    where: str,
) -> Splits:
    """Carve missing val/test splits out of train, stratified by label.

    Fractions are of every sample available (train plus any given val/test),
    so 0.2/0.2 on a training-only source gives 60/20/20.
    """
    from sklearn.model_selection import train_test_split

    total = sum(len(y) for _, y in splits.values())
    splits = dict(splits)
    # Test first, then validation, so a given seed and test_fraction fix the test
    # set regardless of val_fraction.
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        if split in splits:
            continue
        x, y = splits["train"]
        n_carve = round(fraction * total)
        if fraction > 0:
            n_carve = max(n_carve, 1)
        if n_carve == 0:
            splits[split] = (x[:0], y[:0])
            continue
        if n_carve >= len(y):
            raise DataError(
                f"{where} has {len(y)} training samples left, too few to carve a "
                f"{split} split of {n_carve} ({split}_fraction={fraction:g} of {total})"
            )
        try:
            keep, take = train_test_split(
                np.arange(len(y)),
                test_size=n_carve,
                random_state=split_seed,
                stratify=y,
            )
        except ValueError as exc:
            hint = f"change data.{split}_fraction"
            if where.startswith("data.path"):
                hint += f", add samples or provide x_{split}/y_{split}"
            raise DataError(
                f"{where} is too small to carve a stratified {split} split of "
                f"{n_carve} out of {len(y)} training samples with {num_classes} classes "
                f"({one_line(exc)}); {hint}"
            ) from None
        # Sorted indices keep the source order within each split, which makes the
        # splits easier to inspect and does not matter to training (it shuffles).
        keep, take = np.sort(keep), np.sort(take)
        splits[split] = (x[take], y[take])
        splits["train"] = (x[keep], y[keep])
    return splits


def standardise(name: str, splits: Splits, num_classes: int) -> Dataset:
    """The finished ``Dataset``: features standardised with training statistics, labels int32."""
    x_train = splits["train"][0].astype(np.float64)
    # Statistics of the training split only: using val/test would leak them.
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std < _MIN_STD, 1.0, std)

    out: dict[str, np.ndarray] = {}
    for split in SPLITS:
        x, y = splits[split]
        xs = ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)
        ys = np.asarray(y).astype(np.int32)
        for arr in (xs, ys):
            arr.setflags(write=False)
        out[f"x_{split}"], out[f"y_{split}"] = xs, ys
    return Dataset(name=name, num_classes=num_classes, **out)
