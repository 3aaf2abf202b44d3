"""Exceptions for problems a user can fix: each message names the thing and what was expected.

The CLI prints ``str(error)`` of these (and of file-system errors) on one line and exits with status 2
(traceback only with ``--debug``); any other exception is a bug and keeps its traceback. This module
is a leaf: it imports nothing from the package, so :mod:`mdeinterp.config` can use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MdeinterpError(Exception):
    """Base class of every error caused by user input (data, config, model, layer, checkpoint)."""


class DataError(MdeinterpError, ValueError):
    """A data file or sample is missing, malformed or inconsistent."""


class ConfigError(MdeinterpError, ValueError):
    """A configuration value (preset, batch size, alpha, device, ...) is invalid."""


class ModelError(MdeinterpError, ValueError):
    """An unknown model name or an invalid model option."""


class CheckpointError(MdeinterpError, ValueError):
    """A checkpoint cannot be loaded: unsafe pickle, other architecture, wrong format."""


class TrainingError(MdeinterpError, FloatingPointError):
    """Training diverged (a non-finite loss): the settings, typically the learning rate, need changing."""


class StorageError(MdeinterpError, OSError):
    """An output cannot be written: the disk is full, or the size asked for exceeds the machine's memory or space."""


class RunLockedError(MdeinterpError, RuntimeError):
    """A run folder is being written by another process (training or dissecting into it)."""


class StaleRunError(ConfigError):
    """A run folder's files disagree with each other or with its data: it cannot be reused as finished."""


class LayerOutputError(ModelError, TypeError):
    """A hooked layer returned something other than a tensor (a list, a tuple, a dict, ...)."""


class EmptyBinWarning(UserWarning):
    """A dissection's SID range leaves depth bins without any pixel (their mean response is 0, DS is inflated)."""


class LayerNotFoundError(MdeinterpError, KeyError):
    """A layer name that is not a module of the model."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """Return up to ``n`` names from ``choices`` closest to ``name`` (for "did you mean" hints)."""
    choices = list(choices)
    hits = difflib.get_close_matches(name, choices, n=n, cutoff=0.4)
    if not hits:
        hits = [c for c in choices if name.lower() in c.lower()][:n]
    return hits


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> str:
    """Return "unknown <kind> 'name' (did you mean ...?); valid <kind>s: ..." for a name not in ``choices``."""
    choices = list(choices)
    hint = closest(name, choices)
    return (f"unknown {kind} {name!r}" + (f" (did you mean {', '.join(hint)}?)" if hint else "")
            + f"; valid {kind}s: {', '.join(choices)}")


def positive_metres(name: str, value: object, note: str = "") -> float:
    """Return ``value`` as a float after checking it is a positive number of metres (a model option)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ModelError(f"{name}={value!r}; expected a positive number of metres{note}")
    return float(value)
