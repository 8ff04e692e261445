"""Bayesian optimisation: a float64 Gaussian process in JAX with log expected improvement.

``create_strategy("bayes", space, ...)`` or ``hydra/sweeper=bayes``; see docs/bayes.md.
"""

from hpfw.search.bayes.strategy import BayesStrategy

__all__ = ["BayesStrategy"]
