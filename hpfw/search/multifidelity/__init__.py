"""Multi-fidelity strategies: successive halving (``sha``) and Hyperband (``hyperband``, BOHB)."""

from hpfw.search.multifidelity.brackets import Bracket, hyperband_brackets, sha_brackets
from hpfw.search.multifidelity.hyperband import HyperbandStrategy
from hpfw.search.multifidelity.sha import SuccessiveHalvingStrategy
from hpfw.search.multifidelity.strategy import BracketStrategy

__all__ = [
    "Bracket",
    "BracketStrategy",
    "HyperbandStrategy",
    "SuccessiveHalvingStrategy",
    "hyperband_brackets",
    "sha_brackets",
]
