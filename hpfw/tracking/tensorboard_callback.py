"""``hydra/callbacks=tensorboard``: every job a TensorBoard run with the hparams plugin's data.

Each job writes ``<log dir>/<job number>/``: a session-start summary with its
overrides as hparams, its per-epoch metrics as scalars (step = epoch), its
final metrics as scalars, and a session-end summary with its status. When the
sweep ends, the log dir gets the experiment summary (every hparam with the
values seen, every metric), so TensorBoard's HPARAMS tab shows the sweep as a
table and parallel coordinates. Written with the ``tensorboard`` package alone
(its event writer and hparams protos); TensorFlow is not needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from hpfw.tracking import jobs

SUBDIR = "tensorboard"


class TensorBoardCallback(Callback):
    """Writes Hydra jobs as TensorBoard runs; see the module's docstring."""

    def __init__(self, log_dir: str | None = None) -> None:
        self.log_dir = log_dir  # None: <sweep dir>/tensorboard, or <run dir>/tensorboard

    def _root(self, config: DictConfig, job: jobs.Job | None = None) -> Path:
        if self.log_dir:
            return Path(self.log_dir).absolute()
        if job is not None and job.sweep_dir is None:
            return job.job_dir / SUBDIR
        return jobs.sweep_dir(config) / SUBDIR

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from tensorboard.plugins.hparams import api_pb2
        from tensorboard.plugins.hparams import summary_v2 as hp

        job = jobs.job(config)
        status, finals, _ = jobs.outcome(job_return, job.objective)  # no place for text
        run_dir = self._root(config, job) / str(job.num)
        started = time.time()
        writer = _Writer(run_dir)
        try:
            hparams = {k: _hparam_value(v) for k, v in job.params.items()}
            writer.summary(hp.hparams_pb(hparams, trial_id=str(job.num), start_time_secs=started))
            last = 0
            for name, steps in jobs.curves(job.job_dir).items():
                for step, value in steps.items():
                    writer.scalar(name, value, step)
                    last = max(last, step)
            for name, value in finals.items():
                writer.scalar(name, value, last)
            code = api_pb2.STATUS_SUCCESS if status == jobs.COMPLETE else api_pb2.STATUS_FAILURE
            writer.summary(_session_end(code))
        finally:
            writer.close()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = self._root(config)
        if not root.is_dir():
            return
        summary = experiment_summary(root)
        if summary is not None:
            writer = _Writer(root)
            try:
                writer.summary(summary)
            finally:
                writer.close()


class _Writer:
    """One event file: scalars and plugin summaries."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(log_dir))

    def summary(self, summary: Any, step: int = 0) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self._writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.summary(Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]), step)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


def _hparam_value(text: str) -> bool | float | str:
    """An override's value as the hparams plugin types it (numbers compare as numbers)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(text)
    except ValueError:
        return text


def _session_end(status: int) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    )
    summary = Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(data),
        tensor=metadata.NULL_TENSOR,
    )
    return summary


def experiment_summary(root: Path) -> Any:
    """The hparams experiment of every run under ``root``: hparams with their values, metrics."""
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams import summary_v2 as hp

    values: dict[str, set] = {}
    metrics: set[str] = set()
    for run in sorted(p for p in root.iterdir() if p.is_dir()):
        for value in _summary_values(run):
            # The loader turns simple_value scalars into tensors of the scalars plugin.
            if value.metadata.plugin_data.plugin_name == "scalars":
                metrics.add(value.tag)
            elif value.tag == metadata.SESSION_START_INFO_TAG:
                content = value.metadata.plugin_data.content
                info = metadata.parse_session_start_info_plugin_data(content)
                for name, v in info.hparams.items():
                    values.setdefault(name, set()).add(getattr(v, v.WhichOneof("kind")))
    if not values:
        return None
    hparams = []
    for name, seen in sorted(values.items()):
        if all(isinstance(v, float) for v in seen) and len(seen) > 1:
            domain: Any = hp.RealInterval(min(seen), max(seen))
        else:
            domain = hp.Discrete(sorted(seen, key=repr))
        hparams.append(hp.HParam(name, domain))
    return hp.hparams_config_pb(hparams, [hp.Metric(m) for m in sorted(metrics)])


def _summary_values(run: Path) -> list[Any]:
    """Every summary value in a run's event files (read raw: no accumulator, no log lines)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found = []
    for path in sorted(run.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("summary"):
                found.extend(event.summary.value)
    return found
