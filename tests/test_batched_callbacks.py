"""Hydra callbacks under the batched launcher, with hpfw's trials trained together."""

from __future__ import annotations

import json

from tests.helpers import ROOT, TINY, run_cli


def test_callbacks_see_each_grouped_trial_once(tmp_path):
    events = tmp_path / "events.jsonl"
    done = run_cli(
        "-m",
        "hydra/launcher=batched",
        "hydra.sweeper.batch_size=2",
        *TINY,
        "trainer.epochs=1",
        "optimizer.lr=0.001,0.01",
        "+hydra.callbacks.rec._target_=recorder.Recorder",
        f"+hydra.callbacks.rec.path={events}",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "tests" / "apps" / "recorder")},
    )
    assert done.returncode == 0, done.stderr
    assert "Launching 2 jobs in this process (batched)" in done.stdout  # not the fallback
    seen = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["event"], e["num"]) for e in seen] == [
        ("start", 0),
        ("end", 0),
        ("start", 1),
        ("end", 1),
    ]
    assert [e["lr"] for e in seen if e["event"] == "start"] == [0.001, 0.01]
    metrics = [
        json.loads((tmp_path / "sweep" / str(n) / "metrics.json").read_text()) for n in (0, 1)
    ]
    ends = [e for e in seen if e["event"] == "end"]
    assert [e["status"] for e in ends] == ["COMPLETED"] * 2
    assert [e["objective"] for e in ends] == [m["val_accuracy"] for m in metrics]
