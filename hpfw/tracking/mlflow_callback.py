"""``hydra/callbacks=mlflow``: every job an MLflow run, nested under one parent run per sweep.

A job's run holds its overrides as params, its per-epoch metrics (with the
epoch as step) and final metrics, its status as a tag and as the run's status
(FINISHED, or FAILED for failed and diverged trials), and the job's composed
config. The sweep's parent run gets the best trial's value and the sweep's
report files when the sweep ends.

It uses ``MlflowClient`` with explicit run ids, never MLflow's fluent "active
run", which is per-process global state: jobs of a joblib or submitit launcher
run in other processes, and find their parent by a tag holding the sweep dir.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from hpfw.tracking import jobs

log = logging.getLogger(__name__)

SWEEP_TAG = "hpfw.sweep_dir"
ROLE_TAG = "hpfw.role"
STATUS_TAG = "hpfw.status"
BATCH = 900  # MLflow takes at most 1000 metrics per log_batch
REPORT_FILES = ("report.html", "best.yaml", "trials.csv", "history.png", "params.png")


class MlflowCallback(Callback):
    """Logs Hydra jobs to MLflow; see the module's docstring."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        log_config: bool = True,
    ) -> None:
        self.tracking_uri = (
            tracking_uri  # None: MLflow's (MLFLOW_TRACKING_URI, sqlite:///mlflow.db)
        )
        self.experiment_name = experiment_name  # None: the app's name (hydra.job.name)
        self.log_config = log_config
        self._parent: str | None = None
        self._runs: dict[str, str] = {}  # job dir -> run id, between job start and end
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Launchers pickle callbacks into their workers; a client is rebuilt there.
        return {**self.__dict__, "_client": None}

    # --- MLflow --------------------------------------------------------------------------

    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def experiment(self, name: str) -> str:
        """The experiment's id, created when missing (a racing worker may create it first)."""
        client = self.client()
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return client.create_experiment(name)
        except Exception:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _experiment_name(self, config: DictConfig) -> str:
        return self.experiment_name or jobs.job(config).name

    def parent(self, experiment_id: str, sweep_dir: Path) -> str | None:
        """The sweep's parent run: this process's, or found by its tag (workers, resume)."""
        if self._parent is not None:
            return self._parent
        runs = self.client().search_runs(
            [experiment_id],
            filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_dir}' and tags.`{ROLE_TAG}` = 'sweep'",
            max_results=1,
        )
        self._parent = runs[0].info.run_id if runs else None
        return self._parent

    # --- Hydra's callback hooks --------------------------------------------------------

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        experiment_id = self.experiment(self._experiment_name(config))
        sweep_dir = jobs.sweep_dir(config)
        if self.parent(experiment_id, sweep_dir) is not None:
            self.client().update_run(self._parent, status="RUNNING")  # a resumed sweep
            return
        sweeper = config.hydra.sweeper
        strategy = sweeper.get("strategy") if "strategy" in sweeper else None
        run = self.client().create_run(
            experiment_id,
            run_name=f"sweep {sweep_dir.name}",
            tags={SWEEP_TAG: str(sweep_dir), ROLE_TAG: "sweep", "hpfw.strategy": str(strategy)},
        )
        self._parent = run.info.run_id
        overrides = [str(o) for o in config.hydra.overrides.task]
        if overrides:
            self.client().log_param(self._parent, "overrides", " ".join(overrides)[:6000])

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        job = jobs.job(config)
        self._runs[str(job.job_dir)] = self._start(config, job)

    def _start(self, config: DictConfig, job: jobs.Job) -> str:
        from mlflow.entities import Param

        experiment_id = self.experiment(self._experiment_name(config))
        tags = {"hpfw.job": str(job.num), "hpfw.job_dir": str(job.job_dir)}
        if job.sweep_dir is not None:
            tags[SWEEP_TAG] = str(job.sweep_dir)
            tags[ROLE_TAG] = "trial"
            parent = self.parent(experiment_id, job.sweep_dir)
            if parent is not None:
                tags["mlflow.parentRunId"] = parent
        run = self.client().create_run(experiment_id, run_name=f"trial {job.num}", tags=tags)
        params = [Param(k, v[:6000]) for k, v in job.params.items()]
        if params:
            self.client().log_batch(run.info.run_id, params=params)
        return run.info.run_id

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from mlflow.entities import Metric

        job = jobs.job(config)
        run_id = self._runs.pop(str(job.job_dir), None) or self._start(config, job)
        status, finals, error = jobs.outcome(job_return, job.objective)
        now = int(time.time() * 1000)
        metrics = [
            Metric(name, value, now, step)
            for name, steps in jobs.curves(job.job_dir).items()
            for step, value in steps.items()
        ]
        last = max((m.step for m in metrics), default=0)
        metrics += [Metric(k, v, now, last) for k, v in finals.items() if _finite(v)]
        client = self.client()
        for k in range(0, len(metrics), BATCH):
            client.log_batch(run_id, metrics=metrics[k : k + BATCH])
        client.set_tag(run_id, STATUS_TAG, status)
        if error:
            client.set_tag(run_id, "hpfw.error", error[:5000])
        config_file = job.job_dir / ".hydra" / "config.yaml"
        if self.log_config and config_file.is_file():
            client.log_artifact(run_id, str(config_file), artifact_path="hydra")
        client.set_terminated(run_id, "FINISHED" if status == jobs.COMPLETE else "FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = jobs.sweep_dir(config)
        experiment_id = self.experiment(self._experiment_name(config))
        run_id = self.parent(experiment_id, sweep_dir)
        if run_id is None:
            return
        client = self.client()
        best = _best(sweep_dir)
        if best is not None:
            name, value, trial = best
            client.log_metric(run_id, f"best_{name}", value)
            client.set_tag(run_id, "hpfw.best_trial", str(trial))
        for name in REPORT_FILES:
            if (sweep_dir / name).is_file():
                client.log_artifact(run_id, str(sweep_dir / name))
        client.set_terminated(run_id, "FINISHED")


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


def _best(sweep_dir: Path) -> tuple[str, float, int] | None:
    """The best trial of an hpfw sweep (its journal), or ``None`` for other sweepers."""
    from hpfw.sweeper.journal import Journal, JournalError
    from hpfw.sweeper.reports import best_trial

    journal = Journal(sweep_dir)
    if not journal.exists():
        return None
    try:
        header, trials = journal.read()
    except JournalError as error:
        log.warning("mlflow callback: cannot read %s: %s", journal.path, error)
        return None
    best = best_trial(header, trials)
    if best is None:
        return None
    return str(header.get("objective") or "objective"), float(best["value"]), int(best["id"])
