"""``hpfw --version``: hpfw's version, the libraries it runs on, and the device JAX would use."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# (distribution, the name people know it by): the versions a bug report needs.
LIBRARIES = (("hydra-core", "Hydra"), ("jax", "JAX"), ("flax", "Flax"), ("optax", "Optax"))


def installed(distribution: str) -> str:
    """The installed version of ``distribution``, or ``not installed``."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def default_device() -> str:
    """The device a run with ``trainer.device=auto`` would use, e.g. ``cuda:0 (NVIDIA H200)``.

    Imports JAX (a second or more), which is why only ``--version`` calls this.
    """
    try:
        import jax

        from hpfw.trainer.device import describe

        return describe(jax.devices()[0])
    except Exception as error:  # a broken accelerator setup: say so, do not crash --version
        from hpfw.values import one_line

        return f"unavailable ({one_line(error)})"


def version_text() -> str:
    """``hpfw <version>`` and, one per line, the libraries' versions and the default device."""
    lines = [f"hpfw {installed('hpfw')}"]
    lines += [f"{label} {installed(dist)}" for dist, label in LIBRARIES]
    lines[2] += f" (jaxlib {installed('jaxlib')})"  # JAX needs its own jaxlib: show both
    lines.append(f"default device: {default_device()}")
    return "\n".join(lines)
