"""BTS depth network of Lee et al. (2019): DenseNet encoder, decoder with dense ASPP and local planar guidance.

Module and parameter names equal the released BTS checkpoints (``encoder.base_model.*`` is
torchvision's DenseNet ``features``; ``decoder.*`` the BTS decoder), so they load strictly with
:func:`mdeinterp.models.load_checkpoint`. ``forward(image (B,3,H,W), focal=None)`` returns depth
in metres (B, 1, H, W) in (0, max_depth); H and W must be multiples of 32.

Studied layers (paper names -> module whose forward output is the dissected activation, as in
the reference's feature extraction): ``decoder.upconv3`` and ``decoder.upconv2`` are taken after
their batch norm (``decoder.bn3``/``decoder.bn2``), ``decoder.upconv1`` after its ELU,
``decoder.iconv2``/``decoder.iconv1`` are the conv+ELU stages ``decoder.conv2``/``decoder.conv1``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError, positive_metres
from .mff import _check_pretrained, load_backbone_weights
from .registry import register_model

BTS_STUDIED_LAYERS = ("decoder.upconv3", "decoder.upconv2", "decoder.iconv2", "decoder.upconv1", "decoder.iconv1")
BTS_LAYER_ALIASES = {
    "decoder.upconv3": "decoder.bn3",
    "decoder.upconv2": "decoder.bn2",
    "decoder.iconv2": "decoder.conv2",
    "decoder.iconv1": "decoder.conv1",
}
#: NYUv2's focal length in pixels, BTS's default when no focal is given.
NYU_FOCAL = 518.8579
#: KITTI focal length BTS's KITTI models were trained at; their depth is rescaled by focal / this.
KITTI_REFERENCE_FOCAL = 715.0873
#: The encoder outputs BTS skips from, in torchvision DenseNet ``features`` naming (H/2 .. H/32).
SKIP_NAMES = ("relu0", "pool0", "transition1", "transition2", "norm5")


@dataclass(frozen=True)
class BTSWidths:
    """Decoder width of BTS: upconv5 has ``num_features`` channels, each later stage half or less."""

    num_features: int  # paper 512: upconv3 128, upconv2/iconv2 64, upconv1/iconv1 32 units
    bn_momentum: float  # of the decoder's batch norms (BTS: 0.01)


PAPER_WIDTHS = BTSWidths(num_features=512, bn_momentum=0.01)
#: CPU-sized decoder: upconv3 64, upconv2/iconv2 32, upconv1/iconv1 16 units.
TINY_WIDTHS = BTSWidths(num_features=256, bn_momentum=0.1)
#: Encoder of ``bts_tiny``: a small torchvision DenseNet (growth 16, 2-3-4-3 layers, 32 stem channels).
TINY_DENSENET = dict(growth_rate=16, block_config=(2, 3, 4, 3), num_init_features=32, bn_size=2)


class AtrousConv(nn.Module):
    """One dense-ASPP branch: (BN,) ReLU, 1x1 conv to 2x out, BN, ReLU, dilated 3x3 conv to ``out``."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int, bn_first: bool, momentum: float) -> None:
        super().__init__()
        self.atrous_conv = nn.Sequential()
        if bn_first:
            self.atrous_conv.add_module("first_bn", nn.BatchNorm2d(in_channels, momentum=momentum, eps=1.1e-5))
        self.atrous_conv.add_module(
            "aconv_sequence",
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(in_channels, 2 * out_channels, kernel_size=1, bias=False),
                nn.BatchNorm2d(2 * out_channels, momentum=momentum),
                nn.ReLU(),
                nn.Conv2d(2 * out_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the branch's (B, out_channels, h, w) features of ``x`` (B, in_channels, h, w)."""
        return self.atrous_conv(x)


class UpConv(nn.Module):
    """Nearest 2x upsampling, 3x3 conv, ELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.elu = nn.ELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the post-ELU (B, out_channels, 2h, 2w) features of ``x`` (B, in_channels, h, w)."""
        return self.elu(self.conv(F.interpolate(x, scale_factor=2, mode="nearest")))


def conv_elu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Return Sequential(conv without bias, ELU) (indices 0, 1 as in the BTS checkpoints)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False), nn.ELU())


