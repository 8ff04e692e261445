"""The compiled evaluation program of ``task=lm``: held-out loss, fidelity and samples.

One jit-compiled program per model signature takes the trained parameters,
the generation settings (temperature, top_p, top_k, prompt and sample length:
traced scalars) and a sampling key, so a sweep over generation settings, or a
new seed, runs the same compiled program again: nothing recompiles.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hpfw.lm.dataset import LMDataset
from hpfw.lm.fidelity import next_token_distribution, total_variation
from hpfw.lm.generate import sample
from hpfw.trainer import device as devices
from hpfw.trainer.programs import Program, ProgramCache
from hpfw.trainer.spec import STRUCTURE_NAMES, ProgramSpec, StaticSpec, as_structure
from hpfw.trainer.trainer import Trainer

MAX_SAMPLES = 16  # samples the program always draws; a run keeps generation.num_samples of them
SETTING_NAMES = ("temperature", "top_p", "top_k", "prompt_length", "sample_length")
_INT_SETTINGS = ("top_k", "prompt_length", "sample_length")

Settings = dict[str, jax.Array]


def as_settings(values: dict[str, float | int]) -> Settings:
    return {
        name: jnp.asarray(values[name], jnp.int32 if name in _INT_SETTINGS else jnp.float32)
        for name in SETTING_NAMES
    }


def _fidelity(
    trainer: Trainer,
    params: Any,
    x: jax.Array,
    truth: jax.Array,
    settings: Settings,
    structure: dict[str, jax.Array],
) -> tuple[jax.Array, jax.Array]:
    """Mean TV over every position of ``x`` from the truth: the sampler's and the model's own."""
    n = x.shape[0]
    chunk, n_chunks = trainer.eval_chunks(n)
    pad = n_chunks * chunk - n
    xs = jnp.pad(x, [(0, pad), (0, 0)]).reshape(n_chunks, chunk, -1)
    ps = jnp.pad(truth, [(0, pad), (0, 0), (0, 0)]).reshape(n_chunks, chunk, *truth.shape[1:])
    mask = (jnp.arange(n_chunks * chunk) < n).reshape(n_chunks, chunk)
    no_dropout = {**structure, "dropout": jnp.float32(0.0)}

    def one(totals: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
        xc, pc, mc = inputs
        logits = trainer.logits(no_dropout, params, xc, None)
        sampler = next_token_distribution(
            logits, settings["temperature"], settings["top_p"], settings["top_k"]
        )
        own = jax.nn.softmax(logits, axis=-1)
        tv = jnp.stack([total_variation(pc, sampler), total_variation(pc, own)])  # [2, B, T]
        return totals + (tv.mean(-1) * mc).sum(-1), None

    totals, _ = jax.lax.scan(one, jnp.zeros(2), (xs, ps, mask))
    return totals[0] / n, totals[1] / n


def make_eval_fn(program: ProgramSpec, with_truth: bool) -> Any:
    """``(params, settings, key, data, structure) -> metrics``; ``data`` as in ``device_data``.

    ``structure`` holds the trial's structural values (``STRUCTURE_NAMES``), so
    one program evaluates every model of its envelope (docs/structural.md).
    """
    trainer = Trainer(program)

    def evaluate(
        params: Any,
        settings: Settings,
        key: jax.Array,
        data: dict[str, jax.Array],
        structure: dict[str, jax.Array],
    ):
        no_dropout = {**structure, "dropout": jnp.float32(0.0)}
        out: dict[str, jax.Array] = {}
        for split in ("val", "test"):
            x, y = data[f"x_{split}"], data[f"y_{split}"]
            out[f"{split}_loss"], out[f"{split}_accuracy"] = trainer.evaluate(
                params, x, y, structure
            )
        if with_truth:
            out["gen_tv"], out["model_tv"] = _fidelity(
                trainer, params, data["x_val"], data["p_val"], settings, structure
            )
        out["samples"] = sample(
            lambda tokens: trainer.logits(no_dropout, params, tokens, None),
            data["prompts"],
            key,
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            top_k=settings["top_k"],
            prompt_length=settings["prompt_length"],
            length=settings["sample_length"],
        )
        return out

    return evaluate


_DEVICE_DATA: dict[tuple[int, str], tuple[LMDataset, dict[str, jax.Array]]] = {}


def device_data(dataset: LMDataset, device: jax.Device) -> dict[str, jax.Array]:
    """Held-out windows, the source's true next-token distributions and the sample prompts.

    On ``device`` once per process. Prompts are the first ``MAX_SAMPLES``
    held-out validation windows (repeated if there are fewer).
    """
    cache_key = (id(dataset), str(device))
    if cache_key not in _DEVICE_DATA:
        host = {k: np.asarray(getattr(dataset, k)) for k in ("x_val", "y_val", "x_test", "y_test")}
        host["prompts"] = np.resize(dataset.x_val, (MAX_SAMPLES, dataset.x_val.shape[1]))
        if dataset.source is not None:
            host["p_val"] = dataset.source.next_token_probs(dataset.x_val)
        _DEVICE_DATA[cache_key] = (dataset, jax.device_put(host, device))
    return _DEVICE_DATA[cache_key][1]


# Keyed by (program spec, device, whether the true source is known).
PROGRAMS: ProgramCache[Program] = ProgramCache()


def eval_structure(spec: StaticSpec) -> dict[str, jax.Array]:
    """The trial's structural values as the evaluation program's inputs."""
    return as_structure(spec.structure())


def compiled_eval(
    spec: StaticSpec, params: Any, data: dict[str, jax.Array], device: jax.Device
) -> Program:
    """The evaluation program for ``spec``'s program on ``device``, compiled on first use.

    Called as ``run(params, settings, key, data, eval_structure(spec))``.
    """
    with_truth = "p_val" in data
    program = spec.program

    def compile_program() -> Program:
        settings = as_settings(dict.fromkeys(SETTING_NAMES, 1))
        key = jax.random.key(0)
        structure = as_structure(dict.fromkeys(STRUCTURE_NAMES, 1))
        settings, key, structure = jax.device_put((settings, key, structure), device)
        start = time.perf_counter()
        lowered = jax.jit(make_eval_fn(program, with_truth)).lower(
            params, settings, key, data, structure
        )
        compiled = lowered.compile(devices.compiler_options(device))
        return Program(compiled, time.perf_counter() - start)

    return PROGRAMS.get((program, str(device), with_truth), compile_program)
