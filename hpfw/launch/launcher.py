"""The batched launcher's work: fast composition, lean jobs, and hpfw trials trained together.

``hydra_plugins.hpfw_launcher`` (``hydra/launcher=batched``) is a thin Hydra
adapter that creates a ``GroupLauncher`` when jobs are launched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hpfw.errors import ConfigError
from hpfw.launch.compose import ComposedJob, JobComposer
from hpfw.launch.idle import run_idle_tasks
from hpfw.launch.jobs import JobRunner
from hpfw.launch.protocol import MODES, GroupTaskFunction, JobTask
from hpfw.process import allocate_gpu_memory_on_demand
from hpfw.pruning.api import channel_for

log = logging.getLogger(__name__)


class GroupLauncher:
    """Launches the jobs of one sweep batch in this process.

    A task function that is a ``GroupTaskFunction`` (hpfw's own) is handed the
    configs of every job whose trial can train in a group, at once, and trains
    them together (``hpfw.trainer.groups``); the per-job part (output
    directory, ``.hydra`` files, log, ``metrics.json``) then runs job by job.
    Other jobs, and every job of any other task function, run job by job.
    """

    def __init__(self, mode: str = "auto", max_group_size: int | None = None) -> None:
        if mode not in MODES:
            raise ConfigError("hydra.launcher.mode", f"got {mode!r}; allowed: {', '.join(MODES)}")
        if max_group_size is not None and max_group_size < 1:
            raise ConfigError(
                "hydra.launcher.max_group_size", f"got {max_group_size}; allowed: null or >= 1"
            )
        self.mode = mode
        self.max_group_size = max_group_size
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.composer: JobComposer | None = None
        self._launched = False
        self._lock = threading.RLock()  # what is process-wide: Hydra's job config, cwd, logs

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        # Before a job's JAX starts a GPU backend in this process.
        allocate_gpu_memory_on_demand()
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.composer = JobComposer(hydra_context.config_loader, config)
        self.runner = JobRunner(task_function, callbacks=hydra_context.callbacks)

    def max_concurrent_launches(self) -> int | None:
        """None (any number) for a task function that trains in groups; else one.

        Concurrent launches train side by side; the jobs of any other task
        function run in this process, where Hydra's job config, the working
        directory and logging are process-wide, so one at a time.
        """
        return None if isinstance(self.task_function, GroupTaskFunction) else 1

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        """Runs the jobs; several threads may call it at once (an asynchronous sweep).

        Composing and running each job's own part (``HydraConfig``, working
        directory, log files, Hydra callbacks: process-wide) happen under a
        lock; the groups train outside it, so concurrent launches train side by
        side.
        """
        with self._lock:
            setup_globals()
            hydra = self.config.hydra
            if not self._launched:  # later launches find it as the last one left it
                configure_log(hydra.hydra_logging, hydra.verbose)
                self._launched = True
            sweep_dir = Path(str(hydra.sweep.dir)).absolute()
            sweep_dir.mkdir(parents=True, exist_ok=True)
            log.info("Launching %d jobs in this process (batched)", len(job_overrides))
            jobs: list[ComposedJob | BaseException] = []
            for overrides in job_overrides:
                try:
                    jobs.append(self.composer.compose(list(overrides)))
                except Exception as error:  # the job fails as it would under Hydra
                    jobs.append(error)
            task = self.task_function
            grouped = []
            if isinstance(task, GroupTaskFunction):
                grouped = [
                    i
                    for i, job in enumerate(jobs)
                    if isinstance(job, ComposedJob) and task.groupable(job.task_cfg)
                ]

        tasks: list[JobTask | None] = [None] * len(jobs)  # None: the task function itself
        written: set[int] = set()  # jobs whose files are written

        def while_training() -> None:
            # This thread would wait: write the grouped jobs' files, then what else
            # is waiting for an idle moment (hpfw.launch.idle).
            with self._lock:
                for i in grouped:
                    self.runner.write_files(jobs[i], initial_job_idx + i)  # type: ignore[arg-type]
                    written.add(i)
            run_idle_tasks()

        if grouped:
            stand_ins = task.train_group(
                [jobs[i].task_cfg for i in grouped],
                mode=self.mode,
                max_group_size=self.max_group_size,
                # Each trial's channel (hpfw.report): found by its job number, as in a job.
                channels=[channel_for(sweep_dir, initial_job_idx + i) for i in grouped],
                while_training=while_training,
            )
            for i, stand_in in zip(grouped, stand_ins, strict=True):
                tasks[i] = stand_in

        with self._lock:
            # Listed up front: once a job has run, the log still writes to its file.
            for offset, overrides in enumerate(job_overrides):
                words = " ".join(filter_overrides(overrides))
                log.info("\t#%d : %s", initial_job_idx + offset, words)
            returns = []
            for offset, (overrides, job) in enumerate(zip(job_overrides, jobs, strict=True)):
                num = initial_job_idx + offset
                if isinstance(job, BaseException):
                    returns.append(_failed(list(overrides), job))
                    continue
                returns.append(
                    self.runner.run(job, num, tasks[offset], files_written=offset in written)
                )
            configure_log(hydra.hydra_logging, hydra.verbose)
            self.runner.end_of_launch()
            return returns


def _failed(overrides: list[str], error: BaseException) -> JobReturn:
    ret = JobReturn(overrides=overrides)
    ret.return_value = error
    ret.status = JobStatus.FAILED
    return ret
