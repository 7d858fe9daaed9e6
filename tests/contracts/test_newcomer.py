"""Contract: a new filter rule, quality check, output format, source, masker or remover is its declaration
and one registry line.

All six live in a module written at test time (as a newcomer's new file would be), are registered by one
line each (the registry entry) and bring their settings as the newcomer's config fields (simulated by
subclasses of the schema's sections, put where the schema resolves its section types). Nothing else is
edited: build, report (funnel, score histograms), retune, the dataset card and the export must all work
with them, and retune's prediction must match a rebuild with the new threshold.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import textwrap

import pyarrow.parquet as pq
import pytest
import webdataset as wds
import yaml

import configs.schema
from configs.schema import load_config
from helpers import DEMO_CONFIG, DEMO_DATA
from pipelines import cli
from pipelines.outputs import finished_shards
from pipelines.run import run_build
from transforms.formats import FORMATS
from transforms.maskers import MASKERS
from transforms.quality import QUALITY
from transforms.removers import REMOVERS
from transforms.sources import SOURCES, Source
from transforms.stages import filter as filter_stage

NEWCOMER = textwrap.dedent('''
    """A filter rule (boxes too elongated), a quality check (the filled image vs "a photo", on CLIP), an
    output format (image, mask, json), a source (a text file of image paths), a masker (a box in the middle
    of the image) and a remover (the region filled with the image's mean colour), each with what it reads."""
    from dataclasses import dataclass
    from operator import attrgetter
    import json

    import numpy as np
    import pyarrow as pa

    from configs import schema
    from configs.schema.base import between
    from model_wrappers.locate import record_models
    from model_wrappers.types import EmbedRequest
    from transforms.core.images import encode_image, encode_mask, member, overlay, thumbnail
    from transforms.core import fileio
    from transforms.core.records import ObjectRef, Sample
    from transforms.maskers.candidates import make_candidate, with_candidates
    from transforms.sources.common import caption_entry, finish, require_path
    from transforms.core.stage import ModelStep, Threshold
    from transforms.formats.base import CardText, Member, OutputFormat
    from transforms.quality.clip import tested
    from transforms.stages.filter import Rule


    def aspect_ratio(mask):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        return max(h, w) / min(h, w)


    ELONGATED = Rule("aspect_ratio", "filters.max_aspect_ratio", "max", "too_elongated", measure=aspect_ratio)


    @dataclass(frozen=True)
    class FilterConfig(schema.FilterConfig):
        max_aspect_ratio: float = between(1.0, 1000.0, default=1000.0)   # box's long side / short side


    PHOTO = Threshold("photo_similarity", "quality.min_photo_similarity", "min", "not_a_photo")


    def photo_request(c, cfg):
        return c, EmbedRequest(images=[c.source], texts=[cfg.photo_prompt])


    def photo_check(c, e, cfg):
        record_models(c.meta, "photo_check", cfg.clip.model)
        c.scores[PHOTO.score] = round(float(e.images[0] @ e.texts[0]), 6)
        return tested(c, PHOTO, c.scores[PHOTO.score], "photo_check", cfg)


    PHOTO_CHECK = ModelStep(photo_request, photo_check, "clip", attrgetter("clip"), (PHOTO,), ("photo_prompt",),
                            "quality.clip.model", after="remove")


    @dataclass(frozen=True)
    class QualityConfig(schema.QualityConfig):
        min_photo_similarity: float = between(-1.0, 1.0, default=-1.0)   # filled image vs photo_prompt
        photo_prompt: str = "a photo"


    def encode_masked(c, cfg):
        meta = {"key": c.key, "class": c.class_name, "scores": c.scores, **c.meta}
        text = json.dumps(meta, sort_keys=True)
        src = c.meta.get("source", {})
        members = {f"image.{cfg.output.image_format}": encode_image(c.image, cfg.output.image_format, 90),
                   "mask.png": encode_mask(c.mask), "json": text.encode()}
        row = {"key": c.key, "image_key": c.image_key, "dataset": src.get("dataset", ""),
               "licence": c.meta.get("licence", ""), "metadata_json": text, "class_name": c.class_name}
        return Sample(c.key, c.shard, c.image_key, members, row)


    def masked_view(sample, side=128):
        meta = json.loads(sample["json"])
        image = thumbnail(member(sample, "image"), side)
        mask = thumbnail(member(sample, "mask"), side, "L")
        return {"key": sample["__key__"], "instruction": "", "class": meta["class"], "location": "",
                "scores": meta["scores"], "instructions": {},
                "images": {"source": image, "target": image, "mask": overlay(image, mask)}}


    MASKED = OutputFormat(
        name="masked", encode=encode_masked,
        schema=pa.schema([("key", pa.string()), ("image_key", pa.string()), ("dataset", pa.string()),
                          ("licence", pa.string()), ("metadata_json", pa.string()), ("class_name", pa.string())]),
        members=(Member("image.{ext}", "image"), Member("mask.png", "image"), Member("json", "json")),
        card=CardText(title="Object masks", summary="{samples} object masks on {images} images of {datasets}.",
                      loading="WebDataset shards: KEY.image.*, KEY.mask.png, KEY.json.", tags=("masks",),
                      unit="masks"),
        view=masked_view, class_column="class_name", runs=("load", "propose", "filter"),
    )


    def plan_lines(cfg):
        """source.annotations: a text file, one image path per line; its key is the line's number."""
        require_path("source.annotations", cfg.annotations)
        paths = [line.strip() for line in fileio.read_bytes(cfg.annotations).decode().splitlines() if line.strip()]
        return finish([caption_entry(cfg, (f"{i:04d}",), path, str(i), "", {}) for i, path in enumerate(paths)],
                      cfg)


    def propose_middle(rec, cfg):
        """One candidate: the middle third of the image, of class masks.unlabelled_class."""
        h, w = rec.image.shape[:2]
        mask = np.zeros((h, w), bool)
        mask[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = True
        c = make_candidate(rec, ObjectRef(ann_id="m0", category_id=-1, class_name=cfg.masks.unlabelled_class),
                           mask, 1.0)
        c.meta["masks"] = {"kind": "middle"}
        rec.candidates.append(c)
        return with_candidates(rec, [])


    def remove_mean(c, cfg):
        """The dilated region filled with the image's mean colour (blend feathers its edge)."""
        from transforms.core.geometry import dilate
        c.dilated = dilate(c.mask, cfg.dilate)
        c.source = c.image.copy()
        c.source[c.dilated] = c.image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        c.meta["removal"] = {"kind": "mean_fill"}
        return c
''')


@pytest.fixture
def newcomer(tmp_path, monkeypatch):
    """The newcomer's module imported, its three registry lines applied, its config fields in the schema."""
    folder = tmp_path / "newcomer"
    folder.mkdir()
    (folder / "newcomer_parts.py").write_text(NEWCOMER)
    monkeypatch.syspath_prepend(str(folder))
    import newcomer_parts as parts
    monkeypatch.setattr(filter_stage, "RULES", (*filter_stage.RULES, parts.ELONGATED))   # RULES = (..., ELONGATED)
    monkeypatch.setitem(QUALITY, "photo_check", parts.PHOTO_CHECK)                      # QUALITY[...] = PHOTO_CHECK
    monkeypatch.setitem(FORMATS, "masked", parts.MASKED)                                # FORMATS[...] = MASKED
    monkeypatch.setitem(SOURCES, "lines", Source(parts.plan_lines))                     # SOURCES[...] = Source(...)
    monkeypatch.setitem(MASKERS, "middle", parts.propose_middle)                        # MASKERS[...] = fn
    monkeypatch.setitem(REMOVERS, "mean_fill", parts.remove_mean)                       # REMOVERS[...] = fn
    monkeypatch.setattr(configs.schema, "FilterConfig", parts.FilterConfig)     # the fields the newcomer adds
    monkeypatch.setattr(configs.schema, "QualityConfig", parts.QualityConfig)   # to configs/schema/stages.py
    yield parts
    sys.modules.pop("newcomer_parts", None)


BASE = ["source.shard_size=2", "filters.max_objects=0", "image.size=128", "image.min_side=32"]


def _build(out: str, sets: list[str]) -> dict:
    return run_build(load_config(DEMO_CONFIG, [*BASE, *sets]), out, [], log=lambda *_: None)


def _row(report: dict, stage: str) -> dict:
    return next(r for r in report["stages"] if r["stage"] == stage)


def _retune(out: str, capsys, *sets: str) -> dict[str, tuple[int, int]]:
    assert cli.main(["retune", out, *[a for s in sets for a in ("--set", s)]]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {p[0]: (int(p[1]), int(p[2])) for p in (line.split() for line in lines[1:]) if len(p) == 3}


def _report_and_card(out: str, capsys) -> tuple[str, str]:
    assert cli.main(["report", out]) == 0
    capsys.readouterr()
    return open(os.path.join(out, "report.html"), encoding="utf-8").read(), \
        open(os.path.join(out, "README.md"), encoding="utf-8").read()


def test_a_new_filter_rule_drops_reports_retunes_and_is_carded(newcomer, tmp_path, capsys):
    out = str(tmp_path / "out")
    report = _build(out, ["filters.max_aspect_ratio=2.5"])
    dropped = _row(report, "filter")["candidates_dropped"]
    assert dropped.get("too_elongated", 0) > 0 and report["pairs"] > 0
    rejects = [r for k in finished_shards(out) for r in pq.read_table(f"{out}/rejects/{k:06d}.parquet").to_pylist()
               if r["reason"] == "too_elongated"]
    assert len(rejects) == dropped["too_elongated"]
    assert all(json.loads(r["scores"])["aspect_ratio"] > 2.5 for r in rejects)
    html, card = _report_and_card(out, capsys)
    assert "aspect_ratio" in html and "filters.max_aspect_ratio" in html   # its histogram and threshold
    assert "| max\\_aspect\\_ratio | 2.5 |" in card                           # the card's filter table
    # retune predicts exactly what a rebuild with a tighter threshold gives
    predicted = _retune(out, capsys, "filters.max_aspect_ratio=1.6")
    rebuilt = _build(str(tmp_path / "rebuilt"), ["filters.max_aspect_ratio=1.6"])
    assert predicted["pairs"][1] == rebuilt["pairs"] < report["pairs"] == predicted["pairs"][0]
    to = str(tmp_path / "export")
    assert cli.main(["export", out, "--format", "pipe", "--to", to]) == 0
    capsys.readouterr()
    exported = pq.read_table(os.path.join(to, "data")).num_rows
    assert exported == report["pairs"]


def test_a_new_quality_check_runs_after_its_stage_reports_retunes_and_is_carded(newcomer, tiny, tmp_path, capsys):
    sets = ["quality.kind=clip", "quality.stages=[photo_check]", f"quality.clip.model={tiny['clip']}",
            "quality.clip.batch_size=4"]
    probe = _build(str(tmp_path / "probe"), [*sets])   # threshold -1: keeps all, records every score
    scores = sorted(json.loads(p["metadata_json"])["scores"]["photo_similarity"] for k in finished_shards(
        str(tmp_path / "probe")) for p in pq.read_table(f"{tmp_path}/probe/shards/{k:06d}.parquet").to_pylist())
    assert len(scores) == probe["pairs"] >= 4
    limit = round((scores[len(scores) // 3] + scores[len(scores) // 3 - 1]) / 2, 6)   # drops about a third
    out = str(tmp_path / "out")
    report = _build(out, [*sets, f"quality.min_photo_similarity={limit}"])
    stages = [r["stage"] for r in report["stages"]]
    assert stages.index("remove") < stages.index("photo_check") < stages.index("blend")
    assert _row(report, "photo_check")["candidates_dropped"] == {"not_a_photo": len(scores) // 3}
    html, card = _report_and_card(out, capsys)
    assert "photo_similarity" in html and "quality.min_photo_similarity" in html
    assert f"min\\_photo\\_similarity={limit}, photo\\_prompt=a photo" in card   # its stage's settings
    tighter = round((scores[len(scores) // 2] + scores[len(scores) // 2 - 1]) / 2, 6)
    predicted = _retune(out, capsys, f"quality.min_photo_similarity={tighter}")
    rebuilt = _build(str(tmp_path / "rebuilt"), [*sets, f"quality.min_photo_similarity={tighter}"])
    assert predicted["pairs"] == (report["pairs"], rebuilt["pairs"]) and rebuilt["pairs"] < report["pairs"]
    to = str(tmp_path / "export")
    assert cli.main(["export", out, "--format", "pipe", "--to", to]) == 0
    assert pq.read_table(os.path.join(to, "data")).num_rows == report["pairs"]


def test_a_new_output_format_builds_reads_back_reports_retunes_and_is_carded(newcomer, tmp_path, capsys):
    out = str(tmp_path / "out")
    report = _build(out, ["output.format=masked", "filters.max_aspect_ratio=2.5"])
    assert [r["stage"] for r in report["stages"]][:4] == ["read", "load", "propose", "filter"]
    assert "remove" not in [r["stage"] for r in report["stages"]] and report["pairs"] > 0
    urls = [f"{out}/shards/{k:06d}.tar" for k in finished_shards(out)]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == report["pairs"]
    assert all(s["image.jpg"].size == s["mask.png"].size and s["json"]["class"] for s in samples)
    html, card = _report_and_card(out, capsys)
    assert f"{report['pairs']} object masks on" in card and "# Object masks" in card
    classes = sorted({s["json"]["class"] for s in samples})
    assert all(f"| {name} |" in card for name in classes)    # counted from the declared class column
    assert "too_elongated" in html
    predicted = _retune(out, capsys, "filters.max_aspect_ratio=1.6")
    rebuilt = _build(str(tmp_path / "rebuilt"), ["output.format=masked", "filters.max_aspect_ratio=1.6"])
    assert predicted["pairs"] == (report["pairs"], rebuilt["pairs"])
    assert cli.main(["export", out, "--format", "pipe", "--to", str(tmp_path / "export")]) == 2
    assert f"{out} holds masked samples" in capsys.readouterr().err   # PIPE's export: PIPE pairs only
    assert yaml.safe_load(open(f"{out}/config.yaml"))["output"]["format"] == "masked"


def test_a_new_source_masker_and_remover_build_report_retune_export_and_are_carded(newcomer, tmp_path, capsys):
    photos = sorted(glob.glob(os.path.join(DEMO_DATA, "images", "*.jpg")))[:4]
    listing = tmp_path / "photos.txt"
    listing.write_text("\n".join(photos) + "\n")
    sets = ["source.kind=lines", f"source.annotations={listing}", "source.images=", "source.name=mine",
            "masks.kind=middle", "removal.kind=mean_fill"]
    out = str(tmp_path / "out")
    report = _build(out, sets)
    assert report["images_in"] == 4 and report["pairs"] == 4       # one middle box per photo, all kept
    samples = list(wds.WebDataset([f"{out}/shards/{k:06d}.tar" for k in finished_shards(out)],
                                  shardshuffle=False).decode("rgb8"))
    for s in samples:
        source, target, mask = s["source.jpg"], s["target.jpg"], s["mask.png"][..., 0] > 127
        h, w = mask.shape
        assert mask[h // 2, w // 2] and not mask[0, 0]                       # the middle third
        top = slice(0, h // 3 - 16)   # above the dilated, feathered region: untouched (but for JPEG)
        assert abs(source[top].astype(int) - target[top].astype(int)).mean() < 2
        inside = source[mask].reshape(-1, 3).astype(int)
        assert (inside.max(axis=0) - inside.min(axis=0)).max() < 16    # the region: one flat colour
        assert s["json"]["masks"]["kind"] == "middle" and s["json"]["removal"]["kind"] == "mean_fill"
    html, card = _report_and_card(out, capsys)
    assert "masks.kind `middle`, removal.kind `mean_fill`" in card and "| propose | kind=middle" in card
    assert "area_ratio" in html
    predicted = _retune(out, capsys, "filters.max_area_ratio=0.1")   # the middle third covers 1/9 of the image
    assert predicted["pairs"] == (4, 0)
    to = str(tmp_path / "export")
    assert cli.main(["export", out, "--format", "pipe", "--to", to]) == 0
    rows = pq.read_table(os.path.join(to, "data")).to_pylist()
    assert len(rows) == 4 and {r["target_img_dataset"] for r in rows} == {"mine"}
