"""Pruning: intermediate values from any training loop, and pruners that stop poor trials early.

``api`` is what a training loop calls (``hpfw.report``, ``hpfw.should_prune``,
``hpfw.TrialPruned``); ``channel`` carries a trial's values through the sweep
directory; ``pruners`` holds the median, ASHA and Hyperband rules. See
docs/pruning.md.
"""

from hpfw.pruning.api import TrialPruned, report, should_prune

__all__ = ["TrialPruned", "report", "should_prune"]
