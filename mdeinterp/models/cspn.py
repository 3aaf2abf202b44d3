"""CSPN depth-completion network of Cheng, Wang and Yang (ECCV 2018): RGB + sparse depth in, dense depth out.

Layout and parameter names follow the public NYUv2 code (github.com/XinJCheng/CSPN, ``cspn_pytorch/``),
so its checkpoint loads strictly with :func:`mdeinterp.models.load_checkpoint` (its ``module.`` prefixes
are stripped there):

* encoder: a ResNet whose first convolution ``conv1_1`` takes 4 channels (RGB + sparse depth), then
  ``bn1``, max-pool, ``layer1`` .. ``layer4`` (torchvision Bottlenecks at paper scale) and ``conv2``/``bn2``;
* decoder: up-projection blocks ``gud_up_proj_layer1`` .. ``4`` (2x zero-insertion unpooling, crop to
  the next skip's size; blocks 2-4 concatenate a skip of the encoder: ``layer2``, ``layer1`` and the
  raw ``conv1_1`` output), giving 1024, 512, 256 and 64 units at paper scale;
* heads: ``gud_up_proj_layer5`` (initial depth, 1 channel) and ``gud_up_proj_layer6`` (8-channel
  affinity), each an unpooling and a 3x3 convolution to the input size;
* ``post_process_layer``: the affinity-guided propagation (:class:`AffinityPropagation`).

The public code also builds ``up_proj_layer1`` .. ``4`` and ``conv3`` that its forward pass never runs;
they are kept (and never run) so the checkpoint's keys match. Its propagation creates a fixed all-ones
``sum_conv`` in its first forward pass, so a checkpoint saved after training holds
``post_process_layer.sum_conv.weight``; here that is a buffer. The key list is pinned by
``tests/data/cspn_resnet50_keys.json`` (written from the public code; batch norms with
``num_batches_tracked``, as PyTorch >= 0.4.1 saves them).

Studied layers (the reference InterpretableMDE's layer table): ``layer3`` = ``gud_up_proj_layer3``
(256 units at paper scale) and ``layer4`` = ``gud_up_proj_layer4`` (64 units), reached through
``layer_aliases``. The reference's layer table uses these names, so for hooks the alias shadows the
encoder's ``layer3``/``layer4`` (reach those as ``layer3.0`` .. or by their blocks' names).

``forward(image (B,3,H,W) ImageNet-normalised, sparse_depth (B,1,H,W) metres, 0 = unknown)`` returns
depth in metres (B, 1, H, W); the model declares ``input_keys = ("image", "sparse_depth")`` so generic code
(:func:`mdeinterp.inference.predict`) feeds it from a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from ..errors import ModelError
from .mff import _check_pretrained, load_backbone_weights
from .registry import register_model

CSPN_STUDIED_LAYERS = ("layer3", "layer4")
CSPN_LAYER_ALIASES = {"layer3": "gud_up_proj_layer3", "layer4": "gud_up_proj_layer4"}
#: Offsets (dy, dx) of the neighbour whose value the propagation's affinity channel k weighs, in the
#: public code's channel order (its zero-padding of channel k shifts the map by 1 - top, 1 - left).
NEIGHBOURS = ((1, 1), (1, 0), (1, -1), (0, 1), (0, -1), (-1, 1), (-1, 0), (-1, -1))

#: Smallest absolute sum of a pixel's affinities that is divided by (below it the affinities are 0 / this = 0).
AFFINITY_EPS = 1e-12


@dataclass(frozen=True)
class CSPNWidths:
    """Widths of a CSPN: encoder stages and the decoder's four up-projection blocks."""

    stem: int  # conv1_1's channels; also the skip of gud_up_proj_layer4 (paper 64)
    planes: tuple[int, int, int, int]  # Bottleneck planes of layer1..layer4 (outputs are 4x: paper 256 .. 2048)
    blocks: tuple[int, int, int, int]  # Bottlenecks per stage (paper ResNet-50: 3, 4, 6, 3)
    decoder: tuple[int, int, int, int]  # units of gud_up_proj_layer1..4 (paper 1024, 512, 256, 64)
    kernel_size: int  # of the up-projections' large convolutions (paper 5)


