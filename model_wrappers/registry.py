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
from model_wrappers.locate import Location, ModelRef, hub_offline, locate, read_marker
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
        return (self.where.status in ("missing", "wrong_model") or bool(self.missing_packages)
                or (self.where.status == "not_cached" and hub_offline()))

    @property
    def status(self) -> str:
        return "missing packages " + ", ".join(self.missing_packages) if self.missing_packages else self.where.status

    def line(self, widths: tuple[int, int, int] = (9, 26, 11)) -> str:
        """One table row; ``widths`` of the stage, key and status columns (format_rows fits them)."""
        w_stage, w_key, w_status = widths
        text = f"{self.stage:<{w_stage}} {self.model.key:<{w_key}} {self.status:<{w_status}} " \
               f"{self.where.path or self.model.ref}"
        hint = f"\n{'':<{w_stage + w_key + 2}}-> {self.where.hint}"
        return text + (hint if self.where.hint and not self.where.found else "")


def format_rows(rows: list[ModelStatus]) -> list[str]:
    """The rows as aligned lines whatever the length of a stage name or key (importance_dino, ...);
    the stage column is at least 9 wide (check.py pads its input lines the same way)."""
    w_stage = max([9] + [len(r.stage) for r in rows])
    w_key = max([26] + [len(r.model.key) for r in rows])
    w_status = max([11] + [len(r.status) for r in rows])
    return [r.line((w_stage, w_key, w_status)) for r in rows]


def model_status(handlers: list[tuple[str, Handler]]) -> list[ModelStatus]:
    """Every model the given (stage, handler) pairs need, located without loading or network."""
    out = []
    for stage, handler in handlers:
        missing = tuple(handler.missing_packages())
        out += [ModelStatus(stage, m, checked(handler, m), missing) for m in handler.model_refs()]
    return out


def checked(handler: Handler, m: ModelRef) -> Location:
    """``locate(m)``, then, for a folder model found here, its config read against what the stage needs:
    status 'wrong_model' with what was found and what is needed."""
    where = locate(m)
    config = read_marker(m, where)
    problem = handler.config_problem(m, config) if config is not None else None
    return Location("wrong_model", where.path, problem) if problem else where