class Reduction(nn.Module):
    """1x1 conv+ELU layers halving the channels down to 8, then plane parameters (or one sigmoid map).

    Not final: the output (B, 4, h, w) is a local plane (unit normal n1, n2, n3 and distance n4 in
    metres, at most ``max_depth``). Final: (B, 1, h, w) in (0, 1).
    """

    def __init__(self, in_channels: int, out_channels: int, max_depth: float, final: bool = False) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.final = final
        self.reduc = nn.Sequential()
        # BTS's rule: halve until fewer than 8 channels remain, then the plane/final head.
        while out_channels >= 4:
            if out_channels < 8:
                if final:
                    self.reduc.add_module("final", nn.Sequential(nn.Conv2d(in_channels, 1, 1, bias=False), nn.Sigmoid()))
                else:
                    self.reduc.add_module("plane_params", nn.Conv2d(in_channels, 3, 1, bias=False))
                break
            self.reduc.add_module(f"inter_{in_channels}_{out_channels}", conv_elu(in_channels, out_channels, 1))
            in_channels, out_channels = out_channels, out_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return plane parameters (B, 4, h, w) or, when final, a (B, 1, h, w) map from ``x``."""
        x = self.reduc(x)
        if self.final:
            return x
        theta = torch.sigmoid(x[:, 0]) * math.pi / 3  # polar angle of the normal, at most 60 degrees
        phi = torch.sigmoid(x[:, 1]) * math.pi * 2
        dist = torch.sigmoid(x[:, 2]) * self.max_depth
        normal = torch.stack(
            [torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)], dim=1
        )
        return torch.cat([F.normalize(normal, p=2, dim=1), dist.unsqueeze(1)], dim=1)


class LocalPlanarGuidance(nn.Module):
    """LPG: each cell of a coarse (h, w) plane map becomes a ratio x ratio patch of depths on that plane."""

    def __init__(self, ratio: int) -> None:
        super().__init__()
        self.ratio = ratio

    def forward(self, plane: torch.Tensor) -> torch.Tensor:
        """Return depth (B, h*ratio, w*ratio) in metres from planes (B, 4, h, w) = (n1, n2, n3, distance)."""
        r = self.ratio
        expanded = plane.repeat_interleave(r, dim=2).repeat_interleave(r, dim=3)  # (B, 4, h r, w r)
        n1, n2, n3, dist = expanded.unbind(dim=1)
        # Normalised pixel offsets inside each patch, centred on the patch: (i - (r - 1) / 2) / r.
        offsets = (torch.arange(r, device=plane.device, dtype=plane.dtype) - (r - 1) / 2) / r
        u = offsets.repeat(plane.shape[3]).view(1, 1, -1)  # along the width
        v = offsets.repeat(plane.shape[2]).view(1, -1, 1)  # along the height
        return dist / (n1 * u + n2 * v + n3)


class BTSDecoder(nn.Module):
    """BTS decoder: upconv/iconv stages from H/32 to H with dense ASPP at H/8 and LPG at 8, 4 and 2."""

    def __init__(self, skip_channels: Sequence[int], widths: BTSWidths, max_depth: float) -> None:
        super().__init__()
        nf, m = widths.num_features, widths.bn_momentum
        if nf < 128 or nf % 32:
            raise ModelError(f"BTS num_features={nf}; expected a multiple of 32 that is at least 128")
        c0, c1, c2, c3, c4 = skip_channels
        self.max_depth = max_depth

        def bn(channels: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(channels, momentum=m, eps=1.1e-5)

        self.upconv5, self.bn5 = UpConv(c4, nf), bn(nf)
        self.conv5 = conv_elu(nf + c3, nf)
        self.upconv4, self.bn4 = UpConv(nf, nf // 2), bn(nf // 2)
        self.conv4, self.bn4_2 = conv_elu(nf // 2 + c2, nf // 2), bn(nf // 2)

        q = nf // 4  # channels of each dense-ASPP branch
        concat4 = nf // 2 + c2
        self.daspp_3 = AtrousConv(nf // 2, q, 3, bn_first=False, momentum=m)
        self.daspp_6 = AtrousConv(concat4 + q, q, 6, bn_first=True, momentum=m)
        self.daspp_12 = AtrousConv(concat4 + 2 * q, q, 12, bn_first=True, momentum=m)
        self.daspp_18 = AtrousConv(concat4 + 3 * q, q, 18, bn_first=True, momentum=m)
        self.daspp_24 = AtrousConv(concat4 + 4 * q, q, 24, bn_first=True, momentum=m)
        self.daspp_conv = conv_elu(nf // 2 + 5 * q, q)
        self.reduc8x8, self.lpg8x8 = Reduction(q, q, max_depth), LocalPlanarGuidance(8)

        self.upconv3, self.bn3 = UpConv(q, q), bn(q)
        self.conv3 = conv_elu(q + c1 + 1, q)
        self.reduc4x4, self.lpg4x4 = Reduction(q, nf // 8, max_depth), LocalPlanarGuidance(4)

        self.upconv2, self.bn2 = UpConv(q, nf // 8), bn(nf // 8)
        self.conv2 = conv_elu(nf // 8 + c0 + 1, nf // 8)
        self.reduc2x2, self.lpg2x2 = Reduction(nf // 8, nf // 16, max_depth), LocalPlanarGuidance(2)

        self.upconv1 = UpConv(nf // 8, nf // 16)
        self.reduc1x1 = Reduction(nf // 16, nf // 32, max_depth, final=True)
        self.conv1 = conv_elu(nf // 16 + 4, nf // 16)
        self.get_depth = nn.Sequential(nn.Conv2d(nf // 16, 1, 3, padding=1, bias=False), nn.Sigmoid())

    def forward(self, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        """Return depth (B, 1, H, W) in metres in (0, max_depth) from the five encoder skips (H/2 .. H/32)."""
        skip0, skip1, skip2, skip3, dense = skips
        iconv5 = self.conv5(torch.cat([self.bn5(self.upconv5(F.relu(dense))), skip3], dim=1))  # H/16
        concat4 = torch.cat([self.bn4(self.upconv4(iconv5)), skip2], dim=1)  # H/8
        iconv4 = self.bn4_2(self.conv4(concat4))

        # Dense ASPP: every branch sees the input and all previous branches.
        branches = [self.daspp_3(iconv4)]
        features = torch.cat([concat4, branches[0]], dim=1)
        for daspp in (self.daspp_6, self.daspp_12, self.daspp_18, self.daspp_24):
            branches.append(daspp(features))
            features = torch.cat([features, branches[-1]], dim=1)
        daspp_feat = self.daspp_conv(torch.cat([iconv4, *branches], dim=1))

        # LPG depths are divided by max_depth before being fed on, as in BTS.
        depth_8x8 = self.lpg8x8(self.reduc8x8(daspp_feat)).unsqueeze(1) / self.max_depth  # (B, 1, H, W)
        upconv3 = self.bn3(self.upconv3(daspp_feat))  # H/4
        iconv3 = self.conv3(torch.cat([upconv3, skip1, F.interpolate(depth_8x8, scale_factor=0.25, mode="nearest")], 1))

        depth_4x4 = self.lpg4x4(self.reduc4x4(iconv3)).unsqueeze(1) / self.max_depth
        upconv2 = self.bn2(self.upconv2(iconv3))  # H/2
        iconv2 = self.conv2(torch.cat([upconv2, skip0, F.interpolate(depth_4x4, scale_factor=0.5, mode="nearest")], 1))

        depth_2x2 = self.lpg2x2(self.reduc2x2(iconv2)).unsqueeze(1) / self.max_depth
        upconv1 = self.upconv1(iconv2)  # H
        reduc1x1 = self.reduc1x1(upconv1)
        iconv1 = self.conv1(torch.cat([upconv1, reduc1x1, depth_2x2, depth_4x4, depth_8x8], dim=1))
        return self.max_depth * self.get_depth(iconv1)


class DenseNetEncoder(nn.Module):
    """BTS encoder: torchvision DenseNet ``features`` as ``base_model``, returning the skip outputs."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        self.base_model = features
        self.skip_channels = densenet_skip_channels(features)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Return the outputs of relu0, pool0, transition1, transition2, norm5 (H/2 .. H/32) for (B, 3, H, W)."""
        skips = []
        x = image
        for name, module in self.base_model.named_children():
            x = module(x)
            if name in SKIP_NAMES:
                skips.append(x)
        return skips


def densenet_skip_channels(features: nn.Sequential) -> tuple[int, int, int, int, int]:
    """Return the channel counts of the five BTS skips of a torchvision DenseNet ``features``."""
    stem = features.norm0.num_features
    return (stem, stem, features.transition1.conv.out_channels, features.transition2.conv.out_channels,
            features.norm5.num_features)


class BTSNet(nn.Module):
    """BTS depth network: ``forward(image (B,3,H,W), focal=None) -> depth (B,1,H,W)`` in metres.

    ``focal`` (pixels; float or (B,) tensor, default ``default_focal``) only matters when
    ``reference_focal`` is set (KITTI models): the depth is then scaled by focal / reference_focal.
    """

    studied_layers: tuple[str, ...] = BTS_STUDIED_LAYERS
    min_input_size: int = 32  # the encoder's total stride (inputs must also be multiples of it)

    def __init__(
        self,
        features: nn.Sequential,
        widths: BTSWidths,
        max_depth: float = 10.0,
        default_focal: float = NYU_FOCAL,
        reference_focal: float | None = None,
    ) -> None:
        super().__init__()
        max_depth = positive_metres("max_depth", max_depth, " (10 NYU, 80 KITTI)")
        self.encoder = DenseNetEncoder(features)
        self.decoder = BTSDecoder(self.encoder.skip_channels, widths, float(max_depth))
        self.max_depth = float(max_depth)
        self.default_focal = float(default_focal)
        self.reference_focal = reference_focal
        self.layer_aliases = dict(BTS_LAYER_ALIASES)

    def forward(self, image: torch.Tensor, focal: float | torch.Tensor | None = None) -> torch.Tensor:
        """Return depth in metres (B, 1, H, W) for ``image`` (B, 3, H, W), H and W multiples of 32."""
        height, width = image.shape[-2:]
        if height % 32 or width % 32:
            raise ModelError(f"BTS input is {height}x{width}; expected height and width that are multiples of 32")
        depth = self.decoder(self.encoder(image))
        if self.reference_focal is not None:
            focal = self.default_focal if focal is None else focal
            focal = torch.as_tensor(focal, dtype=depth.dtype, device=depth.device).reshape(-1, 1, 1, 1)
            depth = depth * focal / self.reference_focal
        return depth


def remap_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return ``state`` with old torchvision DenseNet keys (``norm.1``) renamed to current ones (``norm1``)."""
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")
    renamed = {}
    for key, value in state.items():
        match = pattern.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


