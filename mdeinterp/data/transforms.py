"""The paper's preprocessing and joint image/depth augmentation (torchvision.transforms.v2).

Geometry is applied to a ``tv_tensors.Image`` and a ``tv_tensors.Mask`` holding depth in one
v2 call, so both get the same flip/angle/crop; v2 resamples masks with nearest-neighbour, so a
depth pixel is never a blend of a valid and an invalid (0) value, and rotation fills with 0.
Colour changes touch the image only. Output: a sample dict {"image": 3xHxW float normalised
with ImageNet mean/std, "depth": 1xHxW float metres (0 = invalid), "focal": float pixels}.

Crop styles (``crop``):
- ``"resize"`` (MFF, Hu et al.): scale so the image covers (height, width) with MFF's margin
  (480x640 -> 240x320 for 228x304), then centre-crop, for training and test alike;
- ``"crop"`` (BTS, Lee et al.): random crop (training with augmentation) or centre crop, no resize;
- ``"auto"``: ``"crop"`` when the source is at least the target size and at most 1.25 times it
  (BTS's 416x544 from 480x640, KITTI, synthetic images rendered at the target size), else ``"resize"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from ..errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# AlexNet's PCA lighting on ImageNet RGB (Krizhevsky et al. 2012), as used by MFF's training code.
_PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
_PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
MFF_RESIZE_MARGIN = 240 / 228  # MFF resizes NYUv2 to 240 rows before its 228-row centre crop
CROP_STYLES = ("auto", "resize", "crop")


@dataclass(frozen=True)
class DepthTransform:
    """Callable ``(rgb (H, W, 3) uint8, depth (H, W) metres, focal px) -> sample dict`` for one split."""

    height: int
    width: int
    train: bool = False
    augment: bool = True  # only used when train
    crop: str = "auto"
    rotation: float = 5.0  # degrees, uniform in [-rotation, rotation]
    jitter: float = 0.4  # brightness, contrast and saturation factor range
    pca_lighting: float = 0.0  # std of AlexNet PCA lighting (MFF uses 0.1); 0 = off

    def __post_init__(self) -> None:
        if self.crop not in CROP_STYLES:
            raise DataError(f"crop style {self.crop!r} is unknown; expected one of {', '.join(CROP_STYLES)}")

    def __call__(self, rgb: np.ndarray, depth: np.ndarray, focal: float) -> dict:
        """Return {"image": 3xhxw normalised, "depth": 1xhxw metres, "focal": pixels} for one sample."""
        # Arrays read by PIL or h5py may be read-only; torch.from_numpy needs writable memory, so those are copied.
        rgb = np.require(rgb, requirements=("C", "W"))
        depth = np.require(depth, dtype=np.float32, requirements=("C", "W"))
        image = tv_tensors.Image(torch.from_numpy(rgb).permute(2, 0, 1))
        target = tv_tensors.Mask(torch.from_numpy(depth)[None])
        image, target, focal = self._geometry(image, target, float(focal))
        pixels = F.to_dtype(image, torch.float32, scale=True)
        if self.train and self.augment:
            if self.jitter > 0:
                pixels = v2.ColorJitter(brightness=self.jitter, contrast=self.jitter, saturation=self.jitter)(pixels)
            if self.pca_lighting > 0:
                pixels = pca_lighting(pixels, self.pca_lighting)
        pixels = F.normalize(pixels.clamp(0, 1), mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
        return {"image": pixels.as_subclass(torch.Tensor), "depth": target.as_subclass(torch.Tensor), "focal": focal}

    def _geometry(self, image: tv_tensors.Image, target: tv_tensors.Mask, focal: float):
        """Return image and depth resized/flipped/rotated/cropped together, and the focal length after resizing."""
        src_h, src_w = image.shape[-2:]
        style = self.crop if self.crop != "auto" else _auto_style(src_h, src_w, self.height, self.width)
        steps: list[v2.Transform] = []
        if style == "resize":
            scale = max(self.height * MFF_RESIZE_MARGIN / src_h, self.width / src_w)
            size = [max(self.height, round(src_h * scale)), max(self.width, round(src_w * scale))]
            steps.append(v2.Resize(size, interpolation=InterpolationMode.BILINEAR, antialias=True))
            focal *= size[1] / src_w
        elif src_h < self.height or src_w < self.width:
            raise DataError(f"image of {src_h}x{src_w} is smaller than the {self.height}x{self.width} crop")
        augment = self.train and self.augment
        if augment:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
            if self.rotation > 0:
                steps.append(v2.RandomRotation(self.rotation, interpolation=InterpolationMode.BILINEAR, fill=0))
        if style == "crop" and augment:
            steps.append(v2.RandomCrop((self.height, self.width)))
        else:
            steps.append(v2.CenterCrop((self.height, self.width)))
        image, target = v2.Compose(steps)(image, target)
        return image, target, focal


def _auto_style(src_h: int, src_w: int, height: int, width: int) -> str:
    fits = src_h >= height and src_w >= width
    return "crop" if fits and src_h <= 1.25 * height else "resize"


def pca_lighting(image: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return ``image`` (3, H, W, RGB in [0, 1]) plus AlexNet's PCA lighting noise with ``std``."""
    alpha = torch.randn(3, generator=generator) * std
    shift = _PCA_EIGVEC @ (alpha * _PCA_EIGVAL)  # (3,) RGB offset
    return image + shift[:, None, None]


