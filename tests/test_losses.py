"""Pinned values of the MFF (Hu et al.) and SILog (BTS) losses on tiny hand-built depth maps."""

from __future__ import annotations

import math

import pytest
import torch

from mdeinterp.errors import ConfigError
from mdeinterp.losses import SILOG_FLOOR, get_loss, interior_valid, mff_loss, silog_loss, sobel_gradients

LOG_HALF = math.log(0.5)


def _ramp(slope: float, height: int = 5, width: int = 5) -> torch.Tensor:
    """Return a (1, 1, H, W) float64 depth map 1 + slope * column, metres."""
    columns = torch.arange(width, dtype=torch.float64)
    return (1.0 + slope * columns).expand(height, width).reshape(1, 1, height, width).clone()


def test_mff_loss_of_perfect_prediction_is_three_log_half():
    # depth term log(0.5) + two gradient terms log(0.5) + normal term 1 - cos(n, n) = 0
    target = 1.0 + torch.rand(2, 1, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert mff_loss(target.clone(), target).item() == pytest.approx(3 * LOG_HALF, abs=1e-12)


def test_mff_loss_of_constant_offset_excludes_image_border():
    # A shift by c leaves interior Sobel derivatives unchanged; at the border the zero padding would
    # turn the shift into an edge, so an exact value proves the border is masked out.
    target = 2.0 + torch.rand(1, 1, 6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    c = 0.3
    assert mff_loss(target + c, target).item() == pytest.approx(math.log(c + 0.5) + 2 * LOG_HALF, abs=1e-12)


def test_mff_loss_hand_computed_ramps():
    # target slope 1 and pred slope 2 along x: Sobel dx = -8 * slope, dy = 0; |pred - target| = column
    target, pred = _ramp(1.0), _ramp(2.0)
    depth_term = sum(math.log(j + 0.5) for j in range(5)) / 5
    gradient_term = math.log(8 + 0.5) + LOG_HALF
    normal_term = 1 - (16 * 8 + 1) / math.sqrt((8**2 + 1) * (16**2 + 1))
    expected = depth_term + gradient_term + normal_term
    assert mff_loss(pred, target).item() == pytest.approx(expected, abs=1e-12)


def test_sobel_matches_hu_et_al_kernels_on_ramp():
    dx, dy = sobel_gradients(_ramp(1.0))
    assert torch.allclose(dx[..., 1:-1, 1:-1], torch.full((3, 3), -8.0, dtype=torch.float64))
    assert torch.allclose(dy[..., 1:-1, 1:-1], torch.zeros(3, 3, dtype=torch.float64))


def test_mff_loss_holes_create_no_fake_edges():
    target = 2.0 + torch.rand(1, 1, 7, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pred = target.clone()
    target[0, 0, 3, 3] = 0.0  # a hole; the prediction there is a plausible depth, not 0
    assert mff_loss(pred, target).item() == pytest.approx(3 * LOG_HALF, abs=1e-12)


def test_interior_valid_erodes_holes_and_border():
    valid = torch.ones(1, 1, 5, 6, dtype=torch.bool)
    valid[0, 0, 2, 2] = False
    interior = interior_valid(valid)[0, 0]
    expected = torch.zeros(5, 6, dtype=torch.bool)
    expected[1:4, 1:5] = True
    expected[1:4, 1:4] = False  # the 3x3 around the hole
    assert torch.equal(interior, expected)


def test_silog_of_scaled_prediction():
    target = 1.0 + torch.rand(2, 1, 4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    target[0, 0, 0, 0] = 0.0  # invalid pixels do not change the value
    for c in (0.5, 1.7, 3.0):
        expected = 10 * math.sqrt(1 - 0.85) * abs(math.log(c))
        assert silog_loss(c * target, target).item() == pytest.approx(expected, abs=1e-12)


def test_silog_hand_computed_two_pixels():
    # d = (log 2, 0): mean(d^2) - 0.85 mean(d)^2 = (log 2)^2 (1/2 - 0.85/4)
    pred = torch.tensor([2.0, 1.0], dtype=torch.float64).reshape(1, 1, 1, 2)
    target = torch.ones(1, 1, 1, 2, dtype=torch.float64)
    expected = 10 * math.log(2) * math.sqrt(0.5 - 0.85 / 4)
    assert silog_loss(pred, target).item() == pytest.approx(expected, abs=1e-12)
    assert silog_loss(pred, target, variance_focus=0.0).item() == pytest.approx(10 * math.log(2) / math.sqrt(2))


@pytest.mark.parametrize("loss", [mff_loss, silog_loss])
def test_invalid_only_target_gives_graph_connected_zero(loss):
    pred = torch.rand(2, 1, 4, 4, requires_grad=True)
    value = loss(pred, torch.zeros(2, 1, 4, 4))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(pred.grad, torch.zeros_like(pred))


@pytest.mark.parametrize("loss", [mff_loss, silog_loss])
def test_invalid_pixels_keep_gradients_finite(loss):
    target = 1.0 + torch.rand(1, 1, 5, 5, generator=torch.Generator().manual_seed(4))
    target[0, 0, 0, :] = 0.0
    pred = (target + 0.2).clone()
    pred[0, 0, 0, :] = -1.0  # nonsense where the target is invalid: log() of it must not reach the graph
    pred.requires_grad_(True)
    loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all()
    assert torch.equal(pred.grad[0, 0, 0], torch.zeros(5))


def test_silog_counts_non_positive_predictions_as_the_floor():
    # MFF's output is unbounded: a prediction <= 0 at a valid pixel must give the loss of the floor, not NaN,
    # and no gradient at that pixel (the others still learn).
    target = torch.full((1, 1, 2, 2), 2.0)
    pred = torch.tensor([[[[-0.5, 0.0], [2.0, 3.0]]]], requires_grad=True)
    floored = torch.tensor([[[[SILOG_FLOOR, SILOG_FLOOR], [2.0, 3.0]]]])
    value = silog_loss(pred, target)
    value.backward()
    assert value.item() == pytest.approx(silog_loss(floored, target).item(), rel=1e-6)
    assert torch.equal(pred.grad[0, 0, 0], torch.zeros(2))
    assert torch.isfinite(pred.grad).all() and (pred.grad[0, 0, 1] != 0).all()


@pytest.mark.parametrize("loss", [mff_loss, silog_loss])
def test_gradcheck(loss):
    generator = torch.Generator().manual_seed(5)
    target = 1.0 + 2.0 * torch.rand(1, 1, 5, 5, generator=generator, dtype=torch.float64)
    # offsets of magnitude >= 0.1 keep |pred - target| away from the kink of |x|
    sign = torch.where(torch.rand(1, 1, 5, 5, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
    offset = sign * (0.1 + 0.4 * torch.rand(1, 1, 5, 5, generator=generator, dtype=torch.float64))
    target[0, 0, 4, 4] = 0.0
    pred = (target.clamp(min=1.0) + offset).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: loss(p, target), (pred,), eps=1e-6, atol=1e-5)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 4\).*\(1, 1, 8, 8\)"):
        mff_loss(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 8, 8))


def test_get_loss_registry():
    assert get_loss("mff") is mff_loss
    assert get_loss("silog") is silog_loss
    with pytest.raises(ConfigError, match="'l2'.*mff, silog"):
        get_loss("l2")


@pytest.mark.parametrize("loss", [mff_loss, silog_loss])
def test_losses_never_read_tensor_values_on_the_host(loss):
    # On the meta device tensors have no values: any host read (bool of a tensor, .item(), boolean
    # indexing, whose output size depends on the data) raises. The loss and its gradient must still run,
    # so on a GPU the training step never waits for the device inside the loss.
    meta = torch.device("meta")
    pred = torch.rand(2, 1, 8, 8, device=meta, requires_grad=True)
    value = loss(pred, torch.rand(2, 1, 8, 8, device=meta))
    value.backward()
    assert value.shape == () and pred.grad.shape == pred.shape
