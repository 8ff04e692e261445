"""What is known before a sweep's own trials: enqueued configurations and earlier sweeps.

``hydra.sweeper.enqueue`` lists parameter mappings that run first, as the
sweep's first trials (``info.enqueued`` = their index, so a resumed sweep
runs only those not yet started); the strategy then learns from them like any
trial. Parameters an entry leaves out are drawn at random (seeded by the
sweep's seed and the entry's index), as Optuna's ``enqueue_trial`` samples them.

``hydra.sweeper.warm_start`` names earlier sweep directories. Their completed
trials become *observations*: written once into the new journal (lines of type
``observation``, ids -1, -2, ...; readers of trials skip them) and told to the
strategy before its first ask, on every open, resume and join alike. They are
not this sweep's trials: they do not count towards ``n_trials`` nor appear in
its reports. A trial that does not fit the new space is mapped when it can be
(a parameter the new space dropped is ignored, an integral float becomes an
int, an Int off its step snaps to it, a choice matches by its text) and
dropped otherwise (a new parameter it lacks, a value out of range, a metric an
objective or constraint needs that it did not return); the counts are logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hpfw.search import Distribution, Strategy
from hpfw.search.space import Categorical, Float, Int
from hpfw.sweeper.constraints import feasible, slacks
from hpfw.sweeper.journal import Journal, JournalError, parse_line
from hpfw.sweeper.objectives import Objectives
from hpfw.sweeper.resume import trial_of
from hpfw.sweeper.settings import SweepError, SweepSettings

log = logging.getLogger("hpfw.sweeper")

OBSERVATION = "observation"
_MISSING = object()


def coerce(dist: Distribution, value: Any) -> tuple[Any, bool] | None:
    """``value`` as a value of ``dist`` and whether it had to be mapped; None if it cannot be."""
    if dist.contains(value):
        return value, False
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(dist, Float) and number and dist.contains(float(value)):
        return float(value), False
    if isinstance(dist, Int) and number and dist.low <= value <= dist.high:
        snapped = dist.low + round((value - dist.low) / dist.step) * dist.step
        snapped = min(int(snapped), dist.high)
        return snapped, snapped != value
    if isinstance(dist, Categorical):
        for choice in dist.choices:
            if str(choice) == str(value):
                return choice, True
    return None


def check_enqueue(
    raw: Sequence[Mapping[str, Any]],
    space: Mapping[str, Distribution],
    seed: int,
    settings: SweepSettings,
) -> list[dict[str, Any]]:
    """Each enqueued mapping as a full, typed point of ``space``; one-line errors naming it."""
    points = []
    for k, entry in enumerate(raw):
        key = settings.names(f"enqueue[{k}]")
        unknown = [str(name) for name in entry if name not in space]
        if unknown:
            raise SweepError(
                f"Invalid {key}: {', '.join(unknown)} is not a swept parameter; allowed: "
                f"{', '.join(space) or 'none (nothing is swept)'}"
            )
        rng = np.random.default_rng([seed, k])
        point = {}
        for name, dist in space.items():
            value = entry.get(name, _MISSING)
            if value is _MISSING:
                point[name] = dist.from_unit(float(rng.random()))
                continue
            fitted = coerce(dist, value)
            if fitted is None:
                raise SweepError(f"Invalid {key}.{name}: got {value!r}; allowed: {_allowed(dist)}")
            point[name] = fitted[0]
        points.append(point)
    return points


def _allowed(dist: Distribution) -> str:
    if isinstance(dist, Categorical):
        return "one of " + ", ".join(map(str, dist.choices))
    kind = "an integer" if isinstance(dist, Int) else "a number"
    return f"{kind} in [{dist.low}, {dist.high}]"


def enqueued_left(
    enqueue: Sequence[Mapping[str, Any]], records: Iterable[Mapping[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    """The enqueued points no trial has taken yet, with their index, in order."""
    taken = {(r.get("info") or {}).get("enqueued") for r in records}
    return [(k, dict(p)) for k, p in enumerate(enqueue) if k not in taken]


def load_observations(
    directories: Sequence[str],
    space: Mapping[str, Distribution],
    objectives: Objectives,
    settings: SweepSettings,
) -> list[dict[str, Any]]:
    """The completed trials of earlier sweeps as observations of this space; logs the counts."""
    found: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    mapped = 0
    for directory in directories:
        try:
            old_header, records = Journal.locate(directory).read()
        except JournalError as error:
            raise SweepError(f"Invalid {settings.names('warm_start')}: {error}") from None
        old_key = old_header.get("objective") or "objective"
        for record in records:
            if record.get("state") != "complete" or record.get("value") is None:
                continue
            params, why, changed = _fit(record, space)
            metrics = {**(record.get("metrics") or {}), old_key: record["value"]}
            missing = [n for n in objectives.names if not _finite(metrics.get(n))]
            missing += [c.metric for c in objectives.constraints if c.metric not in metrics]
            if params is None or missing:
                dropped[why or f"no metric {missing[0]}"] += 1
                continue
            mapped += changed
            values = {n: float(metrics[n]) for n in objectives.names}
            observation: dict[str, Any] = {
                "type": OBSERVATION,
                "id": -(len(found) + 1),
                "params": params,
                "inactive": sorted(set(record.get("inactive") or ()) & set(space)),
                "state": "complete",
                "value": values[objectives.names[0]],
                "values": values,
                "source": f"{directory}#{record['id']}",
            }
            if objectives.constraints:
                observation["slacks"] = slacks(objectives.constraints, metrics)
                observation["feasible"] = feasible(objectives.constraints, metrics)
            found.append(observation)
    reasons = "; ".join(f"{n} {why}" for why, n in dropped.most_common())
    log.info(
        "warm start: %d completed trials of %d earlier sweep(s) are observations "
        "(%d mapped to this space), %d dropped%s",
        len(found),
        len(directories),
        mapped,
        sum(dropped.values()),
        f" ({reasons})" if reasons else "",
    )
    return found


def _fit(
    record: Mapping[str, Any], space: Mapping[str, Distribution]
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """A record's params in ``space``: (params, None, mapped) or (None, why dropped, False)."""
    old = record.get("params") or {}
    changed = bool(set(old) - set(space))  # parameters the new space no longer sweeps
    params = {}
    for name, dist in space.items():
        if name not in old:
            return None, f"without the new parameter {name}", False
        fitted = coerce(dist, old[name])
        if fitted is None:
            if name in (record.get("inactive") or ()):
                fitted = (dist.from_unit(0.5), True)  # never used by that trial: any value
            else:
                return None, f"with {name} outside the new space", False
        params[name] = fitted[0]
        changed |= fitted[1]
    return params, None, changed


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def read_observations(journal: Journal) -> list[dict[str, Any]]:
    """The observation lines of ``journal`` (written right after its header)."""
    found = []
    for line in journal.path.read_bytes().split(b"\n"):
        data = parse_line(line) if line.strip() else None
        if data is not None and data.get("type") == OBSERVATION:
            found.append(data)
    return found


