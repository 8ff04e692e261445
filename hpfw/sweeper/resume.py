"""Starting or resuming a sweep from its journal: the header, its checks, the replay.

A new sweep gets a header recording what its trials depend on (strategy,
direction, seed, space, options); ``hydra.sweeper.resume=true`` reads the
journal back, refuses when any of those changed, and replays the finished
trials into a fresh strategy so it carries on where the sweep stopped.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from hpfw.search import Distribution, Strategy, Trial, TrialState
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
        "fixed_overrides": list(fixed_overrides),
        "command": command,
        "created": now_iso(),
    }


def open_journal(
    journal: Journal, settings: SweepSettings, header: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and records to go on from: ``header`` and none for a new sweep.

    A new sweep refuses an existing journal; a resumed one refuses a missing
    journal or a changed space, direction or strategy options.
    """
    names = settings.names
    if not settings.resume:
        if journal.exists():
            raise SweepError(
                f"{journal.path} already holds a sweep; add {names('resume')}=true to "
                f"continue it, or choose another {names.directory}"
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
    # Only the reports depend on the tie-breaker; they keep the journal's, so that
    # `hpfw report` ranks as the sweep did.
    if old.get("tie_breaker") != header.get("tie_breaker"):
        log.warning(
            "resuming: ties still rank by the journal's tie-breaker %s, not %s",
            old.get("tie_breaker") or "(none: by id)",
            header.get("tie_breaker") or "(none)",
        )
    return old, records


def _set(options: Mapping[str, Any]) -> dict[str, Any]:
    # A null option means "the strategy's default", whether written or left out.
    return {k: v for k, v in options.items() if v is not None}


def replay(strategy: Strategy, records: Sequence[dict[str, Any]]) -> list[Trial]:
    """Tells the strategy every finished trial; returns those to run again (were running)."""
    rerun = []
    for record in records:
        trial = Trial(
            record["id"],
            dict(record["params"]),
            frozenset(record.get("inactive", [])),
            TrialState(record["state"]),
            info=dict(record.get("info") or {}),
        )
        if trial.state == TrialState.running:
            rerun.append(trial)
        else:
            strategy.tell(trial, record["value"])
    strategy.will_rerun(rerun)
    return rerun
