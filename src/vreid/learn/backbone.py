"""Backbone: a ResNet as torchvision builds it (:func:`vreid.learn.resnet.resnet`, also importable
from here), global average pooling, a BN neck, L2-normalised embedding."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..io import InputError, load_weights
from .resnet import resnet


class ReidNet(nn.Module):
    """ResNet encoder for re-ID.

    ``forward(x)`` takes a float batch ``(B, 3, H, W)`` (ImageNet-normalised) and returns
    ``(z, logits)``: ``z`` the L2-normalised embedding ``(B, D)`` (D = 512 for resnet18/34,
    2048 for resnet50/101, times ``channels / 64``) and ``logits`` ``(B, num_classes)`` from a
    linear head on the BN-neck feature, or ``None`` when ``num_classes == 0``.
    """

    def __init__(
        self,
        arch: str = "resnet18",
        last_stride: int = 2,
        num_classes: int = 0,
        pretrained: str = "none",
        channels: int = 64,
    ) -> None:
        super().__init__()
        net = resnet(arch, channels)
        load_pretrained(net, arch, pretrained, channels)
        if last_stride == 1:
            block = net.layer4[0]
            strided = block.conv2 if hasattr(block, "conv3") else block.conv1
            strided.stride = (1, 1)
            if block.downsample is not None:
                block.downsample[0].stride = (1, 1)
        self.body = nn.Sequential(
            net.conv1,
            net.bn1,
            net.relu,
            net.maxpool,
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.dim = net.fc.in_features
        self.neck = nn.BatchNorm1d(self.dim)
        self.neck.bias.requires_grad_(False)
        self.head = nn.Linear(self.dim, num_classes, bias=False) if num_classes > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        _, z, logits = self.forward_all(x)
        return z, logits

    def forward_all(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(pooled, z, logits)``: ``pooled`` is the feature before the BN neck (the
        triplet loss of the supervised recipe reads it), ``z`` and ``logits`` as in
        :meth:`forward`."""
        pooled = self.body(x).mean(dim=(2, 3))
        feat = self.neck(pooled)
        z = F.normalize(feat, dim=1)
        logits = self.head(feat) if self.head is not None else None
        return pooled, z, logits

    def features(self, x: torch.Tensor, kinds: tuple[str, ...]) -> list[torch.Tensor]:
        """The L2-normalised features ``kinds`` of a batch, from one forward pass:
        ``embedding`` is ``z`` (what every loss, memory and the clustering use), ``pooled`` the
        pooled feature before the BN neck, normalised (what retrieval ranks by when
        ``evaluate.feature`` is ``pooled``, the default: docs/calibration.md, P58)."""
        pooled, z, _ = self.forward_all(x)
        by_kind = {"embedding": lambda: z, "pooled": lambda: F.normalize(pooled, dim=1)}
        return [by_kind[k]() for k in kinds]


def load_state(
    model: ReidNet, path: str | Path, about: str, fix: str, drop_head: bool = False
) -> ReidNet:
    """``model`` with the weights of ``path`` (a state_dict written by a stage; read with
    ``weights_only``). The one-line error when the file is missing or broken ends with
    ``fix``; when it is of another architecture it says ``does not fit <about>`` first.
    ``drop_head``: ignore a classifier head in the file."""
    state = load_weights(Path(path), "a model state_dict", fix)
    if drop_head and isinstance(state, dict):
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0][:160]
        raise InputError(f"{path}: does not fit {about} ({first}); {fix}") from None
    return model


#: ``ReidNet.body`` position -> torchvision ResNet module name (positions 2-3 have no weights).
_BODY_NAMES = {0: "conv1", 1: "bn1", 4: "layer1", 5: "layer2", 6: "layer3", 7: "layer4"}


def backbone_state_dict(model: ReidNet) -> dict[str, torch.Tensor]:
    """The encoder's weights under torchvision's ResNet names (``conv1.weight``,
    ``layer1.0.bn1.running_mean``, ...): the format ``model.pretrained`` reads, so a backbone
    saved from here initialises any later model of the same architecture (the `pretrain`
    stage's output). The BN neck and the classifier head are not included."""
    out: dict[str, torch.Tensor] = {}
    for key, value in model.body.state_dict().items():
        pos, rest = key.split(".", 1)
        out[f"{_BODY_NAMES[int(pos)]}.{rest}"] = value
    return out


def hub_weights(arch: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights of ``arch`` through torch's hub cache, hash-checked.

    A cached file is used only if its SHA-256 starts with the hash in its file name
    (torchvision's convention, e.g. ``resnet18-f37072fd.pth``); a download is checked the
    same way; the file is read with ``weights_only=True`` (:func:`vreid.io.load_weights`).
    """
    import torchvision  # only here: its import costs seconds (vreid.learn.resnet)

    url = torchvision.models.get_model_weights(arch).DEFAULT.url
    name = url.rsplit("/", 1)[-1]
    match = re.search(r"-([a-f0-9]{6,})\.", name)
    prefix = match.group(1) if match else ""
    dst = Path(torch.hub.get_dir()) / "checkpoints" / name
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=prefix or None, progress=False)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()
    if not digest.startswith(prefix):
        raise InputError(
            f"{dst}: its SHA-256 ({digest[:12]}...) does not start with {prefix}, the hash in "
            "torchvision's file name: a corrupt or planted file; delete it to download it again"
        )
    return load_weights(dst, f"torchvision's {arch} weights", "delete it to download it again")


def load_pretrained(net: nn.Module, arch: str, pretrained: str, channels: int = 64) -> None:
    """Load ImageNet weights into a torchvision ResNet.

    ``pretrained``: ``none`` (random init, the default: nothing is downloaded),
    ``torchvision`` (torchvision's hub weights; needs internet or a filled torch hub cache),
    or a path to a ``state_dict`` file (``.pth``) of the same architecture and ``channels``.
    """
    if pretrained == "none":
        return
    if pretrained == "torchvision":
        if channels != 64:
            raise InputError(
                f"model.pretrained = torchvision needs model.channels = 64 (torchvision's "
                f"{arch}), not {channels}; set model.channels to 64 or model.pretrained to none"
            )
        state = hub_weights(arch)
    else:
        fix = "set model.pretrained to a state_dict file, 'torchvision' or 'none'"
        state = load_weights(Path(pretrained), "model.pretrained weights (a state_dict)", fix)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise InputError(
                f"{pretrained}: holds a {type(state).__name__}, not a state_dict; {fix}"
            )
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    own = net.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise InputError(
            f"model.pretrained = {pretrained!r} does not fit {arch} with model.channels = "
            f"{channels}: {wrong[0]} is {tuple(state[wrong[0]].shape)}, the model's "
            f"{tuple(own[wrong[0]].shape)}; set model.channels to the width it was trained with"
        )
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.startswith("fc.")]
    if missing or unexpected:
        raise InputError(
            f"model.pretrained = {pretrained!r} does not fit {arch}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
