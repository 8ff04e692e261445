"""One training run: validate the config, load the data, train on the compiled program, summarise.

With ``trainer.checkpoint_dir`` set, a run continues from the latest checkpoint
there saved before ``trainer.epochs`` and saves its own final state there: the
contract multi-fidelity sweeps (sha, hyperband) rely on.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hpfw import tasks
from hpfw.data import load_dataset
from hpfw.errors import ConfigError
from hpfw.models import validate_model
from hpfw.pruning.api import current_channel
from hpfw.trainer import checkpoint, compiled, monitor, saved_settings
from hpfw.trainer import device as devices
from hpfw.trainer.config_view import config_view
from hpfw.trainer.envelope import (
    choose_program,
    describe,
    read_envelope,
    sibling_programs,
    trial_estimate,
)
from hpfw.trainer.flops import counted_flops, param_count
from hpfw.trainer.metrics import write_run_metrics
from hpfw.trainer.spec import (
    DataArrays,
    Hparams,
    StaticSpec,
    TrainState,
    as_hparams,
    as_structure,
    hparams_from_config,
    static_spec,
)
from hpfw.trainer.state import fit_state
from hpfw.trainer.trainer import abstract_state
from hpfw.trainer.validate import validate_against_data, validate_config
from hpfw.values import finite_or_none, plain

# JAX logs at INFO that it found no TPU library on every CPU-only start: noise.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)


@dataclass
class PreparedRun:
    """A validated config, ready to train: its static signature, inputs and device."""

    cfg: Any
    spec: StaticSpec
    device: jax.Device
    data: DataArrays
    hparams: dict[str, float]
    seed: int
    checkpoint_dir: str | None = None  # where the final state is saved
    start_path: Path | None = None  # the checkpoint this run continues from
    estimate: float | None = None  # the cost model's training seconds (with an envelope)
    siblings: tuple[Any, ...] = ()  # the programs of its plan's other boxes (ProgramSpec)
    channel: Any = None  # the sweep trial's channel (hpfw.report), when it is one

    @property
    def program_label(self) -> str:
        """The program's ranges, as the plan's log line names them."""
        return describe(dict(self.spec.program.ranges))

    @property
    def saves_state(self) -> bool:
        return self.checkpoint_dir is not None

    @property
    def monitored(self) -> bool:
        """Whether the program reports every epoch and may be pruned (a sweep with a pruner)."""
        return monitor.reporter_for(self) is not None and bool(self.channel.can_prune)

    def start_state(self) -> TrainState | None:
        """The state to continue from, in the program's shapes, or None for a fresh run.

        Checkpoints hold the trial's own shapes (``hpfw.trainer.state``).
        """
        if self.start_path is None:
            return None
        state = checkpoint.restore(self.start_path, abstract_state(self.spec))
        if self.spec.program != self.spec.dedicated:
            state = fit_state(state, abstract_state(self.spec.program))
        return jax.device_put(state, self.device)

    def inputs(self) -> Hparams:
        """The program's traced inputs: the hyperparameters and the trial's structural values."""
        return {**as_hparams(self.hparams), **as_structure(self.spec.structure())}

    def own_state(self, state: TrainState) -> TrainState:
        """A state of the program cut down to the trial's own shapes (what a checkpoint holds)."""
        if self.spec.program == self.spec.dedicated:
            return state
        return fit_state(state, abstract_state(self.spec))


