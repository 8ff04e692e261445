"""Multi-layer perceptron over flattened inputs, sized by an envelope of widths and depths."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from hpfw.models.layers import ActivationFn, dropout, site_key
from hpfw.models.masked import Dense, Ranges, Sizes, apply_mask, as_key, fixed_ranges, sites
from hpfw.models.skip import skippable

STRUCTURAL = ("num_layers", "hidden_dim")
_HEAD = 1000  # the head's weight site; hidden layer i is site i


def _live(sizes: Sizes, key: str, i: int) -> Any:
    """Whether layer ``i`` runs for the trial: True, or a traced flag if some trials skip it."""
    return True if i < sizes.lo(key) else jnp.asarray(sizes.value(key)) > i


class MLP(nnx.Module):
    """``num_layers`` hidden Linear + activation + dropout layers, then a Linear classifier.

    Built for ``ranges`` of ``num_layers`` and ``hidden_dim`` (an envelope; by
    default exactly the given sizes). Layers beyond a trial's ``num_layers``
    are skipped (``hpfw.models.skip``: a CPU runs only the active ones), units beyond
    its ``hidden_dim`` are masked. With zero hidden layers the head reads the
    inputs, so an envelope that allows zero layers carries
    ``max(inputs, hidden_dim)`` features between layers.
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        num_classes: int,
        num_layers: int,
        hidden_dim: int,
        act: ActivationFn,
        rngs: Any = None,
        ranges: Ranges | None = None,
        structure: dict[str, Any] | None = None,
    ) -> None:
        key = as_key(rngs)
        self.ranges = dict(ranges or fixed_ranges(num_layers=num_layers, hidden_dim=hidden_dim))
        sizes = Sizes(self.ranges, structure)
        self.in_features = math.prod(input_shape)
        hi = sizes.hi("hidden_dim")
        if sizes.hi("num_layers") == 0:
            self.width = self.in_features
        elif sizes.lo("num_layers") == 0:
            self.width = max(self.in_features, hi)
        else:
            self.width = hi
        unit_mask = sizes.mask("hidden_dim")
        hidden_dim_value = sizes.value("hidden_dim")
        layers = []
        for i in range(sizes.hi("num_layers")):
            n_in = self.in_features if i == 0 else hi
            fan_in = self.in_features if i == 0 else hidden_dim_value
            layers.append(
                Dense(
                    sites(key, i),
                    n_in,
                    hi,
                    fan_in=fan_in,
                    in_mask=None if i == 0 else unit_mask,
                    out_mask=unit_mask,
                    live=_live(sizes, "num_layers", i),
                )
            )
        # nnx.List makes the layers part of the module's state, so nnx.split sees them.
        self.hidden = nnx.List(layers)
        head_in = self.width if sizes.hi("num_layers") else self.in_features
        head_fan_in, head_mask = self._head_inputs(sizes, head_in)
        self.head = Dense(
            sites(key, _HEAD), head_in, num_classes, fan_in=head_fan_in, in_mask=head_mask
        )
        self.act = act

    def _head_inputs(self, sizes: Sizes, head_in: int) -> tuple[Any, jax.Array | None]:
        """The head's fan-in and input mask: the inputs with zero layers, else the units."""
        if sizes.hi("num_layers") == 0:
            return self.in_features, None
        units = jnp.arange(head_in) < sizes.value("hidden_dim")
        if sizes.lo("num_layers") > 0:
            mask = units.astype(jnp.float32) if sizes.varies("hidden_dim") else None
            return sizes.value("hidden_dim"), mask
        deep = jnp.asarray(sizes.value("num_layers")) > 0
        inputs = jnp.arange(head_in) < self.in_features
        fan_in = jnp.where(deep, sizes.value("hidden_dim"), self.in_features)
        return fan_in, jnp.where(deep, units, inputs).astype(jnp.float32)

    def __call__(
        self,
        x: jax.Array,
        *,
        dropout_rate: float | jax.Array,
        key: jax.Array | None,
        structure: dict[str, Any] | None = None,
    ) -> jax.Array:
        sizes = Sizes(self.ranges, structure)
        unit_mask = sizes.mask("hidden_dim")
        h = x.reshape(x.shape[0], -1)
        if h.shape[-1] < self.width:  # zero layers allowed: inputs and units share one width
            h = jnp.pad(h, ((0, 0), (0, self.width - h.shape[-1])))
        aux = (dropout_rate, key, unit_mask)
        for i, layer in enumerate(self.hidden):
            params = (layer.kernel[...], layer.bias[...])
            linear = functools.partial(_linear, n_in=layer.kernel.shape[0])
            nonlinear = functools.partial(self._nonlinear, site=i)
            if i < sizes.lo("num_layers"):
                h = nonlinear(linear(h, params), aux)
            else:  # a layer some trials of the envelope skip
                live = i < jnp.asarray(sizes.value("num_layers"))
                h = skippable(live, linear, nonlinear, h, params, aux)
        if not self.hidden:
            h = h[:, : self.in_features]
        # Logits in float32 so the loss and metrics are stable under bfloat16 params.
        return self.head(h).astype(jnp.float32)

    def _nonlinear(self, z: jax.Array, aux: Any, site: int) -> jax.Array:
        """Activation, unit mask and dropout of a hidden layer, padded to the carried width."""
        rate, key, unit_mask = aux
        out = dropout(apply_mask(self.act(z), unit_mask), rate, site_key(key, site))
        return jnp.pad(out, ((0, 0), (0, self.width - out.shape[-1])))


def _linear(h: jax.Array, params: tuple[jax.Array, jax.Array], n_in: int) -> jax.Array:
    """A hidden layer's matmul, reading the first ``n_in`` carried features."""
    return Dense.apply(h[:, :n_in], *params)
