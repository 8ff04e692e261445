"""``Dataset``: the train/validation/test arrays every loader returns and the trainer reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")
NPZ_KEYS: tuple[str, ...] = tuple(f"{p}_{s}" for s in SPLITS for p in ("x", "y"))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/validation/test splits of one classification dataset.

    ``x_*`` are float32 arrays of shape ``(N, *feature_shape)``, standardised
    per feature with statistics of ``x_train`` only; ``y_*`` are int32 labels in
    ``0 .. num_classes - 1``. Arrays are read-only because one instance is
    shared by every trial that loads the same config.
    """

    # eq=False: comparing arrays element-wise is ambiguous, and identity is what
    # the cache gives anyway.

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the leading batch dimension."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def __repr__(self) -> str:
        # The default repr would print every array.
        sizes = ", ".join(f"{s}={len(getattr(self, f'y_{s}'))}" for s in SPLITS)
        return (
            f"Dataset(name={self.name!r}, {sizes}, feature_shape={self.feature_shape}, "
            f"num_classes={self.num_classes})"
        )


def from_arrays(name: str, arrays: dict[str, np.ndarray]) -> Dataset:
    """A ``Dataset`` from prepared split arrays (as ``hpfw.data.cache`` stores them)."""
    splits = {k: arrays[k] for k in NPZ_KEYS}
    for arr in splits.values():
        arr.setflags(write=False)
    return Dataset(name=name, num_classes=int(arrays["num_classes"]), **splits)
