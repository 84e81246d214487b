"""ResNet-18/34/50/101, built as torchvision builds them, without importing torchvision.

Importing torchvision loads all its models and detection operators, and through them
``torch._dynamo``: 2.6 s per process on the project's Zen 3 CPU (``python -X importtime -c
'import torchvision'``), paid by every learning stage DVC starts, many times over in the tests.
This module creates the same modules under the same names, in the same order, and initialises
them the same way, so the same seed gives the same weights bit for bit (checked against
torchvision by ``tests/test_pretraining.py``), and torchvision's state dicts (ImageNet weights,
the `pretrain` stage's output) load unchanged.

The order matters because every ``nn.Conv2d`` and ``nn.Linear`` draws its default
initialisation from torch's generator when it is created, and the He-normal pass afterwards
draws again in module order: the blocks register ``conv1, bn1, ..., downsample`` exactly as
torchvision's do, and a stage's shortcut projection is created before its first block.
"""

from __future__ import annotations

import torch
from torch import nn

from ..choices import ARCHS

#: ``model.arch`` -> (block kind, blocks per stage), He et al. 2016, Table 1.
LAYOUT: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions and a shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1 x 1 reduce, 3 x 3 (strided), 1 x 1 expand by 4, and a shortcut (ResNet-50/101)."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv(inplanes, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, planes * self.expansion, 1)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """Stem (7 x 7 convolution, BN, ReLU, max-pool), four stages, average pool, classifier."""

    def __init__(self, arch: str, num_classes: int = 1000) -> None:
        super().__init__()
        kind, depths = LAYOUT[arch]
        block = BLOCKS[kind]
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, depth in enumerate(depths):
            stage = self.make_layer(block, 64 * 2**i, depth, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_like_torchvision(self)

    def make_layer(self, block: type, planes: int, depth: int, stride: int) -> nn.Sequential:
        """One stage of ``depth`` blocks; the first one strides and, when the shape changes,
        gets a 1 x 1 projection shortcut (created first). Advances ``self.inplanes``."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv(self.inplanes, planes * block.expansion, 1, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        blocks = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes) for _ in range(1, depth)]
        return nn.Sequential(*blocks)

    def widen(self, channels: int) -> None:
        """Rebuild the stem, the four stages and the classifier with ``channels`` stem channels
        (stage i: ``channels * 2**i`` planes), initialised as the constructor initialises."""
        block = type(self.layer1[0])
        self.inplanes = channels
        self.conv1 = nn.Conv2d(3, channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        for i in range(4):
            name = f"layer{i + 1}"
            depth = len(getattr(self, name))
            setattr(self, name, self.make_layer(block, channels * 2**i, depth, 1 if i == 0 else 2))
        self.fc = nn.Linear(channels * 8 * block.expansion, self.fc.out_features)
        init_like_torchvision(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def init_like_torchvision(net: nn.Module) -> None:
    """He normal (fan out) on every convolution, BN weight 1 and bias 0, in module order."""
    for mod in net.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.constant_(mod.weight, 1)
            nn.init.constant_(mod.bias, 0)


def resnet(arch: str, channels: int = 64) -> ResNet:
    """torchvision's ResNet ``arch`` with random weights. ``channels``: output channels of the
    stem and of the first stage (64 = torchvision's network, the only width ImageNet weights
    fit); every stage scales with it (stage i has ``channels * 2**i`` planes), so 32 gives a
    network with about a quarter of the multiply-adds, initialised as torchvision initialises
    its own.

    Another width is built at 64 first and then re-widened (:meth:`ResNet.widen`): the random
    draws of that first construction come before the narrower layers' own in every run made so
    far, so building at ``channels`` directly would start every run from other weights."""
    if arch not in ARCHS:
        raise ValueError(f"model.arch = {arch!r}; allowed: {', '.join(ARCHS)}")
    if channels < 1:
        raise ValueError(
            f"model.channels = {channels}; must be a positive integer (64 = torchvision)"
        )
    net = ResNet(arch)
    if channels != 64:
        net.widen(channels)
    return net
