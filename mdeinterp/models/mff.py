"""MFF depth network of Hu et al. (WACV 2019): encoder E, decoder D, multi-scale fusion MFF, refinement R.

Module and parameter names equal the released checkpoints of the paper's reference code, so
``load_checkpoint(path, create_model("mff_resnet50"))`` needs no key remapping. The network maps
an image (B, 3, H, W) to depth in metres at half resolution (B, 1, H/2, W/2); as in the original,
the last convolution's output *is* the depth (no activation).

Studied layers (their forward outputs are the post-ReLU activations the paper dissects):
``D`` and ``MFF`` (64 units at paper scale), ``R.conv0`` and ``R.conv1`` (128 units), the last two
reached through ``layer_aliases`` because their weights are fixed under ``R.conv0``/``R.bn0``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock

from ..errors import CheckpointError, ModelError, positive_metres
from .checkpoint import check_compatible, extract_state_dict, read_checkpoint
from .registry import register_model

Blocks = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

MFF_STUDIED_LAYERS = ("D", "MFF", "R.conv0", "R.conv1")
MFF_LAYER_ALIASES = {"R.conv0": "R.act0", "R.conv1": "R.act1"}


@dataclass(frozen=True)
class MFFWidths:
    """Channel widths and kernel size of the MFF decoder, fusion and refinement parts.

    ``decoder`` = output channels of D.conv, D.up1 .. D.up4 (the last is D's unit count);
    ``fusion`` = units of each of MFF.up1 .. up4 (4 x fusion = MFF's unit count);
    ``refine`` = units of R.conv0 and R.conv1, whose input is the concatenation of D and MFF.
    """

    decoder: tuple[int, int, int, int, int]
    fusion: int
    refine: int
    kernel_size: int  # of the up-projection, MFF.conv and R convolutions (paper: 5)


#: Hu et al.'s widths: D 1024 -> 512 -> 256 -> 128 -> 64 units, MFF 4 x 16 = 64, R 128.
PAPER_WIDTHS = MFFWidths(decoder=(1024, 512, 256, 128, 64), fusion=16, refine=128, kernel_size=5)
#: CPU-sized widths: D 32 units, MFF 4 x 8 = 32 units, R 64 units (2 per bin of K = 32, as the paper's 128 units
#: for 64 bins), 3x3 kernels.
TINY_WIDTHS = MFFWidths(decoder=(64, 32, 32, 32, 32), fusion=8, refine=64, kernel_size=3)
#: Encoder of ``mff_tiny``: a ResNet-18 layout (2 BasicBlocks per stage) at quarter width.
TINY_ENCODER_WIDTHS = (16, 32, 64, 128)
TINY_ENCODER_DEPTHS = (2, 2, 2, 2)


class UpProjection(nn.Module):
    """Up-projection block of Laina et al. as used by Hu et al.: upsample, two conv branches, sum, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv1_2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Return the (B, out_channels, *size) post-ReLU features of ``x`` (B, in_channels, h, w)."""
        # channels_last: CPU bilinear upsampling from a small map is ~5-20x faster in this layout
        # (same values); the convolutions accept it unchanged.
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
        branch1 = self.bn1_2(self.conv1_2(F.relu(self.bn1(self.conv1(x)))))
        branch2 = self.bn2(self.conv2(x))
        return F.relu(branch1 + branch2)


class Decoder(nn.Module):
    """D: a 1x1 convolution then four up-projections from 1/32 to 1/2 of the input resolution."""

    def __init__(self, in_channels: int, widths: Sequence[int], kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, widths[0], kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        self.up1 = UpProjection(widths[0], widths[1], kernel_size)
        self.up2 = UpProjection(widths[1], widths[2], kernel_size)
        self.up3 = UpProjection(widths[2], widths[3], kernel_size)
        self.up4 = UpProjection(widths[3], widths[4], kernel_size)

    def forward(self, blocks: Blocks) -> torch.Tensor:
        """Return D's post-ReLU units (B, widths[-1], 2h1, 2w1) from the encoder blocks (h1, w1 = block 1's size)."""
        block1, block2, block3, block4 = blocks
        x = F.relu(self.bn(self.conv(block4)))
        x = self.up1(x, block3.shape[-2:])
        x = self.up2(x, block2.shape[-2:])
        x = self.up3(x, block1.shape[-2:])
        # Studied layer: hand hooks a standard-layout tensor (up-projections compute in channels_last).
        return self.up4(x, (2 * block1.shape[-2], 2 * block1.shape[-1])).contiguous()


class MultiScaleFusion(nn.Module):
    """MFF: every encoder block up-projected to the output size, concatenated, fused by one conv."""

    def __init__(self, block_channels: Sequence[int], fusion: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.up1 = UpProjection(block_channels[0], fusion, kernel_size)
        self.up2 = UpProjection(block_channels[1], fusion, kernel_size)
        self.up3 = UpProjection(block_channels[2], fusion, kernel_size)
        self.up4 = UpProjection(block_channels[3], fusion, kernel_size)
        units = 4 * fusion
        self.conv = nn.Conv2d(units, units, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(units)

    def forward(self, blocks: Blocks, size: Sequence[int]) -> torch.Tensor:
        """Return MFF's post-ReLU units (B, 4 * fusion, *size)."""
        ups = [up(block, size) for up, block in zip((self.up1, self.up2, self.up3, self.up4), blocks)]
        return F.relu(self.bn(self.conv(torch.cat(ups, dim=1)))).contiguous()  # studied layer: standard layout


class Refinement(nn.Module):
    """R: two conv-BN-ReLU stages then a conv to one channel, whose output is the depth in metres."""

    def __init__(self, in_channels: int, units: int, kernel_size: int = 5) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv0 = nn.Conv2d(in_channels, units, kernel_size, padding=pad, bias=False)
        self.bn0 = nn.BatchNorm2d(units)
        self.act0 = nn.ReLU()  # hook target of the paper's "R.conv0" (post-BN-ReLU)
        self.conv1 = nn.Conv2d(units, units, kernel_size, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(units)
        self.act1 = nn.ReLU()  # hook target of the paper's "R.conv1"
        self.conv2 = nn.Conv2d(units, 1, kernel_size, padding=pad, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return depth (B, 1, h, w) in metres from the concatenated D and MFF units (B, in_channels, h, w)."""
        x = self.act0(self.bn0(self.conv0(x)))
        x = self.act1(self.bn1(self.conv1(x)))
        return self.conv2(x)


class ResNetEncoder(nn.Module):
    """E for ResNets: the stem and layer1..4 of a torchvision-style ResNet (no pooling head)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(backbone, name))

    def forward(self, image: torch.Tensor) -> Blocks:
        """Return the four block outputs at 1/4, 1/8, 1/16, 1/32 of the (B, 3, H, W) input."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        block1 = self.layer1(x)
        block2 = self.layer2(block1)
        block3 = self.layer3(block2)
        return block1, block2, block3, self.layer4(block3)


class SENetEncoder(nn.Module):
    """E for SENet-154: ``base`` = (layer0 with its max-pool, layer1, ..., layer4) as in the released checkpoints."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        layer0 = backbone.layer0
        # timm keeps the stem's max-pool as a sibling ``pool0``; the checkpoints' layout (from the
        # ``pretrainedmodels`` package) has it inside layer0. It has no parameters, so keys are unchanged.
        if hasattr(backbone, "pool0") and not hasattr(layer0, "pool"):
            layer0.add_module("pool", backbone.pool0)
        self.base = nn.Sequential(layer0, backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)

    def forward(self, image: torch.Tensor) -> Blocks:
        """Return the four block outputs at 1/4, 1/8, 1/16, 1/32 of the (B, 3, H, W) input."""
        x = self.base[0](image)
        block1 = self.base[1](x)
        block2 = self.base[2](block1)
        block3 = self.base[3](block2)
        return block1, block2, block3, self.base[4](block3)


class MFFNet(nn.Module):
    """MFF depth network: ``forward(image (B,3,H,W)) -> depth (B,1,H/2,W/2)`` in metres.

    Attributes ``studied_layers`` (the paper's layer names) and ``layer_aliases`` (paper name ->
    module name whose forward output is that activation) are read by :mod:`mdeinterp.hooks`;
    ``min_input_size`` (pixels) by the training loop, which refuses smaller images.
    """

    studied_layers: tuple[str, ...] = MFF_STUDIED_LAYERS
    layer_aliases: dict[str, str] = MFF_LAYER_ALIASES
    # The encoder's total stride: a smaller image leaves the deepest block without a single pixel.
    min_input_size: int = 32

    def __init__(
        self, encoder: nn.Module, block_channels: Sequence[int], widths: MFFWidths, init_depth: float | None = None
    ) -> None:
        super().__init__()
        self.E = encoder
        self.D = Decoder(block_channels[3], widths.decoder, widths.kernel_size)
        self.MFF = MultiScaleFusion(block_channels, widths.fusion, widths.kernel_size)
        self.R = Refinement(widths.decoder[-1] + 4 * widths.fusion, widths.refine, widths.kernel_size)
        self.layer_aliases = dict(MFF_LAYER_ALIASES)
        if init_depth is not None:
            # The output is depth in metres with no activation: starting it at a typical depth of the data
            # instead of ~0 spares the first hundreds of steps (on the tiny preset: test δ1 0.59 -> 0.70
            # at 500 steps, README). Loading a checkpoint overwrites it.
            nn.init.constant_(self.R.conv2.bias, positive_metres("init_depth", init_depth))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Return depth in metres (B, 1, H/2, W/2) for ``image`` (B, 3, H, W), ImageNet-normalised."""
        blocks = self.E(image)
        decoded = self.D(blocks)
        fused = self.MFF(blocks, decoded.shape[-2:])
        return self.R(torch.cat([decoded, fused], dim=1))


def narrow_resnet(widths: Sequence[int], depths: Sequence[int]) -> nn.Module:
    """Return a ResNet trunk (conv1, bn1, relu, maxpool, layer1..4) of BasicBlocks with the given widths."""
    trunk = nn.Module()
    trunk.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    trunk.bn1 = nn.BatchNorm2d(widths[0])
    trunk.relu = nn.ReLU(inplace=True)
    trunk.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    in_channels = widths[0]
    for index, (width, depth) in enumerate(zip(widths, depths)):
        stride = 1 if index == 0 else 2
        downsample = None
        if stride != 1 or in_channels != width:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, width, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )
        blocks = [BasicBlock(in_channels, width, stride=stride, downsample=downsample)]
        blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
        trunk.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
        in_channels = width
    for module in trunk.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return trunk


def load_backbone_weights(backbone: nn.Module, pretrained: str | os.PathLike, remap: Callable | None = None) -> None:
    """Return None after loading the local classification checkpoint ``pretrained`` into ``backbone`` strictly."""
    source = f"encoder checkpoint {os.fspath(pretrained)!r}"
    state = extract_state_dict(read_checkpoint(pretrained), source=source)
    if remap is not None:
        state = remap(state)
    check_compatible(backbone, state, source=source)
    backbone.load_state_dict(state, strict=True)


def _check_pretrained(pretrained: object, allow_imagenet: bool, arch: str) -> None:
    if pretrained is None:
        return
    if pretrained == "imagenet":
        if not allow_imagenet:
            raise ModelError(f"{arch} has no ImageNet weights; expected pretrained=None or a local checkpoint path")
        return
    if not isinstance(pretrained, (str, os.PathLike)):
        raise ModelError(f"pretrained={pretrained!r} for {arch}; expected None, 'imagenet' or a checkpoint path")
    if not os.path.isfile(pretrained):
        raise CheckpointError(f"encoder checkpoint {os.fspath(pretrained)!r} does not exist")


@register_model
def mff_resnet50(pretrained: str | None = None, init_depth: float | None = None) -> MFFNet:
    """Return MFF with a ResNet-50 encoder (paper widths; 488 state-dict entries).

    ``pretrained``: None (random init), a local torchvision ``resnet50`` state-dict file, or
    ``"imagenet"`` to fetch torchvision's ImageNet weights (the only path that downloads).
    ``init_depth``: metres the untrained network outputs everywhere (the last bias); None keeps
    PyTorch's default initialisation, as Hu et al.
    """
    from torchvision.models import ResNet50_Weights, resnet50

    _check_pretrained(pretrained, allow_imagenet=True, arch="mff_resnet50")
    backbone = resnet50(weights=ResNet50_Weights.IMAGENET1K_V1 if pretrained == "imagenet" else None)
    if pretrained not in (None, "imagenet"):
        load_backbone_weights(backbone, pretrained)
    return MFFNet(ResNetEncoder(backbone), (256, 512, 1024, 2048), PAPER_WIDTHS, init_depth)


@register_model
def mff_senet154(pretrained: str | None = None, init_depth: float | None = None) -> MFFNet:
    """Return MFF with a SENet-154 encoder (timm ``legacy_senet154``; paper widths).

    ``pretrained``: None, a local timm ``legacy_senet154`` state-dict file, or ``"imagenet"``
    (timm's downloader; the only path that downloads). ``init_depth``: as for :func:`mff_resnet50`.
    """
    import timm

    _check_pretrained(pretrained, allow_imagenet=True, arch="mff_senet154")
    backbone = timm.create_model("legacy_senet154", pretrained=pretrained == "imagenet")
    if pretrained not in (None, "imagenet"):
        load_backbone_weights(backbone, pretrained)
    return MFFNet(SENetEncoder(backbone), (256, 512, 1024, 2048), PAPER_WIDTHS, init_depth)


@register_model
def mff_tiny(pretrained: str | None = None, init_depth: float | None = None) -> MFFNet:
    """Return the CPU-sized MFF: quarter-width ResNet-18 encoder, D 32 / MFF 32 / R 64 units, 3x3 kernels.

    Made for 96x128 inputs (output 48x64). ``pretrained``: None or a local checkpoint of the
    encoder ``E`` (its state dict, keys as in ``model.E.state_dict()``).
    """
    _check_pretrained(pretrained, allow_imagenet=False, arch="mff_tiny")
    trunk = narrow_resnet(TINY_ENCODER_WIDTHS, TINY_ENCODER_DEPTHS)
    encoder = ResNetEncoder(trunk)
    if pretrained is not None:
        load_backbone_weights(encoder, pretrained)
    return MFFNet(encoder, TINY_ENCODER_WIDTHS, TINY_WIDTHS, init_depth)
