"""ASHA's rung ladder and promotion rule (pure logic, milliseconds)."""

from __future__ import annotations

import random

import pytest

from satseg.errors import ConfigError
from satseg.search.asha import ASHA, n_rungs


def test_ladder_budgets():
    a = ASHA(min_budget=1, max_budget=9, eta=3)
    assert a.top == 2
    assert [a.budget(k) for k in range(3)] == [1, 3, 9]
    assert n_rungs(1, 10, 3) == 3 and n_rungs(1, 8, 3) == 2 and n_rungs(2, 2, 3) == 1
    assert ASHA(min_budget=0.5, max_budget=4.5, eta=3).budget(2) == 4.5


@pytest.mark.parametrize("kw", [{"eta": 1}, {"min_budget": 0}, {"max_budget": 0.5}])
def test_bad_settings(kw):
    with pytest.raises(ConfigError):
        ASHA(**kw)


def test_no_promotion_until_rung_holds_eta_results():
    a = ASHA(1, 9, 3)
    for tid, obj in enumerate([0.5, 0.9]):
        a.start(tid, 0)
        a.report(tid, 0, obj)
        assert a.next_job().kind == "new"  # 1 or 2 results: floor(n/3) = 0
    a.start(2, 0)
    a.report(2, 0, 0.1)
    job = a.next_job()
    assert (job.kind, job.trial_id, job.rung, job.budget, job.from_budget) == (
        "promote", 1, 1, 3, 1)


def test_promotes_each_trial_once_and_top_rung_first():
    a = ASHA(1, 9, 3)
    objs = [0.1, 0.2, 0.9, 0.3, 0.4, 0.8, 0.05, 0.06, 0.07]
    for tid, obj in enumerate(objs):
        a.start(tid, 0)
        a.report(tid, 0, obj)
    # 9 results at rung 0: the top 3 are 2, 5, 4, promoted best first
    order = []
    for _ in range(3):
        job = a.next_job()
        assert job.kind == "promote" and job.rung == 1
        order.append(job.trial_id)
        a.start(job.trial_id, job.rung)
    assert order == [2, 5, 4]
    assert a.next_job().kind == "new"  # nothing left to promote: a new trial
    # rung 1 fills: three results, the best goes to rung 2 before any rung-0 promotion
    for tid, obj in zip(order, [0.95, 0.5, 0.6], strict=True):
        a.report(tid, 1, obj)
    for tid in (9, 10, 11):  # three more at rung 0, one of them in the new top third
        a.start(tid, 0)
        a.report(tid, 0, 0.85 if tid == 9 else 0.0)
    job = a.next_job()
    assert (job.kind, job.trial_id, job.rung, job.budget) == ("promote", 2, 2, 9)
    a.start(2, 2)
    job = a.next_job()
    assert (job.kind, job.trial_id, job.rung) == ("promote", 9, 1)
    a.report(2, 2, 0.97)
    assert a.best() == (2, 2, 0.97)
    assert a.promotable(2) == []  # the top rung promotes nothing


def test_minimize_and_failed_trials():
    a = ASHA(1, 3, 3, maximize=False)
    for tid, obj in enumerate([None, 5.0, 1.0]):
        a.start(tid, 0)
        a.report(tid, 0, obj)
    assert a.next_job().trial_id == 2  # the lowest loss
    b = ASHA(1, 3, 3)
    for tid, obj in enumerate([None, float("nan"), 0.1]):
        b.start(tid, 0)
        b.report(tid, 0, obj)
    # the failed ones count as the worst; the top third is trial 2
    assert b.next_job().trial_id == 2
    c = ASHA(1, 3, 3)
    for tid in range(3):
        c.start(tid, 0)
        c.report(tid, 0, None)
    assert c.next_job().kind == "new"  # a failed trial is never promoted


def test_allow_new_false_and_abandon():
    a = ASHA(1, 9, 3)
    assert a.next_job(allow_new=False) is None
    for tid in range(3):
        a.start(tid, 0)
        a.report(tid, 0, tid / 10)
    job = a.next_job(allow_new=False)
    a.start(job.trial_id, job.rung)
    a.abandon(job.trial_id)  # stopped by the budget: not promoted again
    assert a.next_job(allow_new=False) is None
    assert a.rung_of(2) == 0 and a.rung_of(7) is None


