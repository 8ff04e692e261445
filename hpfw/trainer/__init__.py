"""hpfw's trainer: a whole run as one compiled program, its cache, and the runs around it.

``spec`` (static signature, traced hparams), ``trainer`` (the pure training
function), ``flops``, ``programs`` (the thread-safe program cache),
``compiled`` (the trainer's programs and device arrays), ``optim``,
``checkpoint``, ``device``, ``validate``, ``run`` (one run), ``metrics``
(metrics.json and the log) and ``groups`` (trial groups). Submodules are
imported on their own: importing this package imports no JAX.
"""
