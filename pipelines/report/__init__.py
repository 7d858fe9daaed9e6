"""What a run tells its user: the funnel (funnel.py), report.html and rejects.html (pages.py, html.py,
gallery.py) and the dataset card README.md (card.py, card_text.py)."""
from __future__ import annotations

from pipelines.report.card import write_card
from pipelines.report.funnel import build_report, collect, format_funnel
from pipelines.report.pages import preview, write_report

__all__ = ["build_report", "collect", "format_funnel", "preview", "write_card", "write_report"]
