"""Depth completion with CSPN: the models, their propagation, the sparse-depth input and the completion runs."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mdeinterp import dissection, grid, hooks, inference, interventions
from mdeinterp.config import build_config
from mdeinterp.data import make_dataset, paper_share_points
from mdeinterp.data.sparse import SparseDepthDataset, draw_seed, sample_sparse
from mdeinterp.errors import DataError
from mdeinterp.inference import evaluate, predict
from mdeinterp.models import create_model
from mdeinterp.models.checkpoint import check_compatible
from mdeinterp.models.cspn import NEIGHBOURS, AffinityPropagation
from mdeinterp.selectivity import sid_edges

FIXTURE = Path(__file__).parent / "data" / "cspn_resnet50_keys.json"


def _batch(n=2, height=64, width=64, seed=0, points=40):
    g = torch.Generator().manual_seed(seed)
    depth = torch.rand(n, 1, height, width, generator=g) * 6 + 1.5
    sparse = torch.zeros_like(depth)
    flat = torch.randperm(height * width, generator=g)[:points]
    sparse.view(n, -1)[:, flat] = depth.view(n, -1)[:, flat]
    return {"image": torch.randn(n, 3, height, width, generator=g), "depth": depth, "sparse_depth": sparse}


# ---- the paper-scale network against the public checkpoint's keys ---------------------------------------


def test_cspn_resnet50_has_every_public_checkpoint_key_with_its_shape_and_loads_strictly():
    fixture = {entry["name"]: entry["shape"] for entry in json.loads(FIXTURE.read_text())["keys"]}
    assert len(fixture) == 490
    with torch.device("meta"):
        model = create_model("cspn_resnet50")
        state = {name: torch.empty(shape) for name, shape in fixture.items()}
    own = model.state_dict()
    for name, shape in fixture.items():  # key by key, so a failure names the key
        assert name in own, name
        assert list(own[name].shape) == shape, name
    assert sorted(own) == sorted(fixture)
    check_compatible(model, state)
    assert model.load_state_dict(state, strict=True, assign=True).missing_keys == []
    # the public layout: 4 input channels, studied layers of 256 and 64 units, 8 affinities
    assert fixture["conv1_1.weight"] == [64, 4, 7, 7]
    assert fixture["gud_up_proj_layer3.conv2.weight"][0] == 256 and fixture["gud_up_proj_layer4.conv2.weight"][0] == 64
    assert fixture["gud_up_proj_layer6.conv1.weight"] == [8, 64, 3, 3]


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return create_model("cspn_resnet50", init_depth=3.0)


def test_cspn_resnet50_trains_a_step_and_keeps_its_sparse_pixels(paper_model):
    model = paper_model.train()
    batch = _batch(n=2, height=32, width=64)  # the smallest size the encoder's stride allows: a fast test
    with hooks.capture(model, model.studied_layers) as activations:
        pred = predict(model, batch, "cpu")
    assert pred.shape == (2, 1, 32, 64)
    assert activations["layer3"].shape == (2, 256, 8, 16) and activations["layer4"].shape == (2, 64, 16, 32)
    known = batch["sparse_depth"] > 0
    assert torch.equal(pred[known], batch["sparse_depth"][known])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = (pred - batch["depth"]).abs().mean()
    loss.backward()
    optimizer.step()
    assert model.conv1_1.weight.grad[:, 3].abs().sum() > 0  # the sparse-depth channel is learned from
    # the unused public modules get no gradient (they are never run, only kept for the checkpoint's keys)
    assert model.up_proj_layer1.conv1.weight.grad is None and model.conv3.weight.grad is None


def test_cspn_resnet50_evaluates_dissects_ablates_and_corrects(paper_model):
    model = paper_model
    batch = _batch(n=2, height=32, width=64, seed=1)
    known = batch["sparse_depth"] > 0
    samples = [{key: value[i] for key, value in batch.items()} for i in range(2)]
    metrics = evaluate(model, samples, d_max=10.0, batch_size=2)
    assert 0 <= metrics["d1"] <= 1 and metrics["rmse"] > 0
    found = dissection.dissect(model, samples, model.studied_layers, batch_size=2, progress=False,
                                  d_min=0.75, d_max=10.0)
    assert found["layer3"].num_units == 256 and found["layer3"].num_bins == 64
    assert found["layer4"].num_units == 64 and found["layer4"].num_bins == 64
    (plain, _), = inference.predict_depth(model, samples, batch_size=2)
    ablate = interventions.ablate(model, {"layer4": range(64)})
    correct = interventions.correct(model, found["layer3"], range(256))
    for intervention in (ablate, correct):
        (changed, _), = inference.predict_depth(model, samples, batch_size=2, intervention=intervention)
        assert torch.equal(changed[known], plain[known]) and (changed - plain)[~known].abs().max() > 1e-4


def test_cspn_tiny_studied_layers_are_the_last_decoder_blocks_with_the_papers_units_per_bin():
    model = create_model("cspn_tiny")
    assert model.studied_layers == ("layer3", "layer4") and model.input_keys == ("image", "sparse_depth")
    assert hooks.resolve(model, "layer3") is model.gud_up_proj_layer3
    assert hooks.resolve(model, "layer4") is model.gud_up_proj_layer4
    with torch.no_grad(), hooks.capture(model.eval(), model.studied_layers) as activations:
        model(torch.randn(1, 3, 64, 96), torch.zeros(1, 1, 64, 96))
    units = {name: value.shape[1] for name, value in activations.items()}
    bins = build_config("tiny_cspn").num_bins
    # paper: 256 and 64 units for 64 bins = 4 and 1 units per bin; tiny: the same with 32 bins
    assert units == {"layer3": 128, "layer4": 32} and (units["layer3"] / bins, units["layer4"] / bins) == (4, 1)
    assert activations["layer3"].shape[-2:] == (16, 24) and activations["layer4"].shape[-2:] == (32, 48)
    assert min(value.min().item() for value in activations.values()) >= 0  # post-ReLU units


# ---- the propagation ------------------------------------------------------------------------------------


def test_one_step_of_uniform_affinity_averages_the_neighbours_inside_and_at_the_borders():
    propagation = AffinityPropagation(steps=1)
    depth = torch.arange(20.0).reshape(1, 1, 4, 5)
    result = propagation(torch.ones(1, 8, 4, 5), depth)[0, 0]
    # affinities 1/8 each inside: Σ a = 1, so the initial depth gets weight 0 and the 8 neighbours average
    assert result[1, 1].item() == pytest.approx((0 + 1 + 2 + 5 + 7 + 10 + 11 + 12) / 8)
    # at the top-left corner 3 neighbours are in the image, each with affinity 1/3
    assert result[0, 0].item() == pytest.approx((1 + 5 + 6) / 3)
    # all-zero guidance (e.g. ablated affinity units): no propagation, the initial depth stays
    assert torch.equal(AffinityPropagation(steps=3)(torch.zeros(1, 8, 4, 5), depth), depth)


def test_affinity_is_read_at_the_neighbour_and_normalised_by_its_absolute_sum():
    propagation = AffinityPropagation(steps=1)
    guidance = torch.zeros(1, 8, 3, 3)
    guidance[0, 1, 2, 1] = -2.0  # channel 1 weighs the neighbour below (1, 0); set at that neighbour
    guidance[0, 6, 0, 1] = 2.0  # channel 6 weighs the neighbour above (-1, 0)
    assert NEIGHBOURS[1] == (1, 0) and NEIGHBOURS[6] == (-1, 0)
    affinity, total = propagation.affinities(guidance)
    assert affinity[0, 1, 1, 1].item() == pytest.approx(-0.5) and affinity[0, 6, 1, 1].item() == pytest.approx(0.5)
    assert total[0, 1, 1].item() == pytest.approx(0.0)
    depth = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])[None, None]
    # d1 = (1 - Σa) d0 + Σ a d0(neighbour) = 5 - 0.5 * 8 + 0.5 * 2
    assert propagation(guidance, depth)[0, 0, 1, 1].item() == pytest.approx(2.0)


def test_propagation_keeps_the_sparse_pixels_exactly_and_moves_the_others():
    g = torch.Generator().manual_seed(1)
    guidance = torch.randn(2, 8, 12, 16, generator=g)
    depth = torch.rand(2, 1, 12, 16, generator=g) * 5 + 1
    sparse = torch.where(torch.rand(2, 1, 12, 16, generator=g) < 0.1, torch.rand(2, 1, 12, 16, generator=g) * 9 + 0.5,
                         torch.zeros(()))
    known = sparse > 0
    assert known.sum() > 10
    result = AffinityPropagation(steps=24)(guidance, depth, sparse)
    assert torch.equal(result[known], sparse[known])
    assert (result[~known] - depth[~known]).abs().max() > 0.1
    # the same through the network, also when a studied layer is ablated or edited by a hook
    torch.manual_seed(0)
    model = create_model("cspn_tiny", init_depth=3.0).eval()
    batch = _batch(n=2)
    batch_known = batch["sparse_depth"] > 0
    with torch.no_grad(), hooks.ablate(model, {"layer3": range(128), "layer4": [0, 5]}):
        ablated = predict(model, batch, "cpu")
    with torch.no_grad():
        plain = predict(model, batch, "cpu")
    assert torch.equal(ablated[batch_known], batch["sparse_depth"][batch_known])
    assert (ablated - plain)[~batch_known].abs().max() > 1e-4  # the ablation reaches the output through the propagation


# ---- sparse depth sampling ------------------------------------------------------------------------------


def test_paper_share_of_sparse_points():
    assert paper_share_points(228, 304) == 500
    assert paper_share_points(64, 96) == 44 == build_config("tiny_cspn").data.sparse_points
    assert build_config("paper_cspn_nyu").data.sparse_points == 500


def test_sparse_sampling_draws_only_valid_pixels_and_all_of_them_when_too_few():
    g = torch.Generator().manual_seed(0)
    depth = torch.rand(1, 20, 30, generator=g) * 5 + 1
    depth[:, :, :10] = 0  # a third invalid
    sparse, count = sample_sparse(depth, 50, torch.Generator().manual_seed(3))
    drawn = sparse > 0
    assert count == 50 and int(drawn.sum()) == 50
    assert torch.equal(sparse[drawn], depth[drawn]) and not drawn[:, :, :10].any()
    few = torch.zeros(1, 20, 30)
    few[0, 3, 4], few[0, 7, 9], few[0, 19, 29] = 2.0, 3.0, 4.0
    sparse, count = sample_sparse(few, 50, torch.Generator().manual_seed(3))
    assert count == 3 and torch.equal(sparse, few)


class _Fixed(torch.utils.data.Dataset):
    def __init__(self, depths):
        self.depths = depths

    def __len__(self):
        return len(self.depths)

    def __getitem__(self, index):
        return {"image": torch.zeros(3, *self.depths[index].shape[-2:]), "depth": self.depths[index], "focal": 1.0}


def test_sparse_draw_is_fixed_by_seed_split_and_index_not_by_reading_order():
    g = torch.Generator().manual_seed(0)
    depths = [torch.rand(1, 16, 24, generator=g) + 1 for _ in range(4)]
    data = SparseDepthDataset(_Fixed(depths), points=12, split="test", seed=0)
    forward = [data[i]["sparse_depth"] for i in range(4)]
    backward = [data[i]["sparse_depth"] for i in reversed(range(4))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    assert not torch.equal(forward[0] > 0, forward[1] > 0)  # another image, other pixels
    other_seed = SparseDepthDataset(_Fixed(depths), points=12, split="test", seed=1)[0]["sparse_depth"]
    other_split = SparseDepthDataset(_Fixed(depths), points=12, split="train", seed=0)[0]["sparse_depth"]
    assert not torch.equal(other_seed > 0, forward[0] > 0) and not torch.equal(other_split > 0, forward[0] > 0)
    assert draw_seed(0, "test", 2) == draw_seed(0, "test", 2) != draw_seed(0, "test", 3)
    with pytest.raises(DataError, match="split 'val' is unknown"):
        SparseDepthDataset(_Fixed(depths), points=12, split="val")


def test_evaluate_counts_images_short_of_sparse_pixels_and_a_missing_input_is_named():
    depths = [torch.full((1, 32, 32), 2.0), torch.zeros(1, 32, 32)]
    depths[1][0, :2, :3] = 3.0  # 6 valid pixels < 12 asked for
    data = SparseDepthDataset(_Fixed(depths), points=12, split="test")
    assert [data[i]["sparse_count"] for i in range(2)] == [12, 6]
    assert [data[i]["sparse_short"] for i in range(2)] == [False, True]
    model = create_model("cspn_tiny", init_depth=2.0)
    metrics = evaluate(model, data, d_max=8.0, batch_size=2)
    assert metrics["sparse_short_images"] == 1.0
    with pytest.raises(DataError, match="takes batch\\['sparse_depth'\\]"):
        predict(model, {"image": torch.zeros(1, 3, 32, 32), "depth": torch.zeros(1, 1, 32, 32)}, "cpu")


def test_every_loader_gets_sparse_depth_when_asked(tmp_path):
    config = build_config("tiny_cspn", format="synthetic", path=str(tmp_path), n_train=4, n_test=3, height=32, width=48, sparse_points=9)
    for split in ("train", "test"):
        sample = make_dataset(config.data, split, progress=False)[2]
        assert sample["sparse_depth"].shape == (1, 32, 48) and int((sample["sparse_depth"] > 0).sum()) == 9
        assert torch.equal(sample["sparse_depth"][sample["sparse_depth"] > 0], sample["depth"][sample["sparse_depth"] > 0])
    plain = build_config("tiny", format="synthetic", path=str(tmp_path), n_train=4, n_test=3, height=32, width=48)
    assert "sparse_depth" not in make_dataset(plain.data, "test", progress=False)[0]


def test_a_make_data_file_gets_sparse_depth(tmp_path):
    from mdeinterp.cli import main

    out = tmp_path / "scenes.h5"
    assert main(["make-data", "--n", "2", "--out", str(out), "--height", "32", "--width", "48", "--split", "test"]) == 0
    config = build_config("tiny_cspn", data=str(out), height=32, width=48, n_test=2)
    data = make_dataset(config.data, "test", progress=False)
    assert len(data) == 2 and data[1]["sparse_count"] == 44 and int((data[1]["sparse_depth"] > 0).sum()) == 44
    assert torch.equal(data[1]["sparse_depth"], make_dataset(config.data, "test", progress=False)[1]["sparse_depth"])


def test_nyu_mat_and_csv_loaders_get_sparse_depth_of_their_valid_pixels(tmp_path):
    import h5py
    import numpy as np
    from PIL import Image

    from mdeinterp.config import DataConfig

    height, width = 6, 8
    rgb = np.zeros((height, width, 3), np.uint8)
    depth = np.linspace(1.0, 5.0, height * width).reshape(height, width)
    depth[:3] = 0.0  # half invalid
    with h5py.File(tmp_path / "nyu.mat", "w") as fh:  # MATLAB's column-major layout, seen transposed by h5py
        fh["images"] = np.stack([rgb.transpose(2, 1, 0)] * 2)
        fh["depths"] = np.stack([depth.T] * 2)
    (tmp_path / "test_indices.txt").write_text("1\n2\n")
    Image.fromarray(rgb).save(tmp_path / "1.png")
    Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(tmp_path / "1_mm.png")
    (tmp_path / "list.csv").write_text("rgb,depth\n1.png,1_mm.png\n")
    for path, fmt in ((tmp_path / "nyu.mat", "nyu_labeled"), (tmp_path / "list.csv", "mff_csv")):
        config = DataConfig(format=fmt, path=str(path), height=height, width=width, sparse_points=30)
        sample = make_dataset(config, "test", progress=False)[0]
        drawn = sample["sparse_depth"] > 0
        # 24 valid pixels < 30 asked for: all of them are used, and the sample says so
        assert sample["sparse_count"] == 24 and sample["sparse_short"] and int(drawn.sum()) == 24
        assert torch.equal(drawn, sample["depth"] > 0)
        assert torch.equal(sample["sparse_depth"][drawn], sample["depth"][drawn])


# ---- the completion runs: train, evaluate, dissect, ablate, correct --------------------------------------


def test_tiny_completion_trains_and_is_dissected_ablated_and_corrected(tmp_path):
    from mdeinterp.run import Run
    from mdeinterp.train import train

    config = build_config("tiny_cspn", format="synthetic", path=str(tmp_path / "data"), n_train=8, n_test=4, height=64, width=96,
                          epochs=1, batch_size=4, max_steps=2, alpha=0.1, device="cpu")
    run_dir = train(config, out=tmp_path / "runs", progress=False)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 2 and 0 < rows[-1]["d1"] <= 1 and rows[-1]["sparse_short_images"] == 0.0
    assert set(rows[-1]) >= {"abs_rel", "rmse"}
    run = Run.from_dir(run_dir)
    model, loaded = run.model(), run.config
    assert loaded.data.sparse_points == 44
    dissection = run.dissection(4, split="test")
    assert list(dissection) == ["layer3", "layer4"]
    assert dissection["layer3"].num_units == 128 and dissection["layer3"].num_bins == 32
    assert dissection["layer4"].num_units == 32 and dissection["layer4"].num_bins == 32
    # dissection bins the ground truth: the pixel counts equal a direct bincount of the test depths
    test = make_dataset(loaded.data, "test", progress=False)
    edges = sid_edges(32, loaded.data.d_min, loaded.data.d_max)
    depth = torch.stack([test[i]["depth"] for i in range(4)])
    valid = (depth > 0) & (depth <= edges[-1])
    counts = torch.bincount(torch.bucketize(depth[valid], edges[1:-1], right=False), minlength=32)
    torch.testing.assert_close(dissection["layer4"].counts.float(), counts.float(), atol=1e-6, rtol=0)
    ablation = interventions.ablation_experiment(model, test, dissection["layer3"], num_ranges=2, random_draws=1,
                                            batch_size=4)
    correction = interventions.correction_experiment(model, test, dissection["layer4"], num_ranges=2, random_draws=1,
                                                batch_size=4)
    for table in (ablation, correction):
        changed = table[table["kind"] != "none"]
        assert len(changed) > 0 and changed["relative_change"].abs().max() > 0
    # the same model without sparse input (notebook 04's comparison): all-zero sparse depth, other predictions
    without = SparseDepthDataset(make_dataset(replace(loaded.data, sparse_points=0), "test", progress=False), 0, "test")
    assert "sparse_depth" not in without.dataset[0] and int((without[0]["sparse_depth"] != 0).sum()) == 0
    (with_pred, depth), = inference.predict_depth(model, test, batch_size=4)
    (without_pred, _), = inference.predict_depth(model, without, batch_size=4)
    known = torch.stack([test[i]["sparse_depth"] for i in range(4)]) > 0
    assert torch.equal(with_pred[known], depth[known]) and not torch.equal(without_pred[known], depth[known])


def test_completion_accuracy_evaluates_a_run_with_and_without_its_sparse_depth(tmp_path):
    from mdeinterp.results import completion_accuracy
    from mdeinterp.run import Run
    from mdeinterp.train import train

    config = build_config("tiny_cspn", format="synthetic", path=str(tmp_path / "data"), n_train=8, n_test=4, height=64,
                          width=96, epochs=1, batch_size=4, max_steps=2, alpha=0.1, device="cpu")
    run = Run.from_dir(train(config, out=tmp_path / "runs", progress=False))
    table = completion_accuracy([run, run.path], batch_size=3)
    assert table["input"].tolist() == ["rgb+sparse", "rgb only"] * 2 and set(table["name"]) == {run.name}
    with_sparse, without = table.iloc[0], table.iloc[1]
    assert (with_sparse["sparse_points"], without["sparse_points"]) == (44, 0)
    assert (with_sparse["model"], with_sparse["method"], with_sparse["layers"]) == ("cspn_tiny", "interpretable",
                                                                                   "layer3+layer4")
    # with its sparse depth: the test metrics training wrote at its last step (other batches, same pixels)
    final = run.metrics()
    for key in ("d1", "abs_rel", "rmse"):
        assert with_sparse[key] == pytest.approx(final[key], rel=1e-5)
    # without: the same test images with the sparse-depth input zeroed by hand
    zeroed = [dict(sample, sparse_depth=torch.zeros_like(sample["sparse_depth"])) for sample in run.data("test")]
    expected = evaluate(run.model(), zeroed, d_max=config.data.d_max, batch_size=4)
    for key in ("d1", "abs_rel", "rmse"):
        assert without[key] == pytest.approx(expected[key], rel=1e-5)
    assert without["abs_rel"] != pytest.approx(with_sparse["abs_rel"], rel=1e-3)
    assert table.iloc[:2].reset_index(drop=True).equals(table.iloc[2:].reset_index(drop=True))  # Run or folder


def test_completion_accuracy_refuses_a_run_without_sparse_input(tmp_path):
    from mdeinterp.run import Run

    with pytest.raises(DataError, match="no sparse depth input"):
        Run(tmp_path / "mff_run", build_config("tiny")).completion_accuracy()


def test_completion_pair_in_the_grid_runs_and_is_dissected_at_quick_scale(tmp_path):
    specs = grid.select(grid.plan("quick"), "completion")
    assert [s.name for s in specs] == ["completion_base_s0", "completion_interp_s0"]
    configs = [s.config(format="synthetic", path=str(tmp_path / "data")) for s in specs]
    assert [c.alpha for c in configs] == [0.0, 0.1] and configs[1].layers == ("layer3", "layer4")
    assert grid.settings(grid.plan("quick"))["completion"] == ["completion_base_s0", "completion_interp_s0"]
    specs = [grid.RunSpec(s.name, s.preset, {**s.overrides, "format": "synthetic", "path": str(tmp_path / "data"), "device": "cpu"}, s.tags)
             for s in specs]
    table = grid.run_all(specs, out=tmp_path / "runs", progress=False, dissect=True, workers=1)
    assert list(table["name"]) == ["completion_base_s0", "completion_interp_s0"]
    for run_dir in table["run_dir"]:
        assert (Path(run_dir) / "done").exists()
        assert (Path(run_dir) / "dissection_train_half0.h5").exists()
    csv = tmp_path / "nyu.csv"
    csv.write_text("rgb,depth\n")
    paper = {s.name: s for s in grid.plan("paper", data=str(csv), completion_data=str(csv))}
    assert paper["completion_interp_s0"].preset == "paper_cspn_nyu"
    assert "completion_base_s0" not in {s.name for s in grid.plan("paper", data=str(csv))}
