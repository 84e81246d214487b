"""``vreid``: use a trained re-ID model -- embed, index, search, export.

    vreid embed   IMAGES_OR_FOLDERS... --out features.npz
    vreid index   IMAGES_OR_FOLDERS... --out gallery          (gallery.faiss + gallery.csv)
    vreid search  IMAGES_OR_FOLDERS... --gallery gallery [--top-k 5] [--csv m.csv] [--strip m.png]
    vreid export  --out model [--format torchscript onnx]

Every command reads the model from ``--model`` (default ``artifacts/cluster/model.pt``, the
final model of ``dvc repro``) built as the ``model`` section of ``--params`` (default
``params.yaml``) says. ``vreid <command> --help`` lists the options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .io import InputError
from .params import load as load_params

if TYPE_CHECKING:
    from . import inference

DEFAULT_MODEL = "artifacts/cluster/model.pt"


def _encoder(args: argparse.Namespace) -> inference.Encoder:
    return inference.load_encoder(args.model, load_params(args.params), args.device)


def _embed_with(args: argparse.Namespace, enc: inference.Encoder, paths: list[Path]):
    return inference.embed(paths, enc, args.batch_size, args.workers, progress=not args.quiet)


def cmd_embed(args: argparse.Namespace) -> None:
    paths = inference.image_paths(args.images)
    enc = _encoder(args)
    feats = _embed_with(args, enc, paths)
    inference.save_features(args.out, [str(p) for p in paths], feats, enc.feature)
    print(f"{len(paths)} images -> {args.out} ({feats.shape[1]}-d features)")


def cmd_index(args: argparse.Namespace) -> None:
    if args.features:
        names, feats, feature = inference.load_features(args.features)
    else:
        paths = inference.image_paths(args.images)
        enc = _encoder(args)
        names, feats, feature = [str(p) for p in paths], _embed_with(args, enc, paths), enc.feature
    gallery = inference.Gallery.build(names, feats, feature)
    gallery.save(args.out)
    print(f"{len(names)} gallery images -> {args.out}.faiss, {args.out}.csv")


def cmd_search(args: argparse.Namespace) -> None:
    gallery = inference.Gallery.load(args.gallery)
    enc = _encoder(args)
    inference.require_feature(gallery.feature, enc.feature, f"gallery {args.gallery}")
    paths = inference.image_paths(args.images)
    dist, rows = gallery.search(_embed_with(args, enc, paths), args.top_k)
    table = inference.matches_table([str(p) for p in paths], dist, rows, gallery)
    if args.csv:
        table.to_csv(args.csv, index=False, lineterminator="\n")
    if args.strip:
        inference.match_strip(table, args.strip)
    print(table.to_string(index=False))


def cmd_export(args: argparse.Namespace) -> None:
    enc = inference.load_encoder(args.model, load_params(args.params), "cpu")
    diffs = inference.export(enc, args.out, args.format)
    for fmt, diff in diffs.items():
        suffix = ".ts.pt" if fmt == "torchscript" else ".onnx"
        print(f"{fmt}: {args.out}{suffix} (max |{enc.feature} feature diff| vs PyTorch {diff:.2e})")


def _common(p: argparse.ArgumentParser, images: bool = True) -> None:
    if images:
        p.add_argument("images", nargs="*", help="image files or folders (searched recursively)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model file (default {DEFAULT_MODEL})")
    p.add_argument("--params", default="params.yaml", help="params the model was trained with")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="image decoding processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="vreid",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("embed", help="images -> features file (.npz: names, features)")
    _common(p)
    p.add_argument("--out", required=True, help="output .npz")
    p.set_defaults(run=cmd_embed)
    p = sub.add_parser("index", help="gallery images -> exact faiss index + metadata")
    _common(p)
    p.add_argument("--features", help="a `vreid embed` file instead of images")
    p.add_argument("--out", required=True, help="output stem: <out>.faiss and <out>.csv")
    p.set_defaults(run=cmd_index)
    p = sub.add_parser("search", help="query images -> top-k gallery matches")
    _common(p)
    p.add_argument("--gallery", required=True, help="stem given to `vreid index --out`")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--csv", help="also write the matches table here")
    p.add_argument("--strip", help="also draw the matches into this PNG")
    p.set_defaults(run=cmd_search)
    p = sub.add_parser("export", help="the encoder -> TorchScript and/or ONNX")
    _common(p, images=False)
    p.add_argument("--out", required=True, help="output stem: <out>.ts.pt, <out>.onnx")
    p.add_argument(
        "--format", nargs="+", default=["torchscript", "onnx"], choices=["torchscript", "onnx"]
    )
    p.set_defaults(run=cmd_export)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for name in ("batch_size", "top_k"):
        if getattr(args, name, 1) < 1:
            sys.exit(f"vreid {args.command}: --{name.replace('_', '-')} must be >= 1")
    if args.command == "index" and not (args.images or args.features):
        sys.exit("vreid index: give gallery images/folders or --features")
    if args.command in ("embed", "search") and not args.images:
        sys.exit(f"vreid {args.command}: give images or folders")
    # Imported once the arguments are valid: torch and torchvision take seconds to load,
    # `--help` and a usage error should not wait for them.
    global inference
    from . import inference

    try:
        args.run(args)
    except (InputError, FileNotFoundError) as exc:
        sys.exit(f"vreid {args.command}: {exc}")


if __name__ == "__main__":
    main()
