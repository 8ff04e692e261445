"""hpfw's batched Hydra launcher: compose once per group choice, run trials together."""
