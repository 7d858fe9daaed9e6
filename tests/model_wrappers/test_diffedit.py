"""DiffEdit masks: the averaging/clamping/threshold rule on known noise predictions, the runner's path from
latent grid to image frame with a tiny text-to-image model, the prompts, and a build on the demo photos."""
from __future__ import annotations

import glob
import json

import numpy as np
import pytest
import torch
import webdataset as wds

from configs.schema import ConfigError, load_config
from faults.kit import assert_accounting
from helpers import DEMO_CONFIG
from model_wrappers.base import ModelLoadError
from model_wrappers.diffedit import NOISE_FLOOR, guidance_mask, noise_floor
from model_wrappers.registry import build_handler
from model_wrappers.types import DiffEditRequest
from pipelines.run import run_build
from transforms.core.records import ImageRecord, ObjectRef, Reject
from transforms.maskers.diffedit import diffedit_request, prompts

REGION = (slice(2, 6), slice(1, 4))     # rows, cols of a latent grid (8x10 in the rule's tests)


def _predictions(draws=6, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(draws, 4, 8, 10))
    query = ref + rng.normal(scale=0.02, size=ref.shape)      # the prompts barely differ elsewhere
    query[:, :, REGION[0], REGION[1]] += 1.0                  # ... and clearly in the region
    return query, ref


def test_the_mask_is_where_the_two_predictions_differ():
    query, ref = _predictions()
    mask, mean = guidance_mask(query, ref, clamp_ratio=3.0, threshold=0.5)
    expected = np.zeros((8, 10), bool)
    expected[REGION] = True
    assert np.array_equal(mask, expected) and mean > 0
    assert not guidance_mask(ref, ref, 3.0, 0.5)[0].any()       # same prompt twice: nothing differs


def test_a_difference_at_float_noise_level_is_no_difference():
    query, ref = _predictions()
    scale = np.abs(ref).mean()
    noisy = ref + np.random.default_rng(2).normal(scale=1e-6 * scale, size=ref.shape)   # float32 rounding's order
    mask, difference = guidance_mask(noisy, ref, 3.0, 0.5)
    assert not mask.any() and difference == 0.0
    small = ref.copy()
    small[:, :, REGION[0], REGION[1]] += 0.1 * scale    # a real difference, well above the floor
    assert guidance_mask(small, ref, 3.0, 0.5)[0][REGION].all()
    assert noise_floor(torch.float32) == NOISE_FLOOR < noise_floor(torch.float16) < noise_floor(torch.bfloat16)


def test_averaging_over_draws_removes_what_one_draw_alone_shows():
    query, ref = _predictions(draws=8)
    query[0, :, 7, 9] += 1.2                                 # one noise draw's spike outside the region
    assert guidance_mask(query[:1], ref[:1], 3.0, 0.5)[0][7, 9]
    assert not guidance_mask(query, ref, 3.0, 0.5)[0][7, 9]


def test_a_higher_threshold_gives_a_smaller_mask():
    rng = np.random.default_rng(1)
    query, ref = rng.normal(size=(4, 4, 8, 8)), rng.normal(size=(4, 4, 8, 8))
    low, high = guidance_mask(query, ref, 3.0, 0.2)[0], guidance_mask(query, ref, 3.0, 0.8)[0]
    assert high.sum() < low.sum() and not (high & ~low).any()


class RegionUNet(torch.nn.Module):
    """The tiny UNet, with the prompt's effect kept only in REGION: the noise prediction is the unconditioned
    one everywhere else, so the two prompts' predictions differ in REGION alone."""

    def __init__(self, unet):
        super().__init__()
        self.unet, self.config = unet, unet.config

    def forward(self, x, t, encoder_hidden_states):
        base = self.unet(x, t, encoder_hidden_states=torch.zeros_like(encoder_hidden_states)).sample
        cond = self.unet(x, t, encoder_hidden_states=encoder_hidden_states).sample
        keep = torch.zeros_like(base)
        keep[:, :, REGION[0], REGION[1]] = 1
        return type("Out", (), {"sample": base + keep * (cond - base) * 50})()


def _runner(tiny, *sets):
    cfg = load_config(None, [f"masks.diffedit.model={tiny['sd_t2i']}", "masks.diffedit.size=80", *sets])
    return build_handler("diffedit", cfg.masks.diffedit).load_model()


