"""Several sources in one plan (``source.mix``, PIPE's COCO + LVIS + Open Images): the sources' entries in
mix order, an image two sources name planned once.

Two entries are one image when they name the same file (``uri``): LVIS names COCO's own images, so with
both pointed at one images folder every LVIS image is a COCO image. The entry of the first source naming it
keeps its key and facts; the others' objects join it, each marked with its source (``dataset``) so its
key, its pair's json and the funnel say where it came from. The objects of the source that wins a
duplicate come first (``merge_prefer``: by default the source with more classes, LVIS over COCO), and the
annotations masker keeps the first of two objects whose masks overlap by ``merge_iou``
(transforms/maskers/merge.py). Objects of one source are never merged with each other.
"""
from __future__ import annotations

from configs.schema import SourceConfig
from transforms.core.records import PlanEntry


def preference(src: SourceConfig, planned: list[tuple[SourceConfig, list[PlanEntry]]]) -> list[str]:
    """The mix's names in the order their objects win: ``merge_prefer``'s list, or by the number of classes
    each source's objects name, most first (ties in mix order)."""
    if src.merge_prefer != "finer":
        return [n.strip() for n in src.merge_prefer.split(",")]
    classes = {item.name: len({o.get("class_name") for e in entries for o in e.objects}) for item, entries in planned}
    return sorted(classes, key=lambda name: -classes[name])


def merge(src: SourceConfig, planned: list[tuple[SourceConfig, list[PlanEntry]]]) -> tuple[list[PlanEntry], int]:
    """(one plan of every source's entries in mix order, an image named twice once; how many entries were
    folded into an earlier one). Entries that name no file (planned rejects) are never folded."""
    rank = {name: i for i, name in enumerate(preference(src, planned))}
    merged: list[PlanEntry] = []
    by_uri: dict[str, PlanEntry] = {}
    folded = 0
    for item, entries in planned:
        for entry in entries:
            first = by_uri.get(entry.uri) if entry.uri and entry.rejected is None else None
            if first is None:
                if entry.uri and entry.rejected is None:
                    by_uri[entry.uri] = entry
                merged.append(entry)
                continue
            folded += 1
            owner = first.meta.get("dataset", "")
            if not any("dataset" in o for o in first.objects):
                first.objects = [{**o, "dataset": owner} for o in first.objects]
            first.objects = sorted(first.objects + [{**o, "dataset": item.name} for o in entry.objects],
                                   key=lambda o: rank.get(o["dataset"], len(rank)))
    return merged, folded
