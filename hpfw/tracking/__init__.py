"""Trackers as Hydra callbacks: ``hydra/callbacks=mlflow`` and ``hydra/callbacks=tensorboard``.

They work with any Hydra app and launcher: each job is one run (params, per-epoch
and final metrics, status), the sweep its parent. The configs live in
``hydra_plugins.hpfw_tracking``; the tracking libraries load when a callback fires.
"""
