"""Captions -> vocabulary classes: names, synonyms, generated plurals, longest phrase first, a limit."""
from __future__ import annotations

import os

import pytest

from configs.schema import ConfigError, SourceConfig
from transforms.sources.vocabulary import caption_objects, load_vocabulary, parse_vocabulary, plurals

SMALL = """
# comment
dog: puppy, pup
hot dog
knife
person: people, man, men
traffic light
t-shirt
"""


def names(vocab, caption, limit=10):
    return [vocab.names[i] for i in vocab.match(caption, limit)]


def test_plural_rules_cover_regular_english_endings():
    assert plurals("dog") == {"dogs"} and plurals("bus") == {"buses"} and plurals("box") == {"boxes"}
    assert plurals("strawberry") == {"strawberries"} and plurals("toy") == {"toys"}
    assert plurals("knife") == {"knifes", "knives"} and plurals("shelf") == {"shelfs", "shelves"}
    assert plurals("tomato") == {"tomatos", "tomatoes"}


def test_matching_is_whole_word_longest_first_in_caption_order():
    v = parse_vocabulary(SMALL, "small")
    assert names(v, "Two Hot-Dogs, a puppy and 3 men under traffic lights") == [
        "hot dog", "dog", "person", "traffic light"]
    assert names(v, "dogma and knives; a T-shirt") == ["knife", "t shirt"]
    assert names(v, "people, dogs, knives, traffic lights", limit=2) == ["person", "dog"]
    assert names(v, "") == [] and names(v, "nothing here") == []


def test_a_phrase_naming_two_classes_and_an_empty_file_are_config_errors():
    with pytest.raises(ConfigError, match="line 2: 'pup' already names 'dog'"):
        parse_vocabulary("dog: pup\ncat: pup", "v.txt")
    with pytest.raises(ConfigError, match="no class"):
        parse_vocabulary("# only a comment\n", "v.txt")
    with pytest.raises(ConfigError, match="source.vocabulary: cannot read"):
        load_vocabulary("/nonexistent/classes.txt")


def test_the_shipped_lvis_list_parses_and_names_everyday_objects():
    v = load_vocabulary("lvis")
    assert 1203 < len(v.names) < 2000 and len(set(v.names)) == len(v.names)
    assert all("." not in n for n in v.names)  # names are Grounded-SAM prompts
    assert names(v, "A woman with sunglasses rides a bicycle past a fire hydrant") == [
        "person", "sunglasses", "bicycle", "fire hydrant"]
    assert names(v, "you can watch the orange light") == []  # ambiguous words are left out


def test_caption_objects_are_plan_objects_without_masks():
    objs = caption_objects("a cat on a couch", SourceConfig(max_caption_classes=1))
    assert objs == [{"ann_id": f"c{objs[0]['category_id']}", "category_id": objs[0]["category_id"],
                     "class_name": "cat", "segmentation": None}]
    assert caption_objects("a cat", SourceConfig(vocabulary="none")) == []


def test_the_shipped_list_is_the_builders_output_and_covers_lvis_coco_and_open_images():
    from transforms.sources import vocabulary_build as vb
    with open(os.path.join(vb.VOCAB, "lvis_classes.txt"), encoding="utf-8") as f:
        assert f.read() == vb.build()  # regenerate with python -m transforms.sources.vocabulary_build
    v = load_vocabulary("lvis")
    lists = {"lvis": vb.lvis_classes(), "coco": [[n] for n in vb._data_lines("coco.txt")],
             "openimages": [[n] for n in vb._data_lines("openimages_v7.txt")]}
    assert [len(c) for c in lists.values()] == [1203, 80, 601]
    stop = vb.sense_words([lists["lvis"], lists["openimages"]]) | vb.AMBIGUOUS
    for name, classes in lists.items():
        for c in classes:
            phrases = [vb.plain(p) for p in c]
            named = [p for p in phrases if p and tuple(p.split()) in v.lookup]
            assert named or all(p in stop for p in phrases), (name, c)  # only ambiguous words are left out
    found = names(v, "A rocket and an astronaut beside a jet ski")
    assert found[:2] == ["rocket", "astronaut"] and len(found) == 3  # jet ski: an LVIS synonym
    assert names(v, "a bat flying over a bow") == []  # sense-qualified words alone name nothing
