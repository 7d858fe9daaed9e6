"""The console funnel (pipelines/report/funnel.py format_funnel): aligned whatever the stage names, image
drops told apart from candidate counts."""
from __future__ import annotations

from pipelines.report.funnel import build_report, format_funnel


def _stats() -> dict:
    return {"images_in": 10, "images_rejected": 3, "images_with_candidates": 7, "candidates": 20, "pairs": 9,
            "lost_images": [], "stages": ["read", "load", "filter", "clip_prefilter", "importance_dino", "write"],
            "dropped": {"image": {"load/unreadable": 2, "load/too_small": 1},
                        "candidate": {"filter/too_small": 5, "clip_prefilter/low_score": 4,
                                      "importance_dino/low_similarity": 2}}}


def test_funnel_columns_stay_aligned_for_long_stage_names():
    header, *rows = format_funnel(build_report([_stats()], [])).splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["read", "load", "filter", "clip_prefilter", "importance_dino",
                                              "write"]
    cand_end, kept_end = header.index("cand in") + len("cand in"), header.index("kept") + len("kept")
    for row in rows:  # each number ends right under its header, then a gap
        assert row[cand_end] == " " and row[cand_end - 1].isdigit() and row[:cand_end].split()[-1].isdigit()
        assert row[kept_end:kept_end + 2] == "  " and row[kept_end - 1].isdigit()
        assert len(row[:cand_end].split()) == 2  # the stage name never runs into the numbers


def test_load_row_keeps_its_candidates_and_lists_images_dropped_apart():
    text = format_funnel(build_report([_stats()], []))
    load = next(r for r in text.splitlines() if r.split()[:1] == ["load"])
    assert load.split()[1:3] == ["20", "20"] and "images dropped: too_small=1, unreadable=2" in load
    clip = next(r for r in text.splitlines() if r.split()[:1] == ["clip_prefilter"])
    assert clip.split()[1:3] == ["15", "11"] and clip.endswith("low_score=4") and "images" not in clip


def test_the_funnel_ends_with_how_full_each_model_stage_s_calls_were(tmp_path):
    from pipelines import model_calls
    out = str(tmp_path)
    model_calls.add(out, (0, 2), {"describe": {"calls": 3, "rows": 20, "micros": 1_500_000},
                                  "remove": {"calls": 5, "rows": 20, "micros": 9_000_000}})
    model_calls.add(out, (1, 2), {"describe": {"calls": 1, "rows": 4, "micros": 500_000}})
    model_calls.add(out, (0, 2), {"describe": {"calls": 1, "rows": 8, "micros": 0}})   # a resume adds
    calls = model_calls.recorded(out)
    assert list(calls) == ["remove", "describe"]   # the stage order
    assert calls["describe"] == {"calls": 5, "rows": 32, "rows_per_call": 6.4, "seconds": 2.0}
    report = {**build_report([_stats()], []), "model_calls": calls}
    tail = format_funnel(report).splitlines()[-3:]
    assert tail[0].split() == ["model", "stage", "calls", "rows", "rows/call", "seconds"]
    assert tail[1].split() == ["remove", "5", "20", "4.0", "9.0"] and tail[2].split() == ["describe", "5", "32",
                                                                                            "6.4", "2.0"]