def test_protected_trials_reach_the_top_rung_whatever_their_rank():
    a = ASHA(1, 9, 3, protected={0})
    for tid, obj in enumerate([0.05, 0.9, 0.2, 0.3]):  # the protected trial 0 is the worst
        a.start(tid, 0)
        a.report(tid, 0, obj)
    assert a.promotable(0) == [0, 1]  # protected first, then the top third (floor(4/3) = 1)
    job = a.next_job()
    assert (job.kind, job.trial_id, job.rung) == ("promote", 0, 1)
    a.start(0, 1)
    assert a.promotable(0) == [1]  # promoted once only
    a.report(0, 1, 0.1)
    assert a.next_job().trial_id == 0 and a.next_job().rung == 2  # alone at rung 1, still on
    b = ASHA(1, 9, 3, protected={0})
    b.start(0, 0)
    b.report(0, 0, None)  # a protected trial that failed is not promoted
    assert b.promotable(0) == [] and b.next_job().kind == "new"


def test_resume_from_finished_trials():
    a = ASHA(1, 9, 3)
    a.add_finished(0, 1, 0.9)
    for tid in (1, 2):
        a.add_finished(tid, 0, 0.1 * tid)
    assert a.rung_of(0) == 1
    assert a.next_job().kind == "new"  # 0 already went on from rung 0; 1 result at rung 1


