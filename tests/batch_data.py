"""A small benchmark batch written into a store: resumed runs, failures of several classes, a forced
answer, a query never judged, another model's run, labels, and a dataset without qrels. The Analyze
view's benchmark page is tested on it (tests/ui and tests/browser)."""
from __future__ import annotations

from erank_studio import scoring
from erank_studio.store import Store
from erank_studio.types import STATUS_FAILED, STATUS_FORCED, STATUS_OK, Document, GenerationSettings, Judgment

DATASET = "tinyset"
MODEL = "m"
# query -> runs (in order) -> [(doc, answer or a failure class, P(N), first-stage score)]. A later
# run's judgment replaces an earlier one, except that a failure never replaces a success.
BATCH = {
    "q1": [
        [("a", 9, 0.9, 3.0), ("b", "no_answer", None, 2.0), ("c", 2, 0.35, 1.0)],
        [("b", 7, 0.6, 2.0), ("c", "cut_at_budget", None, 1.0), ("d", 4, 0.8, 0.5), ("e", "cut_at_budget", None, 0.2)],
    ],
    "q2": [[("x", 1, 0.95, 1.0), ("y", 8, 0.5, 2.0), ("z", 4, 0.15, 0.1), ("w", 10, 0.72, 0.3)]],
    "q3": [[("m", "engine_error", None, 1.0), ("n", "not_integer", None, 2.0)]],  # every judgment failed
    "q4": [],  # in the dataset with qrels, never judged
}
FORCED = {("q2", "z")}  # read from next-token digits
QRELS = {"q1": {"a": 2, "d": 1, "e": 1}, "q2": {"y": 1, "w": 2, "x": 0}, "q3": {"m": 1}, "q4": {"k": 1}}
LABELS = {("q1", "a"): 10, ("q1", "c"): 3, ("q2", "x"): 6, ("q2", "z"): 1, ("q3", "n"): 9}
# Latest outcome per document (what the page counts), written out by hand.
OUTCOMES = {("q1", "a"): "ok", ("q1", "b"): "ok", ("q1", "c"): "ok", ("q1", "d"): "ok",
            ("q1", "e"): "cut_at_budget", ("q2", "x"): "ok", ("q2", "y"): "ok", ("q2", "z"): "forced",
            ("q2", "w"): "ok", ("q3", "m"): "engine_error", ("q3", "n"): "not_integer"}
SCORED = {("q1", "a"): 9, ("q1", "b"): 7, ("q1", "c"): 2, ("q1", "d"): 4, ("q2", "x"): 1, ("q2", "y"): 8,
          ("q2", "z"): 4, ("q2", "w"): 10}


def distribution(score: int, p: float) -> list[float]:
    rest = (1.0 - p) / 10
    return [p if n == score else rest for n in range(11)]


def judgment(index: int, doc: str, answer, p, first: float, forced: bool) -> Judgment:
    if isinstance(answer, str):
        return Judgment(doc_id=doc, index=index, raw_output="…", status=STATUS_FAILED, failure=answer,
                        first_stage_score=first, first_stage_source="given")
    dist = distribution(answer, p)
    expected, entropy = scoring.distribution_summary(dist)
    return Judgment(doc_id=doc, index=index, raw_output=f"<answer>{answer}</answer>",
                    status=STATUS_FORCED if forced else STATUS_OK, score=answer, probability=p,
                    rank_score=answer * p, first_stage_score=first, first_stage_source="given",
                    score_distribution=dist, expected_score=expected, score_entropy=entropy)


def build_batch(url: str) -> dict[str, list[int]]:
    """Write the batch into the store at ``url``; returns each query's run ids in order."""
    run_ids: dict[str, list[int]] = {}
    with Store(url) as store:
        store.add_qrels([(q, d, r) for q, docs in QRELS.items() for d, r in docs.items()], source=DATASET)
        for qid, runs in BATCH.items():
            query_id = store.upsert_query(f"query {qid} <b>bold</b>", source=DATASET, source_query_id=qid)
            run_ids[qid] = []
            for rows in runs:
                docs = [Document(d, f"text of {d}", first_stage_score=f, first_stage_source="given")
                        for d, _, _, f in rows]
                run = store.start_run(query_id, docs, model=MODEL, engine="fake", instruction="i",
                                      truncate_length=64, generation=GenerationSettings(), alpha=0.2)
                store.add_judgments(run, [judgment(i, d, a, p, f, (qid, d) in FORCED)
                                          for i, (d, a, p, f) in enumerate(rows)])
                store.finish_run(run)
                run_ids[qid].append(run)
        # Another model judged q1 too: it is another batch, never mixed into this one.
        q1 = next(q["id"] for q in store.queries() if q["source_query_id"] == "q1")
        other = store.start_run(q1, [Document("a", "text of a", first_stage_score=3.0)], model="other",
                                engine="fake", instruction="i", truncate_length=64,
                                generation=GenerationSettings(), alpha=0.2)
        store.add_judgments(other, [judgment(0, "a", 0, 0.99, 3.0, False)])
        for (qid, doc), score in LABELS.items():
            query_id = next(q["id"] for q in store.queries() if q["source_query_id"] == qid)
            store.add_label(query_id, doc, "ann", score)
        # A batch without qrels.
        plain = store.upsert_query("no qrels here", source="plainset", source_query_id="p1")
        run = store.start_run(plain, [Document("u", "u", first_stage_score=1.0), Document("v", "v", first_stage_score=2.0)],
                              model=MODEL, engine="fake", instruction="i", truncate_length=64,
                              generation=GenerationSettings(), alpha=0.2)
        store.add_judgments(run, [judgment(0, "u", 3, 0.5, 1.0, False), judgment(1, "v", "no_answer", None, 2.0, False)])
    return run_ids
