"""Running one composed job the way ``hydra.core.utils.run_job`` does, without its copies.

The job gets the same output directory, ``.hydra/`` files (config.yaml,
hydra.yaml, overrides.yaml), job log file, working directory handling,
``HydraConfig``, Hydra callbacks and ``JobReturn`` as under Hydra's own
launchers; what it skips is deep-copying the whole config (hydra node
included) twice per job. Only when Hydra callbacks are configured is the
whole per-job config built, once, because ``on_job_start`` and
``on_job_end`` receive it.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hydra import version
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, env_override
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from hpfw.launch.compose import ComposedJob, activate, hydra_container, hydra_yaml
from hpfw.launch.returns import JobReturnWithLazyHydra

# libyaml's emitter when present: hydra.yaml is the largest file a job writes.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


class JobRunner:
    """Runs composed jobs one after another in this process."""

    def __init__(
        self,
        task_function: Callable[[DictConfig], Any],
        job_dir_key: str = "hydra.sweep.dir",
        job_subdir_key: str = "hydra.sweep.subdir",
        callbacks: Any = None,
    ) -> None:
        self.task_function = task_function
        self.callbacks = callbacks  # Hydra's Callbacks: on_job_start / on_job_end
        self.job_dir_key = job_dir_key
        self.job_subdir_key = job_subdir_key
        self._logging_dir: str | None = None  # the job dir the log files point into

    def _configure_logging(self, hydra: DictConfig, output_dir: str) -> None:
        """Job logging as Hydra sets it up, re-pointing the log files after the first job.

        Rebuilding the logging config costs a few milliseconds per job; between
        two jobs of one launch only the job directory of the log files changes.
        """
        if self._logging_dir is None:
            configure_log(hydra.job_logging, hydra.verbose)
        else:
            for handler in logging.getLogger().handlers:
                if not isinstance(handler, logging.FileHandler):
                    continue
                folder, name = os.path.split(handler.baseFilename)
                if folder == self._logging_dir:
                    handler.acquire()
                    try:
                        old = handler.stream
                        handler.baseFilename = os.path.join(output_dir, name)
                        handler.stream = handler._open()
                        if old is not None:
                            old.close()
                    finally:
                        handler.release()
        self._logging_dir = output_dir

    def end_of_launch(self) -> None:
        """The launcher restores Hydra's own logging: the next job configures from scratch."""
        self._logging_dir = None

    def write_files(self, job: ComposedJob, num: int) -> None:
        """Creates job ``num``'s output directory and writes its ``.hydra`` files.

        ``run`` does this itself unless told the files are written; the batched
        launcher writes them while the trials train, when this thread is idle.
        """
        output_dir = activate(job, num, self.job_dir_key, self.job_subdir_key)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        self._write_hydra_files(job, output_dir, hydra_container(job))

    def _write_hydra_files(self, job: ComposedJob, output_dir: str, data: dict[str, Any]) -> None:
        subdir = job.base.hydra_view.hydra.output_subdir
        if subdir is None:
            return
        meta = Path(output_dir) / str(subdir)
        meta.mkdir(parents=True, exist_ok=True)
        # Same content as Hydra's OmegaConf.to_yaml files; config.yaml through
        # OmegaConf since it may hold interpolations and typed nodes.
        (meta / "config.yaml").write_text(OmegaConf.to_yaml(job.task_cfg))
        (meta / "hydra.yaml").write_text(hydra_yaml(job, _dump, data))
        (meta / "overrides.yaml").write_text(_dump(list(job.overrides)))

    def run(
        self,
        job: ComposedJob,
        num: int,
        task: Callable[[DictConfig], Any] | None = None,
        files_written: bool = False,
    ) -> JobReturn:
        """Runs ``task`` (default: the task function) as Hydra job number ``num``.

        ``files_written``: ``write_files`` has already written the job's files.
        """
        task = task or self.task_function
        hydra_config = HydraConfig.instance()
        previous, old_cwd = hydra_config.cfg, os.getcwd()
        output_dir = activate(job, num, self.job_dir_key, self.job_subdir_key)
        hydra = job.base.hydra_view.hydra
        hydra_config.cfg = job.base.hydra_view
        chdir = _changes_directory(hydra.job.chdir)
        try:
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            if chdir:
                os.chdir(output_dir)
            self._configure_logging(hydra, output_dir)
            hydra_data = hydra_container(job)
            if not files_written:
                self._write_hydra_files(job, output_dir, hydra_data)
            ret = JobReturnWithLazyHydra(
                hydra_data=hydra_data,
                overrides=list(job.overrides),
                cfg=job.task_cfg,
                working_dir=output_dir if chdir else old_cwd,
            )
            full = self._full_config(job) if self._has_callbacks() else None
            with env_override(dict(hydra.job.env_set)):
                if full is not None:
                    self.callbacks.on_job_start(config=full, task_function=self.task_function)
                try:
                    ret.return_value = task(job.task_cfg)
                    ret.status = JobStatus.COMPLETED
                except Exception as error:
                    ret.return_value = error
                    ret.status = JobStatus.FAILED
            ret.task_name = JobRuntime.instance().get("name")
            for handler in logging.getLogger().handlers:
                handler.flush()
            if full is not None:
                self.callbacks.on_job_end(config=full, job_return=ret)
            return ret
        finally:
            hydra_config.cfg = previous
            if chdir:
                os.chdir(old_cwd)

    def _has_callbacks(self) -> bool:
        return bool(getattr(self.callbacks, "callbacks", None))

    @staticmethod
    def _full_config(job: ComposedJob) -> DictConfig:
        """The job's whole config (its own plus ``hydra``), as Hydra hands callbacks."""
        full = copy.deepcopy(job.task_cfg)
        with read_write(full), open_dict(full):
            full["hydra"] = job.base.hydra_view.hydra  # assigning copies the node
        return full


def _changes_directory(chdir: bool | None) -> bool:
    """``hydra.job.chdir`` as ``run_job`` reads it: null means no from version_base 1.2 on."""
    if chdir is not None:
        return bool(chdir)
    if version.base_at_least("1.2"):
        return False
    from hydra._internal.deprecation_warning import deprecation_warning

    deprecation_warning(
        "Future Hydra versions will no longer change working directory at job runtime by "
        "default.\nSee https://hydra.cc/docs/1.2/upgrades/1.1_to_1.2/"
        "changes_to_job_working_dir/ for more information.",
        stacklevel=2,
    )
    return True
