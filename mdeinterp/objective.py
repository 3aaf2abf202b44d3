"""The paper's training objective, in one place (docs/method.md, "Assignment and training objective").

For a batch with predicted depth ŷ, true depth y and the activations of the assigned layers,

    loss = L_depth(ŷ, y) − α · Σ_layers term(layer)

* ``L_depth`` is the model's depth loss (:mod:`mdeinterp.losses`: MFF's or BTS's), computed at the
  prediction's resolution (MFF predicts at half size; the target is resized with nearest so invalid
  pixels stay 0 instead of being blended into valid ones).
* ``term(layer)`` is :func:`mdeinterp.selectivity.selectivity_term`: the mean over the layer's C units
  of the depth selectivity index at each unit's *assigned* SID bin ``d_c = ⌊c / (C/K)⌋``, from the
  batch's |activations| over its valid pixels at full depth resolution.
* The SID edges of a layer (K + 1 of them, metres, ``t_0 = 0``, ``t_1 = d_min``, ``t_K = d_max``) are
  built once per layer, at the first batch, when its unit count C is known: K = ``num_bins`` or
  ``min(C, 64)``. Layers with the same K get the same edges tensor, so that layers of one feature
  size share one binning of each batch (:func:`mdeinterp.selectivity.selectivity_terms`).
* α = 0 is the baseline: no activation is captured and the loss is ``L_depth`` itself.

:class:`Objective` returns the loss and its parts (:class:`ObjectiveParts`) for logging. The training
loop (:func:`mdeinterp.train.train`) uses it; so can any other loop::

    objective = Objective.from_config(config)
    with objective.capture(model) as activations:
        pred = predict(model, batch, device)  # mdeinterp.inference.predict: the inputs the model declares
    parts = objective(pred, batch["depth"], activations)
    parts.loss.backward()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import hooks, selectivity
from .config import TrainConfig
from .errors import ConfigError, LayerOutputError
from .inference import predict
from .losses import LossFn, get_loss
from .metrics import check_metres


@dataclass(frozen=True)
class ObjectiveParts:
    """The objective of one batch: ``loss = depth_loss − alpha · Σ terms.values()`` (scalars, differentiable)."""

    loss: Tensor
    depth_loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)  # layer -> selectivity term (mean DS at assigned bins)


class Objective:
    """``L_depth − α Σ_layers selectivity term``, with the SID edges of each layer built at its first batch.

    Args:
        depth_loss: a loss function ``(pred, target) -> scalar`` or a name of :data:`mdeinterp.losses.LOSSES`.
        alpha: weight of the selectivity terms (the paper's 0.1); 0 gives the baseline.
        layers: names of the assigned layers (ignored when ``alpha == 0``).
        d_min, d_max: SID α and β in metres (NYUv2 0.75 and 10).
        num_bins: K for every layer; ``None`` is the paper's ``min(units, 64)``.
    """

    def __init__(
        self,
        depth_loss: LossFn | str,
        alpha: float,
        layers: Sequence[str],
        d_min: float,
        d_max: float,
        num_bins: int | None = None,
    ) -> None:
        self.depth_loss: Callable[[Tensor, Tensor], Tensor] = (
            get_loss(depth_loss) if isinstance(depth_loss, str) else depth_loss
        )
        self.alpha = float(alpha)
        if self.alpha != 0 and not tuple(layers):
            raise ConfigError(f"alpha={alpha!r} but no layer is assigned (layers={list(layers)!r}); expected at "
                              "least one layer name, or alpha=0 for the baseline")
        self.layers: tuple[str, ...] = tuple(layers) if self.alpha != 0 else ()
        self.d_min, self.d_max, self.num_bins = d_min, d_max, num_bins
        self.edges: dict[str, Tensor] = {}  # layer -> (K + 1,) SID edges in metres
        self._edges_by_bins: dict[tuple[int, torch.device], Tensor] = {}  # layers with the same K share one tensor

    @classmethod
    def from_config(cls, config: TrainConfig) -> Objective:
        """Return the objective a :class:`~mdeinterp.config.TrainConfig` trains with."""
        return cls(config.loss, config.alpha, config.layers, config.data.d_min, config.data.d_max, config.num_bins)

    @contextlib.contextmanager
    def capture(self, model: nn.Module) -> Iterator[dict[str, Tensor]]:
        """Yield a dict filled with the assigned layers' activations during the forward pass (empty when α = 0)."""
        if not self.layers:
            yield {}
            return
        with hooks.capture(model, self.layers) as activations:
            yield activations

    def layer_edges(self, layer: str, num_units: int, device: torch.device) -> Tensor:
        """Return the SID edges (K + 1,) in metres of ``layer`` with ``num_units`` units, built on first use."""
        if layer not in self.edges:
            num_bins = self.num_bins or selectivity.default_num_bins(num_units)
            if num_bins > num_units:
                raise ConfigError(
                    f"more bins ({num_bins}) than units ({num_units}) in layer {layer!r}: use at most "
                    f"{num_units} bins (--num-bins)"
                )
            key = (num_bins, device)
            if key not in self._edges_by_bins:
                self._edges_by_bins[key] = selectivity.sid_edges(num_bins, self.d_min, self.d_max).to(device)
            self.edges[layer] = self._edges_by_bins[key]
        return self.edges[layer]

    def __call__(self, pred: Tensor, depth: Tensor, activations: Mapping[str, Tensor]) -> ObjectiveParts:
        """Return the objective of a batch and its parts.

        Args:
            pred: predicted depth (B, 1, h, w), metres.
            depth: true depth (B, 1, H, W), metres, 0 = invalid.
            activations: layer -> (B, C, h_l, w_l) activations of the assigned layers (from :meth:`capture`).
        """
        for layer in self.layers:
            if activations[layer].dim() != 4:  # e.g. a transformer block's (B, N, C) tokens
                raise LayerOutputError(f"layer {layer!r} returned shape {tuple(activations[layer].shape)}; the "
                                       "selectivity term needs feature maps (B, C, h, w): assign a layer that "
                                       "outputs one, or reshape its tokens to a map")
        if self.layers and not getattr(self, "_units_checked", False):
            # once per objective: depth in millimetres would leave every bin empty and every term 0, silently
            d_max = max(float(self.layer_edges(layer, activations[layer].shape[1], depth.device)[-1])
                        for layer in self.layers)
            check_metres(depth, d_max, "Objective: the true depth")
            self._units_checked = True
        # Under mixed precision the sums over thousands of pixels need float32: the objective never autocasts.
        with torch.autocast(pred.device.type, enabled=False):
            pred = pred.float()
            target = depth
            if pred.shape[-2:] != depth.shape[-2:]:
                target = F.interpolate(depth, size=pred.shape[-2:], mode="nearest")
            depth_loss = self.depth_loss(pred, target)
            features = {layer: activations[layer].float() for layer in self.layers}  # (B, C, h_l, w_l)
            edges = {layer: self.layer_edges(layer, f.shape[1], f.device) for layer, f in features.items()}
            # layers of one feature size and K share the binning of the batch (MFF's D and MFF layers do)
            terms = selectivity.selectivity_terms(features, depth, edges) if features else {}  # a baseline: none
            loss = depth_loss - self.alpha * sum(terms.values()) if terms else depth_loss
        return ObjectiveParts(loss, depth_loss, terms)

    def gradient_ratio(self, model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> float:
        """Return ‖∇ Σ_layers term‖ / ‖∇ L_depth‖ over ``model``'s trainable parameters, gradients summed over ``batches``.

        ``α ·`` this ratio is how hard the selectivity terms pull against the depth loss. It carries the paper's
        α = 0.1 (set against MFF's loss) to another loss: scale that loss so its ratio matches
        (docs/tuning-log.md). ``batches`` yield ``{"image": (B, 3, H, W), "depth": (B, 1, H, W)}`` on the model's device, and what else
        the model takes (:func:`mdeinterp.inference.predict`: ``focal`` for BTS, ``sparse_depth`` for CSPN); the
        model's mode (train/eval) is left as it is and its parameters' ``.grad`` are not touched.
        """
        if not self.layers:
            raise ConfigError("gradient_ratio needs the assigned layers: build the Objective with alpha != 0")
        params = [p for p in model.parameters() if p.requires_grad]
        depth_grads = [torch.zeros_like(p) for p in params]
        term_grads = [torch.zeros_like(p) for p in params]
        for batch in batches:
            with self.capture(model) as activations:
                pred = predict(model, batch, batch["image"].device)  # the model's inputs: focal length, sparse depth
            parts = self(pred, batch["depth"], activations)
            pairs = ((parts.depth_loss, depth_grads), (sum(parts.terms.values()), term_grads))
            for index, (value, sums) in enumerate(pairs):
                grads = torch.autograd.grad(value, params, retain_graph=index == 0, allow_unused=True)
                for total, grad in zip(sums, grads):
                    if grad is not None:
                        total += grad
        return (_norm(term_grads) / _norm(depth_grads)).item()


def _norm(tensors: Sequence[Tensor]) -> Tensor:
    """Return the Euclidean norm of all ``tensors`` taken together, in float64."""
    return torch.sqrt(sum((t.double() ** 2).sum() for t in tensors))
