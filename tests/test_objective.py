"""The paper's objective L_depth − α Σ terms (mdeinterp.objective): hand-built values, edges, baseline, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mdeinterp.config import build_config
from mdeinterp.errors import ConfigError
from mdeinterp.losses import mff_loss
from mdeinterp.objective import Objective
from mdeinterp.selectivity import selectivity_term, sid_edges


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def test_unit_firing_in_its_assigned_bin_lowers_the_loss_by_alpha():
    # Two units, K = 2 bins (edges 0, 1, 4 m): left half of the image at 0.5 m (bin 0), right half at 2 m (bin 1).
    # Unit 0 is assigned bin 0 and fires only on the left; unit 1 is assigned bin 1 and fires only on the right:
    # both have DS = 1 at their assigned bin, so the layer term is 1 and the loss is L_depth − α · 1.
    depth = torch.tensor([[0.5, 0.5, 2.0, 2.0]]).expand(4, 4).reshape(1, 1, 4, 4).contiguous()
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, :, :2] = 3.0
    features[0, 1, :, 2:] = 5.0
    pred = torch.full((1, 1, 4, 4), 1.0)
    objective = Objective(l1, alpha=0.1, layers=["layer"], d_min=1.0, d_max=4.0, num_bins=2)
    parts = objective(pred, depth, {"layer": features})
    assert objective.edges["layer"].tolist() == pytest.approx([0.0, 1.0, 4.0])
    assert parts.terms["layer"].item() == pytest.approx(1.0)
    assert parts.depth_loss.item() == pytest.approx((0.5 * 8 + 1.0 * 8) / 16)
    assert parts.loss.item() == pytest.approx(parts.depth_loss.item() - 0.1)


def test_objective_is_depth_loss_minus_alpha_times_the_sum_of_layer_terms():
    torch.manual_seed(0)
    depth = torch.rand(2, 1, 8, 8) * 9 + 0.8
    depth[0, 0, 0, :3] = 0.0  # invalid pixels
    pred = torch.rand(2, 1, 4, 4) * 5 + 1  # half resolution, like MFF
    acts = {"a": torch.rand(2, 16, 4, 4), "b": torch.rand(2, 80, 2, 2)}
    objective = Objective("mff", alpha=0.3, layers=["a", "b"], d_min=0.75, d_max=10.0)
    parts = objective(pred, depth, acts)
    # K = min(units, 64): 16 bins for "a", 64 for "b"
    assert len(objective.edges["a"]) == 17 and len(objective.edges["b"]) == 65
    target = nn.functional.interpolate(depth, size=(4, 4), mode="nearest")
    assert torch.equal(parts.depth_loss, mff_loss(pred, target))
    term_a = selectivity_term(acts["a"], depth, sid_edges(16, 0.75, 10.0))
    term_b = selectivity_term(acts["b"], depth, sid_edges(64, 0.75, 10.0))
    assert torch.equal(parts.terms["a"], term_a) and torch.equal(parts.terms["b"], term_b)
    assert parts.loss.item() == pytest.approx((mff_loss(pred, target) - 0.3 * (term_a + term_b)).item(), abs=1e-7)


def test_edges_are_built_once_per_layer():
    objective = Objective(l1, alpha=0.1, layers=["a"], d_min=0.75, d_max=10.0)
    depth = torch.rand(1, 1, 4, 4) + 1
    objective(torch.ones(1, 1, 4, 4), depth, {"a": torch.rand(1, 8, 4, 4)})
    first = objective.edges["a"]
    objective(torch.ones(1, 1, 4, 4), depth, {"a": torch.rand(1, 8, 4, 4)})
    assert objective.edges["a"] is first


def test_baseline_captures_nothing_and_its_loss_is_the_depth_loss():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 1, 1))
    objective = Objective.from_config(build_config("tiny", alpha=0.0))
    assert objective.layers == ()
    with objective.capture(model) as activations:
        pred = model(torch.rand(1, 3, 4, 4))
    assert activations == {}
    parts = objective(pred, torch.rand(1, 1, 4, 4) + 1, activations)
    assert parts.loss is parts.depth_loss and parts.terms == {}


def test_capture_reads_the_assigned_layers_and_the_gradient_reaches_them():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.Conv2d(4, 1, 1))
    objective = Objective(l1, alpha=0.1, layers=["1"], d_min=0.75, d_max=10.0)
    with objective.capture(model) as activations:
        pred = model(torch.rand(2, 3, 4, 4))
    assert set(activations) == {"1"} and activations["1"].shape == (2, 4, 4, 4)
    objective(pred, torch.rand(2, 1, 4, 4) * 9 + 1, activations).loss.backward()
    assert model[0].weight.grad is not None and model[0].weight.grad.abs().sum() > 0


def test_more_bins_than_units_is_a_config_error():
    objective = Objective(l1, alpha=0.1, layers=["a"], d_min=0.75, d_max=10.0, num_bins=64)
    with pytest.raises(ConfigError, match=r"more bins \(64\) than units \(32\) in layer 'a'.*--num-bins"):
        objective(torch.ones(1, 1, 4, 4), torch.rand(1, 1, 4, 4) + 1, {"a": torch.rand(1, 32, 4, 4)})


def test_from_config_takes_loss_alpha_layers_range_and_bins():
    config = build_config("tiny_bts", alpha=0.1, num_bins=8)
    objective = Objective.from_config(config)
    assert objective.alpha == 0.1 and objective.layers == ("decoder.upconv2", "decoder.iconv2")
    # the SID range is the data's (the embedded indoor scenes declare 1.2-8 m so that every bin is filled)
    assert (objective.d_min, objective.d_max, objective.num_bins) == (config.data.d_min, config.data.d_max, 8)
    assert (config.data.d_min, config.data.d_max) == (1.2, 8.0)
    assert objective.depth_loss.__name__ == "silog_loss"


def test_gradient_ratio_is_the_terms_gradient_norm_over_the_depth_losss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1))
    batches = [{"image": torch.rand(2, 3, 6, 6), "depth": torch.rand(2, 1, 6, 6) * 7 + 1} for _ in range(3)]
    objective = Objective(l1, alpha=0.1, layers=["1"], d_min=1.0, d_max=8.0, num_bins=4)
    ratio = objective.gradient_ratio(model, batches)

    # by hand: gradients of the summed depth losses and of the summed terms, norms over all parameters
    depth_total, term_total = 0.0, 0.0
    for batch in batches:
        with objective.capture(model) as acts:
            pred = model(batch["image"])
        parts = objective(pred, batch["depth"], acts)
        depth_total = depth_total + parts.depth_loss
        term_total = term_total + parts.terms["1"]
    params = list(model.parameters())

    def norm(value: torch.Tensor) -> torch.Tensor:  # the term does not reach the last conv: no gradient there
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        return torch.sqrt(sum((g**2).sum() for g in grads if g is not None))

    assert ratio == pytest.approx((norm(term_total) / norm(depth_total)).item(), rel=1e-5)
    assert all(p.grad is None for p in params)  # .grad untouched

    # ten times the depth loss is a tenth of the ratio: the weight alpha has against it
    scaled = Objective(lambda p, t: 10 * l1(p, t), alpha=0.1, layers=["1"], d_min=1.0, d_max=8.0, num_bins=4)
    assert scaled.gradient_ratio(model, batches) == pytest.approx(ratio / 10, rel=1e-5)
    with pytest.raises(ConfigError, match="alpha != 0"):
        Objective(l1, alpha=0.0, layers=["1"], d_min=1.0, d_max=8.0).gradient_ratio(model, batches)


class FocalSparseNet(nn.Module):
    """Takes an image and a sparse depth (declared in ``input_keys``) and a focal length, as CSPN and BTS do."""

    input_keys = ("image", "sparse_depth")

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Conv2d(8, 1, 1)
        self.focal_seen: list[float] = []

    def forward(self, image: torch.Tensor, sparse: torch.Tensor, focal: torch.Tensor) -> torch.Tensor:
        self.focal_seen += focal.tolist()
        return self.head(self.act(self.conv(torch.cat([image, sparse], dim=1)))) * focal.view(-1, 1, 1, 1) / 500


def test_gradient_ratio_feeds_the_model_what_it_declares():
    torch.manual_seed(0)
    model = FocalSparseNet()
    batch = {"image": torch.rand(2, 3, 6, 6), "sparse_depth": torch.rand(2, 1, 6, 6), "depth": torch.rand(2, 1, 6, 6) * 7 + 1,
             "focal": torch.tensor([500.0, 250.0])}
    objective = Objective(l1, alpha=0.1, layers=["act"], d_min=1.0, d_max=8.0, num_bins=4)
    ratio = objective.gradient_ratio(model, [batch])
    assert model.focal_seen == [500.0, 250.0] and ratio > 0  # the focal length and the sparse depth reached forward
