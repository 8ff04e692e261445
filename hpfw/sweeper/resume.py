"""Starting, joining or resuming a sweep from its journal: the header and its checks.

A new sweep gets a header recording what its trials depend on (strategy,
direction, seed, space, options, pruner); ``hydra.sweeper.resume=true`` reads
the journal back and refuses when any of those changed; ``session.SweepSession``
then replays the trials into a fresh strategy (``trial_of``) so it carries on
where the sweep stopped. The same command started while another driver runs
the sweep joins it (the same checks, and the same strategy, pruner and seed).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from hpfw.search import Distribution, Trial, TrialState
from hpfw.search.space import from_json, to_json
from hpfw.sweeper.journal import Journal, now_iso, sanitize
from hpfw.sweeper.settings import SweepError, SweepSettings

HEADER_VERSION = 1

log = logging.getLogger("hpfw.sweeper")


def new_header(
    settings: SweepSettings,
    space: Mapping[str, Distribution],
    *,
    groups: Sequence[str] = (),
    fixed_overrides: Sequence[str] = (),
    command: str | None = "",
    pruner: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The header of a new sweep; a seed is drawn (and recorded) when none is set."""
    seed = settings.seed if settings.seed is not None else secrets.randbits(31)
    return {
        "type": "sweep",
        "version": HEADER_VERSION,
        "strategy": settings.strategy,
        "direction": settings.direction,
        "objective": settings.objective,
        # How reports rank trials tied on the objective (reports.ranked); null: by id.
        "tie_breaker": settings.tie_breaker,
        "tie_breaker_direction": settings.tie_direction(),
        "seed": seed,
        "n_trials": settings.n_trials,
        "batch_size": settings.batch_size,
        "space": {name: to_json(dist) for name, dist in space.items()},
        "groups": sorted(groups),
        "options": sanitize(settings.options),
        "pruner": sanitize(dict(pruner)) if pruner else None,
        "fixed_overrides": list(fixed_overrides),
        "command": command,
        "created": now_iso(),
    }


def open_journal(
    journal: Journal,
    settings: SweepSettings,
    header: dict[str, Any],
    live: Sequence[str] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and records to go on from: ``header`` and none for a new sweep.

    ``live`` names the other drivers running the sweep now. Without them a new
    sweep refuses an existing journal; with them it joins. Resuming or joining
    refuses a missing journal or a changed space, direction or strategy
    options; joining also a changed strategy, pruner or seed. Call it under
    the sweep's lock.
    """
    names = settings.names
    if not settings.resume and not (live and journal.exists()):
        if journal.exists():
            raise SweepError(
                f"{journal.path} already holds a sweep and no driver is running it; add "
                f"{names('resume')}=true to continue it, or choose another {names.directory}"
            )
        return header, []
    if not journal.exists():
        raise SweepError(
            f"{names('resume')}=true but there is no journal at {journal.path}; "
            f"set {names.directory} to the directory of the sweep to resume"
        )
    journal.repair()
    old, records = journal.read()
    old_space = {name: to_json(from_json(d)) for name, d in old["space"].items()}
    if old_space != header["space"] or sorted(old.get("groups", [])) != header["groups"]:
        raise SweepError(
            f"cannot resume {journal.path}: the search space changed "
            f"(journal: {sorted(old_space)}, now: {sorted(header['space'])}); "
            f"resume with the same search space, or start a new {names.directory}"
        )
    if old["direction"] != header["direction"]:
        raise SweepError(
            f"cannot resume {journal.path}: direction changed "
            f"from {old['direction']} to {header['direction']}"
        )
    # A strategy rebuilds its state from the journal under its options (a bracket
    # plan, for sha and hyperband): other options would misread it.
    if "options" in old and _set(old["options"]) != _set(header["options"]):
        raise SweepError(
            f"cannot resume {journal.path}: the strategy's options changed "
            f"(journal: {old['options']}, now: {header['options']}); resume with the same "
            "strategy options"
        )
    if live and not settings.resume:
        _check_join(journal, old, header, settings)
    # Only the reports depend on the tie-breaker; they keep the journal's, so that
    # `hpfw report` ranks as the sweep did.
    elif old.get("tie_breaker") != header.get("tie_breaker"):
        log.warning(
            "resuming: ties still rank by the journal's tie-breaker %s, not %s",
            old.get("tie_breaker") or "(none: by id)",
            header.get("tie_breaker") or "(none)",
        )
    return old, records


def _check_join(
    journal: Journal, old: dict[str, Any], header: dict[str, Any], settings: SweepSettings
) -> None:
    """A driver joins a live sweep only with the strategy, pruner and seed it runs."""
    seed = settings.seed if settings.seed is not None else old.get("seed")
    for key, ours in (
        ("strategy", header.get("strategy")),
        ("pruner", header.get("pruner")),
        ("seed", seed),
    ):
        if old.get(key) != ours:
            raise SweepError(
                f"cannot join the sweep running in {journal.sweep_dir}: its {key} is "
                f"{old.get(key)!r}, this command's {ours!r}; start drivers with the same "
                f"command, or choose another {settings.names.directory}"
            )


def _set(options: Mapping[str, Any]) -> dict[str, Any]:
    # A null option means "the strategy's default", whether written or left out.
    return {k: v for k, v in options.items() if v is not None}


def trial_of(record: Mapping[str, Any]) -> Trial:
    """The ``Trial`` a journal record describes (what a strategy is told on replay)."""
    return Trial(
        record["id"],
        dict(record["params"]),
        frozenset(record.get("inactive", [])),
        TrialState(record["state"]),
        info=dict(record.get("info") or {}),
        intermediate={
            int(s): float(v) if v is not None else math.nan
            for s, v in record.get("intermediate") or ()
        },
    )
