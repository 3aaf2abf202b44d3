"""Renderer geometry and determinism, and the HDF5 cache of rendered scenes."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import h5py
import numpy as np
import pytest

from mdeinterp.config import RENDERER_VERSIONS
from mdeinterp.data import infer_format
from mdeinterp.data.render import (
    LAYOUTS,
    MAX_DEPTH,
    MIN_DEPTH,
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
    nearest_ground,
    outdoor_scene,
    render_scene,
)
from mdeinterp.data.synthetic import SyntheticDataset, ensure_synthetic, image_rng, synthetic_path
from mdeinterp.errors import DataError

_SCENE = {"indoor": indoor_scene, "outdoor": outdoor_scene}

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
        _, depth = render_scene("indoor", np.random.default_rng(seed), 24, 32, version=4)
        valid = depth[depth > 0]
        assert valid.max() <= 10.0 and valid.min() > 0.3
        assert valid.size >= 0.9 * depth.size  # a closed room: only beyond-10 m corners are invalid


@pytest.mark.parametrize("kind", ["indoor", "outdoor"])
def test_v5_marks_depth_nearer_than_the_minimum_range_invalid_and_keeps_the_rest(kind):
    for seed in range(4):
        rgb4, depth4 = render_scene(kind, np.random.default_rng(seed), 24, 40, version=5)
        camera, prims, _ = _SCENE[kind](np.random.default_rng(seed), 24, 40, LAYOUTS[5][kind])
        t, _ = cast_rays(camera.position, camera_rays(camera), prims, camera)
        keep = (t >= MIN_DEPTH[kind]) & (t <= MAX_DEPTH[kind])
        np.testing.assert_array_equal(depth4, np.where(keep, t, 0.0).astype(np.float32))
        assert (depth4[depth4 > 0] >= MIN_DEPTH[kind]).all()


@pytest.mark.parametrize("kind", ["indoor", "outdoor"])
def test_v5_camera_pose_varies_and_the_ground_stays_beyond_its_limit(kind):
    layout = LAYOUTS[5][kind]
    limit = layout.min_floor if kind == "indoor" else layout.min_road
    heights, pitches, rolls = [], [], []
    for seed in range(40):
        camera = _SCENE[kind](np.random.default_rng(seed), 24, 40, layout)[0]
        rot = camera.rotation
        heights.append(camera.position[1])
        pitches.append(np.arcsin(rot[1, 2]))  # forward's world-y component
        rolls.append(np.arctan2(rot[1, 0], -rot[1, 1]))  # how far the image's x axis tilts out of level
        assert nearest_ground(camera) >= limit
    assert np.ptp(heights) > 0.3 and np.ptp(pitches) > 0.15 and np.ptp(rolls) > 0.05
    v4 = [_SCENE[kind](np.random.default_rng(seed), 24, 40, LAYOUTS[4][kind])[0] for seed in range(40)]
    assert all(abs(c.rotation[1, 0]) < 1e-12 for c in v4)  # v4 never rolls


def test_look_rotation_rolls_about_the_optical_axis():
    level, rolled = look_rotation(0.3, -0.2), look_rotation(0.3, -0.2, 0.25)
    np.testing.assert_allclose(rolled[:, 2], level[:, 2])  # the optical axis is unchanged
    np.testing.assert_allclose(rolled.T @ rolled, np.eye(3), atol=1e-12)
    assert np.isclose(np.arccos(rolled[:, 0] @ level[:, 0]), 0.25)
    np.testing.assert_array_equal(look_rotation(0.3, -0.2, 0.0), level)


def test_nearest_ground_is_the_z_depth_where_the_lowest_ray_meets_the_floor():
    fx, fy, cx, cy = 10.0, 10.0, 2.0, 2.0  # a 4 x 4 image, no tilt: the bottom row's rays fall 0.15 per unit of z
    camera = Camera(fx, fy, cx, cy, 4, 4, np.array([0.0, 1.5, 0.0]), look_rotation(0.0, 0.0))
    assert np.isclose(nearest_ground(camera), 1.5 / 0.15)
    up = Camera(fx, fy, cx, cy, 4, 4, np.array([0.0, 1.5, 0.0]), look_rotation(0.0, 1.0))
    assert nearest_ground(up) == float("inf")


def test_unknown_renderer_versions_are_refused_with_the_known_ones():
    with pytest.raises(DataError, match="renderer version 3 is unknown; expected one of 4, 5"):
        render_scene("indoor", np.random.default_rng(0), 8, 8, version=3)
    assert set(LAYOUTS) == set(RENDERER_VERSIONS) and RENDERER_VERSION in LAYOUTS


def test_outdoor_depth_is_the_hit_distance_up_to_80m_and_sky_is_invalid():
    height, width = 24, 80
    for seed in range(3):
        depth = render_scene("outdoor", np.random.default_rng(seed), height, width, version=4)[1]
        camera, prims, _ = outdoor_scene(np.random.default_rng(seed), height, width)  # the same scene (v4)
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


def test_renderer_v4_still_renders_the_pixels_it_rendered_when_v5_was_added():
    digest = hashlib.sha256()
    for kind in ("indoor", "outdoor"):
        for seed in range(3):
            rgb, depth = render_scene(kind, np.random.default_rng(seed), 24, 40, version=4)
            digest.update(rgb.tobytes())
            digest.update(depth.tobytes())
    # the digest of the same renders before v5 existed (renderer v4 of 2026-12-02)
    assert digest.hexdigest() == "8c2f86c54e2fcc7e70501ed0f9c01b3fe3d997f70a2b4ad2fadfb5e75fe98663"