@register_model
def bts_densenet161(
    pretrained: str | None = None,
    max_depth: float = 10.0,
    default_focal: float = NYU_FOCAL,
    reference_focal: float | None = None,
) -> BTSNet:
    """Return BTS with a DenseNet-161 encoder (paper widths; 1075 state-dict entries).

    ``max_depth``: 10 (NYUv2) or 80 (KITTI; pass ``reference_focal=715.0873`` as BTS's KITTI
    models do). ``pretrained``: None, a local torchvision ``densenet161`` state-dict file, or
    ``"imagenet"`` (torchvision's downloader; the only path that downloads).
    """
    from torchvision.models import DenseNet161_Weights, densenet161

    _check_pretrained(pretrained, allow_imagenet=True, arch="bts_densenet161")
    backbone = densenet161(weights=DenseNet161_Weights.IMAGENET1K_V1 if pretrained == "imagenet" else None)
    if pretrained not in (None, "imagenet"):
        load_backbone_weights(backbone, pretrained, remap=remap_densenet_keys)
    return BTSNet(backbone.features, PAPER_WIDTHS, max_depth, default_focal, reference_focal)


@register_model
def bts_tiny(
    pretrained: str | None = None,
    max_depth: float = 10.0,
    default_focal: float = NYU_FOCAL,
    reference_focal: float | None = None,
) -> BTSNet:
    """Return the CPU-sized BTS: small DenseNet encoder, decoder of 256 features (upconv3 64 .. iconv1 16 units).

    ``pretrained``: None or a local checkpoint of the encoder (keys as in ``model.encoder.state_dict()``).
    """
    from torchvision.models import DenseNet

    _check_pretrained(pretrained, allow_imagenet=False, arch="bts_tiny")
    encoder_features = DenseNet(**TINY_DENSENET).features
    model = BTSNet(encoder_features, TINY_WIDTHS, max_depth, default_focal, reference_focal)
    if pretrained is not None:
        load_backbone_weights(model.encoder, pretrained)
    return model
