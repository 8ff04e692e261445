"""Tests for hpfw.data: digits splits, standardisation, npz loading and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

from hpfw.config import DigitsConfig, NpzConfig
from hpfw.data import NPZ_KEYS, Dataset, clear_cache, load_dataset, save_npz
from hpfw.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Tests that rewrite files or count loads must not see another test's entries.
    clear_cache()


def npz_cfg(path: Path | str, **overrides: Any) -> Any:
    return OmegaConf.structured(NpzConfig(path=str(path), **overrides))


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def synthetic(n: int, num_classes: int = 3, shape: tuple[int, ...] = (4,), seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=5.0, scale=3.0, size=(n, *shape)).astype(np.float32)
    y = np.arange(n, dtype=np.int64) % num_classes
    return x, y


# --- digits -------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> Dataset:
    clear_cache()
    return load_dataset(OmegaConf.structured(DigitsConfig()))


def test_digits_shapes_and_dtypes(digits: Dataset) -> None:
    assert digits.name == "digits"
    assert digits.num_classes == 10
    assert digits.feature_shape == (8, 8, 1)
    for split in ("train", "val", "test"):
        x, y = getattr(digits, f"x_{split}"), getattr(digits, f"y_{split}")
        assert x.dtype == np.float32
        assert y.dtype == np.int32
        assert x.shape == (len(y), 8, 8, 1)
        assert not x.flags.writeable and not y.flags.writeable
        assert set(np.unique(y)) == set(range(10))


def test_digits_split_sizes_60_20_20(digits: Dataset) -> None:
    n_train, n_val, n_test = len(digits.y_train), len(digits.y_val), len(digits.y_test)
    total = n_train + n_val + n_test
    assert total == 1797
    assert abs(n_val - 0.2 * total) <= 1
    assert abs(n_test - 0.2 * total) <= 1
    assert abs(n_train - 0.6 * total) <= 2


def test_digits_splits_are_stratified(digits: Dataset) -> None:
    overall = (
        np.bincount(np.concatenate([digits.y_train, digits.y_val, digits.y_test]), minlength=10)
        / 1797
    )
    for y in (digits.y_train, digits.y_val, digits.y_test):
        proportions = np.bincount(y, minlength=10) / len(y)
        np.testing.assert_allclose(proportions, overall, atol=0.01)


def test_digits_deterministic_and_cached() -> None:
    first = load_dataset(DigitsConfig())
    assert load_dataset(OmegaConf.structured(DigitsConfig())) is first
    clear_cache()
    second = load_dataset(DigitsConfig())
    assert second is not first
    for key in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, key), getattr(second, key))


def test_digits_split_seed_changes_split() -> None:
    a = load_dataset(DigitsConfig(split_seed=0))
    b = load_dataset(DigitsConfig(split_seed=1))
    assert not np.array_equal(a.y_val, b.y_val)


def test_digits_zero_test_fraction_gives_empty_test() -> None:
    ds = load_dataset(DigitsConfig(val_fraction=0.25, test_fraction=0.0))
    assert ds.x_test.shape == (0, 8, 8, 1)
    assert len(ds.y_train) + len(ds.y_val) == 1797


def test_digits_standardised_with_training_statistics(digits: Dataset) -> None:
    x = digits.x_train.reshape(len(digits.x_train), -1)
    std = x.std(axis=0)
    varying = std > 1e-6
    assert varying.sum() > 50
    np.testing.assert_allclose(x.mean(axis=0)[varying], 0.0, atol=1e-5)
    np.testing.assert_allclose(std[varying], 1.0, atol=1e-4)
    # Constant pixels are only centred, not divided by ~0.
    assert np.isfinite(digits.x_train).all()
    np.testing.assert_allclose(x[:, ~varying], 0.0, atol=1e-6)
    # Validation gets training statistics, so its per-feature means are not all ~0.
    val_means = digits.x_val.reshape(len(digits.x_val), -1).mean(axis=0)[varying]
    assert np.abs(val_means).max() > 1e-3


# --- the on-disk cache of digits ----------------------------------------------

LOAD_DIGITS = """
import sys
from hpfw.data import load_dataset
d = load_dataset({"name": "digits", "val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0})
print(int("sklearn" in sys.modules), d.x_train.sum(), d.y_val[:40].tolist())
"""


def test_a_new_process_reads_digits_from_disk_without_scikit_learn(tmp_path: Path) -> None:
    env = {**os.environ, "HPFW_DATA_CACHE_DIR": str(tmp_path / "cache")}
    outputs = [
        subprocess.run(
            [sys.executable, "-c", LOAD_DIGITS], cwd=tmp_path, env=env,
            capture_output=True, text=True, check=True,
        ).stdout.split(" ", 1)
        for _ in range(2)
    ]  # fmt: skip
    (first_imported, first), (second_imported, second) = outputs
    assert (first_imported, second_imported) == ("1", "0")  # built, then read back
    assert first == second
    assert len(list((tmp_path / "cache").glob("digits-*.npz"))) == 1


@pytest.fixture
def disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HPFW_DATA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_digits_from_disk_equal_the_built_ones(disk_cache: Path) -> None:
    built = load_dataset(DigitsConfig())
    clear_cache()
    read = load_dataset(DigitsConfig())
    assert read is not built and read.num_classes == built.num_classes == 10
    for key in NPZ_KEYS:
        np.testing.assert_array_equal(getattr(read, key), getattr(built, key))
        assert getattr(read, key).dtype == getattr(built, key).dtype
        assert not getattr(read, key).flags.writeable


def test_a_corrupt_digits_entry_is_rebuilt(disk_cache: Path) -> None:
    built = load_dataset(DigitsConfig())
    (entry,) = disk_cache.glob("digits-*.npz")
    entry.write_bytes(b"not an npz archive")
    clear_cache()
    again = load_dataset(DigitsConfig())
    np.testing.assert_array_equal(again.x_train, built.x_train)
    with np.load(entry) as stored:  # rewritten whole
        np.testing.assert_array_equal(stored["y_test"], built.y_test)


def test_each_split_setting_has_its_own_entry(disk_cache: Path) -> None:
    load_dataset(DigitsConfig(split_seed=0))
    load_dataset(DigitsConfig(split_seed=1))
    load_dataset(DigitsConfig(val_fraction=0.25))
    assert len(list(disk_cache.glob("digits-*.npz"))) == 3


def test_an_empty_cache_dir_setting_turns_the_disk_cache_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HPFW_DATA_CACHE_DIR", "")
    load_dataset(DigitsConfig())
    assert not any(tmp_path.rglob("*.npz"))


# --- npz ----------------------------------------------------------------------


def test_npz_round_trip_with_all_splits(tmp_path: Path) -> None:
    x_tr, y_tr = synthetic(30, shape=(2, 3))
    x_va, y_va = synthetic(9, shape=(2, 3), seed=1)
    x_te, y_te = synthetic(6, shape=(2, 3), seed=2)
    path = write_npz(
        tmp_path / "d.npz",
        x_train=x_tr,
        y_train=y_tr,
        x_val=x_va,
        y_val=y_va,
        x_test=x_te,
        y_test=y_te,
    )
    ds = load_dataset(npz_cfg(path))
    assert ds.name == "npz"
    assert ds.num_classes == 3
    assert ds.feature_shape == (2, 3)
    mean = x_tr.astype(np.float64).mean(axis=0)
    std = x_tr.astype(np.float64).std(axis=0)
    for got, raw in ((ds.x_train, x_tr), (ds.x_val, x_va), (ds.x_test, x_te)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    for got, raw in ((ds.y_train, y_tr), (ds.y_val, y_va), (ds.y_test, y_te)):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, raw)

    # save_npz writes what loads back; arrays are already standardised.
    save_npz(tmp_path / "again.npz", ds)
    again = load_dataset(npz_cfg(tmp_path / "again.npz"))
    np.testing.assert_allclose(again.x_val, ds.x_val, atol=1e-5)
    np.testing.assert_array_equal(again.y_test, ds.y_test)


def test_npz_without_val_and_test_is_split_60_20_20(tmp_path: Path) -> None:
    x, y = synthetic(100, num_classes=4)
    ds = load_dataset(npz_cfg(write_npz(tmp_path / "d.npz", x_train=x, y_train=y)))
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (60, 20, 20)
    assert ds.num_classes == 4
    for y_split in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y_split, minlength=4)
        assert counts.max() - counts.min() <= 1
    # Together the splits hold every original sample exactly once: standardising is
    # one affine map per feature, so sorted values map onto the originals exactly.
    got = np.sort(np.concatenate([ds.x_train, ds.x_val, ds.x_test])[:, 0]).astype(np.float64)
    want = np.sort(x[:, 0]).astype(np.float64)
    slope, intercept = np.polyfit(want, got, 1)
    np.testing.assert_allclose(slope * want + intercept, got, atol=1e-4)


def test_npz_with_val_only_carves_test_from_total(tmp_path: Path) -> None:
    x, y = synthetic(80, num_classes=4)
    x_va, y_va = synthetic(20, num_classes=4, seed=3)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x_va, y_val=y_va)
    ds = load_dataset(npz_cfg(path, test_fraction=0.1))
    # 10% of the 100 samples available.
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (70, 20, 10)


def test_npz_relative_path_resolves_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = synthetic(50)
    write_npz(tmp_path / "rel.npz", x_train=x, y_train=y)
    monkeypatch.chdir(tmp_path)
    ds = load_dataset(OmegaConf.create({"name": "npz", "path": "rel.npz"}))
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 50


def test_npz_cache_reloads_a_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    x, y = synthetic(50)
    write_npz(path, x_train=x, y_train=y)
    first = load_dataset(npz_cfg(path))
    assert load_dataset(npz_cfg(path)) is first
    x, y = synthetic(60)
    write_npz(path, x_train=x, y_train=y)
    second = load_dataset(npz_cfg(path))
    assert sum(len(s) for s in (second.y_train, second.y_val, second.y_test)) == 60


# --- npz errors ---------------------------------------------------------------


def expect_data_error(path: Path, *fragments: str, **cfg: Any) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(npz_cfg(path, **cfg))
    message = str(info.value)
    assert "\n" not in message
    for fragment in (path.name, *fragments):
        assert fragment in message, message


def test_npz_missing_file(tmp_path: Path) -> None:
    expect_data_error(tmp_path / "nope.npz", "data.path", "not found")


def test_npz_path_is_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.npz").mkdir()
    expect_data_error(tmp_path / "dir.npz", "directory")


def test_npz_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    path.write_text("this is not a zip file")
    expect_data_error(path, "not a valid .npz")


def test_npz_single_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "arr.npz"
    with path.open("wb") as f:
        np.save(f, np.zeros((3, 2)))
    expect_data_error(path, ".npy")


def test_npz_missing_required_keys(tmp_path: Path) -> None:
    x, y = synthetic(10)
    path = write_npz(tmp_path / "d.npz", x_val=x, y_val=y)
    expect_data_error(path, "x_train", "y_train", "keys present: x_val, y_val")


def test_npz_unexpected_key(tmp_path: Path) -> None:
    x, y = synthetic(10)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_valid=x)
    expect_data_error(path, "x_valid")


@pytest.mark.parametrize(("have", "lack"), [("x_val", "y_val"), ("y_test", "x_test")])
def test_npz_unpaired_split(tmp_path: Path, have: str, lack: str) -> None:
    x, y = synthetic(30)
    extra = {have: x[:5] if have.startswith("x") else y[:5]}
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, **extra)
    expect_data_error(path, have, lack)


def test_npz_length_mismatch(tmp_path: Path) -> None:
    x, y = synthetic(30)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y[:-1])
    expect_data_error(path, "x_train", "y_train", "30", "29")


def test_npz_float_labels(tmp_path: Path) -> None:
    x, y = synthetic(30)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y.astype(np.float32))
    expect_data_error(path, "y_train", "float32", "integer labels 0..K-1")


def test_npz_negative_labels(tmp_path: Path) -> None:
    x, y = synthetic(30)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y - 1)
    expect_data_error(path, "y_train", "negative")


def test_npz_val_label_out_of_range(tmp_path: Path) -> None:
    x, y = synthetic(30)
    y_va = y[:6].copy()
    y_va[0] = 3
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x[:6], y_val=y_va)
    expect_data_error(path, "y_val", "out of range", "3 classes")


@pytest.mark.parametrize(
    ("x_train", "fragment"),
    [
        (np.array([[1, "a"], [2, "b"]], dtype=object), "object"),
        (np.array([["a", "b"], ["c", "d"]]), "<U1"),
    ],
)
def test_npz_non_numeric_x(tmp_path: Path, x_train: np.ndarray, fragment: str) -> None:
    path = write_npz(tmp_path / "d.npz", x_train=x_train, y_train=np.array([0, 1]))
    expect_data_error(path, "x_train", fragment, "numeric")


def test_npz_one_dimensional_x(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", x_train=np.arange(30.0), y_train=np.arange(30) % 3)
    expect_data_error(path, "x_train", "2 dimensions")


def test_npz_non_finite_x(tmp_path: Path) -> None:
    x, y = synthetic(30)
    x[3, 1] = np.nan
    expect_data_error(write_npz(tmp_path / "d.npz", x_train=x, y_train=y), "x_train", "NaN")


def test_npz_feature_shapes_differ(tmp_path: Path) -> None:
    x, y = synthetic(30, shape=(4,))
    x_te, y_te = synthetic(6, shape=(5,))
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x_te, y_test=y_te)
    expect_data_error(path, "x_test", "(5,)", "(4,)")


def test_npz_single_class(tmp_path: Path) -> None:
    x, _ = synthetic(30)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=np.zeros(30, dtype=np.int64))
    expect_data_error(path, "y_train", "2 classes")


def test_npz_too_small_to_stratify(tmp_path: Path) -> None:
    # 5 classes, 10 samples: a 2-sample test split cannot hold every class.
    x, y = synthetic(10, num_classes=5)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y)
    expect_data_error(path, "stratified", "test")


def test_npz_too_few_training_samples_left(tmp_path: Path) -> None:
    x, y = synthetic(6, num_classes=2)
    x_va, y_va = synthetic(100, num_classes=2)
    path = write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x_va, y_val=y_va)
    expect_data_error(path, "too few", "test")


# --- config errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"val_fraction": 0.0}, "data.val_fraction"),
        ({"val_fraction": 1.0}, "data.val_fraction"),
        ({"val_fraction": -0.1}, "data.val_fraction"),
        ({"test_fraction": -0.1}, "data.test_fraction"),
        ({"test_fraction": 1.0}, "data.test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "data.val_fraction"),
        ({"split_seed": -1}, "data.split_seed"),
    ],
)
def test_bad_fractions(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset(OmegaConf.structured(DigitsConfig(**overrides)))
    assert info.value.key == key
    assert key in str(info.value)


def test_unknown_dataset_name() -> None:
    with pytest.raises(ConfigError, match=r"data\.name.*allowed: digits, npz"):
        load_dataset(OmegaConf.create({"name": "mnist"}))


def test_npz_path_not_set() -> None:
    with pytest.raises(ConfigError, match=r"data\.path"):
        load_dataset(OmegaConf.structured(NpzConfig))
    with pytest.raises(ConfigError, match=r"data\.path"):
        load_dataset(NpzConfig())
