"""Images into tensors: decoding (errors name the file), an in-RAM cache, batch augmentation.

Augmentation runs on whole uint8 batches with an explicit ``torch.Generator`` so that a run
is reproducible from its seed and epoch (and resumes bit-identically from a checkpoint).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..io import InputError

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class ImageLoadError(InputError):
    """An image file is missing, cannot be decoded or is a decompression bomb; one line that
    names the file, also when it was read in a DataLoader worker (see :func:`_one_line`)."""


def load_image(path: str, height: int, width: int) -> torch.Tensor:
    """Decode ``path`` to RGB, resize to ``(height, width)``; uint8 tensor ``(3, H, W)``.

    Images above Pillow's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89 M pixels; a
    decompression bomb: a small file that decodes to gigabytes) are refused before decoding.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im = im.convert("RGB").resize((width, height), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(
            f"{path}: refused: {exc} (a decompression bomb?); replace the file"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(
            f"{path}: cannot read image ({exc}); check the file or re-create the dataset"
        ) from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _one_line(exc: ImageLoadError) -> ImageLoadError:
    """The original one-line message of an error re-raised from a DataLoader worker (torch
    re-raises it as ``"Caught ImageLoadError in DataLoader worker ...\n<traceback>"``)."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) <= 1:
        return exc
    last = lines[-1]
    return ImageLoadError(last.split(f"{ImageLoadError.__name__}: ", 1)[-1])


class ImageList(Dataset):
    """Dataset over file paths; item ``i`` is ``(uint8 image (3, H, W), i)``."""

    def __init__(self, paths: Sequence[str], height: int, width: int) -> None:
        self.paths = list(paths)
        self.height, self.width = height, width

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return load_image(self.paths[i], self.height, self.width), i


class _OrderedSampler(torch.utils.data.Sampler):
    def __init__(self, order: np.ndarray) -> None:
        self.order = order

    def __iter__(self):
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


class ImageSource:
    """Serves uint8 batches of images by index, from RAM (``cache=True``) or from disk.

    ``batches(order, batch_size)`` yields ``(images uint8 (B, 3, H, W), indices int64 (B,))``
    following ``order``. With the cache, all images are decoded once (in ``workers``
    processes) and kept as one uint8 tensor of ``N * 3 * H * W`` bytes.
    """

    def __init__(
        self, paths: Sequence[str], height: int, width: int, workers: int = 2, cache: bool = True
    ) -> None:
        self.dataset = ImageList(paths, height, width)
        self.workers = workers
        self.images: torch.Tensor | None = None
        if cache:
            self.images = torch.empty((len(paths), 3, height, width), dtype=torch.uint8)
            for x, idx in self._loader(np.arange(len(paths)), 128):
                self.images[idx] = x

    def __len__(self) -> int:
        return len(self.dataset)

    def _loader(
        self, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            sampler=_OrderedSampler(order),
            num_workers=self.workers,
            persistent_workers=False,
        )
        try:
            yield from loader
        except ImageLoadError as exc:
            raise _one_line(exc) from None

    def batches(
        self, order: np.ndarray, batch_size: int, drop_last: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = np.array(order, dtype=np.int64)  # a writable copy: torch shares its memory
        if drop_last and len(order) >= batch_size:
            order = order[: len(order) - len(order) % batch_size]
        if self.images is not None:
            for start in range(0, len(order), batch_size):
                idx = torch.from_numpy(order[start : start + batch_size])
                yield self.images[idx], idx
        else:
            for x, idx in self._loader(order, batch_size):
                yield x, idx.long()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` -> float, ImageNet mean/std normalised."""
    x = x.float().div_(255.0)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5
    pad_crop: int = 4
    color_jitter: float = 0.2
    random_erasing: float = 0.5


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Random flip, pad-and-crop, colour jitter and random erasing of a uint8 batch.

    Returns the normalised float batch. All randomness comes from ``gen`` (CPU generator).
    """
    b, _, h, w = x.shape
    x = x.float().div_(255.0)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=gen).to(x.device)

    if cfg.flip > 0:
        flip = (rand(b) < cfg.flip).view(b, 1, 1, 1)
        x = torch.where(flip, x.flip(-1), x)
    if cfg.pad_crop > 0:
        p = cfg.pad_crop
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        offs = torch.randint(0, 2 * p + 1, (b, 2), generator=gen).to(x.device)
        rows = offs[:, 0:1] + torch.arange(h, device=x.device)  # (b, h)
        cols = offs[:, 1:2] + torch.arange(w, device=x.device)  # (b, w)
        batch = torch.arange(b, device=x.device).view(b, 1, 1)
        # advanced indexing puts the index dims first: (b, h, w, C) -> (b, C, h, w)
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if cfg.color_jitter > 0:
        s = cfg.color_jitter
        bright = 1 + (rand(b, 1, 1, 1) * 2 - 1) * s
        contrast = 1 + (rand(b, 1, 1, 1) * 2 - 1) * s
        sat = 1 + (rand(b, 1, 1, 1) * 2 - 1) * s
        x = x * bright
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast + mean
        gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
        x = (gray + (x - gray) * sat).clamp_(0, 1)
    x = (x - MEAN.to(x.device)) / STD.to(x.device)
    if cfg.random_erasing > 0:
        erase = rand(b) < cfg.random_erasing
        area = (0.02 + rand(b) * 0.2).double()
        aspect = torch.exp(np.log(0.3) + rand(b).double() * np.log(1 / 0.09))
        pos = rand(b, 2).double()
        eh = torch.round(torch.sqrt(area * h * w * aspect)).clamp(1, h)
        ew = torch.round(torch.sqrt(area * h * w / aspect)).clamp(1, w)
        y0 = torch.floor(pos[:, 0] * (h - eh + 1))
        x0 = torch.floor(pos[:, 1] * (w - ew + 1))
        ys = torch.arange(h, device=x.device, dtype=torch.float64)
        xs = torch.arange(w, device=x.device, dtype=torch.float64)
        in_y = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])  # (b, h)
        in_x = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])  # (b, w)
        box = (in_y[:, :, None] & in_x[:, None, :]) & erase.view(b, 1, 1)
        x = x.masked_fill(box.unsqueeze(1), 0.0)
    return x
