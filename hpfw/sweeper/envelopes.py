"""A sweep's envelope: the structural values its trials can take, passed to every trial.

hpfw's trainer compiles programs for boxes of structural values (widths,
depths, batch sizes, optimiser families, epochs: docs/structural.md). The
sweeper knows the search space before the first trial, so it lists the values
of each swept structural key and passes them to every trial as one override,
``trainer.envelope={hidden_dim:[64,128],...,trials:64}``; with it the first
program compiled already serves every trial the strategy can propose, through
any Hydra launcher. Only an app whose config has ``trainer.envelope`` (hpfw's
own) gets it: the sweeper adds no key to any other app's config, and a user's
own ``trainer.envelope`` override wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hpfw.config import ENVELOPE_KEY
from hpfw.search.overrides import ParsedSweep, format_value
from hpfw.search.space import Categorical, Distribution, Int

# The config key each envelope field lists the values of (hpfw.config.EnvelopeConfig).
ENVELOPE_KEYS: dict[str, str] = {
    "model.num_layers": "num_layers",
    "model.hidden_dim": "hidden_dim",
    "model.num_conv_layers": "num_conv_layers",
    "model.channels": "channels",
    "model.d_model": "d_model",
    "model.num_heads": "num_heads",
    "model.mlp_dim": "mlp_dim",
    "trainer.batch_size": "batch_size",
    "trainer.epochs": "epochs",
}
MAX_VALUES = 32  # values listed per key; a wider integer range is listed by quantiles
_ABSENT = object()


def listed_values(dist: Distribution) -> list[Any] | None:
    """The integer values ``dist`` can take (quantiles of a wide range), or None if not integers."""
    if isinstance(dist, Categorical):
        ints = all(isinstance(c, int) and not isinstance(c, bool) for c in dist.choices)
        return sorted(set(dist.choices)) if ints else None
    if isinstance(dist, Int):
        if dist.size <= MAX_VALUES:
            return dist.grid()
        # Both ends are listed, so the envelope's largest value is the range's.
        return sorted({dist.from_unit(k / (MAX_VALUES - 1)) for k in range(MAX_VALUES)})
    return None


def _sets_envelope(override: str) -> bool:
    key = override.split("=", 1)[0].lstrip("+~")
    return key == ENVELOPE_KEY or key.startswith(ENVELOPE_KEY + ".")


def envelope_override(
    sweep: ParsedSweep,
    composed: Callable[[tuple[str, ...]], DictConfig | None],
    trials: int,
    budgets: Sequence[int] | None = None,
    group: int | None = None,
) -> str | None:
    """The ``trainer.envelope=...`` override of ``sweep``'s trials, or None.

    None when the app has no ``trainer.envelope`` key, when the user set one,
    or when no structural key is swept. ``composed(groups)`` is the job config
    for a choice of config groups (``("optimizer=sgd",)``); ``budgets`` are a
    multi-fidelity strategy's epochs; ``group`` the trials launched at once.
    """
    base = composed(())
    if base is None or OmegaConf.select(base, ENVELOPE_KEY, default=_ABSENT) is _ABSENT:
        return None
    if any(_sets_envelope(o) for o in sweep.fixed):
        return None
    fields: dict[str, list[Any]] = {}
    for name, param in sweep.params.items():
        if param.is_group:
            if name == "optimizer":
                families = _families(param, composed)
                if families:
                    fields["optimizer"] = families
            continue
        field = ENVELOPE_KEYS.get(name.lstrip("+"))
        values = listed_values(param.dist) if field else None
        if field and values:
            fields[field] = values
    if budgets:
        fields["epochs"] = sorted(set(budgets))
    if not fields:
        return None
    fields["trials"] = [trials]
    if group is not None:
        fields["group"] = [group]
    items = [
        f"{k}:{format_value(v[0])}"
        if k in ("trials", "group")
        else f"{k}:[{','.join(map(format_value, v))}]"
        for k, v in fields.items()
    ]
    return f"{ENVELOPE_KEY}={{{','.join(items)}}}"


def _families(param: Any, composed: Callable[[tuple[str, ...]], DictConfig | None]) -> list[str]:
    """The optimiser family (``optimizer.name``) of each option of a swept optimizer group."""
    families = []
    for choice in param.dist.choices:
        cfg = composed((param.override(choice),))
        name = OmegaConf.select(cfg, "optimizer.name", default=None) if cfg is not None else None
        if isinstance(name, str) and name not in families:
            families.append(name)
    return families
