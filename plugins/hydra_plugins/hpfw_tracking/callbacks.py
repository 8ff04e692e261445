"""Callback configs in Hydra's ConfigStore: ``hydra/callbacks=mlflow`` and ``=tensorboard``.

Hydra imports every module under ``hydra_plugins`` at every start, so this one
imports only Hydra: the callbacks' classes (and MLflow, TensorBoard) load when
Hydra instantiates a selected callback. Each option is stored in Hydra's own
``hydra/callbacks`` group (whose package is ``hydra.callbacks``), under one
key, so ``hydra.callbacks.mlflow.tracking_uri=...`` sets an option, and
``'hydra/callbacks=[mlflow,tensorboard]'`` selects both.
"""

from hydra.core.config_store import ConfigStore

MLFLOW = {
    "_target_": "hpfw.tracking.mlflow_callback.MlflowCallback",
    "tracking_uri": None,  # null: MLflow's default (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)
    "experiment_name": None,  # null: the app's name (hydra.job.name)
    "log_config": True,  # each run keeps the job's composed config as an artifact
}
TENSORBOARD = {
    "_target_": "hpfw.tracking.tensorboard_callback.TensorBoardCallback",
    "log_dir": None,  # null: <sweep dir>/tensorboard (a single run: <run dir>/tensorboard)
}


def register() -> None:
    cs = ConfigStore.instance()
    group = "hydra/callbacks"
    cs.store(group=group, name="mlflow", node={"mlflow": MLFLOW}, provider="hpfw")
    cs.store(group=group, name="tensorboard", node={"tensorboard": TENSORBOARD}, provider="hpfw")


register()