#: ResNet-50 encoder, decoder 1024 -> 512 -> 256 -> 64 (layer3 256 units, layer4 64 units).
PAPER_WIDTHS = CSPNWidths(stem=64, planes=(64, 128, 256, 512), blocks=(3, 4, 6, 3), decoder=(1024, 512, 256, 64),
                          kernel_size=5)
#: CPU-sized: one Bottleneck per stage, decoder 64 -> 64 -> 128 -> 32 (layer3 128, layer4 32 units: with
#: K = 32 bins, 4 and 1 units per bin as the paper's 256 and 64 units for 64 bins), 3x3 kernels.
TINY_WIDTHS = CSPNWidths(stem=32, planes=(16, 32, 64, 64), blocks=(1, 1, 1, 1), decoder=(64, 64, 128, 32),
                         kernel_size=3)


def unpool(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Return ``x`` (B, C, h, w) upsampled 2x by zero insertion (each value at the top-left of its 2x2 cell),
    cropped to ``size`` = (H, W) with H <= 2h and W <= 2w."""
    batch, channels, height, width = x.shape
    out = x.new_zeros(batch, channels, 2 * height, 2 * width)
    out[:, :, ::2, ::2] = x
    return out[:, :, : size[0], : size[1]]


class UpProjection(nn.Module):
    """Up-projection: unpool, 5x5 conv-BN-ReLU (concatenated with a skip, 3x3 conv-BN-ReLU), 3x3 conv-BN,
    plus a 5x5 conv-BN shortcut of the unpooled input, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, skip_channels: int = 0, kernel_size: int = 5) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        if skip_channels:
            self.conv1_1 = nn.Conv2d(out_channels + skip_channels, out_channels, 3, padding=1, bias=False)
            self.bn1_1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.sc_conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.sc_bn1 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, size: Sequence[int], skip: torch.Tensor | None = None) -> torch.Tensor:
        """Return the post-ReLU (B, out_channels, *size) units of ``x`` (B, in_channels, h, w) and ``skip``."""
        x = unpool(x, size)
        out = F.relu(self.bn1(self.conv1(x)))
        if skip is not None:
            out = F.relu(self.bn1_1(self.conv1_1(torch.cat([out, skip], dim=1))))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.sc_bn1(self.sc_conv1(x)))


class UnpoolHead(nn.Module):
    """Output head: unpool to the input size, one 3x3 convolution without bias (no activation)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Return the (B, out_channels, *size) map of ``x`` (B, in_channels, h, w)."""
        return self.conv1(unpool(x, size))


class SumKernel(nn.Module):
    """The public code's fixed all-ones 1x1x1 Conv3d that sums the 8 neighbours; its weight is a buffer here."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(1, len(NEIGHBOURS), 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the weighted sum over dim 1 of ``x`` (B, 8, H, W): (B, H, W)."""
        return torch.einsum("bkhw,k->bhw", x, self.weight.reshape(-1).to(x.dtype))


