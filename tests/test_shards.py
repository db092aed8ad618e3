"""``rerank --dataset ... --shard K/N``: N shards writing one store (SQLite and PostgreSQL) judge
every query once between them, give what one process gives, and resume after a kill."""
from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from erank_studio.shards import Shard, ShardError, shard_of
from erank_studio.types import STATUS_FAILED, GenerationSettings
from fake_openai_servers import MODEL, fake_servers

TOP_K = 2
SETTINGS = GenerationSettings(max_new_tokens=64)


def test_shard_parsing_and_partition() -> None:
    assert Shard.parse("2/3") == Shard(2, 3) and Shard.parse(" 1 / 1 ") == Shard(1, 1)
    for bad, why in [("0/3", "between 1 and N"), ("4/3", "between 1 and N"), ("1/0", "between 1 and N"),
                     ("a/b", "whole numbers"), ("1.5/3", "whole numbers"), ("3", "whole numbers"), ("", "whole numbers")]:
        with pytest.raises(ShardError, match=why):
            Shard.parse(bad)
    ids = [f"q{i}" for i in range(200)]
    shards = [Shard(k, 3) for k in (1, 2, 3)]
    picked = [s.select([type("Q", (), {"query_id": i})() for i in ids]) for s in shards]
    assert sorted(q.query_id for p in picked for q in p) == sorted(ids)  # each query exactly once
    assert all(40 < len(p) < 95 for p in picked)  # about a third each
    # the hash of the id, not the position: the same shard in any order, with any other queries
    assert [shard_of(i, 3) for i in ids] == [shard_of(i, 3) for i in reversed(ids)][::-1]
    assert shard_of("biology-26", 4) == shard_of("biology-26", 4) and shard_of("x", 1) == 1


def stored(url: str) -> dict[tuple[str, str], list[tuple]]:
    """(benchmark query id, doc id) -> every judgment the store holds for it."""
    from erank_studio.store import Store

    out: dict[tuple[str, str], list[tuple]] = {}
    with Store(url) as store:
        for q in store.queries():
            for run in store.runs(query_id=q["id"]):
                for j in store.run_judgments(run.id):
                    out.setdefault((q["source_query_id"], j.doc_id), []).append(
                        (j.status, j.score, j.probability, j.rank_score, j.hybrid_score))
    return out


def evaluate_json(url: str, capsys) -> dict:
    from erank_studio.cli import main

    capsys.readouterr()
    assert main(["evaluate", "--dataset", "sample", "--db", url, "--json", "-"]) == 0
    return json.loads(capsys.readouterr().out)


def rerank(url: str, base_url: str, shard: str | None, out, capsys) -> dict:
    from erank_studio.cli import main

    argv = ["rerank", "--dataset", "sample", "--top-k", str(TOP_K), "--engine", "openai", "--model", MODEL,
            "--base-url", base_url, "--db", url, "--out", str(out), "--no-progress", "--max-new-tokens", "64"]
    capsys.readouterr()
    assert main(argv + (["--shard", shard] if shard else [])) == 0
    captured = capsys.readouterr()
    assert (f"shard {shard}:" in captured.err) == bool(shard)
    return json.loads(captured.out)


def test_two_shards_into_one_store_equal_one_process(new_url, tmp_path, capsys) -> None:
    with fake_servers(2) as servers:
        base_url = ",".join(s.url for s in servers)
        whole_url, sharded = new_url("whole"), new_url("sharded")
        whole = rerank(whole_url, base_url, None, tmp_path / "runs", capsys)
        halves = [rerank(sharded, base_url, f"{k}/2", tmp_path / "runs", capsys) for k in (1, 2)]
    assert [h["shard"] for h in halves] == ["1/2", "2/2"]
    assert sum(h["queries"] for h in halves) == whole["queries"] == 40
    assert sum(h["judged"] for h in halves) == whole["judged"] == 40 * TOP_K
    assert all(h["queries"] > 0 for h in halves)
    # each shard's TREC runs in its own folder, never over the other's
    assert {h["files"]["model"].split("/")[-2] for h in halves} == {"shard-1-of-2", "shard-2-of-2"}
    one, two = stored(whole_url), stored(sharded)
    assert one == two and len(two) == 40 * TOP_K and all(len(v) == 1 for v in two.values())
    evaluated = evaluate_json(sharded, capsys)
    assert evaluated == evaluate_json(whole_url, capsys)
    assert "model" in json.dumps(evaluated) and len(json.dumps(evaluated)) > 1000  # per-query rows, not empty


def test_shards_running_at_once_and_a_killed_shard_resumes(new_url, capsys) -> None:
    from erank_studio.batch import rerank_dataset
    from erank_studio.data import load_dataset
    from erank_studio.engines.openai_engine import OpenAIEngine
    from erank_studio.store import Store

    dataset = load_dataset("sample")
    url = new_url("shared")

    class Killed(Exception):
        pass

    def kill_after(n: int):
        seen = Counter()

        def on_judgment(_judgment) -> None:
            seen["n"] += 1
            if seen["n"] == n:
                raise Killed  # what a kill does to the loop: nothing after this is written

        return on_judgment

    def run_shard(k: int, on_judgment=None, errors=None):
        engine = OpenAIEngine(MODEL, base_url=base_url)
        with Store(url) as store:
            try:
                return rerank_dataset(dataset, engine, store, top_k=TOP_K, settings=SETTINGS, progress=False,
                                      shard=Shard(k, 2), on_judgment=on_judgment)
            except Killed:
                return None
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

    with fake_servers(2) as servers:
        base_url = ",".join(s.url for s in servers)
        errors: list[Exception] = []
        # shard 1 is killed after 7 judgments while shard 2 runs beside it on the same store
        threads = [threading.Thread(target=run_shard, args=(1, kill_after(7), errors)),
                   threading.Thread(target=run_shard, args=(2, None, errors))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        before = stored(url)
        done_before = sum(1 for (q, _), js in before.items() if Shard(1, 2).holds(q) and js[-1][0] != STATUS_FAILED)
        assert 7 <= done_before < sum(1 for q in dataset.queries() if Shard(1, 2).holds(q.query_id)) * TOP_K
        resumed = run_shard(1)
    assert resumed.judged + resumed.skipped == resumed.queries * TOP_K
    assert resumed.skipped == done_before  # what the killed shard had written is not judged again
    after = stored(url)
    assert set(after) == {(q.query_id, d.doc_id) for q in dataset.queries() for d in dataset.candidates(q.query_id, TOP_K)}
    # nothing judged twice: one successful judgment for every document
    assert all(sum(1 for j in js if j[0] != STATUS_FAILED) == 1 for js in after.values())
    with fake_servers(1) as (alone,):
        whole = new_url("whole")
        engine = OpenAIEngine(MODEL, base_url=alone.url)
        with Store(whole) as store:
            rerank_dataset(dataset, engine, store, top_k=TOP_K, settings=SETTINGS, progress=False)
    assert evaluate_json(url, capsys) == evaluate_json(whole, capsys)


def test_bad_shard_is_refused_in_one_line(capsys) -> None:
    from erank_studio.cli import main

    for value, message in [("3/2", "--shard 3/2: K must lie between 1 and N"),
                           ("1of2", "--shard must be K/N with whole numbers, e.g. 1/4 (got '1of2')")]:
        assert main(["rerank", "--dataset", "sample", "--shard", value]) == 2
        assert capsys.readouterr().err == f"error: {message}\n"
