"""hpfw's Hydra sweeper plugin (placeholder)."""
