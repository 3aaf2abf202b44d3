"""Procedural scenes with exact metric depth: a small vectorised ray caster in numpy.

Two scene kinds stand in for the paper's datasets when the real data is not available:
``"indoor"`` (NYUv2-like: a furnished box room, pinhole camera with NYUv2's intrinsics, valid
depth in (0, 10] m) and ``"outdoor"`` (KITTI-like: road, sidewalks, facades, cars, trees, sky
without depth, valid depth in (0, 80] m).

Conventions. World axes: x right, y up, z forward (metres). Camera axes: x right, y down, z along
the optical axis. Each pixel's ray direction has camera-z component 1, so the ray parameter ``t``
of a hit *is* the z-depth (distance along the optical axis), the convention of NYUv2 and KITTI.
Depth 0 marks invalid pixels (no hit, or beyond the dataset's maximum depth).

Rendering is two passes: :func:`cast_rays` keeps the nearest hit per pixel over a list of
primitives (a loop over the 10-40 primitives of a scene, each on the screen rectangle its bounds
project to); shading then evaluates each visible primitive's procedural texture in surface
coordinates (metres), so texture frequency in the image grows with distance by projection, and
lights that fall off with distance add a second depth cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import RENDERER_VERSION
from ..errors import DataError

# RENDERER_VERSION (config) is bumped whenever images change for a given seed: cached HDF5 files are then
# re-rendered. Every version in RENDERER_VERSIONS stays selectable and renders the same pixels as when it was made.

# (fx, fy, cx, cy, width, height) of the datasets' cameras, scaled to the render size in `camera_intrinsics`.
NYU_INTRINSICS = (518.8579, 519.4696, 325.5824, 253.7362, 640, 480)
KITTI_INTRINSICS = (721.5377, 721.5377, 609.5593, 172.854, 1242, 375)
MAX_DEPTH = {"indoor": 10.0, "outdoor": 80.0}
#: Renderer v5's minimum sensor range (metres): nearer pixels are invalid, as a Kinect's or a lidar's are. Chosen
#: from v5's own depths (300 training scenes, docs/renderer-v5.md) so that the first SID bin, (0, d_min] with the
#: scenes' d_min of 1.2 / 4 m (config.DEPTH_RANGES), is neither a catch-all nor empty: it holds 0.43% (indoor) and
#: 0.39% (outdoor) of the valid pixels, and the rule removes 0.26% / 0.06% of all pixels.
MIN_DEPTH = {"indoor": 1.05, "outdoor": 3.0}
SCENE_KINDS = ("indoor", "outdoor")
_EPS = 1e-4

Rays = np.ndarray  # (3, H, W) float32 directions with camera-z component 1


# --------------------------------------------------------------------------------------- camera


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera: intrinsics in pixels, position (3,) in metres, rotation (3, 3) camera->world."""

    fx: float
    fy: float
    cx: float
    cy: float
    height: int
    width: int
    position: np.ndarray
    rotation: np.ndarray


def camera_intrinsics(kind: str, height: int, width: int) -> tuple[float, float, float, float]:
    """Return (fx, fy, cx, cy) in pixels of the ``kind`` dataset's camera scaled to ``height`` x ``width``."""
    if kind not in SCENE_KINDS:
        raise DataError(f"scene kind {kind!r} is unknown; expected one of {', '.join(SCENE_KINDS)}")
    fx, fy, cx, cy, w0, h0 = NYU_INTRINSICS if kind == "indoor" else KITTI_INTRINSICS
    sx, sy = width / w0, height / h0
    return fx * sx, fy * sy, cx * sx, cy * sy


def look_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Return the (3, 3) camera->world rotation for ``yaw`` (about world y, 0 = +z), ``pitch`` (up > 0) and
    ``roll`` (about the optical axis, clockwise in the image > 0), radians."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    right = np.array([cy, 0.0, -sy])
    forward = np.array([sy * cp, sp, cy * cp])
    down = np.array([sy * sp, -cp, cy * sp])  # forward rotated by -90 degrees of pitch: image rows go down
    if roll:
        cr, sr = np.cos(roll), np.sin(roll)
        right, down = cr * right + sr * down, cr * down - sr * right
    return np.stack([right, down, forward], axis=1)


def nearest_ground(camera: Camera) -> float:
    """Return the smallest z-depth (metres) at which any pixel's ray meets the ground plane y = 0, inf if none."""
    down = camera_rays(camera)[1]
    below = down < -1e-6
    if not below.any():
        return float("inf")
    return float((-camera.position[1] / down[below]).min())


def camera_rays(camera: Camera) -> Rays:
    """Return (3, H, W) world ray directions through pixel centres, scaled so their camera-z is 1."""
    u = (np.arange(camera.width, dtype=np.float32) + 0.5 - camera.cx) / camera.fx
    v = (np.arange(camera.height, dtype=np.float32) + 0.5 - camera.cy) / camera.fy
    rot = camera.rotation.astype(np.float32)
    # world = R @ (u, v, 1): an outer sum instead of a (3,3) x (3,H,W) product.
    return (rot[:, 0, None, None] * u[None, None, :] + rot[:, 1, None, None] * v[None, :, None]
            + rot[:, 2, None, None]).astype(np.float32)


