"""Renderer geometry and determinism, and the HDF5 cache of rendered scenes."""

from __future__ import annotations

import dataclasses
import os

import h5py
import numpy as np
import pytest

from mdeinterp.data import infer_format
from mdeinterp.data.render import (
    RENDERER_VERSION,
    Box,
    Camera,
    Cylinder,
    Plane,
    Sphere,
    camera_intrinsics,
    camera_rays,
    cast_rays,
    indoor_scene,
    look_rotation,
    outdoor_scene,
    render_scene,
)
from mdeinterp.data.synthetic import SyntheticDataset, ensure_synthetic, image_rng, synthetic_path
from mdeinterp.errors import DataError

ORIGIN = np.zeros(3)


def _ray(*direction: float) -> np.ndarray:
    return np.array(direction, np.float32).reshape(3, 1, 1)


def _camera(height: int = 6, width: int = 8, position=(0.0, 0.0, 0.0), yaw: float = 0.0, pitch: float = 0.0) -> Camera:
    return Camera(10.0, 10.0, width / 2, height / 2, height, width, np.array(position, float), look_rotation(yaw, pitch))


# ------------------------------------------------------------------------------------ geometry


def test_fronto_parallel_wall_gives_its_distance_as_z_depth_at_every_pixel():
    camera = _camera()
    wall = Plane(np.array([0.0, 0.0, -1.0]), -3.5)  # the plane z = 3.5 seen from the origin
    t, index = cast_rays(camera.position, camera_rays(camera), [wall])
    np.testing.assert_allclose(t, 3.5, rtol=1e-6)  # z-depth, not Euclidean distance, even at the corners
    assert (index == 0).all()


def test_camera_looking_straight_down_sees_the_floor_at_its_height():
    camera = _camera(position=(1.0, 1.6, 2.0), pitch=-np.pi / 2)
    t, _ = cast_rays(camera.position, camera_rays(camera), [Plane(np.array([0.0, 1.0, 0.0]), 0.0)])
    np.testing.assert_allclose(t, 1.6, rtol=1e-5)


@pytest.mark.parametrize(
    "primitive, expected",
    [
        (Sphere(np.array([0.0, 0.0, 5.0]), 1.0), 4.0),
        (Box(np.array([0.0, 0.0, 6.0]), np.array([1.0, 1.0, 0.5])), 5.5),
        (Box(np.array([0.0, 0.0, 5.0]), np.array([1.0, 1.0, 1.0]), yaw=np.pi / 4), 5.0 - np.sqrt(2.0)),  # edge on
        (Cylinder(np.array([0.0, -1.0, 4.0]), 0.5, 2.0), 3.5),
        (Cylinder(np.array([0.0, -3.0, 4.0]), 0.5, 2.0), np.inf),  # below the ray
    ],
)
def test_axis_ray_hits_primitive_at_known_distance(primitive, expected):
    t, index = cast_rays(ORIGIN, _ray(0, 0, 1), [primitive])
    np.testing.assert_allclose(t[0, 0], expected, rtol=1e-6)
    assert index[0, 0] == (0 if np.isfinite(expected) else -1)


def test_cylinder_top_cap_seen_from_above():
    t, _ = cast_rays(np.array([0.0, 3.0, 0.0]), _ray(0, -1, 0), [Cylinder(np.array([0.0, 0.0, 0.0]), 0.5, 1.2)])
    np.testing.assert_allclose(t[0, 0], 1.8, rtol=1e-6)


def test_nearest_primitive_wins_and_order_does_not_matter():
    near, far = Sphere(np.array([0.0, 0.0, 3.0]), 0.5), Plane(np.array([0.0, 0.0, -1.0]), -7.0)
    for prims, expected_index in (([near, far], 0), ([far, near], 1)):
        t, index = cast_rays(ORIGIN, _ray(0, 0, 1), prims)
        assert t[0, 0] == pytest.approx(2.5) and index[0, 0] == expected_index


def test_screen_window_culling_gives_the_same_hits_as_testing_every_pixel():
    camera, prims, _ = indoor_scene(np.random.default_rng(7), 30, 40)
    rays = camera_rays(camera)
    t_full, i_full = cast_rays(camera.position, rays, prims)
    t_cull, i_cull = cast_rays(camera.position, rays, prims, camera)
    np.testing.assert_array_equal(t_cull, t_full)
    np.testing.assert_array_equal(i_cull, i_full)


def test_intrinsics_are_the_datasets_scaled_to_the_render_size():
    assert camera_intrinsics("indoor", 240, 320) == pytest.approx((518.8579 / 2, 519.4696 / 2, 325.5824 / 2, 253.7362 / 2))
    fx, _, cx, _ = camera_intrinsics("outdoor", 375, 1242)
    assert (fx, cx) == pytest.approx((721.5377, 609.5593))


# ------------------------------------------------------------------------------- whole scenes


