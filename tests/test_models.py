"""Tests of mdeinterp.models: reference checkpoint layouts, safe loading, shapes and studied layers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mdeinterp.errors import CheckpointError, ModelError
from mdeinterp.models import create_model, list_models, load_checkpoint
from mdeinterp.models.bts import LocalPlanarGuidance

# Key names and shapes of the released checkpoints, copied into tests/data (docs/method.md).
REFERENCE = Path(__file__).resolve().parent / "data" / "reference_state_dicts.json"

PAPER_MODELS = {"mff_resnet50": "MFF_resnet", "mff_senet154": "MFF_senet", "bts_densenet161": "BTS_nyu_densenet161"}

# Documented unit counts of the studied layers (paper scale: the paper's layer table; tiny: the model docstrings).
STUDIED_UNITS = {
    "mff_resnet50": {"D": 64, "MFF": 64, "R.conv0": 128, "R.conv1": 128},
    "mff_senet154": {"D": 64, "MFF": 64, "R.conv0": 128, "R.conv1": 128},
    "mff_tiny": {"D": 32, "MFF": 32, "R.conv0": 64, "R.conv1": 64},
    "bts_densenet161": {
        "decoder.upconv3": 128, "decoder.upconv2": 64, "decoder.iconv2": 64, "decoder.upconv1": 32, "decoder.iconv1": 32,
    },
    "bts_tiny": {
        "decoder.upconv3": 64, "decoder.upconv2": 32, "decoder.iconv2": 32, "decoder.upconv1": 16, "decoder.iconv1": 16,
    },
}


def tiny(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name).eval()


def studied_activations(model: torch.nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return the forward outputs of the model's studied layers, found through ``layer_aliases``."""
    outputs, handles = {}, []
    try:
        for name in model.studied_layers:
            module = model.get_submodule(model.layer_aliases.get(name, name))
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o)))
        with torch.no_grad():
            model(image)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_paper_models_match_reference_checkpoint_layout(name):
    assert REFERENCE.is_file(), f"reference fixture {REFERENCE} is missing (part of the repository)"
    reference = json.loads(REFERENCE.read_text())[PAPER_MODELS[name]]
    with torch.device("meta"):
        model = create_model(name)
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert sorted(set(reference) - set(shapes)) == []
    assert sorted(set(shapes) - set(reference)) == []
    assert shapes == reference


@pytest.mark.parametrize("name", ["mff_resnet50", "mff_senet154", "bts_densenet161"])
def test_paper_studied_layers_have_paper_unit_counts(name):
    with torch.device("meta"):
        model = create_model(name).eval()
        activations = studied_activations(model, torch.empty(1, 3, 224, 288))
    assert {k: v.shape[1] for k, v in activations.items()} == STUDIED_UNITS[name]


@pytest.mark.parametrize("name", ["mff_tiny", "bts_tiny"])
def test_tiny_studied_layers_units_and_activation(name):
    model = tiny(name)
    image = torch.randn(1, 3, 64, 96)
    activations = studied_activations(model, image)
    assert set(model.studied_layers) == set(STUDIED_UNITS[name])
    assert {k: v.shape[1] for k, v in activations.items()} == STUDIED_UNITS[name]
    for layer, value in activations.items():
        if name == "mff_tiny":  # post-ReLU
            assert value.min() >= 0, layer
            assert value.shape[-2:] == (32, 48)
        elif layer in ("decoder.iconv2", "decoder.iconv1", "decoder.upconv1"):  # post-ELU
            assert value.min() >= -1, layer


def test_mff_alias_is_post_bn_relu_of_conv0():
    model = tiny("mff_tiny")
    image = torch.randn(1, 3, 64, 64)
    captured = {}
    model.R.conv0.register_forward_hook(lambda m, i, o: captured.__setitem__("input", i[0]))
    activations = studied_activations(model, image)
    expected = F.relu(model.R.bn0(model.R.conv0(captured["input"])))
    assert torch.equal(activations["R.conv0"], expected)