# ------------------------------------------------------------------------------------ materials


@dataclass(frozen=True, eq=False)
class Material:
    """A procedural texture: ``pattern`` mixes ``color_a`` and ``color_b`` (RGB in [0, 1]) at ``scale`` metres."""

    pattern: str = "flat"  # flat | checker | stripes | noise | wood | windows | lane
    color_a: np.ndarray = field(default_factory=lambda: np.array([0.7, 0.7, 0.7], np.float32))
    color_b: np.ndarray = field(default_factory=lambda: np.array([0.4, 0.4, 0.4], np.float32))
    scale: float = 0.5
    lattice: np.ndarray = field(default_factory=lambda: np.zeros((16, 16), np.float32))  # value-noise table

    def albedo(self, uv: np.ndarray) -> np.ndarray:
        """Return (N, 3) albedo at (2, N) surface coordinates in metres."""
        mix = _pattern(self, uv[0] / self.scale, uv[1] / self.scale)
        return self.color_a[None, :] + mix[:, None] * (self.color_b - self.color_a)[None, :]


def _value_noise(lattice: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return smooth noise in [0, 1] at (N,) coordinates in lattice cells (bilinear, smoothstep-eased)."""
    side = lattice.shape[0]
    mask = side - 1  # the lattice side is a power of two: wrap with a bit mask
    flat = lattice.ravel()
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    i0, j0 = x0.astype(np.int32) & mask, y0.astype(np.int32) & mask
    i1, row0 = (i0 + 1) & mask, j0 * side
    row1 = ((j0 + 1) & mask) * side
    v00, v01 = flat.take(row0 + i0), flat.take(row0 + i1)
    v10, v11 = flat.take(row1 + i0), flat.take(row1 + i1)
    top = v00 + fx * (v01 - v00)
    bottom = v10 + fx * (v11 - v10)
    return top + fy * (bottom - top)


def _pattern(material: Material, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the (N,) mix weight in [0, 1] of ``material.pattern`` at coordinates in texture cells."""
    kind = material.pattern
    if kind == "flat":  # plain paint: only shading varies
        return np.zeros_like(x)
    if kind == "checker":
        return ((np.floor(x) + np.floor(y)) % 2).astype(np.float32)
    if kind == "stripes":
        return (np.floor(x) % 2).astype(np.float32)
    if kind == "noise":
        return 0.65 * _value_noise(material.lattice, x, y) + 0.35 * _value_noise(material.lattice, 3.1 * x, 3.1 * y)
    if kind == "wood":  # bands along y, wobbled by noise
        bands = 4 * x + 1.5 * _value_noise(material.lattice, 0.5 * x, 0.2 * y)
        return 0.5 + 0.5 * np.sin(2 * np.pi * bands)
    if kind == "windows":  # facade: a dark pane in each cell
        fx, fy = x % 1.0, y % 1.0
        return ((fx > 0.25) & (fx < 0.75) & (fy > 0.3) & (fy < 0.8)).astype(np.float32)
    if kind == "lane":  # asphalt noise plus a dashed centre line at x = 0 (x across, y along the road)
        dashes = (np.abs(x * material.scale) < 0.08) & ((y * material.scale) % 6.0 < 3.0)
        return np.where(dashes, 1.0, 0.3 * _value_noise(material.lattice, 4 * x, 4 * y)).astype(np.float32)
    raise ValueError(f"texture pattern {kind!r} is unknown")


def random_material(rng: np.random.Generator, patterns: tuple[str, ...], scale: tuple[float, float],
                    brightness: tuple[float, float] = (0.2, 0.95)) -> Material:
    """Return a material with a random pattern from ``patterns``, colours and scale (metres, log-uniform)."""
    color_a = rng.uniform(*brightness, size=3).astype(np.float32)
    if rng.random() < 0.5:
        color_b = (color_a * rng.uniform(0.35, 0.75)).astype(np.float32)
    else:
        color_b = rng.uniform(*brightness, size=3).astype(np.float32)
    return Material(
        pattern=str(patterns[rng.integers(len(patterns))]),
        color_a=color_a,
        color_b=color_b,
        scale=float(np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1])))),
        lattice=rng.random((16, 16), dtype=np.float32),
    )


# ----------------------------------------------------------------------------------- primitives