@pytest.mark.parametrize("kind", ["indoor", "outdoor"])
def test_render_is_deterministic_in_the_seed(kind):
    rgb_a, depth_a = render_scene(kind, np.random.default_rng(3), 24, 32)
    rgb_b, depth_b = render_scene(kind, np.random.default_rng(3), 24, 32)
    rgb_c, depth_c = render_scene(kind, np.random.default_rng(4), 24, 32)
    np.testing.assert_array_equal(rgb_a, rgb_b)
    np.testing.assert_array_equal(depth_a, depth_b)
    assert not np.array_equal(depth_a, depth_c) and not np.array_equal(rgb_a, rgb_c)
    assert rgb_a.shape == (24, 32, 3) and rgb_a.dtype == np.uint8
    assert depth_a.shape == (24, 32) and depth_a.dtype == np.float32


def test_indoor_depth_lies_in_the_nyu_range():
    for seed in range(6):
        _, depth = render_scene("indoor", np.random.default_rng(seed), 24, 32)
        valid = depth[depth > 0]
        assert valid.max() <= 10.0 and valid.min() > 0.3
        assert valid.size >= 0.9 * depth.size  # a closed room: only beyond-10 m corners are invalid


def test_outdoor_depth_is_the_hit_distance_up_to_80m_and_sky_is_invalid():
    height, width = 24, 80
    for seed in range(3):
        depth = render_scene("outdoor", np.random.default_rng(seed), height, width)[1]
        camera, prims, _ = outdoor_scene(np.random.default_rng(seed), height, width)  # the same scene
        t, index = cast_rays(camera.position, camera_rays(camera), prims, camera)
        np.testing.assert_array_equal(depth, np.where(t <= 80.0, t, 0.0).astype(np.float32))
        assert depth.max() <= 80.0
        assert (index == -1).any() and (depth[index == -1] == 0).all()  # sky exists and has no depth
        assert (depth[-1] > 0).all()  # the road below the camera is valid


# --------------------------------------------------------------------------------------- cache


def test_cache_round_trip_matches_per_image_renders(tmp_path):
    path = ensure_synthetic("indoor", "train", 3, 12, 16, seed=5, root=tmp_path, progress=False)
    assert path == synthetic_path("indoor", "train", 3, 12, 16, 5, tmp_path)
    with h5py.File(path) as fh:
        assert fh.attrs["renderer_version"] == RENDERER_VERSION and fh.attrs["split"] == "train"
        rgb, depth = fh["rgb"][()], fh["depth"][()]
    for i in range(3):
        expected_rgb, expected_depth = render_scene("indoor", image_rng(5, "train", i), 12, 16)
        np.testing.assert_array_equal(rgb[i], expected_rgb)
        np.testing.assert_array_equal(depth[i], expected_depth)
    # image i does not depend on how many images the split has; the test split uses other seeds
    smaller = ensure_synthetic("indoor", "train", 2, 12, 16, seed=5, root=tmp_path, progress=False)
    test = ensure_synthetic("indoor", "test", 2, 12, 16, seed=5, root=tmp_path, progress=False)
    with h5py.File(smaller) as fs, h5py.File(test) as ft:
        np.testing.assert_array_equal(fs["depth"][1], depth[1])
        assert not np.array_equal(ft["depth"][0], depth[0])
    assert infer_format(path) == "synthetic" and infer_format(tmp_path) == "synthetic"


def test_cache_is_reused_when_current_and_rerendered_when_stale_or_truncated(tmp_path):
    path = ensure_synthetic("outdoor", "test", 2, 8, 16, seed=1, root=tmp_path, progress=False)
    original = h5py.File(path, "r")["depth"][()]
    os.utime(path, (1, 1))
    ensure_synthetic("outdoor", "test", 2, 8, 16, seed=1, root=tmp_path, progress=False)
    assert os.stat(path).st_mtime == 1  # untouched

    with h5py.File(path, "a") as fh:
        fh.attrs["renderer_version"] = RENDERER_VERSION - 1
    ensure_synthetic("outdoor", "test", 2, 8, 16, seed=1, root=tmp_path, progress=False)
    with h5py.File(path) as fh:
        assert fh.attrs["renderer_version"] == RENDERER_VERSION
        np.testing.assert_array_equal(fh["depth"][()], original)

    path.write_bytes(path.read_bytes()[:200])  # truncated
    ensure_synthetic("outdoor", "test", 2, 8, 16, seed=1, root=tmp_path, progress=False)
    np.testing.assert_array_equal(h5py.File(path, "r")["depth"][()], original)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temp files left behind


# ----------------------------------------------------------------------------- bad cache files


def _write_h5(path, **arrays):
    with h5py.File(path, "w") as fh:
        for name, value in arrays.items():
            fh[name] = value
    return path


def _raw(rgb, depth, focal):
    return {"rgb": rgb, "depth": depth, "focal": focal}


