"""Grounded-SAM: GroundingDINO (transformers) finds boxes for text prompts, SAM (transformers) masks them.

Box and text thresholds as Grounded-SAM and UltraEdit use them (0.3 / 0.25 by default). Each mask keeps
its box score and SAM's predicted IoU; its label is the prompt the detected phrase names.
"""
from __future__ import annotations

import numpy as np

from configs.schema import GroundingConfig
from model_wrappers.base import Handler
from model_wrappers.locate import ModelRef, found_as
from model_wrappers.types import MaskProposal, SegmentRequest


def prompt_text(labels: tuple[str, ...]) -> str:
    """GroundingDINO's text input: lower-case phrases, each ended by a dot ('cat. traffic light.')."""
    return " ".join(f"{label.strip().lower()}." for label in labels)


def match_label(phrase: str, labels: tuple[str, ...]) -> str:
    """The prompt a detected phrase names (longest match wins); else the phrase itself ('' if none)."""
    phrase = " ".join(phrase.lower().replace(".", " ").split())
    hits = [label for label in labels if label.strip().lower() in phrase]
    return max(hits, key=len) if hits else phrase


def top_boxes(scores, boxes, phrases, keep: int) -> list[tuple[float, list[float], str]]:
    """(score, XYXY box, phrase) of the ``keep`` best detections, highest score first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:keep]
    return [(float(scores[i]), [float(v) for v in boxes[i]], phrases[i]) for i in order]


class GroundedSam:
    """The loaded runner: ``predict([SegmentRequest]) -> [[MaskProposal]]``."""

    def __init__(self, detector, det_processor, sam, sam_processor, cfg: GroundingConfig, device: str, dtype):
        self.detector, self.det_processor = detector, det_processor
        self.sam, self.sam_processor = sam, sam_processor
        self.cfg, self.device, self.dtype = cfg, device, dtype

    def predict(self, requests: list[SegmentRequest]) -> list[list[MaskProposal]]:
        import torch
        from PIL import Image
        images = [Image.fromarray(r.image) for r in requests]
        inputs = self.det_processor(images=images, text=[prompt_text(r.labels) for r in requests],
                                    return_tensors="pt", padding=True).to(self.device).to(self.dtype)
        with torch.inference_mode():
            found = self.det_processor.post_process_grounded_object_detection(
                self.detector(**inputs), inputs["input_ids"], threshold=self.cfg.box_threshold,
                text_threshold=self.cfg.text_threshold, target_sizes=[r.image.shape[:2] for r in requests])
            return [self._masks(im, f, r.labels) for im, f, r in zip(images, found, requests)]

    def _masks(self, image, found: dict, labels: tuple[str, ...]) -> list[MaskProposal]:
        """Masks for one image's detections; runs inside ``predict``'s inference mode."""
        boxes = top_boxes(found["scores"].float().cpu().numpy(), found["boxes"].float().cpu().numpy(),
                          found["text_labels"], self.cfg.max_boxes)
        if not boxes:
            return []
        sam_in = self.sam_processor(images=image, input_boxes=[[b for _, b, _ in boxes]], return_tensors="pt")
        out = self.sam(**sam_in.to(self.device).to(self.dtype), multimask_output=False)
        masks = self.sam_processor.post_process_masks(
            out.pred_masks.float().cpu(), sam_in["original_sizes"].cpu(), sam_in["reshaped_input_sizes"].cpu())[0]
        ious = out.iou_scores[0, :, 0].float().cpu().numpy()
        return [MaskProposal(mask=m[0].numpy().astype(bool), label=match_label(phrase, labels),
                             box_xyxy=tuple(box),
                             scores={"box_score": round(score, 6), "sam_iou": round(float(iou), 6)})
                for (score, box, phrase), m, iou in zip(boxes, masks, ious)]


class GroundedSamHandler(Handler):
    family = "grounded_sam"
    requires = ("torch", "torchvision", "transformers")
    cfg: GroundingConfig

    def config_problem(self, model: ModelRef, config: dict) -> str | None:
        wanted = {"masks.grounding.model": ("grounding-dino", "a Grounding DINO detector"),
                  "masks.grounding.sam_model": ("sam", "a transformers SAM model (SamModel)")}.get(model.key)
        if wanted and config.get("model_type") != wanted[0]:
            return f"found {found_as(config)}; {model.key} needs {wanted[1]} (model_type {wanted[0]})"
        return None

    def model_refs(self) -> list[ModelRef]:
        return [ModelRef("masks.grounding.model", self.cfg.model, "transformers"),
                ModelRef("masks.grounding.sam_model", self.cfg.sam_model, "transformers")]

    def build(self, device: str, dtype: str) -> GroundedSam:
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor, SamModel, SamProcessor
        c, torch_dtype = self.cfg, getattr(torch, dtype)
        remote = {"trust_remote_code": c.trust_remote_code}
        detector = AutoModelForZeroShotObjectDetection.from_pretrained(c.model, dtype=torch_dtype, **remote)
        sam = SamModel.from_pretrained(c.sam_model, dtype=torch_dtype)
        return GroundedSam(detector.to(device).eval(), AutoProcessor.from_pretrained(c.model, **remote),
                           sam.to(device).eval(), SamProcessor.from_pretrained(c.sam_model), c, device, torch_dtype)