def test_output_shapes_and_ranges():
    image = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        assert tiny("mff_tiny")(image).shape == (1, 1, 48, 64)
        depth = tiny("bts_tiny")(image)
    assert depth.shape == (1, 1, 96, 128)
    assert 0 < depth.min() and depth.max() < 10.0
    with torch.no_grad():
        far = create_model("bts_tiny", max_depth=80.0).eval()(image[..., :64, :64])
    assert far.max() < 80.0 and far.max() > 10.0


def test_bts_rejects_size_not_multiple_of_32():
    with pytest.raises(ModelError, match="100x128"):
        tiny("bts_tiny")(torch.randn(1, 3, 100, 128))


def test_bts_reference_focal_scales_depth():
    torch.manual_seed(0)
    model = create_model("bts_tiny", reference_focal=500.0, default_focal=500.0).eval()
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        base = model(image)  # default focal = reference focal: factor 1
        scaled = model(image, focal=torch.tensor([1000.0, 250.0]))
    assert torch.allclose(scaled[0], 2 * base[0]) and torch.allclose(scaled[1], 0.5 * base[1])


def test_lpg_hand_computed_plane():
    # Normal (0.6, 0, 0.8), distance 1 m, ratio 2: u offsets are -0.25 and +0.25 along the width,
    # so depth = 1 / (0.6 u + 0.8) = 1/0.65 and 1/0.95.
    plane = torch.tensor([0.6, 0.0, 0.8, 1.0]).view(1, 4, 1, 1)
    depth = LocalPlanarGuidance(2)(plane)
    expected = torch.tensor([[1 / 0.65, 1 / 0.95], [1 / 0.65, 1 / 0.95]])
    assert torch.allclose(depth[0], expected)
    fronto = torch.tensor([0.0, 0.0, 1.0, 2.0]).view(1, 4, 1, 1).repeat(1, 1, 2, 3)
    assert torch.equal(LocalPlanarGuidance(4)(fronto), torch.full((1, 8, 12), 2.0))


def test_channels_last_upsampling_gives_same_values():
    x = torch.randn(2, 16, 3, 4)
    plain = F.interpolate(x, size=(48, 64), mode="bilinear", align_corners=False)
    last = F.interpolate(x.contiguous(memory_format=torch.channels_last), size=(48, 64), mode="bilinear",
                         align_corners=False)
    assert torch.allclose(plain, last, atol=1e-6)


@pytest.mark.parametrize("name", ["mff_tiny", "bts_tiny"])
def test_state_dict_round_trip_gives_equal_outputs(name, tmp_path):
    source, target = tiny(name, seed=0), tiny(name, seed=1)
    image = torch.randn(1, 3, 64, 64)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    loaded = load_checkpoint(tmp_path / "w.pt", target)
    assert loaded is target
    with torch.no_grad():
        assert torch.equal(source(image), target(image))


def test_wrapped_and_prefixed_checkpoints_load(tmp_path):
    source = tiny("mff_tiny", seed=0)
    state = source.state_dict()
    prefixed = {f"module.{k}": v for k, v in state.items()}
    files = {
        "dp.pt": prefixed,
        "bts_style.pt": {"model": prefixed, "optimizer": {"state": {}, "param_groups": []}},
        "mdeinterp.pt": {
            "model": state,
            "optimizer": torch.optim.Adam(source.parameters()).state_dict(),
            "config": {"model": {"arch": "mff_tiny", "pretrained": None}, "alpha": 0.1, "layers": ["D", "MFF"]},
            "step": 12,
            "epoch": 1,
        },
    }
    for filename, payload in files.items():
        torch.save(payload, tmp_path / filename)
        target = tiny("mff_tiny", seed=1)
        load_checkpoint(tmp_path / filename, target)
        assert all(torch.equal(state[k], v) for k, v in target.state_dict().items()), filename
    bare = load_checkpoint(tmp_path / "dp.pt")
    assert list(bare) == list(state)


class _Malicious:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": _Malicious(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused: not a plain tensor checkpoint"):
        load_checkpoint(tmp_path / "evil.pt", tiny("mff_tiny"))
    assert not marker.exists()


