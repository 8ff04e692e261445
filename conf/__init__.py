"""hpfw's Hydra config tree, shipped inside the wheel as the package ``hpfw.conf``."""
