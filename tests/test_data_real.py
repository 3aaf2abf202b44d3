"""Real-data loaders on tiny fake files, make_dataset dispatch, and the joint image/depth transforms."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from mdeinterp.config import DataConfig
from mdeinterp.data import IMAGENET_MEAN, denormalize, infer_format, make_dataset
from mdeinterp.data.real import NyuLabeledDataset, kitti_eigen_dataset, mff_csv_dataset
from mdeinterp.data.transforms import DepthTransform, pca_lighting
from mdeinterp.errors import DataError

H, W = 4, 5


def _raw(rgb, depth, focal):
    return {"rgb": rgb, "depth": depth, "focal": focal}


def _rgb(value: int) -> np.ndarray:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = np.arange(W) * 10 + value  # distinct, column-coded pixels
    rgb[..., 1] = np.arange(H)[:, None]
    return rgb


def _png16(path, values):
    Image.fromarray(np.asarray(values, np.uint16)).save(path)  # PIL stores uint16 as mode I;16
    return path


def _png8(path, values):
    Image.fromarray(np.asarray(values, np.uint8), mode="L").save(path)
    return path


# ----------------------------------------------------------------------------------- NYUv2 .mat


def _write_nyu_mat(path, rgbs, depths):
    """Write a MATLAB v7.3-like file: column-major arrays seen by h5py as (N, 3, W, H) and (N, W, H)."""
    with h5py.File(path, "w") as fh:
        fh["images"] = np.stack([r.transpose(2, 1, 0) for r in rgbs])
        fh["depths"] = np.stack([d.T for d in depths]).astype(np.float64)
    return path


@pytest.fixture
def nyu_dir(tmp_path):
    rgbs = [_rgb(i) for i in range(3)]
    depths = [np.full((H, W), i + 1.0) + np.arange(W) * 0.25 for i in range(3)]
    _write_nyu_mat(tmp_path / "nyu_depth_v2_labeled.mat", rgbs, depths)
    with h5py.File(tmp_path / "splits.mat", "w") as fh:  # MATLAB stores column vectors as (1, k) here
        fh["trainNdxs"] = np.array([[1.0, 3.0]])
        fh["testNdxs"] = np.array([[2.0]])
    return tmp_path, rgbs, depths


def test_nyu_labeled_transposes_back_and_uses_the_1_based_split(nyu_dir):
    folder, rgbs, depths = nyu_dir
    train = NyuLabeledDataset(folder / "nyu_depth_v2_labeled.mat", "train", _raw)
    test = NyuLabeledDataset(folder / "nyu_depth_v2_labeled.mat", "test", _raw)
    assert (len(train), len(test)) == (2, 1)
    np.testing.assert_array_equal(train[1]["rgb"], rgbs[2])
    np.testing.assert_array_equal(train[1]["depth"], depths[2].astype(np.float32))
    np.testing.assert_array_equal(test[0]["rgb"], rgbs[1])
    assert test[0]["depth"][0, 4] == pytest.approx(2.0 + 4 * 0.25)
    assert test[0]["focal"] == pytest.approx(518.8579 * W / 640)


def test_nyu_text_split_file_and_make_dataset(nyu_dir):
    folder, _, depths = nyu_dir
    (folder / "splits.mat").unlink()
    (folder / "test_indices.txt").write_text("3\n1\n")
    config = DataConfig(format="nyu_labeled", path=str(folder / "nyu_depth_v2_labeled.mat"), height=H, width=W)
    sample = make_dataset(config, "test")[0]
    assert sample["image"].shape == (3, H, W) and sample["depth"].shape == (1, H, W)
    np.testing.assert_allclose(sample["depth"][0].numpy(), depths[2], rtol=1e-6)
    assert infer_format(config.path) == "nyu_labeled"
    with pytest.raises(DataError, match="train_indices.txt"):
        make_dataset(config, "train")


def test_nyu_nan_depth_is_invalid_with_warning(tmp_path):
    depth = np.ones((H, W))
    depth[0, 0] = np.nan
    mat = _write_nyu_mat(tmp_path / "nyu.mat", [_rgb(0)], [depth])
    (tmp_path / "ids.txt").write_text("1")
    data = NyuLabeledDataset(mat, "test", _raw, splits=tmp_path / "ids.txt")
    with pytest.warns(UserWarning, match="1 NaN/Inf"):
        out = data[0]["depth"]
    assert out[0, 0] == 0.0 and out[1, 1] == 1.0


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text("MATLAB 5.0 MAT-file"), "not an HDF5"),
        (lambda p: h5py.File(p, "w").create_dataset("images", data=np.zeros((1, 3, W, H), np.uint8)), "found images"),
        (lambda p: _write_h5_pair(p, (1, 3, W, H), (1, H, W)), "expected 'images' \\(N, 3, W, H\\)"),
    ],
)
def test_bad_nyu_files_raise_data_error_naming_the_file(tmp_path, write, message):
    path = tmp_path / "bad_nyu.mat"
    write(path)
    (tmp_path / "splits.mat").write_bytes(b"")
    with pytest.raises(DataError, match=message) as info:
        NyuLabeledDataset(path, "train", _raw)
    assert "bad_nyu.mat" in str(info.value)


def _write_h5_pair(path, images_shape, depths_shape):
    with h5py.File(path, "w") as fh:
        fh["images"] = np.zeros(images_shape, np.uint8)
        fh["depths"] = np.zeros(depths_shape)


def test_nyu_split_index_out_of_range(nyu_dir):
    folder, _, _ = nyu_dir
    (folder / "ids.txt").write_text("1 4")
    with pytest.raises(DataError, match="index 4 exceeds the 3 images"):
        NyuLabeledDataset(folder / "nyu_depth_v2_labeled.mat", "train", _raw, splits=folder / "ids.txt")


# ------------------------------------------------------------------------------------- MFF CSV


@pytest.fixture
def mff_dir(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    Image.fromarray(_rgb(1)).save(tmp_path / "data" / "train" / "1.png")
    _png16(tmp_path / "data" / "train" / "1_mm.png", np.full((H, W), 2500))
    _png8(tmp_path / "data" / "train" / "1_8bit.png", np.full((H, W), 51))
    return tmp_path


def test_mff_csv_reads_16bit_mm_and_8bit_10m_depth_with_relative_paths(mff_dir):
    csv_path = mff_dir / "data" / "list.csv"
    # DenseDepth style (relative to the CSV's parent) and plain (relative to the CSV folder), with a header
    csv_path.write_text("rgb,depth\ndata/train/1.png,data/train/1_mm.png\ntrain/1.png,train/1_8bit.png\n")
    data = mff_csv_dataset(csv_path, _raw)
    assert len(data) == 2
    np.testing.assert_array_equal(data[0]["rgb"], _rgb(1))
    np.testing.assert_allclose(data[0]["depth"], 2.5)  # 2500 mm
    np.testing.assert_allclose(data[1]["depth"], 2.0, rtol=1e-6)  # 51 / 255 * 10 m
    np.testing.assert_allclose(mff_csv_dataset(csv_path, _raw, depth_scale=0.01)[0]["depth"], 25.0)
    assert infer_format(csv_path) == "mff_csv"


@pytest.mark.parametrize(
    "rows, message",
    [
        ("train/1.png\n", "row 1: expected 2 columns"),
        ("train/1.png,train/1_mm.png\ntrain/2.png,train/1_mm.png\n", "row 2: image 'train/2.png' not found"),
        ("train/1.png,train/nope.png\n", "depth PNG 'train/nope.png' not found"),
        ("", "has no rgb_path,depth_path rows"),
    ],
)
def test_bad_mff_csv_raises_data_error_naming_the_file(mff_dir, rows, message):
    csv_path = mff_dir / "data" / "bad_list.csv"
    csv_path.write_text(rows)
    with pytest.raises(DataError, match=message) as info:
        mff_csv_dataset(csv_path, _raw)
    assert "bad_list.csv" in str(info.value)


def test_mff_size_mismatch_and_missing_csv(mff_dir):
    _png16(mff_dir / "data" / "train" / "small.png", np.ones((2, 2)))
    csv_path = mff_dir / "data" / "mismatch.csv"
    csv_path.write_text("train/1.png,train/small.png\n")
    with pytest.raises(DataError, match="mismatch.csv row 1: image is 4x5 but depth is 2x2"):
        mff_csv_dataset(csv_path, _raw)[0]
    with pytest.raises(DataError, match="absent.csv does not exist"):
        mff_csv_dataset(mff_dir / "absent.csv", _raw)


# --------------------------------------------------------------------------------------- KITTI


def test_kitti_list_divides_by_256_skips_none_and_reads_focal(tmp_path):
    Image.fromarray(_rgb(2)).save(tmp_path / "img.png")
    raw = np.zeros((H, W))
    raw[1:, :] = 3200  # 12.5 m; row 0 has no lidar return
    _png16(tmp_path / "gt.png", raw)
    listing = tmp_path / "eigen_train.txt"
    listing.write_text("img.png None 721.5377\nimg.png gt.png 707.0912\n")
    data = kitti_eigen_dataset(listing, _raw)
    assert len(data) == 1
    sample = data[0]
    np.testing.assert_array_equal(sample["depth"][0], 0.0)
    np.testing.assert_array_equal(sample["depth"][1:], 12.5)
    assert sample["focal"] == pytest.approx(707.0912)
    assert infer_format(listing) == "kitti_eigen"

    listing.write_text("img.png gt.png 721.5\nimg.png missing.png 721.5\n")
    with pytest.raises(DataError, match="eigen_train.txt line 2: depth PNG 'missing.png' not found"):
        kitti_eigen_dataset(listing, _raw)
    listing.write_text("img.png\n")
    with pytest.raises(DataError, match="eigen_train.txt line 1: expected 'rgb_path depth_path focal'"):
        kitti_eigen_dataset(listing, _raw)


def test_infer_format_rejects_unknown_files(tmp_path):
    with pytest.raises(DataError, match="weights.pt does not exist"):
        infer_format(tmp_path / "weights.pt")
    (tmp_path / "weights.pt").write_bytes(b"")
    with pytest.raises(DataError, match="weights.pt; expected a folder"):
        infer_format(tmp_path / "weights.pt")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as fh:
        fh["x"] = 1
    with pytest.raises(DataError, match="foreign.h5 is not a synthetic cache"):
        infer_format(foreign)
    with pytest.raises(DataError, match="split 'val' is unknown"):
        make_dataset(DataConfig(path=str(tmp_path)), "val")


# ---------------------------------------------------------------------------------- transforms


def _coded_sample(height=12, width=16):
    """An image whose red channel is 10 x column and a depth of column + 1 metres."""
    cols = np.arange(width)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = cols * 10
    depth = np.tile(cols + 1.0, (height, 1)).astype(np.float32)
    return rgb, depth


def test_flip_keeps_image_and_depth_aligned():
    rgb, depth = _coded_sample()
    transform = DepthTransform(12, 16, train=True, rotation=0.0, jitter=0.0)
    flipped = 0
    torch.manual_seed(0)
    for _ in range(12):
        sample = transform(rgb, depth, 100.0)
        red = denormalize(sample["image"])[..., 0].astype(np.float32)
        np.testing.assert_array_equal(sample["depth"][0].numpy(), red / 10 + 1)
        flipped += sample["depth"][0, 0, 0].item() == 16.0
    assert 0 < flipped < 12  # both outcomes were seen


def test_rotation_never_blends_depth_and_fills_invalid():
    rgb, depth = _coded_sample(40, 40)
    transform = DepthTransform(40, 40, train=True, rotation=5.0, jitter=0.4)
    torch.manual_seed(1)
    angles_seen = set()
    for _ in range(6):
        out = transform(rgb, depth, 100.0)["depth"][0].numpy()
        assert set(np.unique(out)) <= set(np.arange(41.0))  # nearest: only original values or 0
        angles_seen.add(bool((out == 0).any()))
    assert True in angles_seen  # some rotation exposed a corner, filled with 0 = invalid


def test_mff_resize_and_centre_crop_scales_focal_and_test_split_is_plain():
    rgb = np.zeros((480, 640, 3), np.uint8)
    depth = np.ones((480, 640), np.float32)
    depth[:, 320:] = 4.0
    sample = DepthTransform(228, 304, train=False)(rgb, depth, 518.8579)
    assert sample["image"].shape == (3, 228, 304) and sample["depth"].shape == (1, 228, 304)
    assert sample["focal"] == pytest.approx(518.8579 / 2)  # 640 -> 320 columns
    np.testing.assert_array_equal(sample["depth"][0, :, :152].numpy(), 1.0)  # centre column split preserved
    np.testing.assert_array_equal(sample["depth"][0, :, 152:].numpy(), 4.0)
    np.testing.assert_allclose(sample["image"][:, 0, 0].numpy(), -np.array(IMAGENET_MEAN) / np.array([0.229, 0.224, 0.225]), rtol=1e-6)
    bts = DepthTransform(416, 544, train=True)(rgb, depth, 518.8579)
    assert bts["image"].shape == (3, 416, 544) and bts["focal"] == 518.8579  # crop only, no resize


def test_denormalize_inverts_the_test_transform_and_pca_lighting_shifts_uniformly():
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    sample = DepthTransform(6, 7, train=False)(rgb, np.ones((6, 7), np.float32), 1.0)
    np.testing.assert_array_equal(denormalize(sample["image"]), rgb)
    image = torch.full((3, 2, 2), 0.5)
    lit = pca_lighting(image, 0.1, generator=torch.Generator().manual_seed(0))
    shift = lit - image
    assert torch.allclose(shift, shift[:, :1, :1].expand_as(shift)) and shift.abs().max() > 0
