"""Side by side on a CPU, a free thread takes the longest trial whose program is compiled."""

from __future__ import annotations

from hpfw.trainer.order import TrialQueue


def test_the_longest_ready_trial_goes_first_and_waiting_follows_the_batch_order() -> None:
    # (program, estimated seconds); program "a" is compiled, "b" is still compiling.
    trials = [("b", 1.0), ("a", 0.5), ("b", 3.0), ("a", 2.0), ("a", None)]
    compiled = {"a"}
    queue = TrialQueue(trials, ready=lambda t: t[0] in compiled, estimate=lambda t: t[1])
    assert [queue.next(), queue.next(), queue.next()] == [3, 1, 4]
    # Nothing ready: the batch's next trial in order (its program started compiling first).
    assert queue.next() == 0
    compiled.add("b")
    assert queue.next() == 2
    assert queue.next() is None