@dataclass(frozen=True, eq=False)
class Plane:
    """The half-space boundary n . p = offset, visible from the side ``normal`` points to."""

    normal: np.ndarray
    offset: float
    material: Material = field(default_factory=Material)

    def intersect(self, origin: np.ndarray, rays: Rays) -> np.ndarray:
        """Return (H, W) ray parameters of the hits (inf where missed) for (3, H, W) ``rays``."""
        n = self.normal.tolist()  # Python floats keep the float32 rays in float32
        denom = n[0] * rays[0] + n[1] * rays[1] + n[2] * rays[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.offset - float(self.normal @ origin)) / denom
        return np.where((denom < -1e-7) & (t > _EPS), t, np.inf)

    def bounds(self) -> None:
        """Return None: a plane is unbounded."""
        return None

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (3, N) normals and (2, N) texture coordinates (metres) at (3, N) hit points."""
        n = self.normal.astype(np.float32)
        axis_u = np.array([n[2], 0.0, -n[0]], np.float32) if abs(n[1]) < 0.9 else np.array([1.0, 0.0, 0.0], np.float32)
        axis_v = np.array([0.0, 1.0, 0.0], np.float32) if abs(n[1]) < 0.9 else np.array([0.0, 0.0, 1.0], np.float32)
        uv = np.stack([axis_u @ points, axis_v @ points])
        return np.broadcast_to(n[:, None], points.shape), uv


@dataclass(frozen=True, eq=False)
class Box:
    """A box with ``center`` (3,), ``half`` extents (3,) in metres, turned by ``yaw`` radians about the y axis."""

    center: np.ndarray
    half: np.ndarray
    yaw: float = 0.0
    material: Material = field(default_factory=Material)

    def _to_local(self, v: np.ndarray) -> np.ndarray:
        c, s = float(np.cos(self.yaw)), float(np.sin(self.yaw))
        return np.stack([c * v[0] - s * v[2], v[1], s * v[0] + c * v[2]])

    def intersect(self, origin: np.ndarray, rays: Rays) -> np.ndarray:
        """Return (H, W) ray parameters of the hits (inf where missed; inside the box counts as missed)."""
        o = self._to_local(origin - self.center).tolist()
        d = self._to_local(rays) if self.yaw else rays
        half = self.half.tolist()
        t_near = np.full(rays.shape[1:], -np.inf, np.float32)
        t_far = np.full(rays.shape[1:], np.inf, np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            for axis in range(3):  # slab method, one axis at a time
                inv = 1.0 / d[axis]
                t1 = (-half[axis] - o[axis]) * inv
                t2 = (half[axis] - o[axis]) * inv
                np.maximum(t_near, np.minimum(t1, t2), out=t_near)
                np.minimum(t_far, np.maximum(t1, t2), out=t_far)
        return np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.inf)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the world-axis-aligned (min corner, max corner) enclosing the box."""
        c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
        ext = np.array([c * self.half[0] + s * self.half[2], self.half[1], s * self.half[0] + c * self.half[2]])
        return self.center - ext, self.center + ext

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (3, N) outward normals and (2, N) face texture coordinates (metres) at (3, N) hit points."""
        local = self._to_local(points - self.center[:, None].astype(np.float32))
        axis = np.argmax(np.abs(local) / self.half[:, None].astype(np.float32), axis=0)  # the face whose slab bound is reached
        sign = np.sign(local[axis, np.arange(local.shape[1])])
        normal_local = np.zeros_like(local)
        normal_local[axis, np.arange(local.shape[1])] = sign
        c, s = float(np.cos(self.yaw)), float(np.sin(self.yaw))
        normal = np.stack([c * normal_local[0] + s * normal_local[2], normal_local[1],
                           -s * normal_local[0] + c * normal_local[2]])
        # texture axes per face: x-faces (z, y), y-faces (x, z), z-faces (x, y)
        u = np.where(axis == 0, local[2], local[0])
        v = np.where(axis == 1, local[2], local[1])
        return normal, np.stack([u, v])


@dataclass(frozen=True, eq=False)
class Sphere:
    """A sphere of ``radius`` metres around ``center`` (3,)."""

    center: np.ndarray
    radius: float
    material: Material = field(default_factory=Material)

    def intersect(self, origin: np.ndarray, rays: Rays) -> np.ndarray:
        """Return (H, W) ray parameters of the nearest hits in front of the origin (inf where missed)."""
        oc = (origin - self.center).tolist()
        a = rays[0] * rays[0] + rays[1] * rays[1] + rays[2] * rays[2]
        b = oc[0] * rays[0] + oc[1] * rays[1] + oc[2] * rays[2]
        disc = b * b - a * (oc[0] ** 2 + oc[1] ** 2 + oc[2] ** 2 - self.radius**2)
        with np.errstate(invalid="ignore"):
            t = (-b - np.sqrt(disc)) / a
        return np.where((disc >= 0) & (t > _EPS), t, np.inf)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the axis-aligned (min corner, max corner) enclosing the sphere."""
        return self.center - self.radius, self.center + self.radius

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (3, N) normals and (2, N) texture coordinates (arc lengths in metres) at (3, N) hit points."""
        normal = (points - self.center[:, None].astype(np.float32)) / self.radius
        uv = self.radius * np.stack([np.arctan2(normal[0], normal[2]), np.arcsin(np.clip(normal[1], -1, 1))])
        return normal, uv


@dataclass(frozen=True, eq=False)
class Cylinder:
    """An upright closed cylinder: ``base`` (3,) is the bottom centre, ``radius`` and ``height`` in metres."""

    base: np.ndarray
    radius: float
    height: float
    material: Material = field(default_factory=Material)

    def intersect(self, origin: np.ndarray, rays: Rays) -> np.ndarray:
        """Return (H, W) ray parameters of the nearest hits on side or caps (inf where missed)."""
        ox, oy, oz = (origin - self.base).tolist()
        dx, dy, dz = rays
        a = dx * dx + dz * dz
        b = ox * dx + oz * dz
        disc = b * b - a * (ox * ox + oz * oz - self.radius**2)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_side = (-b - np.sqrt(disc)) / a
            y_side = oy + t_side * dy
            side_ok = (disc >= 0) & (t_side > _EPS) & (y_side >= 0) & (y_side <= self.height)
            t = np.where(side_ok, t_side, np.inf)
            for cap_y in (0.0, self.height):
                t_cap = (cap_y - oy) / dy
                cx, cz = ox + t_cap * dx, oz + t_cap * dz
                cap_ok = (t_cap > _EPS) & (cx * cx + cz * cz <= self.radius**2)
                t = np.where(cap_ok & (t_cap < t), t_cap, t)
        return t

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the axis-aligned (min corner, max corner) enclosing the cylinder."""
        r = self.radius
        return self.base - np.array([r, 0, r]), self.base + np.array([r, self.height, r])

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (3, N) normals and (2, N) texture coordinates (metres) at (3, N) hit points."""
        rel = points - self.base[:, None].astype(np.float32)
        on_top = rel[1] > self.height - 1e-3
        on_bottom = rel[1] < 1e-3
        side = ~(on_top | on_bottom)
        normal = np.stack([np.where(side, rel[0] / self.radius, 0.0), np.where(on_top, 1.0, np.where(on_bottom, -1.0, 0.0)),
                           np.where(side, rel[2] / self.radius, 0.0)])
        u = np.where(side, self.radius * np.arctan2(rel[0], rel[2]), rel[0])
        v = np.where(side, rel[1], rel[2])
        return normal, np.stack([u, v])


Primitive = Plane | Box | Sphere | Cylinder


# ------------------------------------------------------------------------------------ ray casting


def cast_rays(origin: np.ndarray, rays: Rays, primitives: list[Primitive],
              camera: Camera | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the nearest hit's ray parameter (H, W; inf = no hit) and primitive index (H, W; -1 = none).

    ``origin`` (3,) and ``rays`` (3, H, W) are in world metres; with rays from :func:`camera_rays`
    the ray parameter is the z-depth. When ``camera`` is given, each bounded primitive is only
    tested on the screen rectangle its bounding box projects to (same result, less work).
    """
    nearest = np.full(rays.shape[1:], np.inf, np.float32)
    index = np.full(rays.shape[1:], -1, np.int32)
    for k, prim in enumerate(primitives):
        window = _screen_window(camera, prim.bounds()) if camera is not None else (slice(None), slice(None))
        if window is None:
            continue
        t = prim.intersect(origin, rays[(slice(None), *window)])
        best = nearest[window]
        closer = t < best
        best[closer] = t[closer]
        index[window][closer] = k
    return nearest, index


