"""Range checks that a type cannot express, run before any work starts."""

from __future__ import annotations

from typing import Any

from hpfw.errors import ConfigError
from hpfw.tasks import TASKS
from hpfw.values import is_finite, plain


def check(key: str, value: Any, ok: bool, allowed: str) -> None:
    """``ConfigError`` naming ``key``, ``value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ConfigError(key, f"got {value!r}; allowed: {allowed}")


def validate_config(cfg: Any) -> None:
    """Checks optimiser, regularisation and trainer values; raises ``ConfigError``."""
    opt, reg, trainer = cfg.optimizer, cfg.regularization, cfg.trainer
    check("optimizer.lr", opt.lr, is_finite(opt.lr) and opt.lr > 0, "a number > 0")
    for name in ("momentum", "b1", "b2"):
        if name in opt:
            value = opt[name]
            check(f"optimizer.{name}", value, is_finite(value) and 0 <= value < 1, "0 <= value < 1")
    if "eps" in opt:
        check("optimizer.eps", opt.eps, is_finite(opt.eps) and opt.eps > 0, "a number > 0")
    wf = opt.warmup_fraction
    check("optimizer.warmup_fraction", wf, is_finite(wf) and 0 <= wf < 1, "0 <= value < 1")
    clip = opt.grad_clip_norm
    check(
        "optimizer.grad_clip_norm",
        clip,
        clip is None or (is_finite(clip) and clip > 0),
        "null (off) or a number > 0",
    )
    check(
        "regularization.dropout",
        reg.dropout,
        is_finite(reg.dropout) and 0 <= reg.dropout < 1,
        "0 <= dropout < 1",
    )
    check(
        "regularization.weight_decay",
        reg.weight_decay,
        is_finite(reg.weight_decay) and reg.weight_decay >= 0,
        "a number >= 0",
    )
    check(
        "regularization.label_smoothing",
        reg.label_smoothing,
        is_finite(reg.label_smoothing) and 0 <= reg.label_smoothing < 1,
        "0 <= value < 1",
    )
    check("trainer.epochs", trainer.epochs, trainer.epochs >= 1, "an integer >= 1")
    check("trainer.batch_size", trainer.batch_size, trainer.batch_size >= 1, "an integer >= 1")
    horizon = trainer.get("schedule_epochs")
    check(
        "trainer.schedule_epochs",
        horizon,
        horizon is None or horizon >= trainer.epochs,
        f"null or an integer >= trainer.epochs ({trainer.epochs})",
    )
    validate_task(cfg)


LM_MODELS = TASKS["lm"].models  # one list: a sweep's globs leave these out too
LM_DATA = TASKS["lm"].datasets


def validate_task(cfg: Any) -> None:
    """The model, data and objective must suit ``task``: a classifier or a language model."""
    task = plain(cfg.get("task", "classify"))
    model, data, objective = str(cfg.model.name), str(cfg.data.name), plain(cfg.objective)
    if task == "lm":
        check("model", model, model in LM_MODELS, f"{', '.join(LM_MODELS)} with task=lm")
        check("data", data, data in LM_DATA, f"{', '.join(LM_DATA)} with task=lm")
        check(
            "objective",
            objective,
            objective != "gen_tv" or data == "markov",
            "val_loss or val_accuracy with data=text (gen_tv needs a known source: data=markov)",
        )
        return
    check("model", model, model not in LM_MODELS, "mlp, cnn or transformer (decoder: task=lm)")
    check("data", data, data not in LM_DATA, "digits or npz (markov, text: task=lm)")
    check(
        "objective", objective, objective != "gen_tv", "val_accuracy or val_loss (gen_tv: task=lm)"
    )


def validate_against_data(cfg: Any, n_train: int) -> None:
    """Checks values that depend on the loaded data."""
    bs = cfg.trainer.batch_size
    if bs > n_train:
        raise ConfigError(
            "trainer.batch_size",
            f"got {bs}, larger than the training split ({n_train} samples); allowed: 1..{n_train}",
        )
