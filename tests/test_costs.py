"""The cost model chooses envelopes as its estimates say, and the sweeper passes the envelope.

Pure arithmetic: nothing here compiles or trains.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from omegaconf import OmegaConf

from hpfw.errors import ConfigError
from hpfw.models.costs import forward_flops, param_count
from hpfw.search.overrides import parse_sweep
from hpfw.search.space import Categorical, Int
from hpfw.sweeper.envelopes import envelope_override, listed_values
from hpfw.trainer.costs import (
    MAX_BOXES,
    Box,
    Problem,
    box_seconds,
    compile_seconds,
    group_width,
    plan,
)
from hpfw.trainer.device_costs import device_costs
from hpfw.trainer.envelope import read_envelope
from tests.helpers import compose_config

MLP = (("activation", "relu"), ("name", "mlp"))
SEED_WIDE = Problem(
    model=MLP,
    values=(
        ("batch_size", (32, 64, 128)),
        ("hidden_dim", (64, 128, 256, 512)),
        ("num_layers", (1, 2, 3, 4)),
    ),
    epochs=(10, 20, 30),
    trials=64,
    optimizers=3,
    input_shape=(64,),
    num_classes=10,
    split_sizes=(1078, 359, 360),
)
CPU, GPU = device_costs("cpu", 2), device_costs("gpu", 16)


def _grid(problem: Problem):
    return itertools.product(*[v for _, v in problem.values])


def test_every_trial_lands_in_exactly_one_box_that_holds_it():
    chosen = plan(SEED_WIDE, CPU)
    assert 1 <= len(chosen.boxes) <= MAX_BOXES
    for point in _grid(SEED_WIDE):
        own = dict(zip(SEED_WIDE.keys, point, strict=True))
        holding = [
            i
            for i, box in enumerate(chosen.boxes)
            if all(lo <= own[k] <= hi for k, (lo, hi) in box.ranges(SEED_WIDE).items())
        ]
        assert holding == [chosen.box_for(own)]
    assert sum(chosen.shares) == pytest.approx(1.0)


def test_a_value_outside_the_listed_ones_widens_its_box():
    chosen = plan(SEED_WIDE, CPU)
    own = {"batch_size": 32, "hidden_dim": 1024, "num_layers": 1}
    ranges = chosen.ranges_for(own)
    assert ranges["hidden_dim"][1] == 1024
    between = chosen.ranges_for({"batch_size": 48, "hidden_dim": 100, "num_layers": 2})
    assert between["batch_size"][0] <= 48 <= between["batch_size"][1]
    assert between["hidden_dim"][0] <= 100 <= between["hidden_dim"][1]


def test_splitting_never_estimates_worse_than_one_program():
    for costs in (CPU, GPU):
        chosen = plan(SEED_WIDE, costs)
        assert chosen.estimate_seconds <= chosen.one_box_seconds


def test_an_accelerator_splits_a_wide_batch_by_width_and_keeps_a_short_sweep_whole():
    # A 1024-wide vmapped group is memory-bound (measured on an H200): every trial pays
    # its box's weights each step, so the 512-wide trials get programs of their own.
    wide = plan(dataclasses.replace(SEED_WIDE, trials=1024), GPU)
    widths = [box.ranges(SEED_WIDE)["hidden_dim"] for box in wide.boxes]
    assert all(hi <= 256 or lo > 256 for lo, hi in widths)
    assert wide.estimate_seconds < 0.7 * wide.one_box_seconds
    # Four one-epoch trials: the compile dominates; the host compiles boxes side by
    # side, so a split pays only where a shallower box compiles faster.
    short = plan(dataclasses.replace(SEED_WIDE, trials=4, epochs=(1,)), GPU)
    assert len(short.boxes) < len(wide.boxes)
    assert sum(short.train_seconds) < 0.1 * max(short.compile_seconds)


def test_a_vmapped_group_is_counted_at_the_power_of_two_width_it_runs_at():
    # 81 of a 1024-wide batch's trials in one box run as a 128-wide program.
    width, padding = group_width(dataclasses.replace(SEED_WIDE, group=1024), GPU, 81 / 1024)
    assert width == pytest.approx(81) and padding == pytest.approx(128 / 81)
    assert group_width(SEED_WIDE, CPU, 0.5) == (1.0, 1.0)  # a CPU runs each trial alone


def test_narrow_groups_share_less_of_each_step_so_they_split_no_more():
    # A step's fixed cost (launches) is shared by the trials stepping together: 1024
    # trials launched 16 at a time gain less from narrower programs than all at once.
    counts = [
        len(plan(dataclasses.replace(SEED_WIDE, trials=1024, group=group), GPU).boxes)
        for group in (16, 1024)
    ]
    assert counts[0] <= counts[1]
    assert counts[1] > 1


def test_a_cpu_splits_a_wide_sweep_but_not_a_short_one():
    # 64 trials of up to 512 units x 30 epochs: padding 64-unit trials to 512 costs more
    # than compiling another program.
    wide = plan(SEED_WIDE, CPU)
    assert len(wide.boxes) > 1
    assert wide.estimate_seconds < 0.8 * wide.one_box_seconds
    # Four one-epoch trials: compiles dominate, one program.
    short = dataclasses.replace(SEED_WIDE, trials=4, epochs=(1,))
    assert len(plan(short, CPU).boxes) == 1


def test_more_trials_never_means_fewer_programs():
    counts = [len(plan(dataclasses.replace(SEED_WIDE, trials=n), CPU).boxes) for n in (2, 16, 256)]
    assert counts == sorted(counts)


def test_padding_costs_time_and_skipped_layers_do_not_on_a_cpu():
    whole = Box(((0, 2), (0, 3), (0, 3)))
    narrow = Box(((0, 2), (0, 0), (0, 3)))
    import numpy as np

    point = np.array([[0, 0, 0]])  # batch 32, hidden 64, one layer
    padded = box_seconds(SEED_WIDE, CPU, whole, point)[0]
    own = box_seconds(SEED_WIDE, CPU, narrow, point)[0]
    assert padded > 2 * own
    # Depth: on a CPU a one-layer trial in a four-layer box pays only the branches it
    # skips (a fixed cost per step), not the three layers' FLOPs; vmapped, every trial
    # of a group runs the box's four layers.
    shallow = Box(((0, 2), (0, 0), (0, 0)))
    on_cpu = (
        box_seconds(SEED_WIDE, CPU, narrow, point)[0]
        / box_seconds(SEED_WIDE, CPU, shallow, point)[0]
    )
    assert 1.0 < on_cpu < 1.5
    wide = np.array([[0, 3, 0]])  # 512 units: the FLOPs of a layer dominate a step
    deep_box, one_layer = Box(((0, 2), (3, 3), (0, 3))), Box(((0, 2), (3, 3), (0, 0)))
    vmapped = (
        box_seconds(SEED_WIDE, GPU, deep_box, wide, width=1024)[0]
        / box_seconds(SEED_WIDE, GPU, one_layer, wide, width=1024)[0]
    )
    assert vmapped > 1.5


def test_compiles_grow_with_skippable_layers_and_families():
    one = Box(((0, 0), (0, 0), (0, 0)))
    deep = Box(((0, 0), (0, 0), (0, 3)))
    assert compile_seconds(SEED_WIDE, CPU, deep) > compile_seconds(SEED_WIDE, CPU, one)
    single = dataclasses.replace(SEED_WIDE, optimizers=1)
    assert compile_seconds(SEED_WIDE, CPU, one) > compile_seconds(single, CPU, one)


@pytest.mark.parametrize(
    ("model", "sizes", "shape", "expected"),
    [
        ({"name": "mlp"}, {"num_layers": 2, "hidden_dim": 8}, (4,), 2 * (4 * 8 + 8 * 8 + 8 * 3)),
        ({"name": "mlp"}, {"num_layers": 0, "hidden_dim": 8}, (4,), 2 * 4 * 3),
        (
            {"name": "cnn", "kernel_size": 3},
            {"num_conv_layers": 1, "channels": 2, "hidden_dim": 5},
            (4, 4),
            2 * (16 * 9 * 1 * 2 + 2 * 2 * 2 * 5 + 5 * 3),
        ),
    ],
)
def test_forward_flops_count_the_matmuls(model, sizes, shape, expected):
    assert forward_flops(model, sizes, shape, 3) == expected


# --- the sweeper's side ------------------------------------------------------------


def test_listed_values_of_ranges_and_choices():
    assert listed_values(Categorical([64, 16, 32])) == [16, 32, 64]
    assert listed_values(Int(1, 4)) == [1, 2, 3, 4]
    wide = listed_values(Int(16, 1024, log=True))
    assert wide[0] == 16 and wide[-1] == 1024 and len(wide) <= 32
    assert listed_values(Categorical(["a", "b"])) is None


def _composed(with_envelope: bool):
    base = {"optimizer": {"name": "adam"}, "trainer": {"epochs": 3}}
    if with_envelope:
        base["trainer"]["envelope"] = {"hidden_dim": None}

    def composed(groups):
        cfg = OmegaConf.create(base)
        for group in groups:
            name, value = group.split("=")
            if name == "optimizer":
                cfg.optimizer.name = {"sgd": "sgd", "adam": "adam", "fast": "adamw"}[value]
        return cfg

    return composed


def _sweep(*overrides: str):
    groups = {"optimizer": ["sgd", "adam", "fast"]}
    return parse_sweep(list(overrides), group_options=lambda g: groups.get(g, []))


def test_the_sweeper_lists_the_swept_structural_values_for_hpfw_only():
    sweep = _sweep(
        "model.hidden_dim=choice(64,256)",
        "model.num_layers=int(interval(1,3))",
        "optimizer=sgd,fast",
        "optimizer.lr=tag(log,interval(1e-4,1e-1))",
    )
    override = envelope_override(sweep, _composed(True), trials=12)
    assert override == (
        "trainer.envelope={hidden_dim:[64,256],num_layers:[1,2,3],optimizer:[sgd,adamw],trials:12}"
    )
    # Another app's config has no trainer.envelope: it gets nothing.
    assert envelope_override(sweep, _composed(False), trials=12) is None
    # Nothing structural swept, or the user's own envelope: nothing added.
    assert envelope_override(_sweep("optimizer.lr=interval(0.1,0.2)"), _composed(True), 4) is None
    own = _sweep("model.hidden_dim=choice(64,256)", "trainer.envelope.trials=3")
    assert envelope_override(own, _composed(True), trials=12) is None


def test_the_launched_batch_reaches_the_envelope_as_its_group():
    sweep = _sweep("model.hidden_dim=choice(64,256)")
    override = envelope_override(sweep, _composed(True), trials=64, group=16)
    assert override == "trainer.envelope={hidden_dim:[64,256],trials:64,group:16}"
    envelope = read_envelope(compose_config([override]))
    assert (envelope.trials, envelope.group) == (64, 16)
    with pytest.raises(ConfigError, match=r"trainer\.envelope\.group.*got 0"):
        read_envelope(compose_config(["trainer.envelope={hidden_dim:[64],group:0}"]))


def test_multi_fidelity_budgets_become_the_epochs():
    sweep = _sweep("model.hidden_dim=choice(64,256)")
    override = envelope_override(sweep, _composed(True), trials=9, budgets=[3, 1, 9])
    assert override.endswith("epochs:[1,3,9],trials:9}")


@pytest.mark.parametrize(
    ("model", "sizes", "shape", "expected"),
    [
        ({"name": "mlp"}, {"num_layers": 2, "hidden_dim": 8}, (4,), 4 * 8 + 8 * 8 + 8 * 3),
        (
            {"name": "cnn", "kernel_size": 3},
            {"num_conv_layers": 1, "channels": 2, "hidden_dim": 5},
            (4, 4),
            9 * 1 * 2 + 2 * 2 * 2 * 5 + 5 * 3,
        ),
        (
            {"name": "decoder"},
            {"num_layers": 2, "d_model": 4, "mlp_dim": 8, "num_heads": 1},
            (6,),
            2 * 4 * (4 * 4 + 2 * 8) + 4 * 3,
        ),
    ],
)
def test_param_count_counts_the_kernels(model, sizes, shape, expected):
    assert param_count(model, sizes, shape, 3) == expected


def test_the_optimiser_is_charged_for_the_weights_a_trial_updates():
    """At the box's widths, for the layers the trial runs: on a CPU the layers it skips
    are left alone (hpfw.trainer.live), so they cost no update, only the smaller charge
    of passing their weights through the skipped branch."""
    import numpy as np

    point = np.array([[0, 0, 0]])  # batch 32, hidden 64, one layer
    narrow, wide = Box(((0, 2), (0, 0), (0, 0))), Box(((0, 2), (0, 3), (0, 0)))
    deep = Box(((0, 2), (0, 0), (0, 3)))
    no_weights = dataclasses.replace(CPU, param_seconds=0.0)

    def extra(costs, box):
        return (
            box_seconds(SEED_WIDE, costs, box, point)[0]
            - box_seconds(SEED_WIDE, costs, narrow, point)[0]
        )

    assert extra(CPU, wide) > extra(no_weights, wide) > 0
    assert extra(CPU, deep) == pytest.approx(extra(no_weights, deep))
    assert extra(CPU, deep) > extra(dataclasses.replace(CPU, skipped_param_seconds=0.0), deep)


def test_a_padded_batch_costs_its_own_rows_on_a_cpu_and_the_largest_vmapped():
    """A CPU runs micro-batches of the smallest batch size; a GPU masks rows of the largest."""
    import numpy as np

    batches = Box(((0, 2), (3, 3), (3, 3)))  # batches 32-128, 512 wide, four layers
    own_batch = Box(((0, 0), (3, 3), (3, 3)))
    point = np.array([[0, 3, 3]])  # batch 32
    cpu = (
        box_seconds(SEED_WIDE, CPU, batches, point)[0]
        / box_seconds(SEED_WIDE, CPU, own_batch, point)[0]
    )
    assert cpu == pytest.approx(1.0, rel=0.05)
    gpu = (
        box_seconds(SEED_WIDE, GPU, batches, point, width=1024)[0]
        / box_seconds(SEED_WIDE, GPU, own_batch, point, width=1024)[0]
    )
    assert gpu > 1.5