def test_synthetic_dataset_reads_arrays_and_focal(tmp_path):
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    depth = np.full((2, 3, 4), 2.0, np.float32)
    path = _write_h5(tmp_path / "ok.h5", rgb=rgb, depth=depth)
    sample = SyntheticDataset(path, _raw)[1]
    np.testing.assert_array_equal(sample["rgb"], rgb[1])
    assert sample["focal"] == pytest.approx(518.8579 * 4 / 640)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "does not exist"),
        (lambda p: (p.write_bytes(b""), p)[1], "not a readable HDF5"),
        (lambda p: _write_h5(p, images=np.zeros((1, 2, 2, 3), np.uint8)), "found images"),
        (lambda p: _write_h5(p, rgb=np.zeros((2, 3, 4, 3), np.uint8), depth=np.ones((2, 3, 5), np.float32)), "shape"),
        (lambda p: _write_h5(p, rgb=np.zeros((2, 3, 4, 3), np.uint8), depth=np.zeros((2, 3, 4), np.float32)), "all-invalid"),
    ],
)
def test_bad_cache_files_raise_data_error_naming_the_file(tmp_path, make, message):
    path = make(tmp_path / "cache_bad.h5")
    with pytest.raises(DataError, match=message) as info:
        SyntheticDataset(path, _raw)
    assert "cache_bad.h5" in str(info.value) and "\n" not in str(info.value)


def test_nan_depth_becomes_invalid_with_a_counting_warning_and_one_empty_sample_is_allowed(tmp_path):
    depth = np.ones((2, 2, 2), np.float32)
    depth[0] = 0.0  # an all-invalid sample is kept
    depth[1, 0, 0], depth[1, 1, 1] = np.nan, np.inf
    path = _write_h5(tmp_path / "nan.h5", rgb=np.zeros((2, 2, 2, 3), np.uint8), depth=depth)
    with pytest.warns(UserWarning, match="2 NaN/Inf"):
        data = SyntheticDataset(path, _raw)
    assert len(data) == 2
    np.testing.assert_array_equal(data[1]["depth"], [[0.0, 1.0], [1.0, 0.0]])


def _floor_at_bottom_row(layout, scenes: int = 40) -> float:
    """Return the median z-depth (m) of the floor pixels in the bottom image row of ``scenes`` rooms."""
    from mdeinterp.data.render import Plane

    depths = []
    for seed in range(scenes):
        camera, prims, _ = indoor_scene(np.random.default_rng(seed), 48, 64, layout)
        t, index = cast_rays(camera.position, camera_rays(camera), prims, camera)
        floor = [k for k, p in enumerate(prims) if isinstance(p, Plane) and p.normal[1] > 0.5]
        depths.extend(t[-1][np.isin(index[-1], floor)].tolist())
    return float(np.median(depths))


def test_v4_camera_sees_the_floor_from_1_7_m_where_v3_saw_it_from_2_5_m():
    from mdeinterp.data.render import LAYOUT_V3, LAYOUT_V4

    # camera height h, pitch p, bottom row's ray (0, v, 1) in camera axes: the floor's z-depth is
    # h / (sin|p| + v cos|p|), v = (H - 0.5 - cy) / fy = 0.426 at 48 rows
    _, fy, _, cy = camera_intrinsics("indoor", 48, 64)
    v = (47.5 - cy) / fy
    assert _floor_at_bottom_row(LAYOUT_V3) == pytest.approx(1.45 / (np.sin(0.13) + v * np.cos(0.13)), rel=0.02)
    assert _floor_at_bottom_row(LAYOUT_V4) == pytest.approx(1.15 / (np.sin(0.24) + v * np.cos(0.24)), rel=0.02)
    assert _floor_at_bottom_row(LAYOUT_V4) < 1.8 < 2.4 < _floor_at_bottom_row(LAYOUT_V3)


def test_near_objects_stand_on_the_floor_in_view_at_their_distance():
    from mdeinterp.data.render import LAYOUT_V4

    layout = dataclasses.replace(LAYOUT_V4, furniture=(0, 1), near_objects=(1, 2), near_distance=(1.5, 1.5))
    distances, seen = [], 0
    for seed in range(30):
        camera, prims, _ = indoor_scene(np.random.default_rng(seed), 48, 64, layout)
        objects = prims[6:]  # after the room's six planes
        if not objects:  # no place kept it clear of the camera
            continue
        assert min(part.bounds()[0][1] for part in objects) == pytest.approx(0.0, abs=1e-9)  # on the floor
        lo, hi = objects[0].bounds()  # a box, sphere or cylinder, or a table's top, centred on the spot
        centre = (lo + hi) / 2
        distances.append(np.hypot(centre[0] - camera.position[0], centre[2] - camera.position[2]))
        t, index = cast_rays(camera.position, camera_rays(camera), prims, camera)
        seen += bool((index >= 6).any())
    assert len(distances) >= 20 and seen >= 0.9 * len(distances)  # in view (unless the room moved it aside)
    assert np.median(distances) == pytest.approx(1.5, abs=0.1)  # moved only when the room's walls are nearer
