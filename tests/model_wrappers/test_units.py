"""The pure parts of the model wrappers: device and dtype, isolation, locating models, output shaping."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from configs.schema import LlmConfig, load_config
from model_wrappers.base import resolve_device, resolve_dtype, run_chunks
from model_wrappers.grounded_sam import match_label, prompt_text, top_boxes
from model_wrappers.diffusion import model_hw, to_uint8
from model_wrappers.llm import LlmHandler
from model_wrappers.locate import ModelRef, locate
from model_wrappers.registry import ModelStatus, build_handler, model_status
from model_wrappers.sam import SAM_ARCHS, read_state_dict, to_proposals
from model_wrappers.types import InferenceFailed, MaskProposal
from model_wrappers.vlm import generated_text


@pytest.mark.parametrize("pref, cuda, device", [("auto", True, "cuda"), ("auto", False, "cpu"),
                                                ("cpu", True, "cpu"), ("cuda:1", False, "cuda:1")])
def test_resolve_device(pref, cuda, device):
    assert resolve_device(pref, cuda) == device


def test_resolve_dtype_is_half_on_cuda_only_when_auto():
    assert resolve_dtype("auto", "cuda:0") == "float16" and resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("bfloat16", "cpu") == "bfloat16"


def _predict(batch, seen=None):
    if seen is not None:
        seen.append(list(batch))
    if "bad" in batch:
        raise ValueError("bad element")
    return [x.upper() for x in batch]


def test_run_chunks_calls_fixed_chunks_and_fails_only_the_bad_element():
    seen = []
    assert run_chunks(lambda b: _predict(b, seen), list("abcde"), 2) == (list("ABCDE"), 3)
    assert seen == [["a", "b"], ["c", "d"], ["e"]]   # consecutive chunks of 2; the last smaller
    seen.clear()
    out, calls = run_chunks(lambda b: _predict(b, seen), ["a", "bad", "c", "d"], 2)
    assert out[0] == "A" and out[2:] == ["C", "D"] and out[1] == InferenceFailed("ValueError: bad element")
    assert seen == [["a", "bad"], ["a"], ["bad"], ["c", "d"]] and calls == 4   # the failed chunk, row by row
    assert run_chunks(_predict, ["x", "bad"], 1)[0][1] == InferenceFailed("ValueError: bad element")
    with pytest.raises(ValueError):  # a unit's only request: RunInference's dead-letter output takes it
        run_chunks(_predict, ["bad"], 4)


def test_locate_local_files_folders_and_hub_ids(tmp_path):
    ckpt = tmp_path / "sam.pth"
    ckpt.write_bytes(b"x")
    (tmp_path / "llm").mkdir()
    assert locate(ModelRef("masks.sam.model", str(ckpt), "file")).status == "local"
    missing = locate(ModelRef("masks.sam.model", str(tmp_path / "no.pth"), "file", "https://x/sam_vit_h.pth"))
    assert missing.status == "missing" and "https://x/sam_vit_h.pth" in missing.hint
    empty_dir = locate(ModelRef("instructions.llm.model", str(tmp_path / "llm"), "transformers"))
    assert empty_dir.status == "missing" and "config.json" in empty_dir.hint
    (tmp_path / "llm" / "config.json").write_text("{}")
    assert locate(ModelRef("instructions.llm.model", str(tmp_path / "llm"), "transformers")).found
    hub = locate(ModelRef("describe.vlm.model", "owner/not-downloaded", "transformers"))
    assert hub.status == "not_cached" and "hf download owner/not-downloaded" in hub.hint
    assert locate(ModelRef("describe.vlm.model", "", "transformers")).status == "missing"


def test_uncached_hub_ids_block_only_when_offline(monkeypatch):
    handler = LlmHandler(LlmConfig(model="owner/not-downloaded-anywhere"))
    [row] = model_status([("instruct", handler)])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert isinstance(row, ModelStatus) and not row.blocking
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert row.blocking and "instructions.llm.model" in row.line()


def test_every_sam_architecture_is_accepted_by_the_handler():
    from model_wrappers.sam import SamHandler
    for arch in SAM_ARCHS:
        assert SamHandler(load_config(None, [f"masks.sam.model_type={arch}"]).masks.sam).cfg.model_type == arch


def test_sam_checkpoints_are_read_without_unpickling_objects(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(read_state_dict(str(good))["w"], torch.ones(2))
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "obj": os.system}, evil)  # would run code with a plain unpickler
    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(str(evil))


def test_sam_records_become_proposals_best_first():
    mask = np.zeros((4, 5), bool)
    records = [{"segmentation": mask, "area": 3, "bbox": [1, 2, 3, 1], "predicted_iou": 0.5, "stability_score": 0.9},
               {"segmentation": mask, "area": 9, "bbox": [0, 0, 2, 2], "predicted_iou": 0.8, "stability_score": 0.7}]
    out = to_proposals(records)
    assert [p.scores["sam_iou"] for p in out] == [0.8, 0.5] and out[1].box_xyxy == (1, 2, 4, 3)
    assert all(isinstance(p, MaskProposal) and p.label == "" for p in out)


def test_grounding_prompts_and_labels():
    assert prompt_text(("Cat", "traffic light")) == "cat. traffic light."
    assert match_label("traffic light", ("light", "traffic light")) == "traffic light"
    assert match_label("a cat [SEP]", ("dog",)) == "a cat [sep]" and match_label("", ("dog",)) == ""
    best = top_boxes(np.array([0.2, 0.9, 0.5]), np.arange(12.0).reshape(3, 4), ["a", "b", "c"], 2)
    assert [(s, p) for s, _, p in best] == [(0.9, "b"), (0.5, "c")] and best[0][1] == [4.0, 5.0, 6.0, 7.0]


def test_inpainting_sizes_and_pixels():
    assert model_hw(512, 512, 512) == (512, 512) and model_hw(480, 640, 512) == (384, 512)
    assert model_hw(64, 80, 64) == (48, 64)
    [im] = to_uint8(np.array([[[[0.0, 0.5, 1.0]]]]))
    assert im.dtype == np.uint8 and im.tolist() == [[[0, 128, 255]]]


def test_generated_text_of_plain_and_chat_outputs():
    assert generated_text({"generated_text": "a red apple"}) == "a red apple"
    assert generated_text([{"generated_text": "add a dog"}]) == "add a dog"
    assert generated_text([{"generated_text": [{"role": "assistant", "content": "hi"}]}]) == "hi"


def test_handlers_batch_and_share_as_configured():
    cfg = load_config(None, ["removal.diffusion.batch_size=3", "removal.diffusion.share_across_processes=true"])
    handler = build_handler("diffusion", cfg.removal.diffusion)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 3, "max_batch_size": 3}
    assert handler.share_model_across_processes()
    assert handler.get_num_bytes([np.zeros(10, np.uint8), "abc"]) == 13


def test_a_missing_model_folder_is_named_as_such(tmp_path):
    gone = locate(ModelRef("quality.clip.model", str(tmp_path / "nowhere"), "transformers"))
    assert gone.status == "missing" and gone.hint.startswith("folder not found;") and "config.json" not in gone.hint
    (tmp_path / "empty").mkdir()
    empty = locate(ModelRef("quality.clip.model", str(tmp_path / "empty"), "transformers"))
    assert empty.hint.startswith("no config.json in the folder;")


def test_model_rows_stay_aligned_for_long_stage_names(tmp_path):
    from model_wrappers.registry import format_rows
    rows = [ModelStatus(stage, ModelRef(key, str(tmp_path / stage), "transformers"),
                        locate(ModelRef(key, str(tmp_path / stage), "transformers")))
            for stage, key in (("mask", "masks.sam.model"), ("importance_dino", "quality.dino.model"),
                               ("clip_prefilter", "quality.clip.model"))]
    lines = [line.split("\n")[0] for line in format_rows(rows)]
    starts = {line.index(str(tmp_path)) for line in lines}
    assert len(starts) == 1 and {line.index("missing") for line in lines} == {len("importance_dino") + 1 + 26 + 1}
    hints = [line.split("\n")[1] for line in format_rows(rows)]
    assert {h.index("->") for h in hints} == {len("importance_dino") + 1 + 26 + 1}
