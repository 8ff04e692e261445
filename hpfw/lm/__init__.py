"""Language modelling (``task=lm``): corpora, the fidelity objective, sampling and the run.

Importing hpfw.lm registers its corpora, ``markov`` and ``text``, with hpfw.data.
"""

from __future__ import annotations

from hpfw.lm import dataset, text

__all__ = ["dataset", "text"]
