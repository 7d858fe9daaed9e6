"""What a run tells its user: the funnel (funnel.py), report.html and rejects.html (pages.py, html.py,
gallery.py, score histograms: scores.py, histograms.py), ``retune`` (retune.py) and the dataset card
README.md (card.py, card_text.py)."""
from __future__ import annotations

from pipelines.report.card import write_card
from pipelines.report.funnel import build_report, collect, format_funnel
from pipelines.report.pages import preview, write_report
from pipelines.report.retune import format_table as format_retune
from pipelines.report.retune import parse_sets as parse_retune_sets
from pipelines.report.retune import retune as retune_funnel

__all__ = ["build_report", "collect", "format_funnel", "format_retune", "parse_retune_sets", "preview",
           "retune_funnel", "write_card", "write_report"]
