"""Reach a model's hidden layers by module name with forward hooks: read, ablate or edit them.

Hooks are always removed when the ``with`` block ends, also on error. A model may declare
``layer_aliases`` (e.g. ``{"R.conv0": "R.act0"}``) mapping the paper's layer names to the module that
outputs that activation; nothing here knows any particular model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor, nn

from .errors import LayerNotFoundError, LayerOutputError, closest


def unwrap(model: nn.Module) -> nn.Module:
    """Return the wrapped module of DataParallel / DistributedDataParallel, else ``model``."""
    return model.module if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) else model


def module_names(model: nn.Module) -> list[str]:
    """Return every addressable layer name: module names plus the model's declared aliases."""
    inner = unwrap(model)
    names = [name for name, _ in inner.named_modules() if name]
    return names + list(getattr(inner, "layer_aliases", {}))


def resolve(model: nn.Module, name: str) -> nn.Module:
    """Return the module called ``name`` (after the model's ``layer_aliases``).

    Raises :class:`LayerNotFoundError` naming the closest valid layer names.
    """
    inner = unwrap(model)
    target = getattr(inner, "layer_aliases", {}).get(name, name)
    modules = dict(inner.named_modules())
    if target in modules and target:
        return modules[target]
    valid = module_names(inner)
    hint = closest(name, valid)
    studied = getattr(inner, "studied_layers", ())
    raise LayerNotFoundError(
        f"layer {name!r} is not a module of {type(inner).__name__}"
        + (f"; closest names: {', '.join(hint)}" if hint else "")
        + (f"; studied layers: {', '.join(studied)}" if studied else "")
    )


def _tensor_only(name: str, hook: Callable) -> Callable:
    """Return ``hook`` guarded so that a layer whose output is not a tensor raises :class:`LayerOutputError`."""

    def guarded(module: nn.Module, inputs: tuple, output: object) -> object:
        if not isinstance(output, Tensor):
            raise LayerOutputError(
                f"layer {name!r} ({type(module).__name__}) returned a {type(output).__name__}, expected a tensor "
                "(B, C, h, w); hook a module that outputs one tensor, e.g. one element of that "
                f"{type(output).__name__} (a submodule of {name!r})")
        return hook(module, inputs, output)

    return guarded


@contextmanager
def _hooks(model: nn.Module, hooks: Mapping[str, Callable]) -> Iterator[None]:
    """Register ``hooks`` (layer name -> forward hook) and remove them all on exit."""
    modules = {name: resolve(model, name) for name in hooks}  # fail before registering anything
    with ExitStack() as stack:
        for name, hook in hooks.items():
            stack.callback(modules[name].register_forward_hook(_tensor_only(name, hook)).remove)
        yield


@contextmanager
def capture(model: nn.Module, layer_names: Iterable[str], detach: bool = False) -> Iterator[dict[str, Tensor]]:
    """Yield a dict layer name -> that layer's output from the latest forward pass.

    The graph is kept (unless ``detach``), so a loss on the activations backpropagates. Outputs are
    stored as produced, after any :func:`edit` registered earlier on the same module. A layer whose
    output is not a tensor raises :class:`~mdeinterp.errors.LayerOutputError` naming it and the type.
    """
    captured: dict[str, Tensor] = {}

    def store(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            captured[name] = output.detach() if detach else output

        return hook

    with _hooks(model, {name: store(name) for name in dict.fromkeys(layer_names)}):
        yield captured


@contextmanager
def edit(model: nn.Module, layer_name: str, fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Replace the output of ``layer_name`` by ``fn(output)`` during forward passes in the block."""

    def hook(module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        return fn(output)

    with _hooks(model, {layer_name: hook}):
        yield


def channel_mask(num_units: int, units: Sequence[int] | Tensor, like: Tensor) -> Tensor:
    """Return a (1, C, 1, 1) multiplier that is 0 for ``units`` and 1 elsewhere."""
    mask = torch.ones(num_units, dtype=like.dtype, device=like.device)
    index = torch.as_tensor(units, dtype=torch.long, device=like.device)
    if index.numel() and (index.min() < 0 or index.max() >= num_units):
        raise IndexError(f"unit indices must lie in [0, {num_units}), got {index.tolist()}")
    mask[index] = 0
    return mask.view(1, -1, 1, 1)


@contextmanager
def ablate(model: nn.Module, units: Mapping[str, Sequence[int] | Tensor]) -> Iterator[None]:
    """Zero the given channels of the given layers' outputs in the block: ``{layer: unit indices}``."""

    def zero(selected: Sequence[int] | Tensor) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
            return output * channel_mask(output.shape[1], selected, output)

        return hook

    with _hooks(model, {name: zero(selected) for name, selected in units.items()}):
        yield


__all__ = ["unwrap", "module_names", "resolve", "capture", "edit", "ablate", "channel_mask"]
