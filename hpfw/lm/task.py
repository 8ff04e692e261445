"""One language-model run (``task=lm``): train (or load a checkpoint), then evaluate and sample.

The model trains with hpfw's compiled trainer (an LM dataset is a ``Dataset``
of token windows). ``generation.checkpoint=DIR`` skips training: the trained
parameters are read from ``DIR`` once per process and only the compiled
evaluation program runs, so a sweep over generation settings costs no
training and no recompilation.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from hpfw.data import load_dataset
from hpfw.errors import ConfigError
from hpfw.lm import evaluate
from hpfw.lm.dataset import LMDataset
from hpfw.trainer import checkpoint, saved_settings
from hpfw.trainer import device as devices
from hpfw.trainer.metrics import write_run_metrics
from hpfw.trainer.run import PreparedRun, prepare, train_prepared
from hpfw.trainer.spec import StaticSpec
from hpfw.trainer.state import fit_state
from hpfw.trainer.trainer import abstract_state
from hpfw.trainer.validate import check
from hpfw.values import is_finite

log = logging.getLogger("hpfw")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def generation_settings(cfg: Any) -> dict[str, float | int]:
    """The traced generation settings of ``cfg``, checked; ``ConfigError`` when out of range."""
    gen, context_length = cfg.generation, int(cfg.model.context_length)
    t, p, k = gen.temperature, gen.top_p, gen.top_k
    check("generation.temperature", t, is_finite(t) and t > 0, "a number > 0")
    check("generation.top_p", p, is_finite(p) and 0 < p <= 1, "a number in (0, 1]")
    check("generation.top_k", k, _is_int(k) and k >= 0, "an integer >= 0 (0 = off)")
    seed = gen.seed
    check("generation.seed", seed, _is_int(seed) and 0 <= seed < 2**32, "an integer in [0, 2**32)")
    n = gen.num_samples
    check(
        "generation.num_samples",
        n,
        _is_int(n) and 0 <= n <= evaluate.MAX_SAMPLES,
        f"an integer in [0, {evaluate.MAX_SAMPLES}]",
    )
    prompt = gen.prompt_length
    check(
        "generation.prompt_length",
        prompt,
        _is_int(prompt) and 1 <= prompt < context_length,
        f"an integer in [1, {context_length - 1}] (below model.context_length)",
    )
    length = context_length if gen.sample_length is None else gen.sample_length
    check(
        "generation.sample_length",
        gen.sample_length,
        _is_int(length) and prompt <= length <= context_length,
        f"null or an integer in [{prompt}, {context_length}] (prompt_length..context_length)",
    )
    return {
        "temperature": float(t),
        "top_p": float(p),
        "top_k": int(k),
        "prompt_length": int(prompt),
        "sample_length": int(length),
    }


# --- reusing a trained model ---------------------------------------------------

_PARAMS: dict[tuple[str, int, StaticSpec], Any] = {}


def _checkpoint_path(raw: str) -> tuple[int, Path]:
    """The newest ``epoch_<n>`` checkpoint in ``raw`` (or ``raw`` itself when it is one)."""
    from hydra.utils import to_absolute_path  # the launch directory, not the run's

    directory = Path(to_absolute_path(os.path.expanduser(raw)))
    if not directory.is_dir():
        raise ConfigError("generation.checkpoint", f"directory '{directory}' not found")
    if directory.name.startswith("epoch_") and directory.name[6:].isdigit():
        return int(directory.name[6:]), directory
    found = checkpoint.latest(directory)
    if found is None:
        raise ConfigError(
            "generation.checkpoint",
            f"'{directory}' holds no checkpoint (epoch_<n>/); allowed: the trainer.checkpoint_dir "
            "of a finished task=lm run",
        )
    return found


def load_params(cfg: Any, run: PreparedRun) -> tuple[Any, Path]:
    """The trained parameters in ``generation.checkpoint``, read once per process."""
    epoch, path = _checkpoint_path(str(cfg.generation.checkpoint))
    cache_key = (str(path), epoch, run.spec)
    if cache_key not in _PARAMS:
        saved = checkpoint.read_metadata(path).get("signature")
        if saved != run.spec.signature:
            raise ConfigError(
                "generation.checkpoint",
                f"'{path}' holds the state of another model, optimizer, data or trainer setting "
                f"than model={cfg.model.name} here; use the settings of the run that saved it",
            )
        state = checkpoint.restore(path, abstract_state(run.spec))
        if run.spec.program != run.spec.dedicated:  # an envelope's program: padded params
            state = fit_state(state, abstract_state(run.spec.program))
        _PARAMS[cache_key] = jax.device_put(state["params"], run.device)
    return _PARAMS[cache_key], path


# --- the run ---------------------------------------------------------------------


def unigram_loss(dataset: LMDataset) -> float:
    """Held-out loss of the training split's token frequencies (add-one smoothed): the baseline."""
    counts = np.bincount(dataset.y_train.ravel(), minlength=dataset.num_classes) + 1.0
    log_freq = np.log(counts / counts.sum())
    return float(-log_freq[dataset.y_val].mean())


