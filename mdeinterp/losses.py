"""Depth losses of the two studied models: MFF's (Hu et al., WACV 2019) and BTS's scale-invariant log loss.

Both take ``pred`` and ``target`` of shape (B, 1, h, w) in metres, with invalid target pixels stored as 0,
and average over the valid pixels of the whole batch (pixel-weighted, not per image). Resizing the target
to the network's output size is the training loop's job; a size mismatch here is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Hu et al.'s Sobel kernels (their sobel.py), applied as a cross-correlation with padding 1:
# channel 0 is the x derivative, channel 1 the y derivative; unnormalised, as in the original.
_SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
_SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))

# The offset inside log(|error| + 0.5) of Hu et al.'s depth and gradient terms.
_LOG_OFFSET = 0.5
#: Metres a prediction counts as at least inside the log of :func:`silog_loss`, as evaluation clamps it
#: (mdeinterp.inference): networks with an unbounded output (MFF) may predict <= 0 early in training.
SILOG_FLOOR = 1e-3


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise ValueError unless ``pred`` and ``target`` are both (B, 1, h, w) of the same size."""
    if pred.shape != target.shape:
        raise ValueError(
            f"prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}; "
            "resize the target to the prediction's size before the loss"
        )
    if pred.dim() != 4 or pred.shape[1] != 1:
        raise ValueError(f"expected depth maps of shape (B, 1, h, w), got {tuple(pred.shape)}")


def _masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Return the mean of ``values`` over ``valid`` pixels, a graph-connected 0 when there are none.

    No host synchronisation: the count is clamped on the device instead of being tested in Python.
    """
    # where() rather than multiplication so a non-finite value at an invalid pixel cannot leak in.
    return torch.where(valid, values, torch.zeros_like(values)).sum() / valid.sum().clamp_min(1)


@functools.lru_cache(maxsize=8)
def _sobel_kernel(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return the (2, 1, 3, 3) Sobel kernels on ``device``, built once (no host-to-device copy per step)."""
    return torch.tensor((_SOBEL_X, _SOBEL_Y), dtype=dtype, device=device).unsqueeze(1)


def sobel_gradients(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the Sobel x and y derivatives of ``depth`` (B, 1, h, w), each (B, 1, h, w), zero-padded."""
    kernel = _sobel_kernel(depth.dtype, depth.device)  # (2, 1, 3, 3)
    grad = F.conv2d(depth, kernel, padding=1)  # (B, 2, h, w)
    return grad[:, 0:1], grad[:, 1:2]


def interior_valid(valid: torch.Tensor) -> torch.Tensor:
    """Return the pixels of ``valid`` (B, 1, h, w bool) whose whole 3x3 neighbourhood is valid (inside the image).

    This is a 3x3 erosion with the outside of the image counted invalid, so a Sobel derivative at a
    kept pixel reads only valid depths: holes (0) and the zero padding cannot create fake edges.
    """
    invalid = (~valid).to(torch.float32)
    # max-pool of the invalid map = dilation of the holes; pad with "invalid" so borders are dropped.
    invalid = F.pad(invalid, (1, 1, 1, 1), value=1.0)
    return F.max_pool2d(invalid, kernel_size=3, stride=1) == 0


def mff_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return Hu et al.'s loss: log-L1 depth term + log-L1 Sobel gradient terms + surface-normal term.

    Args:
        pred: predicted depth (B, 1, h, w), metres.
        target: ground-truth depth (B, 1, h, w), metres; pixels with target <= 0 are invalid and ignored.

    With e = |pred - target|, the loss is mean(log(e + 0.5)) over valid pixels
    + mean(log(|dx pred - dx target| + 0.5) + log(|dy pred - dy target| + 0.5))
    + mean(1 - cos(n_pred, n_target)) with normals n = (-dx, -dy, 1), the last two means over the
    valid pixels whose 3x3 neighbourhood is valid (:func:`interior_valid`). A batch without valid
    pixels gives a graph-connected 0.
    """
    _check_pair(pred, target)
    valid = target > 0
    depth_term = _masked_mean(torch.log(torch.abs(pred - target) + _LOG_OFFSET), valid)

    pred_dx, pred_dy = sobel_gradients(pred)
    target_dx, target_dy = sobel_gradients(target)
    interior = interior_valid(valid)
    gradient_values = torch.log(torch.abs(pred_dx - target_dx) + _LOG_OFFSET) + torch.log(
        torch.abs(pred_dy - target_dy) + _LOG_OFFSET
    )
    gradient_term = _masked_mean(gradient_values, interior)

    ones = torch.ones_like(pred_dx)
    pred_normal = torch.cat((-pred_dx, -pred_dy, ones), dim=1)  # (B, 3, h, w)
    target_normal = torch.cat((-target_dx, -target_dy, ones), dim=1)
    # The normals' z component is 1, so their norms are >= 1 and the cosine needs no epsilon.
    cosine = (pred_normal * target_normal).sum(dim=1, keepdim=True) / (
        pred_normal.norm(dim=1, keepdim=True) * target_normal.norm(dim=1, keepdim=True)
    )
    normal_term = _masked_mean(1.0 - cosine, interior)

    return depth_term + gradient_term + normal_term


def silog_loss(pred: torch.Tensor, target: torch.Tensor, variance_focus: float = 0.85) -> torch.Tensor:
    """Return BTS's scale-invariant log loss 10 * sqrt(mean(d^2) - variance_focus * mean(d)^2).

    Args:
        pred: predicted depth (B, 1, h, w), metres; values below :data:`SILOG_FLOOR` count as the floor
            (no gradient there), so an unbounded output (MFF's) cannot make the log NaN.
        target: ground-truth depth (B, 1, h, w), metres; pixels with target <= 0 are invalid and ignored.
        variance_focus: lambda in [0, 1]; 0.85 as in BTS.

    d = log(pred) - log(target) over the valid pixels of the batch. A batch without valid pixels gives
    a graph-connected 0.
    """
    _check_pair(pred, target)
    valid = target > 0
    # Invalid pixels take log(1) = 0 on both sides, so they add nothing (and no NaN gradient); every step
    # stays on the device (no boolean indexing, no Python test of the count).
    log_diff = torch.log(torch.where(valid, pred.clamp_min(SILOG_FLOOR), 1.0)) - torch.log(torch.where(valid, target, 1.0))
    mean = _masked_mean(log_diff, valid)
    variance = _masked_mean(log_diff**2, valid) - variance_focus * mean**2
    # without valid pixels: a graph-connected 0 (sqrt is taken of 1 there, so its gradient stays finite)
    has_pixels = valid.any()
    return torch.where(has_pixels, torch.sqrt(torch.where(has_pixels, variance, 1.0)) * 10.0, pred.sum() * 0.0)


#: The registry owns the loss names (``TrainConfig.loss`` holds one of them).
LOSSES: dict[str, LossFn] = {"mff": mff_loss, "silog": silog_loss}


def get_loss(name: str) -> LossFn:
    """Return the loss function registered under ``name`` ("mff" or "silog"); raise :class:`ConfigError` otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"loss {name!r} is unknown; expected one of {', '.join(sorted(LOSSES))}") from None
