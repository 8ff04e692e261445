"""hpfw's tracking callbacks for Hydra: hydra/callbacks=mlflow and =tensorboard."""