def neighbour_values(x: torch.Tensor) -> torch.Tensor:
    """Return (B, C, 8, H, W): for every pixel, the values of ``x`` (B, C, H, W) at its 8 neighbours
    (order :data:`NEIGHBOURS`), 0 outside the image."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))
    return torch.stack([padded[..., 1 + dy: 1 + dy + height, 1 + dx: 1 + dx + width] for dy, dx in NEIGHBOURS], dim=2)


class AffinityPropagation(nn.Module):
    """CSPN's propagation: ``steps`` updates of the initial depth over the 3x3 neighbourhood, guided by affinities.

    With affinities a_k (the guidance of the neighbour k, read at that neighbour, divided by the sum of the
    absolute values of the 8 reaching the pixel, so Σ_k |a_k| = 1) and the initial depth d_0, one step is
    ``d_{t+1} = (1 − Σ_k a_k) d_0 + Σ_k a_k d_t(neighbour k)`` (the public code's "8sum" normalisation).
    After every step the known sparse depths are put back, so they pass through the propagation exactly.
    (The public code writes back d_0 at those pixels; the paper and this module write the sparse depth.)
    """

    def __init__(self, steps: int = 24) -> None:
        super().__init__()
        if steps < 1:
            raise ModelError(f"CSPN propagation steps={steps}; expected at least 1")
        self.steps = steps
        self.sum_conv = SumKernel()

    def affinities(self, guidance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (affinity (B, 8, H, W) with Σ_k |a_k| = 1 per pixel, their sum (B, H, W)) from guidance (B, 8, H, W)."""
        if guidance.shape[1] != len(NEIGHBOURS):
            raise ModelError(f"CSPN guidance has {guidance.shape[1]} channels; expected {len(NEIGHBOURS)}")
        # Channel k of the neighbour-gathered guidance at neighbour k: its incoming affinity.
        gathered = neighbour_values(guidance)  # (B, 8 channels, 8 neighbours, H, W)
        incoming = torch.diagonal(gathered, dim1=1, dim2=2).permute(0, 3, 1, 2)  # (B, 8, H, W)
        # A pixel whose 8 guidances are all 0 (e.g. its guidance units ablated) keeps its initial depth
        # instead of the public code's 0 / 0.
        affinity = incoming / self.sum_conv(incoming.abs()).clamp_min(AFFINITY_EPS).unsqueeze(1)
        return affinity, self.sum_conv(affinity)

    def forward(self, guidance: torch.Tensor, depth: torch.Tensor, sparse_depth: torch.Tensor | None = None) -> torch.Tensor:
        """Return the propagated depth (B, 1, H, W) metres from guidance (B, 8, H, W), the initial depth (B, 1, H, W)
        and ``sparse_depth`` (B, 1, H, W) metres (0 = unknown), whose known pixels the result keeps exactly."""
        affinity, affinity_sum = self.affinities(guidance)
        initial = depth[:, 0]  # (B, H, W)
        anchored = (1.0 - affinity_sum) * initial
        known = sparse_depth[:, 0] > 0 if sparse_depth is not None else None
        result = initial
        for _ in range(self.steps):
            neighbours = neighbour_values(result.unsqueeze(1))[:, 0]  # (B, 8, H, W)
            result = anchored + self.sum_conv(affinity * neighbours)
            if known is not None:
                result = torch.where(known, sparse_depth[:, 0], result)
        return result.unsqueeze(1)


class CSPNNet(nn.Module):
    """CSPN: ``forward(image (B,3,H,W), sparse_depth (B,1,H,W)) -> depth (B,1,H,W)`` in metres.

    ``init_depth`` (metres, default 0) is a constant added to the initial-depth head so an untrained
    network starts near the data's depths (the public network has none; it is not a parameter).
    """

    studied_layers: tuple[str, ...] = CSPN_STUDIED_LAYERS
    input_keys: tuple[str, ...] = ("image", "sparse_depth")
    min_input_size: int = 32  # the encoder's total stride

    def __init__(self, widths: CSPNWidths, steps: int = 24, init_depth: float | None = None) -> None:
        super().__init__()
        self.layer_aliases = dict(CSPN_LAYER_ALIASES)
        stem, k = widths.stem, widths.kernel_size
        self.conv1_1 = nn.Conv2d(4, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = stem
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._stage(planes, blocks, stride)
            for planes, blocks, stride in zip(widths.planes, widths.blocks, (1, 2, 2, 2)))
        outs = [4 * planes for planes in widths.planes]  # Bottleneck expansion
        self.conv2 = nn.Conv2d(outs[3], outs[3], 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outs[3])
        # Built but never run by the public code's forward pass; kept for its checkpoint's keys.
        mid = outs[2]
        self.up_proj_layer1 = UpProjection(mid, mid // 2)
        self.up_proj_layer2 = UpProjection(mid // 2, mid // 4)
        self.up_proj_layer3 = UpProjection(mid // 4, mid // 8)
        self.up_proj_layer4 = UpProjection(mid // 8, mid // 16)
        self.conv3 = nn.Conv2d(mid // 8, 1, 3, padding=1, bias=False)
        self.post_process_layer = AffinityPropagation(steps)
        d1, d2, d3, d4 = widths.decoder
        self.gud_up_proj_layer1 = UpProjection(outs[3], d1, kernel_size=k)
        self.gud_up_proj_layer2 = UpProjection(d1, d2, skip_channels=outs[1], kernel_size=k)
        self.gud_up_proj_layer3 = UpProjection(d2, d3, skip_channels=outs[0], kernel_size=k)
        self.gud_up_proj_layer4 = UpProjection(d3, d4, skip_channels=stem, kernel_size=k)
        self.gud_up_proj_layer5 = UnpoolHead(d4, 1)
        self.gud_up_proj_layer6 = UnpoolHead(d4, len(NEIGHBOURS))
        self.register_buffer("depth_offset", torch.tensor(float(init_depth or 0.0)), persistent=False)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != 4 * planes:
            downsample = nn.Sequential(nn.Conv2d(self._inplanes, 4 * planes, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(4 * planes))
        layers = [Bottleneck(self._inplanes, planes, stride, downsample)]
        self._inplanes = 4 * planes
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, sparse_depth: torch.Tensor) -> torch.Tensor:
        """Return depth in metres (B, 1, H, W) for ``image`` (B, 3, H, W) and ``sparse_depth`` (B, 1, H, W), 0 = unknown."""
        if sparse_depth.shape[0] != image.shape[0] or sparse_depth.shape[-2:] != image.shape[-2:] \
                or sparse_depth.shape[1] != 1:
            raise ModelError(f"CSPN sparse_depth has shape {tuple(sparse_depth.shape)}; expected "
                             f"({image.shape[0]}, 1, {image.shape[-2]}, {image.shape[-1]}) like the image")
        size = image.shape[-2:]
        skip4 = self.conv1_1(torch.cat([image, sparse_depth.to(image.dtype)], dim=1))  # (B, stem, H/2, W/2)
        skip3 = self.layer1(self.maxpool(F.relu(self.bn1(skip4))))  # H/4
        skip2 = self.layer2(skip3)  # H/8
        deep = self.layer3(skip2)  # H/16
        x = self.bn2(self.conv2(self.layer4(deep)))  # H/32
        x = self.gud_up_proj_layer1(x, deep.shape[-2:])
        x = self.gud_up_proj_layer2(x, skip2.shape[-2:], skip2)
        x = self.gud_up_proj_layer3(x, skip3.shape[-2:], skip3)
        x = self.gud_up_proj_layer4(x, skip4.shape[-2:], skip4)
        guidance = self.gud_up_proj_layer6(x, size)  # (B, 8, H, W)
        depth = self.gud_up_proj_layer5(x, size) + self.depth_offset  # (B, 1, H, W) metres
        return self.post_process_layer(guidance, depth, sparse_depth)


@register_model
def cspn_resnet50(pretrained: str | None = None, init_depth: float | None = None) -> CSPNNet:
    """Return the paper-scale CSPN (ResNet-50 encoder, 24 propagation steps; layer3 256, layer4 64 units).

    Its state dict has the public NYUv2 checkpoint's keys and shapes. ``pretrained``: None or a local
    checkpoint of the whole network (e.g. the public ``best_model.pth``), loaded strictly.
    """
    _check_pretrained(pretrained, allow_imagenet=False, arch="cspn_resnet50")
    model = CSPNNet(PAPER_WIDTHS, steps=24, init_depth=init_depth)
    if pretrained is not None:
        load_backbone_weights(model, pretrained)
    return model


@register_model
def cspn_tiny(pretrained: str | None = None, init_depth: float | None = None) -> CSPNNet:
    """Return the CPU-sized CSPN (one Bottleneck per stage; layer3 128, layer4 32 units; 24 propagation steps).

    ``pretrained``: None or a local checkpoint of the whole network, loaded strictly.
    """
    _check_pretrained(pretrained, allow_imagenet=False, arch="cspn_tiny")
    model = CSPNNet(TINY_WIDTHS, steps=24, init_depth=init_depth)
    if pretrained is not None:
        load_backbone_weights(model, pretrained)
    return model

