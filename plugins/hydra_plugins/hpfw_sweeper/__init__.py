"""hpfw's Hydra sweeper plugin: one Sweeper class for every registered strategy."""
