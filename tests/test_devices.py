"""Every analysis entry point runs the model on the device it is given and returns tensors there.

Only a CPU is available to the test suite, so the model records each device it is moved to and each
device its inputs arrive on: an entry point that ignored ``device`` would leave those records empty.
"""

import pytest
import torch
from torch import nn

from mdeinterp import dissection, inference, interventions, results, stability
from mdeinterp.config import build_config, to_json
from mdeinterp.inference import evaluate, loader_options
from mdeinterp.selectivity import DepthResponse, response_sums, sid_edges

CPU = torch.device("cpu")


class DeviceSpy(nn.Module):
    """Echoes depth from image channel 0 (unit 0) next to a constant unit; records moves and input devices."""

    def __init__(self):
        super().__init__()
        self.feat = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.weight[0, 0] = 1.0
            self.feat.bias.copy_(torch.tensor([0.0, 1.0]))
        self.moved_to: list[torch.device] = []
        self.inputs_on: list[torch.device] = []

    def to(self, *args, **kwargs):
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            self.moved_to.append(torch.device(device))
        return super().to(*args, **kwargs)

    def forward(self, image):
        self.inputs_on.append(image.device)
        return self.feat(image)[:, :1]


def _data(n=4, size=8):
    g = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        depth = torch.rand(1, size, size, generator=g) * 9.3 + 0.6
        items.append({"image": torch.cat([depth, torch.zeros(2, size, size)]), "depth": depth})
    return items


def _ran_on(model: DeviceSpy, device: torch.device) -> None:
    assert model.moved_to and all(d == device for d in model.moved_to)
    assert model.inputs_on and all(d == device for d in model.inputs_on)
    assert all(p.device == device for p in model.parameters())


@pytest.mark.parametrize("device", ["cpu", CPU])
def test_dissect_predict_and_activation_maps_honour_device(device):
    edges = sid_edges(4, 0.75, 10.0)
    model = DeviceSpy()
    result = dissection.dissect(model, _data(), ["feat"], edges, device=device, progress=False)
    _ran_on(model, CPU)
    assert result["feat"].sums.device == CPU and result["feat"].counts.device == CPU

    model = DeviceSpy()
    (pred, depth), = list(inference.predict_depth(model, _data(2), batch_size=2, device=device))
    _ran_on(model, CPU)
    assert pred.device == CPU and depth.device == CPU

    model = DeviceSpy()
    maps = dissection.activation_maps(model, _data(1)[0], ["feat"], device=device)
    _ran_on(model, CPU)
    assert maps["feat"].shape == (1, 2, 8, 8) and maps["feat"].device == CPU
    torch.testing.assert_close(maps["feat"][0, 0], _data(1)[0]["depth"][0])


@pytest.mark.parametrize("kind", ["ablation", "correction"])
def test_ablation_and_correction_honour_device(kind):
    edges = sid_edges(2, 0.75, 10.0)
    response = dissection.dissect(DeviceSpy(), _data(), ["feat"], edges, progress=False)["feat"]
    model = DeviceSpy()
    experiment = interventions.ablation_experiment if kind == "ablation" else interventions.correction_experiment
    rows = experiment(model, _data(), response, num_ranges=2, random_draws=1, device="cpu")
    _ran_on(model, CPU)
    assert len(rows) > 0


def test_evaluate_honours_device():
    model = DeviceSpy()
    metrics = evaluate(model, _data(), d_max=10.0, batch_size=2, device="cpu")
    _ran_on(model, CPU)
    assert metrics["abs_rel"] == pytest.approx(0.0, abs=1e-6)  # the model echoes depth


def test_chance_level_honours_device(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    config = build_config("tiny", n_train=4, n_test=2, height=32, width=32, data=str(tmp_path / "data"))
    (tmp_path / "config.json").write_text(to_json(config))
    seen = []
    real_dissect = dissection.dissect

    def spy(model, *args, **kwargs):
        result = real_dissect(model, *args, **kwargs)
        seen.append((kwargs["device"], {p.device for p in model.parameters()}))
        return result

    monkeypatch.setattr(stability, "dissect", spy)  # the chance level dissects two halves of the data
    table = results.chance_selectivity(tmp_path, seeds=(0,), max_images=4, batch_size=2, device="cpu")
    assert seen == [("cpu", {CPU})] * 2 and len(table) > 0


def test_depth_response_lives_on_its_device():
    edges = sid_edges(4, 0.75, 10.0)
    response = DepthResponse.zeros(2, edges, device="cpu")
    assert response.sums.device == CPU and response.counts.device == CPU
    features, depth = torch.rand(1, 2, 4, 4), torch.rand(1, 1, 8, 8) * 10
    sums, counts = response_sums(features, depth, edges)
    assert sums.device == CPU and counts.device == CPU


def test_loader_options_pin_memory_and_workers_only_with_cuda():
    assert loader_options("cpu") == {"pin_memory": False, "num_workers": 0}
    cuda = loader_options("cuda")
    assert cuda["pin_memory"] is True and cuda["num_workers"] >= 1
    assert loader_options(torch.device("cuda", 0), num_workers=2) == {"pin_memory": True, "num_workers": 2}
    assert loader_options(None) == {"pin_memory": False, "num_workers": 0}
