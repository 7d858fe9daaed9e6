"""Benchmark: per-element cost of the Paint by Example, borrowed-mask and DiffEdit recipes' pure steps (CPU).

    .venv/bin/python benchmarks/recipe_steps.py [--repeat 5]

Times, on the demo photos at 512 px with the pipeline's own functions: the Paint by Example encoder (irregular
box mask, reference crop and augmentation, the three encodes) per object; BrushData-v2's donor planning for
the whole plan and its masker (clean-background check, borrowed shape scaled and placed) per image; with model
donors, what the runner holds per image between the two passes and the pairing of a 1,000-image shard; and
DiffEdit's mask rule (guidance_mask) on 10 draws of 4x64x64 noise predictions, the size SD 1.5 gives at 512
px. The DiffEdit model itself is not timed: no Stable Diffusion weights are available here.
"""
from __future__ import annotations

import argparse
import pickle
import time

import numpy as np
from common import DEMO_CONFIG

from configs.schema import load_config
from model_wrappers.diffedit import guidance_mask
from model_wrappers.types import MaskProposal
from transforms.core.records import Candidate, Shapes
from transforms.formats.paint_by_example import encode_triplet
from transforms.maskers.annotations import propose_from_annotations
from transforms.maskers.borrowed import plan_donors, propose_borrowed
from transforms.maskers.donors import pair_shard, shapes_of
from transforms.sources import plan_source
from transforms.stages.load import load_image


def per_call(fn, items, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            fn(item)
    return (time.perf_counter() - start) / (repeat * len(items)) * 1000


def annotated(rec, cfg) -> list[Candidate]:
    """The record's annotated objects as candidates (stand-ins for a model's masks), leaving it bare."""
    propose_from_annotations(rec, cfg)
    found, rec.candidates = rec.candidates, []
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pbe = load_config(DEMO_CONFIG, ["output.format=paint_by_example"])
    entries = [e for shard in plan_source(pbe.source) for e in shard]
    records = [load_image(e.to_record(0), pbe.image) for e in entries]
    cands: list[Candidate] = []
    for rec in records:
        propose_from_annotations(rec, pbe)
        cands += rec.candidates
    ms = per_call(lambda c: encode_triplet(c, pbe), cands, args.repeat)
    print(f"paint_by_example encode: {ms:.1f} ms per object ({len(cands)} objects, 512 px, 224 px reference)")

    v2 = load_config(DEMO_CONFIG, ["masks.kind=borrowed", "masks.borrowed.max_object_share=1",
                                   "masks.borrowed.donors=sam"])
    annotations_v2 = load_config(DEMO_CONFIG, ["masks.kind=borrowed", "masks.borrowed.max_object_share=1"])
    start = time.perf_counter()
    shards = plan_donors(plan_source(annotations_v2.source), annotations_v2)
    print(f"borrowed plan_donors: {(time.perf_counter() - start) * 1000:.1f} ms for {len(entries)} images")
    loaded = [load_image(e.to_record(0), v2.image) for shard in shards for e in shard]
    def borrow(rec):
        rec.candidates = []
        return propose_borrowed(rec, annotations_v2)
    ms = per_call(borrow, loaded, args.repeat)
    print(f"borrowed propose: {ms:.1f} ms per image (clean check + shape placed, 512 px)")

    # the donor pass of model donors: what the runner holds per image (Shapes) against the image itself, and
    # pairing one shard of 1,000 images; the demo's annotated objects stand in for the model's masks
    shapes = [shapes_of(rec, [MaskProposal(c.mask) for c in annotated(rec, v2)], v2) for rec in loaded]
    held = [len(pickle.dumps(s)) for s in shapes]
    image = [rec.image.nbytes for rec in loaded]
    print(f"donor pass Shapes: {np.mean(held) / 1024:.1f} KiB per image held for pairing (up to "
          f"{v2.masks.borrowed.max_donors_per_image} shapes as RLE), vs {np.mean(image) / 1024:.0f} KiB of decoded "
          f"image: {np.mean(image) / np.mean(held):.0f}x less")
    shard = [Shapes(f"k{i:04d}", 0, s.objects, s.share, s.donors) for i, s in
             zip(range(1000), (shapes * (1000 // len(shapes) + 1)))]
    ms = per_call(lambda _: pair_shard((0, shard), v2), [0], args.repeat)
    print(f"donor pass pair_shard: {ms:.1f} ms per shard of 1,000 images")

    rng = np.random.default_rng(0)
    q, r = rng.normal(size=(10, 4, 64, 64)), rng.normal(size=(10, 4, 64, 64))
    ms = per_call(lambda _: guidance_mask(q, r, 3.0, 0.5), [0], args.repeat * 10)
    print(f"diffedit guidance_mask: {ms:.2f} ms per class (10 draws, 4x64x64 latents)")


if __name__ == "__main__":
    main()
