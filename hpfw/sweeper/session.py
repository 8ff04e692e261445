"""One driver's part in a sweep: open, join or resume it, hand out trials, record their ends.

Every driver of a sweep (one, or several started with the same command on the
same directory) goes through the journal under the sweep's lock
(``drivers.SweepLock``): before it asks its strategy for trials it reads what
the others appended since (their finished trials are told to its strategy,
their running ones announced with ``will_rerun``), then appends its own
``running`` records, each naming this driver. So no two drivers hand out the
same trial, and together they run ``n_trials``. A running trial whose driver
died (its ``drivers/<id>.lock`` is free) is an orphan: the next driver to look
runs it again, as resume does. The batch loop (``loop.run_sweep``) and the
asynchronous one (``async_loop``) both drive a ``SweepSession``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpfw.launch.idle import when_idle
from hpfw.process import allocate_gpu_memory_on_demand
from hpfw.search import Distribution, Strategy, Trial, TrialState
from hpfw.sweeper import reports
from hpfw.sweeper.compile_cache import cache_strategy_programs
from hpfw.sweeper.drivers import Driver, SweepLock
from hpfw.sweeper.journal import Journal, finished
from hpfw.sweeper.known import (
    configure_strategy,
    enqueued_left,
    prepare_new,
    read_observations,
    tell_observations,
)
from hpfw.sweeper.objectives import Objectives
from hpfw.sweeper.outcome import Outcome
from hpfw.sweeper.progress import Progress, as_trial, warn_without_tie_breaker
from hpfw.sweeper.report_writer import ReportWriter
from hpfw.sweeper.reported import with_reports
from hpfw.sweeper.resume import open_journal, trial_of
from hpfw.sweeper.settings import SweepError, SweepSettings
from hpfw.sweeper.tail import JournalTail

log = logging.getLogger("hpfw.sweeper")

FAILED = (TrialState.failed, TrialState.diverged)


def planned_total(strategy: Strategy, settings: SweepSettings, enqueued: int = 0) -> int:
    """Trials to run: n_trials, or fewer when the strategy plans fewer (a grid's size,
    plus the ``enqueued`` trials that run before it)."""
    planned, cap = strategy.max_trials, settings.n_trials
    planned = planned + enqueued if planned is not None else None
    if cap is None and planned is None:
        raise SweepError(
            f"Invalid {settings.names('n_trials')}: got None; the {settings.strategy} "
            "strategy does not end by itself, so give an integer >= 1"
        )
    return min(x for x in (cap, planned) if x is not None)


class SweepSession:
    """A driver's view of a sweep shared through its journal; safe to use from threads."""

    def __init__(
        self,
        settings: SweepSettings,
        space: Mapping[str, Distribution],
        runner: Any,
        sweep_dir: Path,
        header: dict[str, Any],
    ) -> None:
        self.settings, self.space, self.runner = settings, space, runner
        self.sweep_dir = Path(sweep_dir)
        self.header = header
        self.journal = Journal(sweep_dir)
        self.tail = JournalTail(sweep_dir)
        self.lock = SweepLock(sweep_dir)
        self.driver = Driver(sweep_dir)
        self.strategy: Strategy | None = None
        self.objectives = Objectives.from_header(header, settings.names)
        self.enqueue: list[dict[str, Any]] = []  # points to run first (known.py)
        self.total = 0
        self.mine: dict[int, tuple[Trial, dict[str, Any]]] = {}  # running here: trial, record
        self.elsewhere: dict[int, dict[str, Any]] = {}  # running under other live drivers
        self.orphans: dict[int, Trial] = {}  # running under dead drivers: to run again
        self.opened = False  # open() succeeded: this driver is part of the sweep
        self.done = False  # nothing left to claim and nothing running anywhere
        self.stop_reason: str | None = None  # set when the sweep must stop (then raised)
        self._announced: set[int] = set()  # ids the strategy knows as running or told
        self._told: set[int] = set()
        self._warned = False  # about a tie-breaker metric the trials do not return
        self.writer = ReportWriter(self.sweep_dir)
        self.progress: Progress | None = None

    # --- opening -----------------------------------------------------------------------

    def open(self) -> SweepSession:
        """Creates, joins or resumes the sweep; the strategy then knows every trial so far."""
        # The sweeper's own model (bayes) may start JAX: share a GPU with the trials.
        allocate_gpu_memory_on_demand()
        when_idle(reports.import_drawing_libraries)  # for the reports at the end
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        with self.lock:
            existed = self.journal.exists()
            live = self.driver.others() if existed else []
            self.header, _ = open_journal(self.journal, self.settings, self.header, live)
            settings = self.settings
            self.objectives = Objectives.from_header(self.header, settings.names)
            observations = []
            if not existed:
                observations = prepare_new(self.header, self.space, self.objectives, settings)
            self.enqueue = list(self.header.get("enqueue") or [])
            strategy = settings.create_strategy(self.space, self.header["seed"])
            cache_strategy_programs(strategy, settings.compilation_cache_dir)
            if self.header.get("pruner") and strategy.max_budget is not None:
                raise SweepError(
                    f"{settings.names('pruner')}={self.header['pruner']['name']} stops trials "
                    f"itself, but the {settings.strategy} strategy gives each trial a budget; "
                    "use a pruner with random, bayes or tpe (pruner=asha is successive halving)"
                )
            configure_strategy(strategy, self.objectives, settings, self.header)
            self.total = planned_total(strategy, settings, len(self.enqueue))
            self.runner.prepare(strategy, self.header)
            if not existed:  # only once the strategy accepted its settings
                self.journal.write_header(self.header)
                if observations:
                    self.journal.append_many(observations)
            tell_observations(strategy, read_observations(self.journal))
            self.driver.start()
            self.opened = True
            self.strategy = strategy
            self._sync()
            done = sum(r["state"] != TrialState.running for r in self.tail.latest.values())
            failures = sum(r["state"] in FAILED for r in self.tail.latest.values())
            self.progress = Progress(self.total, done, failures)
        how = "joined" if live and not settings.resume else "resumed" if existed else "started"
        log.info(
            "hpfw sweep %s: %s, %d trials %s, %s %s -> %s",
            how,
            settings.strategy,
            self.total,
            self._mode(),
            settings.direction,
            settings.objective or "objective",
            self.sweep_dir,
        )
        if existed:
            log.info(
                "%d trials done, %d to run again, %d running under %d other driver(s)",
                done,
                len(self.orphans),
                len(self.elsewhere),
                len(live),
            )
        return self

    def _mode(self) -> str:
        if self.settings.concurrent_trials:
            return f"{self.settings.concurrent_trials} at a time (asynchronous)"
        return f"in batches of {self.settings.batch_size}"

    # --- the journal ---------------------------------------------------------------------

    def _sync(self) -> None:
        """Reads what every driver appended; tells the strategy; finds orphans. Under the lock."""
        # Only what changed since the last look, and the trials running elsewhere
        # (their driver may have died since): a long sweep is not re-read each time.
        changed = {r["id"] for r in self.tail.update()} | set(self.elsewhere)
        strategy = self.strategy
        announce: list[Trial] = []
        alive: dict[str | None, bool] = {}
        for trial_id in sorted(changed):
            record = self.tail.latest[trial_id]
            if trial_id in self.mine:
                continue
            if record["state"] != TrialState.running:
                if trial_id not in self._told:
                    self.elsewhere.pop(trial_id, None)
                    self.orphans.pop(trial_id, None)
                    strategy.tell(trial_of(record), record["value"])
                    self._told.add(trial_id)
                    self._announced.add(trial_id)
                continue
            if trial_id in self.orphans:
                continue
            driver = record.get("driver")
            if driver not in alive:
                alive[driver] = self.driver.alive(driver)
            if alive[driver]:
                self.elsewhere[trial_id] = record
            else:
                self.elsewhere.pop(trial_id, None)
                self.orphans[trial_id] = trial_of(record)
            if trial_id not in self._announced:
                self._announced.add(trial_id)
                announce.append(trial_of(record))
        if announce:
            strategy.will_rerun(announce)

    def claim(self, n: int) -> list[tuple[Trial, dict[str, Any]]]:
        """Up to ``n`` trials for this driver to run now (orphans first), journalled as running.

        An empty list with ``done`` false means: wait for running trials (here or
        under other drivers) and ask again.
        """
        with self.lock:
            self._sync()
            batch: list[Trial] = []
            if self.stop_reason is None:
                batch = [self.orphans.pop(i) for i in sorted(self.orphans)[:n]]
                room = self.total - len(self.tail.latest)
                want = min(n - len(batch), room)
                queued = enqueued_left(self.enqueue, self.tail.latest.values())[: max(want, 0)]
                batch += [self.strategy.new_trial(p, enqueued=k) for k, p in queued]
                if want > len(queued):
                    batch += self.strategy.ask(want - len(queued))
            if not batch:
                self.done = not (self.mine or self.elsewhere or self.orphans)
                short = len(self.tail.latest) < self.total
                if self.done and self.stop_reason is None and short:
                    log.info("the %s strategy has nothing more to propose", self.settings.strategy)
                return []
            job = max((r["job"] for r in self.tail.latest.values()), default=-1) + 1
            claimed = []
            for k, trial in enumerate(batch):
                record = {**self.runner.start(trial, job + k), "driver": self.driver.id}
                trial.inactive = frozenset(record["inactive"])
                self.mine[trial.id] = (trial, record)
                self._announced.add(trial.id)
                claimed.append((trial, record))
            self.journal.append_many([r for _, r in claimed])
            self.tail.update()
            self.progress.started(len(claimed))
            return claimed

    def finish(self, results: Sequence[tuple[Trial, Outcome]]) -> None:
        """Journals how ``results`` ended, then tells the strategy; may set ``stop_reason``."""
        ended = []
        for trial, outcome in results:
            record = self.mine[trial.id][1]
            outcome, intermediate, metrics = with_reports(outcome, self.sweep_dir, record["job"])
            outcome = self.objectives.apply(outcome)
            trial.state = outcome.state
            trial.values = tuple(outcome.values.values()) if outcome.values else None
            trial.feasible, trial.slacks = outcome.feasible, tuple((outcome.slacks or {}).values())
            trial.intermediate = dict(intermediate)
            ended.append(
                (
                    trial,
                    outcome,
                    self.objectives.annotate(
                        finished(
                            record,
                            outcome.state.value,
                            outcome.value,
                            outcome.metrics,
                            error=outcome.error,
                            traceback=outcome.traceback,
                            intermediate=sorted(intermediate.items()),
                            intermediate_metrics={k: sorted(v.items()) for k, v in metrics.items()},
                        ),
                        outcome,
                    ),
                )
            )
        with self.lock:
            completed_before = sum(
                r["state"] == TrialState.complete for r in self.tail.latest.values()
            )
            # The results reach the journal before the strategy hears them.
            self.journal.append_many([r for _, _, r in ended])
            for trial, outcome, _ in ended:
                self.mine.pop(trial.id, None)
                self.strategy.tell(trial, outcome.value)
                self._told.add(trial.id)
                self.progress.finished(outcome.state in FAILED)
                if outcome.state in FAILED:
                    log.warning("trial %d %s: %s", trial.id, outcome.state, outcome.error)
            self._sync()
            latest = self.tail.latest.values()
            self.progress.done = sum(r["state"] != TrialState.running for r in latest)
            self.progress.failures = sum(r["state"] in FAILED for r in latest)
            fatal = next((o for _, o, _ in ended if _stops(o, completed_before)), None)
            if fatal is not None and self.stop_reason is None:
                self.stop_reason = fatal.error
            elif self.progress.failures > self.settings.max_failures and self.stop_reason is None:
                self.stop_reason = (
                    f"stopping: {self.progress.failures} trials failed or diverged, more than "
                    f"{self.settings.names('max_failures')}={self.settings.max_failures}; "
                    f"see {self.journal.path}"
                )
            records = self.records()
            ended_records = [r for _, _, r in ended]
            if not self._warned:
                names = self.settings.names
                self._warned = warn_without_tie_breaker(self.header, ended_records, names)
            # The sweep's best (best.yaml's: ties broken by the tie-breaker), not
            # strategy.best, which knows only the objective.
            self.progress.log(as_trial(reports.best_trial(self.header, records)))
            # After the sweep's last results close() draws the plots; drawing them
            # here too would cost a second or two at the end of every sweep.
            last = self.stop_reason is not None or self.progress.done >= self.total
        self.writer.write(self.header, records, plots=not last)

    def wait(self, seconds: float = 1.0) -> None:
        """Waits for trials running under other drivers (polled: they share only files)."""
        time.sleep(seconds)

    def records(self) -> list[dict[str, Any]]:
        return self.tail.records()

    # --- reports and the end -------------------------------------------------------------

    def report_in_background(self) -> None:
        """Reports are written by a thread of their own (``ReportWriter``)."""
        self.writer.in_background()

    def close(self) -> list[dict[str, Any]]:
        """Writes the final reports and leaves the sweep; returns the records."""
        if not self.opened:
            self.driver.stop()
            return []
        self.progress.close()
        self.writer.close()
        try:
            with self.lock:
                self.tail.update()
                records = self.records()
            self.writer.write(self.header, records, final=True)
            return records
        finally:
            self.driver.stop()

    def raise_if_stopped(self) -> None:
        if self.stop_reason is not None:
            raise SweepError(self.stop_reason)


def _stops(outcome: Outcome, completed_before: int) -> bool:
    """Whether ``outcome`` ends the sweep: an error of the whole sweep, or one that every
    trial would repeat (a configuration error no swept value touches) while none has
    completed, which would otherwise fail trial after trial up to max_failures."""
    return outcome.stops_sweep or (outcome.same_for_every_trial and completed_before == 0)
