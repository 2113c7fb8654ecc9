"""The prepared-data cache: built once, memory-mapped after, rebuilt when the data or settings
change, one builder among concurrent ones, a stop honoured while waiting."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from satseg.data.arrays import ImageArrays
from satseg.data.cache import cache_key, cached
from satseg.training import TrainConfig
from satseg.training.prepare import prepare_data


def _cfg(cache_dir, **data):
    return TrainConfig.from_dict(
        {
            "model": {"input_size": 16, "depth": 2, "base_filters": 4},
            "data": {"cache_dir": str(cache_dir) if cache_dir else None, **data},
        }
    )


def test_prepare_data_from_cache_equals_uncached_and_is_memory_mapped(colour_data, tmp_path):
    ids = colour_data.labelled_ids()
    plain = prepare_data(_cfg(None), colour_data, val_ids=ids[:1])
    first = prepare_data(_cfg(tmp_path / "c"), colour_data, val_ids=ids[:1])
    entries = sorted(p.name for p in (tmp_path / "c").iterdir() if p.is_dir())
    assert len(entries) == 1 and entries[0].startswith("prep-")
    again = prepare_data(_cfg(tmp_path / "c"), colour_data, val_ids=ids[:1])
    assert sorted(p.name for p in (tmp_path / "c").iterdir() if p.is_dir()) == entries
    for prep in (first, again):
        assert prep.split == plain.split and prep.classes == plain.classes
        assert np.allclose(prep.mean, plain.mean) and np.allclose(prep.std, plain.std)
        assert prep.exclusive is True  # colour masks
        for a, b in zip(prep.train + prep.val, plain.train + plain.val, strict=True):
            assert a.image_id == b.image_id
            assert isinstance(a.image, np.memmap) and not a.image.flags.writeable
            assert np.array_equal(a.image, b.image) and np.array_equal(a.target, b.target)
    # other settings (indices, validation ids) or a changed file: a new entry
    prepare_data(_cfg(tmp_path / "c"), colour_data, val_ids=ids[1:2])
    assert len([p for p in (tmp_path / "c").iterdir() if p.is_dir()]) == 2
    mask = colour_data.label_path(ids[0])
    st = mask.stat()
    os.utime(mask, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    prepare_data(_cfg(tmp_path / "c"), colour_data, val_ids=ids[:1])
    assert len([p for p in (tmp_path / "c").iterdir() if p.is_dir()]) == 3


def test_cache_key_ignores_the_cache_folder_inside_the_data(colour_data, tmp_path):
    ids = colour_data.labelled_ids()
    inside = colour_data.root / ".satseg-cache"
    k1 = cache_key(colour_data, ids, {"a": 1}, skip=inside)
    inside.mkdir()
    (inside / "noise.json").write_text("{}")
    assert cache_key(colour_data, ids, {"a": 1}, skip=inside) == k1
    assert cache_key(colour_data, ids, {"a": 2}, skip=inside) != k1
    assert cache_key(colour_data, ids[:2], {"a": 1}, skip=inside) != k1


def _images():
    return [
        ImageArrays(
            "a", np.arange(12, dtype=np.float32).reshape(2, 2, 3), np.ones((2, 2, 2), np.int8)
        )
    ]


def test_concurrent_builders_build_once(tmp_path):
    calls = []

    def build():
        calls.append(threading.get_ident())
        time.sleep(1.0)
        return {"n": 1}, _images()

    results = []

    def worker():
        results.append(cached(tmp_path, "k1", build, poll_s=0.05))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(hit for _, _, hit in results) == [False, True, True]
    for meta, images, _ in results:
        assert meta["n"] == 1 and np.array_equal(images[0].image, _images()[0].image)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prep-")]  # no temp left


def test_a_failed_build_leaves_no_entry_and_a_stop_ends_the_wait(tmp_path):
    def bad():
        raise ValueError("decoding failed")

    with pytest.raises(ValueError):
        cached(tmp_path, "k2", bad)
    assert not (tmp_path / "prep-k2").exists()

    started = threading.Event()

    def slow():
        started.set()
        time.sleep(2.0)
        return {}, _images()

    t = threading.Thread(target=lambda: cached(tmp_path, "k3", slow))
    t.start()
    started.wait(5)
    t0 = time.monotonic()
    with pytest.raises(InterruptedError):
        cached(tmp_path, "k3", slow, should_stop=lambda: time.monotonic() - t0 > 0.3, poll_s=0.05)
    assert time.monotonic() - t0 < 1.5
    t.join()
