"""Language modelling (``task=lm``): corpora, the fidelity objective, sampling and the run."""