def test_the_runner_maps_the_prompt_difference_to_the_image_frame(tiny):
    runner = _runner(tiny, "masks.diffedit.noise_draws=3")
    runner.p["unet"] = RegionUNet(runner.p["unet"])
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)    # 8x10 latents at 80 px
    [[cat, same]] = runner.predict([DiffEditRequest(image, ("cat", "same"), ("a photo of a cat", "a photo"),
                                                    ("a photo", "a photo"), 3)])
    latent = np.zeros(tuple(runner._latents(image).shape[2:]), bool)
    latent[REGION] = True
    cell = 64 // latent.shape[0]                             # px per latent cell (the tiny VAE: 2, SD: 8)
    expected = np.kron(latent, np.ones((cell, cell), bool))
    assert cat.mask.shape == (64, 80) == expected.shape and np.array_equal(cat.mask, expected)
    assert not same.mask.any() and same.scores["diffedit_difference"] == 0


def test_the_same_seed_gives_the_same_mask_and_another_seed_may_not(tiny):
    runner = _runner(tiny, "masks.diffedit.noise_draws=2")
    image = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    req = lambda seed: DiffEditRequest(image, ("cat",), ("a photo of a cat",), ("a photo",), seed)  # noqa: E731
    a, again, other = (runner.predict([req(s)])[0][0] for s in (4, 4, 5))
    assert a.mask.any() and np.array_equal(a.mask, again.mask)
    assert a.scores != other.scores                           # other noise draws, other predictions


def test_prompts_come_from_the_caption_when_it_names_the_class_else_the_templates():
    d = load_config(DEMO_CONFIG, []).masks.diffedit
    assert prompts("cat", "a grey cat on a sofa", d) == ("a grey cat on a sofa", "a grey on a sofa")
    assert prompts("cat", "A photo of a Cat.", d) == ("A photo of a Cat.", "A photo of .")
    assert prompts("dog", "a grey cat on a sofa", d) == ("a photo of a dog", "a photo")
    assert prompts("cat", "", d) == ("a photo of a cat", "a photo")
    with pytest.raises(ConfigError, match="masks.diffedit.query_prompt"):
        load_config(DEMO_CONFIG, ["masks.diffedit.query_prompt=a photo of {thing}"])


def test_demo_build_with_diffedit_masks_accounts_for_everything_and_reruns_the_same(tiny, tmp_path):
    sets = ["source.limit=3", "masks.kind=diffedit", f"masks.diffedit.model={tiny['sd_t2i']}", "masks.diffedit.size=64",
            "masks.diffedit.noise_draws=2", "masks.diffedit.batch_size=4", "image.size=64", "image.min_side=16",
            "filters.max_border_touch=1", "filters.min_component_share=0", "filters.max_area_ratio=1",
            "filters.min_pixels=1"]
    out, again = str(tmp_path / "a"), str(tmp_path / "b")
    report = run_build(load_config(DEMO_CONFIG, sets), out, [], log=lambda *_: None)
    assert_accounting(out, report)
    samples = list(wds.WebDataset(sorted(glob.glob(f"{out}/shards/*.tar")), shardshuffle=False))
    assert report["images_in"] == 3 and report["pairs"] == len(samples) > 0
    for s in samples:
        masks = json.loads(s["json"])["masks"]
        assert masks["kind"] == "diffedit" and masks["noise_draws"] == 2 and masks["threshold"] == 0.5
        assert masks["query"] == f"a photo of a {json.loads(s['json'])['class']}" and masks["reference"] == "a photo"
    run_build(load_config(DEMO_CONFIG, sets), again, [], log=lambda *_: None)
    for path in sorted(glob.glob(f"{out}/shards/*.tar")):
        assert open(path, "rb").read() == open(path.replace(out, again), "rb").read()


def test_a_captioned_image_asks_with_its_caption_and_an_image_naming_no_class_is_a_reject():
    cfg = load_config(DEMO_CONFIG, [])
    image = np.zeros((32, 32, 3), np.uint8)
    rec = ImageRecord("k", 0, "", "1", objects=[ObjectRef("1", 1, "cat"), ObjectRef("2", 2, "dog"),
                                               ObjectRef("3", 1, "cat")], meta={"caption": "a cat on a sofa"},
                      image=image)
    _, req = diffedit_request(rec, cfg)
    assert req.labels == ("cat", "dog") and req.queries == ("a cat on a sofa", "a photo of a dog")
    assert req.references == ("on a sofa", "a photo")
    bare = diffedit_request(ImageRecord("k", 0, "", "1", image=image), cfg)
    assert isinstance(bare, Reject) and bare.reason == "no_classes" and bare.stage == "propose"


def test_an_inpainting_model_is_refused_at_load_with_what_to_give_instead(tiny):
    cfg = load_config(None, [f"masks.diffedit.model={tiny['sd']}"])       # the 9-channel inpainting UNet
    with pytest.raises(ModelLoadError, match="masks.diffedit.model.*inpainting model.*text-to-image"):
        build_handler("diffedit", cfg.masks.diffedit).load_model()