def prepare(cfg: Any) -> PreparedRun:
    """Validates ``cfg`` and loads what it trains on; ``ConfigError``/``DataError`` if bad.

    A run that continues from a checkpoint first takes the settings saved with
    it (``saved_settings``): the user repeats only ``trainer.epochs``.
    """
    checkpoint_dir = cfg.trainer.get("checkpoint_dir")
    found = checkpoint_dir and checkpoint.latest(checkpoint_dir, before=int(cfg.trainer.epochs))
    start_epoch, start_path = found if found else (0, None)
    saved = start_path and checkpoint.read_metadata(start_path).get("settings")
    if saved:
        source = f"trainer.checkpoint_dir '{start_path}'"
        saved_settings.adopt(cfg, saved, source, skip=("trainer.epochs",))
    composed, cfg = cfg, config_view(cfg)  # read below as plain values (fast)
    validate_config(cfg)
    tasks.task_for(cfg).import_modules()  # they register the task's datasets
    dataset = load_dataset(cfg.data, context_length=cfg.model.get("context_length"))
    validate_against_data(cfg, len(dataset.y_train))
    validate_model(cfg.model, dataset.feature_shape)
    device = devices.select_device(str(plain(cfg.trainer.device)))
    devices.enable_compilation_cache(cfg.trainer.compilation_cache_dir)
    envelope = read_envelope(cfg)
    spec = static_spec(
        cfg,
        dataset,
        start_epoch,
        program=(lambda s: choose_program(s, envelope, device.platform)) if envelope else None,
    )
    saved_signature = start_path and checkpoint.read_metadata(start_path).get("signature")
    if start_path is not None and saved_signature != spec.signature:
        raise ConfigError(
            "trainer.checkpoint_dir",
            f"{start_path} holds the state of another model, optimiser, data or schedule; "
            "continue it with the same config (only trainer.epochs may grow), "
            "or use an empty directory",
        )
    return PreparedRun(
        cfg=composed,
        spec=spec,
        device=device,
        data=compiled.device_arrays(dataset, device),
        hparams=hparams_from_config(cfg),
        seed=int(cfg.trainer.seed),
        checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
        start_path=start_path,
        estimate=trial_estimate(spec, envelope, device.platform) if envelope else None,
        siblings=tuple(sibling_programs(spec, envelope, device.platform)) if envelope else (),
    )


def run_program(
    run: PreparedRun, trials: int = 0, with_state: bool = False
) -> compiled.CompiledProgram:
    """The compiled program ``run`` needs: continuing or not, returning its state or not."""
    return compiled.compiled_program(
        run.spec,
        run.data,
        run.device,
        trials,
        with_state=run.saves_state or with_state,
        resume=run.start_path is not None,
        monitored=run.monitored,
    )


def epoch_slice(run: PreparedRun, values: Any) -> list[Any]:
    """A per-epoch output's entries of the trial's own epochs (the program scans its horizon)."""
    return list(values[: run.spec.run_epochs])


def summarize(
    run: PreparedRun,
    out: dict[str, Any],
    *,
    seconds: float,
    compile_seconds: float,
    flops: float,
    compile_cache: str = "process",
) -> dict[str, Any]:
    """Every metric of one trained trial, from the program's (host) outputs.

    Saves the final state to ``trainer.checkpoint_dir`` when the run has one
    and did not diverge.
    """
    diverged = bool(out["diverged"])
    pruned = bool(out.get("pruned", False)) and not diverged
    spec = run.spec
    if spec.program != spec.dedicated or spec.start_epoch or not flops:
        flops = counted_flops(spec)  # the program's count is of the trial that compiled it
    steps = spec.total_steps
    # A pruned run's last values are those of the epoch it stopped after.
    last = int(out["pruned_epoch"]) - spec.start_epoch if pruned else -1
    metrics: dict[str, Any] = {
        "status": "diverged" if diverged else "pruned" if pruned else "complete",
        "device": devices.describe(run.device),
        "start_epoch": spec.start_epoch,
        "epochs": {
            "epoch": list(range(spec.start_epoch + 1, spec.epochs + 1)),
            "train_loss": [finite_or_none(float(v)) for v in epoch_slice(run, out["train_loss"])],
            "val_loss": [finite_or_none(float(v)) for v in epoch_slice(run, out["val_loss"])],
            "val_accuracy": [
                finite_or_none(float(v)) for v in epoch_slice(run, out["val_accuracy"])
            ],
        },
        "val_loss": float(epoch_slice(run, out["val_loss"])[last]),
        "val_accuracy": float(epoch_slice(run, out["val_accuracy"])[last]),
        "test_loss": float(out["test_loss"]),
        "test_accuracy": float(out["test_accuracy"]),
        "compile_seconds": compile_seconds,
        # Where the program came from: "process" (already compiled in this process),
        # "hit" (loaded from the persistent cache), "miss" (compiled and cached), "off".
        "compile_cache": compile_cache,
        "train_seconds": seconds,
        "steps": steps,
        "steps_per_second": steps / seconds if seconds > 0 else 0.0,
        "flops": flops,
        "flops_per_second": flops / seconds if seconds > 0 else 0.0,
        # The program it trained on (docs/structural.md), and the cost model's estimate.
        "program": run.program_label,
        "params": param_count(spec),  # its own parameters: a cost objective {params: minimize}
    }
    if run.estimate is not None:
        metrics["estimated_train_seconds"] = run.estimate
    if diverged:
        metrics["diverged_epoch"] = int(out["diverged_epoch"])
    elif pruned:
        metrics["pruned_epoch"] = int(out["pruned_epoch"])
    elif run.checkpoint_dir is not None:
        saved = checkpoint.save(
            run.checkpoint_dir,
            run.own_state(out["state"]),
            {
                "epoch": spec.epochs,
                "signature": spec.signature,
                # What a run that continues or evaluates this state takes (saved_settings).
                "settings": saved_settings.record(run.cfg),
                "val_loss": metrics["val_loss"],
                "val_accuracy": metrics["val_accuracy"],
            },
        )
        metrics["checkpoint"] = str(saved)
    return metrics


