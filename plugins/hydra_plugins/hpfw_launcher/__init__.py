"""hpfw's Hydra launcher plugin: ``hydra/launcher=batched``."""