def adopt_checkpoint_settings(cfg: Any) -> None:
    """With ``generation.checkpoint``, takes the saved run's model, data and trainer settings."""
    if cfg.generation.checkpoint is None:
        return
    _, path = _checkpoint_path(str(cfg.generation.checkpoint))
    saved = checkpoint.read_metadata(path).get("settings")
    if saved:  # checkpoints from before settings were saved: the signature check decides
        saved_settings.adopt(cfg, saved, f"generation.checkpoint '{path}'")


def run_lm(cfg: Any) -> dict[str, Any]:
    """Trains (or loads) the language model of ``cfg`` and returns every metric of the run."""
    adopt_checkpoint_settings(cfg)
    run = prepare(cfg)
    settings = generation_settings(cfg)
    # The same cached object prepare() loaded: its arrays are on the device already.
    dataset = load_dataset(cfg.data, context_length=int(cfg.model.context_length))
    assert isinstance(dataset, LMDataset)
    if cfg.generation.checkpoint is not None:
        params, path = load_params(cfg, run)
        metrics: dict[str, Any] = {
            "status": "complete",
            "device": devices.describe(run.device),
            "loaded_checkpoint": str(path),
            "compile_seconds": 0.0,
            "train_seconds": 0.0,
            "steps": 0,
            "steps_per_second": 0.0,
            "flops": 0.0,
            "flops_per_second": 0.0,
        }
    else:
        metrics, state = train_prepared(run, return_state=True)
        params = state["params"]
    metrics["source_entropy"] = (
        dataset.source.entropy(dataset.x_val) if dataset.source is not None else math.nan
    )
    metrics["unigram_loss"] = unigram_loss(dataset)
    if metrics["status"] != "complete":
        return metrics  # diverged: nothing to evaluate

    data = evaluate.device_data(dataset, run.device)
    program = evaluate.compiled_eval(run.spec, params, data, run.device)
    traced = jax.device_put(evaluate.as_settings(settings), run.device)
    key = jax.device_put(jax.random.key(int(cfg.generation.seed)), run.device)
    start = time.perf_counter()
    structure = jax.device_put(evaluate.eval_structure(run.spec), run.device)
    out = jax.tree.map(np.asarray, program.run(params, traced, key, data, structure))
    metrics["eval_seconds"] = time.perf_counter() - start
    if program.first_use():  # compiled for this run
        metrics["eval_compile_seconds"] = program.compile_seconds
    for name, value in out.items():
        if name != "samples":
            metrics[name] = float(value)
    n, length = int(cfg.generation.num_samples), settings["sample_length"]
    metrics["samples"] = [dataset.decode(row[:length]) for row in out["samples"][:n]]
    return metrics


def lm_task(cfg: Any, output_dir: str | os.PathLike[str] | None = None) -> dict[str, float]:
    """``task=lm`` behind ``hpfw``: run, log, write ``metrics.json``, return the numbers."""
    metrics = run_lm(cfg)
    if "gen_tv" in metrics:
        log.info(
            "gen_tv=%.4f (model alone %.4f) at temperature=%g top_p=%g top_k=%d",
            metrics["gen_tv"],
            metrics["model_tv"],
            cfg.generation.temperature,
            cfg.generation.top_p,
            cfg.generation.top_k,
        )
    log.info(
        "held-out loss %.4f | source entropy (floor) %.4f | unigram baseline %.4f",
        metrics.get("val_loss", math.nan),
        metrics["source_entropy"],
        metrics["unigram_loss"],
    )
    if "loaded_checkpoint" in metrics:
        log.info("loaded %s: no training", metrics["loaded_checkpoint"])
    for i, text in enumerate(metrics.get("samples", [])):
        log.info("sample %d: %r", i, text)
    return write_run_metrics(cfg, metrics, output_dir)