def _screen_window(camera: Camera, bounds: tuple[np.ndarray, np.ndarray] | None) -> tuple[slice, slice] | None:
    """Return the (rows, cols) slices covering the projected ``bounds``; None when it is off screen."""
    full = (slice(None), slice(None))
    if bounds is None:
        return full
    lo, hi = bounds
    corners = np.stack(np.meshgrid([lo[0], hi[0]], [lo[1], hi[1]], [lo[2], hi[2]], indexing="ij"), -1).reshape(-1, 3)
    cam = (corners - camera.position) @ camera.rotation  # (8, 3) in camera axes
    z = cam[:, 2]
    if z.max() <= _EPS:
        return None
    if z.min() <= 0.05:  # straddles the image plane: projection is unbounded, test every pixel
        return full
    u = camera.fx * cam[:, 0] / z + camera.cx - 0.5
    v = camera.fy * cam[:, 1] / z + camera.cy - 0.5
    c0, c1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, camera.width)
    r0, r1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, camera.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


# --------------------------------------------------------------------------------------- shading


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the dot product over axis 0 of two (3, ...) arrays (faster than a reduction over 3 rows)."""
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@dataclass(frozen=True, eq=False)
class Lighting:
    """Ambient + a point light (indoor) or a sun (outdoor) + a camera headlight, and distance haze."""

    ambient: float
    light_position: np.ndarray | None = None  # point light, world metres
    light_power: float = 1.0
    light_falloff: float = 3.0  # metres at which the point light has dropped to half
    sun_direction: np.ndarray | None = None  # unit vector towards the sun
    headlight: float = 0.3
    headlight_falloff: float = 3.0  # metres
    haze_color: np.ndarray | None = None
    haze_distance: float = np.inf  # metres at which 63 % of the colour is haze
    sky_horizon: np.ndarray | None = None
    sky_zenith: np.ndarray | None = None


def shade(camera: Camera, rays: Rays, nearest: np.ndarray, index: np.ndarray,
          primitives: list[Primitive], lighting: Lighting) -> np.ndarray:
    """Return the (H, W, 3) float32 linear colour image of the hits found by :func:`cast_rays`."""
    image = np.zeros((*nearest.shape, 3), np.float32)
    if lighting.sky_horizon is not None:
        norm = np.sqrt(_dot(rays, rays))
        elevation = np.clip(rays[1] / norm * 3.0, 0.0, 1.0)[..., None]
        image[:] = lighting.sky_horizon + elevation * (lighting.sky_zenith - lighting.sky_horizon)
    flat_index = index.ravel()
    order = np.argsort(flat_index, kind="stable")
    starts = np.searchsorted(flat_index[order], np.arange(len(primitives) + 1))
    flat_rays = rays.reshape(3, -1)
    flat_t = nearest.ravel()
    flat_image = image.reshape(-1, 3)
    position = camera.position.astype(np.float32)
    light_position = None if lighting.light_position is None else lighting.light_position.astype(np.float32)
    sun = None if lighting.sun_direction is None else lighting.sun_direction.astype(np.float32)
    for k, prim in enumerate(primitives):
        pixels = order[starts[k]:starts[k + 1]]
        if pixels.size == 0:
            continue
        d = flat_rays[:, pixels]
        t = flat_t[pixels]
        points = position[:, None] + t[None, :] * d
        normal, uv = prim.surface(points)
        normal, uv = normal.astype(np.float32, copy=False), uv.astype(np.float32, copy=False)
        albedo = prim.material.albedo(uv)
        ray_length = np.sqrt(_dot(d, d))
        # headlight: a light at the camera; it dims with z-depth, a direct cue for a depth network
        light = lighting.ambient + lighting.headlight * np.clip(-_dot(normal, d) / ray_length, 0, 1) / (
            1 + (t / lighting.headlight_falloff) ** 2)
        if light_position is not None:
            to_light = light_position[:, None] - points
            dist = np.sqrt(_dot(to_light, to_light))
            cos = np.clip(_dot(normal, to_light) / dist, 0, 1)
            light = light + lighting.light_power * cos / (1 + (dist / lighting.light_falloff) ** 2)
        if sun is not None:
            light = light + lighting.light_power * np.clip(sun @ normal, 0, 1)
        color = albedo * light[:, None]
        if lighting.haze_color is not None:
            fade = (1 - np.exp(-t * ray_length / lighting.haze_distance))[:, None]
            color = color + fade * (lighting.haze_color - color)
        flat_image[pixels] = color
    return image


# ----------------------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class IndoorLayout:
    """Where the indoor camera stands and looks, and how much furniture stands near it (metres, radians)."""

    camera_height: tuple[float, float] = (1.4, 1.5)
    pitch: tuple[float, float] = (-0.14, -0.12)  # negative: looking down
    furniture: tuple[int, int] = (3, 11)  # number of objects anywhere in the room, [low, high)
    near_objects: tuple[int, int] = (0, 1)  # number of objects in view close to the camera, [low, high)
    near_distance: tuple[float, float] = (1.2, 2.6)  # their distance to the camera, horizontal
    clearance: float = 0.9  # furniture keeps this far from the camera, plus the object's own reach
    roll: float = 0.0  # the camera's roll is drawn uniformly in [-roll, roll]
    min_floor: float = 0.0  # height, pitch and roll are redrawn while the floor shows nearer than this


@dataclass(frozen=True)
class OutdoorLayout:
    """Where the outdoor camera stands and looks (metres, radians)."""

    camera_height: tuple[float, float] = (1.5, 1.8)  # uniform
    pitch: tuple[float, float] = (-0.02, 0.02)  # normal: mean, standard deviation
    roll_std: float = 0.0  # normal, mean 0
    min_road: float = 0.0  # height, pitch and roll are redrawn while the road shows nearer than this


_POSE_TRIES = 50


#: Renderer v3's layout (a Kinect held level at chest height, furniture at least 0.9 m plus its reach away): the
#: floor enters the image only 2.5 m away, so nothing nearer shows where it stands, and networks trained on it
#: predicted near surfaces far too far (docs/tuning-log.md, "Tuning log: accuracy in every depth range").
LAYOUT_V3 = IndoorLayout()
#: Renderer v4's layout: camera lower (1.1-1.2 m) and tilted down (0.23-0.25 rad), so the floor enters the image
#: 1.7 m away, and up to one object stands in view 1.2-2.6 m from the camera, its foot on the visible floor.
LAYOUT_V4 = IndoorLayout(camera_height=(1.1, 1.2), pitch=(-0.25, -0.23), near_objects=(0, 2))
#: Renderer v5's layout (issue 29): a handheld camera, as NYUv2's Kinect was carried: height 0.8-1.8 m, pitch from
#: 0.65 rad down to 0.15 rad up, roll within 0.2 rad, redrawn while the floor would show nearer than 1.3 m, so one
#: image row sees very different depths from image to image and the floor contact stays in view. Near objects
#: stand 2.0-3.2 m away (docs/renderer-v5.md).
LAYOUT_V5 = IndoorLayout(camera_height=(0.8, 1.8), pitch=(-0.65, 0.15), near_objects=(0, 2),
                         near_distance=(2.0, 3.2), roll=0.2, min_floor=1.3)
#: Renderer v4's street camera (KITTI's, fixed to the car) and v5's: height 1.3-2.1 m, pitch N(-0.03, 0.1) and
#: roll N(0, 0.08) rad, redrawn while the road would show nearer than 4.5 m.
OUTDOOR_V4 = OutdoorLayout()
OUTDOOR_V5 = OutdoorLayout(camera_height=(1.3, 2.1), pitch=(-0.03, 0.1), roll_std=0.08, min_road=4.5)


def indoor_scene(rng: np.random.Generator, height: int, width: int,
                 layout: IndoorLayout = LAYOUT_V4) -> tuple[Camera, list[Primitive], Lighting]:
    """Return a random NYUv2-like furnished room: camera, primitives and lights."""
    room_w, room_d, room_h = rng.uniform(3, 9), rng.uniform(3, 9), rng.uniform(2.65, 2.75)
    wall = random_material(rng, ("flat", "flat", "stripes", "noise", "checker"), (0.15, 0.8), (0.45, 0.95))
    walls_alt = random_material(rng, ("flat", "stripes", "noise"), (0.15, 0.8), (0.45, 0.95))
    floor = random_material(rng, ("wood", "checker", "noise", "wood"), (0.2, 0.7), (0.25, 0.8))
    ceiling = random_material(rng, ("flat",), (0.5, 1.0), (0.75, 0.98))
    planes = [
        Plane(np.array([0.0, 1.0, 0.0]), 0.0, floor),
        Plane(np.array([0.0, -1.0, 0.0]), -room_h, ceiling),
        Plane(np.array([1.0, 0.0, 0.0]), 0.0, walls_alt),
        Plane(np.array([-1.0, 0.0, 0.0]), -room_w, walls_alt),
        Plane(np.array([0.0, 0.0, 1.0]), 0.0, wall),
        Plane(np.array([0.0, 0.0, -1.0]), -room_d, wall),
    ]
    # camera near the near wall looking into the room, as a person holding a Kinect would. Camera height, pitch
    # and room height vary little so that absolute scale is recoverable from where walls meet the floor
    # (docs/tuning-log.md, "How the tiny preset was first tuned"; renderer v4's lower, down-tilted camera: "Tuning log").
    position = np.array([rng.uniform(0.3, 0.7) * room_w, rng.uniform(*layout.camera_height),
                         rng.uniform(0.4, max(0.45, 0.3 * room_d))])
    yaw = rng.uniform(-0.6, 0.6)
    pitch = rng.uniform(*layout.pitch)
    roll = rng.uniform(-layout.roll, layout.roll) if layout.roll else 0.0
    fx, fy, cx, cy = camera_intrinsics("indoor", height, width)
    camera = Camera(fx, fy, cx, cy, height, width, position, look_rotation(yaw, pitch, roll))
    for _ in range(_POSE_TRIES if layout.min_floor else 0):  # handheld: redraw the pose until the floor is far enough
        if nearest_ground(camera) >= layout.min_floor:
            break
        position = np.array([position[0], rng.uniform(*layout.camera_height), position[2]])
        pitch, roll = rng.uniform(*layout.pitch), rng.uniform(-layout.roll, layout.roll)
        camera = Camera(fx, fy, cx, cy, height, width, position, look_rotation(yaw, pitch, roll))

    objects: list[Primitive] = []
    for _ in range(rng.integers(*layout.furniture)):
        objects.extend(_random_furniture(rng, room_w, room_d, room_h, position, layout.clearance))
    for _ in range(rng.integers(*layout.near_objects)):
        # in view, at a drawn distance, standing on the floor: its foot is what gives its depth away
        heading = yaw + rng.uniform(-0.35, 0.35)
        distance = rng.uniform(*layout.near_distance)
        spot = position + distance * np.array([np.sin(heading), 0.0, np.cos(heading)])
        objects.extend(_random_furniture(rng, room_w, room_d, room_h, position, 0.3, spot=spot))
    light = np.array([rng.uniform(0.2, 0.8) * room_w, room_h - 0.15, rng.uniform(0.2, 0.8) * room_d])
    lighting = Lighting(ambient=float(rng.uniform(0.15, 0.3)), light_position=light, light_power=float(rng.uniform(0.6, 1.0)),
                        light_falloff=float(rng.uniform(2.5, 4.0)), headlight=float(rng.uniform(0.25, 0.45)),
                        headlight_falloff=3.0)
    return camera, planes + objects, lighting


def _random_furniture(rng: np.random.Generator, room_w: float, room_d: float, room_h: float,
                      camera_position: np.ndarray, clearance: float = 0.9,
                      spot: np.ndarray | None = None) -> list[Primitive]:
    """Return the primitives of one random object standing on the floor, ``clearance`` + its reach from the camera.

    The object stands at a random place in the room, or at ``spot`` (3,) (moved inside the room); none is returned
    when no place keeps it clear of the camera.
    """
    kind = ("box", "box", "sphere", "cylinder", "table")[rng.integers(5)]
    material = random_material(rng, ("flat", "checker", "stripes", "noise", "wood"), (0.05, 0.4))
    reach = {"box": 0.8, "sphere": 0.5, "cylinder": 0.4, "table": 1.0}[kind]
    for _ in range(1 if spot is not None else 20):  # rejection: keep the camera out of the object
        if spot is None:
            x, z = rng.uniform(0.3, room_w - 0.3), rng.uniform(0.3, room_d - 0.3)
        else:
            x, z = float(np.clip(spot[0], 0.3, room_w - 0.3)), float(np.clip(spot[2], 0.3, room_d - 0.3))
        if np.hypot(x - camera_position[0], z - camera_position[2]) > clearance + reach:
            break
    else:
        return []
    yaw = float(rng.uniform(0, np.pi))
    if kind == "box":
        half = np.array([rng.uniform(0.15, 0.75), rng.uniform(0.15, min(1.0, room_h / 2 - 0.1)), rng.uniform(0.15, 0.6)])
        return [Box(np.array([x, half[1], z]), half, yaw, material)]
    if kind == "sphere":
        r = rng.uniform(0.15, 0.5)
        return [Sphere(np.array([x, r, z]), r, material)]
    if kind == "cylinder":
        return [Cylinder(np.array([x, 0.0, z]), rng.uniform(0.1, 0.4), rng.uniform(0.3, min(1.8, room_h - 0.2)), material)]
    top_half = np.array([rng.uniform(0.4, 0.9), 0.025, rng.uniform(0.3, 0.5)])
    top_y = rng.uniform(0.7, 0.8)
    legs_material = random_material(rng, ("flat",), (0.1, 0.2), (0.1, 0.5))
    parts: list[Primitive] = [Box(np.array([x, top_y, z]), top_half, yaw, material)]
    c, s = np.cos(yaw), np.sin(yaw)
    leg_half = np.array([0.03, (top_y - top_half[1]) / 2, 0.03])
    for sx, sz in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        lx, lz = sx * (top_half[0] - 0.06), sz * (top_half[2] - 0.06)
        offset = np.array([c * lx + s * lz, 0.0, -s * lx + c * lz])
        parts.append(Box(np.array([x, leg_half[1], z]) + offset, leg_half, yaw, legs_material))
    return parts


def outdoor_scene(rng: np.random.Generator, height: int, width: int,
                  layout: OutdoorLayout = OUTDOOR_V4) -> tuple[Camera, list[Primitive], Lighting]:
    """Return a random KITTI-like street: road, sidewalks, facades, parked and driving cars, trees, sky."""
    road_half = rng.uniform(3.0, 5.5)
    walk = rng.uniform(1.5, 3.5)
    road = Material("lane", np.array([0.28, 0.28, 0.3], np.float32) * rng.uniform(0.8, 1.2),
                    np.array([0.9, 0.9, 0.85], np.float32), 1.0, rng.random((16, 16), dtype=np.float32))
    sidewalk = random_material(rng, ("checker", "noise"), (0.3, 0.6), (0.45, 0.75))
    prims: list[Primitive] = [Plane(np.array([0.0, 1.0, 0.0]), 0.0, road)]
    for side in (-1, 1):
        centre_x = side * (road_half + walk / 2)
        prims.append(Box(np.array([centre_x, 0.075, 150.0]), np.array([walk / 2, 0.075, 160.0]), 0.0, sidewalk))
        z = rng.uniform(-8, 4)
        while z < 140:  # a row of facades along the street, with gaps
            length = rng.uniform(6, 22)
            depth = rng.uniform(8, 15)
            tall = rng.uniform(5, 22)
            setback = rng.uniform(0, 3)
            facade = random_material(rng, ("windows", "windows", "noise", "stripes"), (1.2, 3.0), (0.3, 0.9))
            inner_x = side * (road_half + walk + setback)
            prims.append(Box(np.array([inner_x + side * depth / 2, tall / 2, z + length / 2]),
                             np.array([depth / 2, tall / 2, length / 2]), 0.0, facade))
            z += length + (rng.uniform(0.5, 8) if rng.random() < 0.6 else 0.0)
        for _ in range(rng.integers(0, 4)):  # trees on the sidewalk
            tz = rng.uniform(4, 60)
            tx = side * (road_half + walk * rng.uniform(0.3, 0.7))
            trunk = Material("noise", np.array([0.35, 0.25, 0.15], np.float32), np.array([0.2, 0.14, 0.08], np.float32),
                             0.2, rng.random((16, 16), dtype=np.float32))
            crown = random_material(rng, ("noise",), (0.2, 0.5), (0.1, 0.45))
            h = rng.uniform(2.5, 4.0)
            prims.append(Cylinder(np.array([tx, 0.0, tz]), rng.uniform(0.12, 0.25), h, trunk))
            prims.append(Sphere(np.array([tx, h + 0.8, tz]), rng.uniform(1.0, 1.8), crown))
    for _ in range(rng.integers(2, 9)):  # cars: parked at the kerb or in a lane
        lane_x = rng.choice([-road_half + 1.1, -road_half / 2, road_half / 2, road_half - 1.1])
        cz = rng.uniform(5, 70)
        yaw = rng.normal(0, 0.05)
        paint = random_material(rng, ("flat",), (0.5, 1.0), (0.1, 0.9))
        glass = Material("flat", np.array([0.15, 0.18, 0.22], np.float32), np.array([0.1, 0.1, 0.1], np.float32))
        length, half_w = rng.uniform(3.8, 4.8), rng.uniform(0.8, 0.95)
        prims.append(Box(np.array([lane_x, 0.65, cz]), np.array([half_w, 0.45, length / 2]), yaw, paint))
        prims.append(Box(np.array([lane_x, 1.3, cz - 0.2]), np.array([half_w * 0.9, 0.22, length * 0.28]), yaw, glass))
    position = np.array([rng.uniform(-road_half / 2, road_half / 2) * 0.6, rng.uniform(*layout.camera_height), 0.0])
    fx, fy, cx, cy = camera_intrinsics("outdoor", height, width)
    yaw = rng.normal(0, 0.05)
    pitch, roll = rng.normal(*layout.pitch), (rng.normal(0, layout.roll_std) if layout.roll_std else 0.0)
    camera = Camera(fx, fy, cx, cy, height, width, position, look_rotation(yaw, pitch, roll))
    for _ in range(_POSE_TRIES if layout.min_road else 0):  # redraw the pose until the road is far enough
        if nearest_ground(camera) >= layout.min_road:
            break
        position = np.array([position[0], rng.uniform(*layout.camera_height), 0.0])
        pitch, roll = rng.normal(*layout.pitch), rng.normal(0, layout.roll_std)
        camera = Camera(fx, fy, cx, cy, height, width, position, look_rotation(yaw, pitch, roll))
    sun = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.4, 0.9), rng.uniform(-0.5, 0.5)])
    sky = np.array([0.55, 0.7, 0.9], np.float32) * rng.uniform(0.85, 1.1)
    lighting = Lighting(ambient=float(rng.uniform(0.3, 0.45)), sun_direction=sun / np.linalg.norm(sun),
                        light_power=float(rng.uniform(0.5, 0.8)), headlight=0.15, headlight_falloff=15.0,
                        haze_color=sky, haze_distance=float(rng.uniform(120, 250)),
                        sky_horizon=np.array([0.82, 0.86, 0.9], np.float32), sky_zenith=sky)
    return camera, prims, lighting


_SCENES = {"indoor": indoor_scene, "outdoor": outdoor_scene}
#: Each renderer version's layout of each scene kind (versions 1-3 are no longer rendered: docs/history.md).
LAYOUTS = {4: {"indoor": LAYOUT_V4, "outdoor": OUTDOOR_V4}, 5: {"indoor": LAYOUT_V5, "outdoor": OUTDOOR_V5}}


def check_version(version: int) -> int:
    """Return ``version`` if it is a renderer version this package renders, else raise DataError."""
    if isinstance(version, bool) or version not in LAYOUTS:
        raise DataError(f"renderer version {version!r} is unknown; expected one of {', '.join(map(str, LAYOUTS))}")
    return int(version)


def render_scene(kind: str, rng: np.random.Generator, height: int, width: int,
                 noise_std: float = 0.01, version: int = RENDERER_VERSION) -> tuple[np.ndarray, np.ndarray]:
    """Return (rgb uint8 (H, W, 3), z-depth float32 (H, W) metres, 0 = invalid) of a random ``kind`` scene.

    The scene, camera and sensor noise (uniform, standard deviation ``noise_std`` of full scale) are drawn from
    ``rng`` only, so the same generator state gives the same arrays. ``version`` picks the renderer (its layouts in
    ``LAYOUTS``); from v5 on, depth nearer than the kind's ``MIN_DEPTH`` is invalid (0).
    """
    if kind not in _SCENES:
        raise DataError(f"scene kind {kind!r} is unknown; expected one of {', '.join(SCENE_KINDS)}")
    camera, primitives, lighting = _SCENES[kind](rng, height, width, LAYOUTS[check_version(version)][kind])
    rays = camera_rays(camera)
    nearest, index = cast_rays(camera.position, rays, primitives, camera)
    color = shade(camera, rays, nearest, index, primitives, lighting)
    if noise_std > 0:  # uniform noise with standard deviation noise_std (cheaper to draw than Gaussian)
        color += (rng.random(color.shape, dtype=np.float32) - 0.5) * np.float32(noise_std * 12**0.5)
    rgb = (np.clip(color, 0, 1) * 255 + 0.5).astype(np.uint8)
    valid = np.isfinite(nearest) & (nearest <= MAX_DEPTH[kind])
    if version >= 5:
        valid &= nearest >= MIN_DEPTH[kind]
    depth = np.where(valid, nearest, 0).astype(np.float32)
    return rgb, depth