def test_wrong_architecture_names_first_keys(tmp_path):
    torch.save(tiny("mff_tiny").state_dict(), tmp_path / "mff.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "mff.pt", tiny("bts_tiny"))
    message = str(info.value)
    bts_keys = len(tiny("bts_tiny").state_dict())
    assert f"{bts_keys} missing keys (encoder.base_model.conv0.weight, " in message
    assert "unexpected keys (E.conv1.weight, " in message
    assert "\n" not in message and len(message) < 1000


def test_shape_mismatch_is_reported(tmp_path):
    state = tiny("mff_tiny").state_dict()
    state["R.conv2.bias"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"1 shape mismatches \(R\.conv2\.bias \(file \[2\] vs model \[1\]\)\)"):
        load_checkpoint(tmp_path / "bad.pt", tiny("mff_tiny"))


def test_missing_and_non_torch_files(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pt"):
        load_checkpoint(tmp_path / "text.pt")


def test_registry_errors_and_listing():
    assert list_models() == ["bts_densenet161", "bts_tiny", "cspn_resnet50", "cspn_tiny", "mff_resnet50", "mff_senet154",
                             "mff_tiny"]
    with pytest.raises(ModelError) as info:
        create_model("mff_tinny")
    message = str(info.value)
    assert "did you mean mff_tiny" in message
    assert "valid models: bts_densenet161, bts_tiny, cspn_resnet50, cspn_tiny, mff_resnet50, mff_senet154, mff_tiny" in message
    with pytest.raises(ModelError, match="no option 'depth_max'"):
        create_model("bts_tiny", depth_max=80)
    with pytest.raises(ModelError, match="no ImageNet weights"):
        create_model("mff_tiny", pretrained="imagenet")
    assert create_model("mff_tiny").arch == "mff_tiny"


def test_local_encoder_weights_load(tmp_path):
    source = tiny("mff_tiny", seed=3)
    torch.save(source.E.state_dict(), tmp_path / "enc.pt")
    torch.manual_seed(4)
    model = create_model("mff_tiny", pretrained=str(tmp_path / "enc.pt"))
    assert torch.equal(model.E.conv1.weight, source.E.conv1.weight)
    with pytest.raises(CheckpointError, match="does not exist"):
        create_model("bts_tiny", pretrained=str(tmp_path / "none.pt"))


def test_old_torchvision_densenet_keys_are_renamed():
    from mdeinterp.models.bts import remap_densenet_keys

    old = {"features.denseblock2.denselayer10.norm.1.running_var": 1, "features.denseblock1.denselayer1.conv.2.weight": 2,
           "features.norm5.weight": 3}
    assert remap_densenet_keys(old) == {"features.denseblock2.denselayer10.norm1.running_var": 1,
                                        "features.denseblock1.denselayer1.conv2.weight": 2, "features.norm5.weight": 3}


def test_studied_activations_are_standard_layout():
    activations = studied_activations(tiny("mff_tiny"), torch.randn(1, 3, 64, 64))
    assert all(value.is_contiguous() for value in activations.values())


def test_init_depth_starts_the_mff_output_at_that_many_metres():
    model = create_model("mff_tiny", init_depth=3.0).eval()
    assert model.R.conv2.bias.tolist() == [3.0]
    with torch.no_grad():
        model.R.conv2.weight.zero_()
        assert torch.equal(model(torch.randn(2, 3, 64, 96)), torch.full((2, 1, 32, 48), 3.0))
    torch.manual_seed(0)
    default = create_model("mff_tiny")
    torch.manual_seed(0)
    same = create_model("mff_tiny", init_depth=None)
    assert torch.equal(default.R.conv2.bias, same.R.conv2.bias)
    assert abs(default.R.conv2.bias.item()) < 0.2  # PyTorch's uniform(±1/sqrt(fan_in)) init, fan_in = 32 * 9
    for bad in (0.0, -1.0, "3", True):
        with pytest.raises(ModelError, match="expected a positive number of metres"):
            create_model("mff_tiny", init_depth=bad)
    with pytest.raises(ModelError, match="no option 'init_depth'"):
        create_model("bts_tiny", init_depth=3.0)  # BTS ends in max_depth * sigmoid: nothing to start
    with pytest.raises(ModelError, match=r"max_depth=0; expected a positive number of metres \(10 NYU, 80 KITTI\)"):
        create_model("bts_tiny", max_depth=0)
