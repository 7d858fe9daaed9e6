"""The bounded HTTP client and uri reading (transforms/core/fetch.py) against the local server: every failure mode
ends as its reason within the configured time, good images arrive byte for byte."""
from __future__ import annotations

import dataclasses
import os
import tarfile
import threading
import time

import pytest

from configs.schema import ImageConfig
from web import IMAGES, NAMES, SLOW, photo
from transforms.core.fetch import FetchError, fetch_url, member_uri, read_uri
from transforms.stages.load import load_image
from transforms.core.records import ImageRecord, Reject


def test_an_image_arrives_byte_for_byte_with_the_project_user_agent(web, fast):
    assert fetch_url(web.url(f"/img/{NAMES[0]}"), fast) == photo(NAMES[0])
    assert any(a.startswith("inpaint-pairs/") for a in web.state.agents)


@pytest.mark.parametrize("path, reason", [
    ("/missing.jpg", "http_404"),
    ("/down.jpg", "http_503"),
    ("/slow.jpg", "timeout"),
    ("/huge.jpg", "too_large"),
    ("/stream-huge.jpg", "too_large"),
    ("/page.html", "not_an_image"),
    ("/loop", "too_many_redirects"),
])
def test_each_failure_is_its_reason_within_the_bounds(web, fast, path, reason):
    start = time.monotonic()
    with pytest.raises(FetchError) as e:
        fetch_url(web.url(path), fast)
    assert e.value.reason == reason, e.value
    assert time.monotonic() - start < fast.total_timeout + 0.5


def test_5xx_and_timeouts_are_retried_4xx_is_not(web, fast):
    url = web.url(f"/flaky/{NAMES[1]}?t=retry")
    assert fetch_url(url, fast) == photo(NAMES[1])
    assert web.state.hits[url[len(web.base):]] == 2
    for path, hits in (("/down.jpg?t=r", fast.retries + 1), ("/missing.jpg?t=r", 1), ("/slow.jpg?t=r", 2)):
        with pytest.raises(FetchError):
            fetch_url(web.url(path), fast)
        assert web.state.hits[path] == hits, path
    with pytest.raises(FetchError) as e:
        fetch_url(web.url("/down.jpg?t=none"), dataclasses.replace(fast, retries=0))
    assert e.value.reason == "http_503" and web.state.hits["/down.jpg?t=none"] == 1


def test_redirects_are_followed_up_to_the_limit(web, fast):
    assert fetch_url(web.url(f"/redirect/{NAMES[2]}"), fast) == photo(NAMES[2])
    with pytest.raises(FetchError) as e:
        fetch_url(web.url(f"/redirect/{NAMES[2]}"), dataclasses.replace(fast, max_redirects=0))
    assert e.value.reason == "too_many_redirects"


def test_requests_at_once_per_process_stay_under_the_concurrency_limit(web, fast):
    cfg = dataclasses.replace(fast, concurrency=2)
    results, start = [], time.monotonic()
    threads = [threading.Thread(target=lambda: results.append(fetch_url(web.url("/held.jpg"), cfg)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and web.state.max_active == 2
    assert time.monotonic() - start >= 4 * 0.2  # 8 requests, 2 at a time, 0.2 s each


@pytest.mark.parametrize("uri", ["ftp://127.0.0.1/a.jpg", "data:image/png;base64,iVBORw0KGgo=",
                                 "mailto:someone@example.org", "gopher://127.0.0.1/a"])
def test_other_schemes_are_refused_before_any_traffic(uri, fast):
    with pytest.raises(FetchError) as e:
        read_uri(uri, fast)
    assert e.value.reason == "bad_scheme"


def test_local_paths_file_urls_and_tar_members(tmp_path, fast):
    name = tmp_path / "a photo.jpg"
    name.write_bytes(photo(NAMES[0]))
    assert read_uri("file://" + str(name).replace(" ", "%20"), fast) == photo(NAMES[0])
    assert read_uri(str(name), fast) == photo(NAMES[0])
    with pytest.raises(FetchError) as e:
        read_uri(str(tmp_path / "gone.jpg"), fast)
    assert e.value.reason == "file_missing"
    tar = tmp_path / "shard.tar"
    with tarfile.open(tar, "w") as t:
        for n in NAMES[:2]:
            t.add(os.path.join(IMAGES, n), arcname=n)
    with tarfile.open(tar) as t:
        info = t.getmember(NAMES[1])
    assert read_uri(member_uri(str(tar), info.offset_data, info.size), fast) == photo(NAMES[1])
    with pytest.raises(FetchError) as e:
        read_uri(member_uri(str(tar), os.path.getsize(tar) - 10, 100), fast)
    assert e.value.reason == "read_error"


def test_the_load_stage_turns_fetch_failures_into_load_rejects(web, fast):
    cfg = ImageConfig(size=64, fetch=fast)
    good = load_image(ImageRecord("k-1", 0, web.url(f"/img/{NAMES[3]}"), "1"), cfg)
    assert isinstance(good, ImageRecord) and good.image.shape == (64, 64, 3)
    for path, reason in (("/missing.jpg", "http_404"), ("/fake.jpg", "not_an_image"), ("/page.html", "not_an_image")):
        out = load_image(ImageRecord("k-2", 0, web.url(path), "2"), cfg)
        assert isinstance(out, Reject) and (out.stage, out.reason, out.level) == ("load", reason, "image")
