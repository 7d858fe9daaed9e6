"""One registry: config name -> ModelHandler class (each built from its config section)."""
from __future__ import annotations

from dataclasses import dataclass

from configs.schema import ConfigError, ModelConfig
from model_wrappers.base import Handler
from model_wrappers.clip import ClipHandler
from model_wrappers.dino import DinoHandler
from model_wrappers.grounded_sam import GroundedSamHandler
from model_wrappers.diffedit import DiffEditHandler
from model_wrappers.diffusion import DiffusionHandler
from model_wrappers.llm import LlmHandler
from model_wrappers.locate import Location, ModelRef, hub_offline, locate
from model_wrappers.sam import SamHandler
from model_wrappers.vlm import VlmHandler

HANDLERS: dict[str, type[Handler]] = {
    "sam": SamHandler,
    "grounded_sam": GroundedSamHandler,
    "diffusion": DiffusionHandler,
    "diffedit": DiffEditHandler,
    "vlm": VlmHandler,
    "llm": LlmHandler,
    "clip": ClipHandler,
    "dino": DinoHandler,
}


def build_handler(family: str, cfg: ModelConfig) -> Handler:
    """The handler for ``family`` configured by its section (nothing is loaded yet)."""
    if family not in HANDLERS:
        raise ConfigError(f"model family {family!r} is not registered; known: {', '.join(HANDLERS)}")
    return HANDLERS[family](cfg)


@dataclass(frozen=True)
class ModelStatus:
    """Where one model of one stage is, and what would keep it from loading."""
    stage: str
    model: ModelRef
    where: Location
    missing_packages: tuple[str, ...] = ()

    @property
    def blocking(self) -> bool:
        """True when the run cannot load it: missing, unreachable hub, or its packages absent."""
        return (self.where.status == "missing" or bool(self.missing_packages)
                or (self.where.status == "not_cached" and hub_offline()))

    def line(self) -> str:
        status = "missing packages " + ", ".join(self.missing_packages) if self.missing_packages else self.where.status
        text = f"{self.stage:<9} {self.model.key:<26} {status:<11} {self.where.path or self.model.ref}"
        return text + (f"\n{'':<37}-> {self.where.hint}" if self.where.hint and not self.where.found else "")


def model_status(handlers: list[tuple[str, Handler]]) -> list[ModelStatus]:
    """Every model the given (stage, handler) pairs need, located without loading or network."""
    out = []
    for stage, handler in handlers:
        missing = tuple(handler.missing_packages())
        out += [ModelStatus(stage, m, locate(m), missing) for m in handler.model_refs()]
    return out