def test_asynchronous_run_promotes_top_fraction():
    """A simulated run with 2 workers and random durations: every promotion comes from the
    top 1/eta of its rung at the time, rung sizes shrink."""
    rng = random.Random(0)
    a = ASHA(1, 9, 3)
    quality: dict[int, float] = {}
    clock, next_tid, events = 0.0, 0, []
    for _ in range(2):
        job = a.next_job()
        quality[next_tid] = rng.random()
        a.start(next_tid, 0)
        events.append((clock + rng.random(), next_tid, 0))
        next_tid += 1
    while clock < 200:
        events.sort()
        clock, tid, rung = events.pop(0)
        a.report(tid, rung, quality[tid] * (1 + rung))
        job = a.next_job()
        if job.kind == "promote":
            ranked = sorted(a.results[job.rung - 1].values(), reverse=True)
            top = ranked[: len(ranked) // 3]
            assert a.results[job.rung - 1][job.trial_id] in top
            tid = job.trial_id
        else:
            tid, next_tid = next_tid, next_tid + 1
            quality[tid] = rng.random()
        a.start(tid, job.rung)
        events.append((clock + a.budget(job.rung) * rng.uniform(0.5, 1.5), tid, job.rung))
    sizes = [len(r) for r in a.results]
    assert sizes[0] > sizes[1] > sizes[2] > 0
    # asynchronous: a trial promoted early may later fall out of the top third, so a rung
    # can hold a few more than 1/eta of the one below (Li et al. 2020, section 3.2)
    assert sizes[1] < sizes[0] / 2 and sizes[2] < sizes[1] / 2


# ---------------------------------------------------------------------- in the runner (dask)
def test_asha_study_promotes_and_resumes_from_checkpoints(plain):
    """A study on the shared dask cluster: trials start at rung 0 (1 epoch), the best third go
    on to 3 then 9 epochs, continuing from their shipped checkpoint (never from epoch 0)."""
    from satseg.search import StudyStore, run_search
    from tests.search import asha_objectives as ao

    res = run_search(objective=ao.rungs, study="a", n_trials=12, fidelity="asha", min_budget=1,
                     max_budget=9, eta=3, algo="random", **plain)
    assert res.state == "finished"
    store = StudyStore(plain["store"])
    df = store.trials("a")
    assert len(df) == 12 and set(df["status"]) == {"ok"}
    assert "rung" in df and "budget" in df
    counts = df["rung"].value_counts().to_dict()
    # 12 at rung 0 -> 4 promoted to rung 1 -> at least 1 to rung 2 (asynchronous: maybe more)
    assert counts.get(1, 0) + counts.get(2, 0) >= 4 and counts.get(2, 0) >= 1
    for _, row in df.iterrows():
        hist = store.trial("a", int(row["trial_id"]))["history"]
        assert row["budget"] == 3 ** row["rung"]
        assert [h["epoch"] for h in hist] == list(range(1, int(row["budget"]) + 1))
        if row["rung"] >= 1:  # resumed: epochs 2-3 continued from epoch 1
            assert hist[1]["resumed_from"] == 1
        if row["rung"] == 2:
            assert hist[3]["resumed_from"] == 3
        assert row["objective"] == pytest.approx(max(h["val_jaccard"] for h in hist))
    # the promoted trials were the best at rung 0 (ranked by their first epoch)
    first = {int(t): store.trial("a", int(t))["history"][0]["val_jaccard"] for t in df["trial_id"]}
    promoted = set(df[df["rung"] >= 1]["trial_id"].astype(int))
    worst_promoted = min(first[t] for t in promoted)
    assert sorted(first.values(), reverse=True).index(worst_promoted) < len(promoted) + 3


@pytest.mark.slow
def test_satseg_trial_continues_from_its_checkpoint_at_the_next_rung(tmp_path, dask_address):
    """The satseg objective under ASHA on the bundled sample: the promoted trial's run goes on
    from its rung-0 checkpoint (epoch 1 kept as it was, epochs 2-3 added), not from scratch.

    The witness is the learning rate in the history: with an epoch-keyed cosine over 3 steps a
    1-epoch run ends epoch 1 at cosine progress 2/3 (a quarter of the way from the floor to the
    initial rate), a 3-epoch run trained from scratch at 2/9 (0.88 of the way)."""
    import math
    from pathlib import Path

    from satseg.search import StudyStore, run_search

    space = {"params": {
        "model.input_size": 64, "model.crop_margin": 0, "model.depth": 2,
        "model.base_filters": 8, "training.steps_per_epoch": 3, "training.batch_size": 4,
        "training.workers": 1, "training.schedule": "cosine",
        "training.learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 1.0e-2}}}
    store_path = tmp_path / "s.db"
    res = run_search(space=space, study="r", store=str(store_path), data="sample",
                     scheduler=dask_address, n_trials=3, fidelity="asha", min_budget=1,
                     max_budget=3, eta=3, algo="random", val_ids=["tile_2/image_part_007"])
    assert res.state == "finished"
    store = StudyStore(store_path)
    df = store.trials("r")
    assert set(df["status"]) == {"ok"} and sorted(df["rung"]) == [0, 0, 1]
    tid = int(df[df["rung"] == 1]["trial_id"].iloc[0])
    trial = store.trial("r", tid)
    hist = trial["history"]
    assert [int(h["epoch"]) for h in hist] == [1, 2, 3]
    run_dir = Path(trial["artifacts"]["run_dir"])
    assert "epochs: 3" in (run_dir / "config.yaml").read_text()
    assert all(len(store.trial("r", int(t))["history"]) == 1 for t in df["trial_id"]
               if int(t) != tid)
    lr0 = float(trial["params"]["training.learning_rate"])
    floor = min(2e-5, lr0)

    def way(lr: float) -> float:  # where lr lies between the floor (0) and lr0 (1)
        return (lr - floor) / (lr0 - floor)

    cos = [0.5 * (1 + math.cos(math.pi * p)) for p in (2 / 3, 5 / 9, 8 / 9)]
    assert way(hist[0]["lr"]) == pytest.approx(cos[0], abs=0.02)  # continued: rung 0's row
    assert way(hist[1]["lr"]) == pytest.approx(cos[1], abs=0.02)  # epochs 2-3 of 3
    assert way(hist[2]["lr"]) == pytest.approx(cos[2], abs=0.02)


def test_keep_runs_best_keeps_every_checkpoint_a_promotion_needs_then_only_the_best(plain):
    """``keep_runs="best"`` under ASHA: a trial waiting at a lower rung may still be promoted
    and must continue from its checkpoint, so no folder is removed while the search runs; when
    it ends, only the best trial at the highest rung (what train-best warm-starts from) keeps
    its run folder."""
    from pathlib import Path

    from satseg.search import StudyStore, run_search
    from tests.search import asha_objectives as ao

    res = run_search(objective=ao.rungs, study="k", n_trials=12, fidelity="asha", min_budget=1,
                     max_budget=9, eta=3, algo="random", keep_runs="best", **plain)
    assert res.state == "finished"
    store = StudyStore(plain["store"])
    df = store.trials("k")
    assert set(df["status"]) == {"ok"} and (df["rung"] >= 1).any()
    for _, row in df[df["rung"] >= 1].iterrows():  # each promotion continued its checkpoint
        hist = store.trial("k", int(row["trial_id"]))["history"]
        assert hist[1]["resumed_from"] == 1, (row["trial_id"], hist)
    best = store.best_trial("k")
    assert best is not None and int(best["rung"]) == int(df["rung"].max())
    kept = {int(t): store.trial("k", int(t))["artifacts"].get("run_dir")
            for t in df["trial_id"]}
    assert [t for t, d in kept.items() if d] == [int(best["trial_id"])], kept
    assert Path(kept[int(best["trial_id"])]).is_dir()
