"""The ``diffusion`` remover: diffusion inpainting, N seeded candidates per object, one kept.

Seeds derive from the sample key (and ``removal.diffusion.seed``), so a rerun draws the same candidates
on any machine. Every unflagged candidate goes to ``Candidate.candidates`` for PIPE's quality checks
(transforms/quality/clip.py: consensus, then the removal score chooses the source). Without them the kept
candidate is the one whose fill is closest in mean colour to the ring of pixels around the dilated mask (a
removed object should look like its surroundings); every candidate's seed and distance go into the
metadata. The blend stage follows.
"""
from __future__ import annotations

from operator import attrgetter

import numpy as np

from configs.schema import RemovalConfig
from model_wrappers.locate import record_models
from model_wrappers.types import InpaintRequest, InpaintResult
from transforms.core.geometry import dilate
from transforms.core.keys import derive_seeds
from transforms.core.records import Candidate, Reject, reject
from transforms.core.stage import ModelStep
from transforms.core.text import class_words

STAGE = "remove"


def inpaint_request(c: Candidate, cfg: RemovalConfig) -> tuple[Candidate, InpaintRequest]:
    """Sets ``c.dilated``; the request repaints it with PIPE's prompts once per derived seed."""
    d = cfg.diffusion
    c.dilated = dilate(c.mask, cfg.dilate)
    words = class_words(c.class_name)
    return c, InpaintRequest(image=c.image, mask=c.dilated, prompt=d.prompt.format(**words),
                             negative_prompt=d.negative_prompt.format(**words),
                             seeds=derive_seeds(c.key, d.candidates, d.seed))


def ring_delta(image: np.ndarray, filled: np.ndarray, mask: np.ndarray, dilated: np.ndarray, width: int) -> float:
    """Distance (0..1) between the mean colour of ``filled`` on ``mask`` and of ``image`` on the ring of
    ``width`` px around ``dilated``. Images HxWx3 uint8 RGB, masks HxW bool."""
    ring = dilate(dilated, width) & ~dilated
    if not ring.any() or not mask.any():
        return 0.0
    inside = filled[mask].astype(np.float64).mean(axis=0)
    around = image[ring].astype(np.float64).mean(axis=0)
    return float(np.linalg.norm(inside - around) / (255.0 * np.sqrt(3.0)))


def pick_removal(c: Candidate, result: InpaintResult, cfg: RemovalConfig) -> Candidate | Reject:
    """Keep the candidate closest to its surroundings (flagged images never); record every candidate."""
    d = cfg.diffusion
    seeds = derive_seeds(c.key, d.candidates, d.seed)
    if len(result.images) != len(seeds):
        raise ValueError(f"{len(result.images)} images for {len(seeds)} seeds")
    deltas = [round(ring_delta(c.image, im, c.mask, c.dilated, cfg.dilate), 6) for im in result.images]
    usable = [i for i, flagged in enumerate(result.nsfw) if not flagged]
    c.meta["removal"] = {
        "kind": "diffusion", "model": d.model, "steps": d.steps, "guidance": d.guidance, "strength": d.strength, "size": d.size,
        "dilate": cfg.dilate, "seeds": list(seeds), "ring_delta": deltas, "nsfw": list(result.nsfw),
    }
    if result.fitted:   # a prompt longer than the text encoder takes, cut on purpose (model_wrappers/diffusion.py)
        c.meta["removal"]["fitted"] = dict(result.fitted)
    record_models(c.meta, "removal", d.model, layout="diffusers")
    if not usable:
        return reject(c, STAGE, "all_candidates_flagged", f"{len(seeds)} flagged by the safety checker")
    best = min(usable, key=lambda i: (deltas[i], i))
    c.meta["removal"].update(chosen=best, chosen_by="ring_delta", candidates=usable)
    c.candidates = [result.images[i] for i in usable]
    c.scores["removal_ring_delta"] = deltas[best]
    c.source = result.images[best]
    return c


DIFFUSION = ModelStep(inpaint_request, pick_removal, "diffusion", attrgetter("diffusion"))