def train_and_evaluate(cfg: Any) -> dict[str, Any]:
    """Trains the configured model once and returns every metric of the run.

    Raises ``ConfigError``/``DataError`` for bad input before any training.
    """
    run = prepare(cfg)
    run.channel = current_channel()  # a trial of a sweep reports its epochs
    return train_prepared(run)


def train_prepared(run: PreparedRun, return_state: bool = False) -> Any:
    """Trains one prepared run on its (cached) single-trial program.

    ``return_state=True`` returns ``(metrics, state)``: the trained ``TrainState``
    (on the device) as well, for a task that goes on using the model.
    """
    program = run_program(run, with_state=return_state)
    compiled_now = program.first_use()
    # Trials one at a time (Hydra's basic launcher, a joblib worker): the programs later
    # trials of the sweep need compile in the background while this one trains.
    for sibling in run.siblings:
        compiled.prefetch_program(sibling, run.data, run.device, monitored=run.monitored)

    inputs = run.inputs()
    slot = None
    if run.monitored:
        slot = monitor.register(monitor.reporter_for(run))
        inputs[monitor.SLOT] = np.int32(slot)
    inputs = jax.device_put(inputs, run.device)
    key = jax.device_put(jax.random.key(run.seed), run.device)
    start_state = run.start_state()
    if start_state is None:
        start_state = program.fresh_state(run.device)
    start = time.perf_counter()
    try:
        out = jax.block_until_ready(program.run(inputs, key, run.data, start_state))
    finally:
        monitor.release(slot)
    seconds = time.perf_counter() - start
    host = jax.tree.map(np.asarray, {k: v for k, v in out.items() if k != "state"})
    if run.saves_state:
        host["state"] = out["state"]
    metrics = summarize(
        run,
        host,
        seconds=seconds,
        compile_seconds=program.compile_seconds if compiled_now else 0.0,
        flops=program.flops,
        compile_cache=program.cache if compiled_now else "process",
    )
    if not run.monitored:
        monitor.report_after(run, metrics)
    return (metrics, out["state"]) if return_state else metrics


def classify_task(cfg: Any, output_dir: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """``task=classify`` behind ``hpfw``: trains, writes ``metrics.json``, returns the numbers.

    Returns a flat mapping of numbers; ``objective`` is the configured
    validation metric (NaN when the run diverged), the other keys are there for
    sweepers and reports. The test metrics are reported, never selected on.
    """
    return write_run_metrics(cfg, train_and_evaluate(cfg), output_dir)
