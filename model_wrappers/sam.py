"""SAM automatic masks: segment-anything's ``SamAutomaticMaskGenerator`` on a grid of point prompts.

The checkpoint is a state dict (.pth, read with ``torch.load(weights_only=True)``, or .safetensors) for
one of SAM_ARCHS. The architecture is assembled from segment-anything's own modules with the published
sizes; ``vit_tiny`` is a 2-layer, 256-px stand-in for tests and smoke runs. Each mask keeps SAM's
predicted IoU and stability score.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from configs.schema import ConfigError, SamConfig
from model_wrappers.base import Handler
from model_wrappers.locate import ModelRef
from model_wrappers.types import MaskProposal, SegmentRequest

CHECKPOINTS = "https://dl.fbaipublicfiles.com/segment_anything/"
# encoder width, depth, heads, global-attention blocks, input px, prompt width, window, published file
SAM_ARCHS: dict[str, dict[str, Any]] = {
    "vit_h": dict(dim=1280, depth=32, heads=16, global_attn=(7, 15, 23, 31), img=1024, prompt=256, window=14,
                  file="sam_vit_h_4b8939.pth"),
    "vit_l": dict(dim=1024, depth=24, heads=16, global_attn=(5, 11, 17, 23), img=1024, prompt=256, window=14,
                  file="sam_vit_l_0b3195.pth"),
    "vit_b": dict(dim=768, depth=12, heads=12, global_attn=(2, 5, 8, 11), img=1024, prompt=256, window=14,
                  file="sam_vit_b_01ec64.pth"),
    "vit_tiny": dict(dim=32, depth=2, heads=2, global_attn=(1,), img=256, prompt=32, window=4, file=""),
}


def build_sam(model_type: str):
    """An untrained segment-anything ``Sam`` of one of SAM_ARCHS (eval mode)."""
    from functools import partial

    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    a = SAM_ARCHS[model_type]
    grid = a["img"] // 16
    small = a["prompt"] < 256  # the stand-in shrinks the decoder too
    encoder = ImageEncoderViT(
        depth=a["depth"], embed_dim=a["dim"], img_size=a["img"], mlp_ratio=4, num_heads=a["heads"],
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), patch_size=16, qkv_bias=True, use_rel_pos=True,
        global_attn_indexes=a["global_attn"], window_size=a["window"], out_chans=a["prompt"])
    prompts = PromptEncoder(embed_dim=a["prompt"], image_embedding_size=(grid, grid),
                            input_image_size=(a["img"], a["img"]), mask_in_chans=16)
    decoder = MaskDecoder(
        num_multimask_outputs=3, transformer_dim=a["prompt"], iou_head_depth=3,
        iou_head_hidden_dim=a["prompt"] if small else 256,
        transformer=TwoWayTransformer(depth=2, embedding_dim=a["prompt"], mlp_dim=64 if small else 2048,
                                      num_heads=2 if small else 8))
    return Sam(image_encoder=encoder, prompt_encoder=prompts, mask_decoder=decoder,
               pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375]).eval()


def read_state_dict(path: str) -> dict:
    """A checkpoint's tensors, without unpickling arbitrary objects."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    import torch
    return torch.load(path, map_location="cpu", weights_only=True)


def to_proposals(records: list[dict]) -> list[MaskProposal]:
    """SamAutomaticMaskGenerator records -> proposals, best predicted IoU first (XYWH -> XYXY box)."""
    out = []
    for r in sorted(records, key=lambda r: (-r["predicted_iou"], -r["area"])):
        x, y, w, h = r["bbox"]
        out.append(MaskProposal(mask=np.asarray(r["segmentation"], bool), box_xyxy=(x, y, x + w, y + h),
                                scores={"sam_iou": round(float(r["predicted_iou"]), 6),
                                        "sam_stability": round(float(r["stability_score"]), 6)}))
    return out


class SamMasker:
    """The loaded runner: ``predict([SegmentRequest]) -> [[MaskProposal]]`` (one list per image).

    Weights stay float32 (segment-anything feeds float32 images); a half dtype on CUDA runs under autocast.
    """

    def __init__(self, generator, device: str, dtype: str):
        self.generator, self.device, self.dtype = generator, device, dtype

    def predict(self, requests: list[SegmentRequest]) -> list[list[MaskProposal]]:
        import contextlib

        import torch
        half = self.device.startswith("cuda") and self.dtype != "float32"
        amp = torch.autocast("cuda", dtype=getattr(torch, self.dtype)) if half else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            return [to_proposals(self.generator.generate(r.image)) for r in requests]


class SamHandler(Handler):
    family = "sam"
    requires = ("torch", "torchvision", "segment_anything")
    cfg: SamConfig

    def __init__(self, cfg: SamConfig):
        super().__init__(cfg)
        if cfg.model_type not in SAM_ARCHS:  # the architectures are this file's knowledge: checked here
            raise ConfigError(f"masks.sam.model_type: {cfg.model_type!r} is not allowed; choose one of "
                              f"{', '.join(SAM_ARCHS)}")

    def model_refs(self) -> list[ModelRef]:
        published = SAM_ARCHS[self.cfg.model_type]["file"]
        return [ModelRef("masks.sam.model", self.cfg.model, "file", CHECKPOINTS + published if published else "")]

    def build(self, device: str, dtype: str) -> SamMasker:
        from segment_anything import SamAutomaticMaskGenerator
        sam = build_sam(self.cfg.model_type)
        sam.load_state_dict(read_state_dict(self.cfg.model))
        sam.to(device=device)
        c = self.cfg
        return SamMasker(SamAutomaticMaskGenerator(
            sam, points_per_side=c.points_per_side, points_per_batch=c.points_per_batch,
            pred_iou_thresh=c.pred_iou_thresh, stability_score_thresh=c.stability_score_thresh,
            box_nms_thresh=c.box_nms_thresh, min_mask_region_area=c.min_mask_region_area), device, dtype)
