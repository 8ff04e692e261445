"""Range checks that a type cannot express, run before any work starts."""

from __future__ import annotations

import math
from typing import Any

from hpfw.errors import ConfigError


def _check(key: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, f"got {value!r}; allowed: {allowed}")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def validate_config(cfg: Any) -> None:
    """Checks optimiser, regularisation and trainer values; raises ``ConfigError``."""
    opt, reg, trainer = cfg.optimizer, cfg.regularization, cfg.trainer
    _check("optimizer.lr", opt.lr, _finite(opt.lr) and opt.lr > 0, "a number > 0")
    for name in ("momentum", "b1", "b2"):
        if name in opt:
            value = opt[name]
            _check(f"optimizer.{name}", value, _finite(value) and 0 <= value < 1, "0 <= value < 1")
    if "eps" in opt:
        _check("optimizer.eps", opt.eps, _finite(opt.eps) and opt.eps > 0, "a number > 0")
    wf = opt.warmup_fraction
    _check("optimizer.warmup_fraction", wf, _finite(wf) and 0 <= wf < 1, "0 <= value < 1")
    clip = opt.grad_clip_norm
    _check(
        "optimizer.grad_clip_norm",
        clip,
        clip is None or (_finite(clip) and clip > 0),
        "null (off) or a number > 0",
    )
    _check(
        "regularization.dropout",
        reg.dropout,
        _finite(reg.dropout) and 0 <= reg.dropout < 1,
        "0 <= dropout < 1",
    )
    _check(
        "regularization.weight_decay",
        reg.weight_decay,
        _finite(reg.weight_decay) and reg.weight_decay >= 0,
        "a number >= 0",
    )
    _check(
        "regularization.label_smoothing",
        reg.label_smoothing,
        _finite(reg.label_smoothing) and 0 <= reg.label_smoothing < 1,
        "0 <= value < 1",
    )
    _check("trainer.epochs", trainer.epochs, trainer.epochs >= 1, "an integer >= 1")
    _check("trainer.batch_size", trainer.batch_size, trainer.batch_size >= 1, "an integer >= 1")
    horizon = trainer.get("schedule_epochs")
    _check(
        "trainer.schedule_epochs",
        horizon,
        horizon is None or horizon >= trainer.epochs,
        f"null or an integer >= trainer.epochs ({trainer.epochs})",
    )


def validate_against_data(cfg: Any, n_train: int) -> None:
    """Checks values that depend on the loaded data."""
    bs = cfg.trainer.batch_size
    if bs > n_train:
        raise ConfigError(
            "trainer.batch_size",
            f"got {bs}, larger than the training split ({n_train} samples); allowed: 1..{n_train}",
        )
