"""The throw-away probes that calibrated the default testbed (docs/calibration.md).

Kept so that every number of that section can be recomputed; the pipeline itself does not use
this file. Commands (each prints validation mAP, with test beside it for information only):

    python studies/calibration_probe.py pretrain --pool data/pretrain_pool --out /tmp/bb.pt \
        --epochs 5 --lr 0.1
    python studies/calibration_probe.py attr --root data/synthetic --init /tmp/bb.pt
    python studies/calibration_probe.py sup --root data/synthetic --init /tmp/bb.pt --lr 0.02 \
        --epochs 8 --erase 0.25

``pretrain``: attribute pretraining with a one-cycle schedule (the `pretrain` stage's task);
``attr``: its attribute accuracy on a generated set's validation images; ``sup``: the
supervised recipe (identity cross-entropy with label smoothing + batch-hard triplet + BN neck,
16 x 4 identity-balanced batches) from ``--init`` (``none`` = random weights). Diagnostics of
``sup`` (docs/calibration.md, "What limits the supervised bound"): ``--id-share 0.5`` learns a
seeded half of the train identities, ``--image-share 0.5`` a seeded half of each identity's
images, ``--train-splits train,query,gallery`` also the test identities (an oracle ceiling).
"""

import argparse
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision

from vreid import params as P
from vreid.learn.images import AugmentConfig, ImageSource, augment, normalize
from vreid.learn.loop import channels_last, extract_features
from vreid.learn.losses import triplet_hard_loss
from vreid.learn.sampling import identity_balanced_order
from vreid.stages._common import (
    build_model,
    device_and_seed,
    image_source,
    read_manifest,
    retrieval_by_split,
    train_rows,
)

CUES = ("sticker", "decal_left", "decal_right", "dent", "roof", "rims", "rear_item")


def pool_labels(meta):
    out = {
        "type": meta["type"].to_numpy() - 1,
        "color": meta["color"].to_numpy() - 1,
        "model": meta["model"].to_numpy(),
        "view": meta["view5"].to_numpy(),
    }
    cue = np.zeros((len(meta), len(CUES)), np.float32)
    for i, s in enumerate(meta["cues"].fillna("")):
        names = [t.split(":")[0] for t in s.split(";") if t]
        for n in names:
            if n in CUES:
                cue[i, CUES.index(n)] = 1
    return out, cue


def pretrain(a):
    meta = pd.read_csv(f"{a.pool}/synth_meta.csv")
    meta = meta[meta.split == "train"].reset_index(drop=True)
    paths = [f"{a.pool}/image_train/{n}" for n in meta.name]
    lab, cue = pool_labels(meta)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    src = ImageSource(paths, a.h, a.w, workers=2, cache=True)
    net = getattr(torchvision.models, a.arch)(weights=None)
    dim = net.fc.in_features
    heads = {k: int(v.max()) + 1 for k, v in lab.items()}
    if a.ids:
        heads["vid"] = int(pd.factorize(meta.vid)[0].max()) + 1
        lab["vid"] = pd.factorize(meta.vid)[0]
    net.fc = torch.nn.Identity()
    head = torch.nn.Linear(dim, sum(heads.values()) + len(CUES))
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = a.epochs * (len(paths) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps, pct_start=0.15)
    cfg = AugmentConfig(a.flip, 4, 0.3, 0.5)
    gen = torch.Generator().manual_seed(0)
    labt = {k: torch.from_numpy(np.asarray(v)).long() for k, v in lab.items()}
    cuet = torch.from_numpy(cue)
    net = net.to(memory_format=torch.channels_last)
    for ep in range(a.epochs):
        t0 = time.time()
        net.train()
        tot = 0
        n = 0
        order = torch.randperm(len(paths), generator=gen).numpy()
        for x, idx in src.batches(order, 64, drop_last=True):
            x = channels_last(augment(x, cfg, gen))
            out = head(net(x))
            loss = 0
            o = 0
            for k, c in heads.items():
                loss = loss + F.cross_entropy(out[:, o : o + c], labt[k][idx])
                o += c
            loss = loss + F.binary_cross_entropy_with_logits(out[:, o:], cuet[idx]) * len(CUES) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss)
            n += 1
        print(f"pretrain ep {ep} loss {tot / n:.3f} {time.time() - t0:.0f}s", flush=True)
    sd = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    torch.save(sd, a.out)
    torch.save({"head": head.state_dict(), "heads": heads}, a.out + ".head")


def evaluate(model, df, params, source, device):
    feats = extract_features(model, source, device)
    return {
        w: round(v["mAP"], 4)
        for w, v in retrieval_by_split(df, feats, params, None, device).items()
    }, {
        w: round(v["rank1"], 4)
        for w, v in retrieval_by_split(df, feats, params, None, device).items()
    }


