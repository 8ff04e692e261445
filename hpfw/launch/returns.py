"""The batched launcher's ``JobReturn``: Hydra's, with ``hydra_cfg`` built when first read.

Under Hydra's launchers ``JobReturn.hydra_cfg`` is a deep copy of the job's
whole ``hydra`` node, made for every job (about as long as composing it). The
batched launcher keeps instead the plain data it already built for the job's
``hydra.yaml`` (its per-job keys are small dicts, the rest is shared with the
other jobs of the composition) and turns it into a ``DictConfig`` only when
something reads ``hydra_cfg``: a sweeper, a callback's ``on_job_end``, a test.
"""

from __future__ import annotations

from typing import Any

from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf


class JobReturnWithLazyHydra(JobReturn):
    """A ``JobReturn`` whose ``hydra_cfg`` (``{"hydra": ...}``) is made from ``hydra_data``.

    The config equals the ``hydra.yaml`` the job wrote: the same keys and values,
    interpolations kept (``resolve=False``, as Hydra saves it).
    """

    def __init__(self, *, hydra_data: dict[str, Any], **fields: Any) -> None:
        self._hydra_data: dict[str, Any] | None = hydra_data
        self._hydra_cfg: DictConfig | None = None
        super().__init__(**fields)

    @property  # type: ignore[override]
    def hydra_cfg(self) -> DictConfig | None:
        if self._hydra_cfg is None and self._hydra_data is not None:
            self._hydra_cfg = OmegaConf.create({"hydra": self._hydra_data})
        return self._hydra_cfg

    @hydra_cfg.setter
    def hydra_cfg(self, value: DictConfig | None) -> None:
        self._hydra_cfg = value
        if value is not None:
            self._hydra_data = None