def check_batch(batch: dict) -> None:
    """Raise :class:`DataError` unless a batch's depth (B, 1, H, W) metres matches its image (B, 3, H, W) pixel for pixel.

    A depth map transposed against its image (``(B, 1, W, H)``, as MATLAB's column-major arrays read
    without a transpose) would otherwise bin every pixel at another pixel's depth.
    """
    image, depth = batch["image"], batch["depth"]
    if depth.dim() != 4 or depth.shape[1] != 1 or tuple(depth.shape[-2:]) != tuple(image.shape[-2:]):
        hint = " (transposed? expected (B, 1, H, W))" if tuple(depth.shape[-2:]) == tuple(image.shape[-2:])[::-1] else ""
        raise DataError(f"depth has shape {tuple(depth.shape)} but the image {tuple(image.shape)}; expected depth "
                        f"(B, 1, H, W) of the image's size{hint}")


def denormalize(image: torch.Tensor) -> np.ndarray:
    """Return a normalised (3, H, W) image tensor as uint8 (H, W, 3) RGB for plotting."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise DataError(f"denormalize expects a (3, H, W) image tensor, got shape {tuple(image.shape)}")
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device)[:, None, None]
    rgb = (image.detach() * std + mean).clamp(0, 1) * 255
    return (rgb + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def split_transform(height: int, width: int, split: str, augment: bool = True, crop: str = "auto") -> DepthTransform:
    """Return the preprocessing of ``split`` ("train" augments when ``augment``; "test" never does)."""
    if split not in ("train", "test"):
        raise DataError(f"split {split!r} is unknown; expected 'train' or 'test'")
    return DepthTransform(height, width, train=split == "train", augment=augment, crop=crop)


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "DepthTransform", "check_batch", "denormalize", "pca_lighting", "split_transform"]


def as_batch(sample: Mapping[str, object]) -> dict:
    """Return a one-image batch of a dataset sample (``image`` (3, H, W)), or ``sample`` itself when already batched.

    Tensors gain a leading batch dimension; numbers (``focal``) become (1,) tensors; anything else a
    one-element list (as a DataLoader would collate it).
    """
    image = sample["image"]
    if not (torch.is_tensor(image) and image.dim() == 3):
        return dict(sample)

    def one(value: object) -> object:
        if torch.is_tensor(value):
            return value[None]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return torch.tensor([float(value)])
        return [value]

    return {key: one(value) for key, value in sample.items()}