def sup(a):
    params = P.load("params.yaml")
    params["model"]["pretrained"] = a.init
    params["model"]["height"] = a.h
    params["model"]["width"] = a.w
    params["model"]["last_stride"] = a.last_stride
    if a.root:
        from vreid.data.readers import read_dataset

        df = read_dataset("synthetic", a.root).reset_index(drop=True)
        df = df.sort_values(
            "split", key=lambda s: s.map(lambda v: 0 if v == "train" else 1), kind="stable"
        ).reset_index(drop=True)
    else:
        df = read_manifest()
    device = device_and_seed(params)
    source = image_source(df, params)
    rows = train_rows(df)
    if a.train_splits != "train":  # diagnostic: also learn the listed evaluation splits' ids
        rows = np.flatnonzero(df["split"].isin(a.train_splits.split(",")).to_numpy())
    if a.id_share < 1:  # diagnostic: learn only a seeded share of the training identities
        ids = np.unique(df["vid"].to_numpy()[rows])
        keep = np.random.default_rng(0).permutation(ids)[: round(a.id_share * len(ids))]
        rows = rows[np.isin(df["vid"].to_numpy()[rows], keep)]
    if a.image_share < 1:  # diagnostic: keep a seeded share of each identity's images (>= 2)
        rng = np.random.default_rng(0)
        vids = df["vid"].to_numpy()[rows]
        keep = [
            rng.permutation(rows[vids == v])[: max(2, round(a.image_share * (vids == v).sum()))]
            for v in np.unique(vids)
        ]
        rows = np.sort(np.concatenate(keep))
    _, targets = np.unique(df["vid"].to_numpy()[rows], return_inverse=True)
    model = build_model(params, num_classes=int(targets.max()) + 1)
    print("init", evaluate(model, df, params, source, device), flush=True)
    if a.epochs == 0:
        return
    tt = torch.from_numpy(targets).long()
    if a.opt == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=5e-4)
    else:
        opt = torch.optim.SGD(
            model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4, nesterov=True
        )
    gen = torch.Generator().manual_seed(0)
    cfg = AugmentConfig(a.flip, 4, 0.2, a.erase)
    nb = len(rows) // 64
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, a.lr, total_steps=a.epochs * nb + 50, pct_start=0.1
    )
    model = model.to(memory_format=torch.channels_last)
    for ep in range(a.epochs):
        t0 = time.time()
        model.train()
        tot = 0
        n = 0
        if a.pk:
            order = rows[identity_balanced_order(targets, 4, 64, gen)]
        else:
            order = rows[torch.randperm(len(rows), generator=gen).numpy()]
        for x, idx in source.batches(order, 64, drop_last=True):
            x = channels_last(augment(x, cfg, gen))
            y = tt[torch.from_numpy(np.searchsorted(rows, idx.numpy()))]
            pooled, z, logits = model.forward_all(x)
            loss = F.cross_entropy(logits, y, label_smoothing=a.ls)
            if a.tri:
                loss = loss + triplet_hard_loss(pooled, y, margin=0.3)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss)
            n += 1
        msg = f"ep {ep} loss {tot / n:.3f} {time.time() - t0:.0f}s"
        if (ep + 1) % a.every == 0 or ep == a.epochs - 1:
            msg += " " + str(evaluate(model, df, params, source, device))
        print(msg, flush=True)


def attr(a):
    meta = pd.read_csv(f"{a.root}/synth_meta.csv")
    meta = meta[meta.split == "val"].reset_index(drop=True)
    paths = [f"{a.root}/image_val/{n}" for n in meta.name]
    lab, cue = pool_labels(meta)
    net = getattr(torchvision.models, a.arch)(weights=None)
    dim = net.fc.in_features
    net.fc = torch.nn.Identity()
    net.load_state_dict(torch.load(a.init, weights_only=True), strict=False)
    h = torch.load(a.init + ".head", weights_only=True)
    heads = h["heads"]
    head = torch.nn.Linear(dim, sum(heads.values()) + len(CUES))
    head.load_state_dict(h["head"])
    net.eval()
    src = ImageSource(paths, a.h, a.w, workers=2, cache=True)
    outs = []
    with torch.no_grad():
        for x, _idx in src.batches(np.arange(len(paths)), 256):
            outs.append(head(net(normalize(x))))
    out = torch.cat(outs).numpy()
    o = 0
    night = meta.cam_night.to_numpy().astype(bool)
    for k, c in heads.items():
        if k in lab:
            pred = out[:, o : o + c].argmax(1)
            ok = pred == lab[k]
            print(
                k,
                "acc",
                ok.mean().round(3),
                "day",
                ok[~night].mean().round(3),
                "night",
                ok[night].mean().round(3),
            )
        o += c
    pc = (out[:, o:] > 0) == (cue > 0.5)
    print("cue acc per cue", pc.mean(0).round(2))


ap = argparse.ArgumentParser()
ap.add_argument("cmd")
ap.add_argument("--pool", default="/tmp/probe/pool")
ap.add_argument("--out", default="/tmp/probe/bb.pt")
ap.add_argument("--arch", default="resnet18")
ap.add_argument("--epochs", type=int, default=8)
ap.add_argument("--lr", type=float, default=0.05)
ap.add_argument("--h", type=int, default=64)
ap.add_argument("--w", type=int, default=64)
ap.add_argument("--flip", type=float, default=0.0)
ap.add_argument("--erase", type=float, default=0.5)
ap.add_argument("--init", default="none")
ap.add_argument("--opt", default="sgd")
ap.add_argument("--ls", type=float, default=0.1)
ap.add_argument("--tri", type=int, default=1)
ap.add_argument("--pk", type=int, default=1)
ap.add_argument("--every", type=int, default=4)
ap.add_argument("--ids", type=int, default=0)
ap.add_argument("--root", default="")
ap.add_argument("--last-stride", type=int, default=2, choices=(1, 2))
ap.add_argument("--train-splits", default="train")  # e.g. train,query,gallery (oracle)
ap.add_argument("--id-share", type=float, default=1.0)
ap.add_argument("--image-share", type=float, default=1.0)
a = ap.parse_args()
{"pretrain": pretrain, "sup": sup, "attr": attr}[a.cmd](a)