def tell_observations(strategy: Strategy, observations: Sequence[Mapping[str, Any]]) -> None:
    for observation in observations:
        strategy.tell(trial_of(observation), observation["value"])


def configure_strategy(
    strategy: Strategy, objectives: Objectives, settings: SweepSettings, header: dict[str, Any]
) -> None:
    """Tells ``strategy`` the sweep's objectives; refuses what it cannot do, in one line."""
    names = settings.names
    if objectives.multi and not strategy.multi_objective:
        raise SweepError(
            f"Invalid {names('objectives')}: the {settings.strategy} strategy optimises one "
            "objective; use grid, random, bayes, sha, hyperband or tpe for several"
        )
    if objectives.multi or objectives.constraints:
        strategy.set_objectives(objectives.directions, len(objectives.constraints))
    for key in ("enqueue", "warm_start"):
        if header.get(key) and strategy.max_budget is not None:
            raise SweepError(
                f"Invalid {names(key)}: the {settings.strategy} strategy plans each trial's "
                "budget itself; use it with grid, random, bayes or tpe"
            )


def prepare_new(
    header: dict[str, Any],
    space: Mapping[str, Distribution],
    objectives: Objectives,
    settings: SweepSettings,
) -> list[dict[str, Any]]:
    """Puts a new sweep's enqueued points and warm-start dirs in ``header``; its observations."""
    header["enqueue"] = check_enqueue(settings.enqueue or [], space, header["seed"], settings)
    starts = settings.warm_start
    header["warm_start"] = [starts] if isinstance(starts, str) else list(starts or [])
    if not header["warm_start"]:
        return []
    return load_observations(header["warm_start"], space, objectives, settings)
