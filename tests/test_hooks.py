import pytest
import torch
from torch import nn

from mdeinterp import hooks
from mdeinterp.errors import LayerNotFoundError


class Toy(nn.Module):
    """conv -> relu (studied, alias 'block') -> per-channel head; output = sum over channels."""

    layer_aliases = {"block": "act"}

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 1)
        self.act = nn.ReLU()
        self.head = nn.Conv2d(3, 2, 1, groups=1)

    def forward(self, x):
        return self.head(self.act(self.conv(x)))


def _toy():
    torch.manual_seed(0)
    model = Toy()
    with torch.no_grad():
        model.conv.weight.copy_(torch.tensor([1.0, 2.0, -1.0]).view(3, 1, 1, 1))
        model.conv.bias.zero_()
        model.head.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]).view(2, 3, 1, 1))
        model.head.bias.zero_()
    return model


def test_capture_equals_manual_forward_and_keeps_graph():
    model = _toy()
    x = torch.randn(2, 1, 4, 4)
    with hooks.capture(model, ["block", "conv"]) as acts:
        out = model(x)
    torch.testing.assert_close(acts["conv"], model.conv(x))
    torch.testing.assert_close(acts["block"], torch.relu(model.conv(x)))
    acts["block"].sum().backward()
    assert model.conv.weight.grad is not None
    assert all(len(m._forward_hooks) == 0 for m in model.modules())  # removed
    assert out.shape == (2, 2, 4, 4)


def test_ablate_changes_only_dependents():
    model = _toy()
    x = torch.rand(1, 1, 3, 3) + 0.1  # positive so every unit but the negative one fires
    base = model(x)
    with hooks.ablate(model, {"block": [0]}):
        ablated = model(x)
    assert torch.all(ablated[:, 0] == 0)  # output 0 reads unit 0 only
    torch.testing.assert_close(ablated[:, 1], base[:, 1])  # output 1 does not read unit 0
    torch.testing.assert_close(model(x), base)  # hook removed


def test_edit_replaces_output_and_hooks_removed_on_error():
    model = _toy()
    x = torch.ones(1, 1, 2, 2)
    with hooks.edit(model, "block", lambda out: out * 0 + 1):
        torch.testing.assert_close(model(x), torch.tensor([1.0, 2.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2))
    with pytest.raises(RuntimeError):
        with hooks.capture(model, ["conv"]):
            raise RuntimeError("boom")
    assert all(len(m._forward_hooks) == 0 for m in model.modules())


def test_unknown_layer_suggests_closest():
    model = _toy()
    with pytest.raises(LayerNotFoundError, match=r"layer 'hed' is not a module of Toy; closest names: head"):
        with hooks.capture(model, ["hed"]):
            pass
    assert "block" in hooks.module_names(model)
