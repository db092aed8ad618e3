"""The openai engine over several servers: two local fake OpenAI-compatible servers
(tests/fake_openai_servers.py), real HTTP on loopback."""
from __future__ import annotations

import logging
import threading
from collections import defaultdict

import pytest

from erank_studio import judge
from erank_studio.engines.openai_engine import OpenAIEngine, ServerUnavailable
from erank_studio.engines.servers import parse_base_urls
from erank_studio.prompt import DEFAULT_INSTRUCTION
from erank_studio.types import STATUS_OK, Document
from fake_openai_servers import MODEL, closed_port_url, fake_servers, score_of

QUERIES = [f"question number {i}: why is the sky {i} times blue?" for i in range(16)]
DOCS = [Document(f"d{k}", f"document {k} about the sky and light", first_stage_score=float(k)) for k in range(4)]


def judge_all(engine: OpenAIEngine, queries=QUERIES):
    """query -> doc_id -> judgment."""
    return {q: {j.doc_id: j for j in judge.judge(engine, q, DOCS, DEFAULT_INSTRUCTION)} for q in queries}


def seen_by(server) -> set[str]:
    """The queries whose documents reached ``server``."""
    return {q for q in QUERIES for m in server.chat_messages if f"\n{q}\n" in m}


def comparable(judged):
    return {q: {d: (j.status, j.score, j.probability, j.rank_score, j.raw_output) for d, j in docs.items()}
            for q, docs in judged.items()}


def test_a_querys_documents_all_reach_one_server() -> None:
    with fake_servers(2) as (a, b):
        engine = OpenAIEngine(MODEL, base_url=f"{a.url},{b.url}")
        judged = judge_all(engine)
    on_a, on_b = seen_by(a), seen_by(b)
    assert on_a.isdisjoint(on_b) and on_a | on_b == set(QUERIES)
    assert on_a and on_b  # both servers took queries (16 queries on 2 servers by hash)
    assert len(a.chat_messages) + len(b.chat_messages) == len(QUERIES) * len(DOCS)  # each document once
    for q, docs in judged.items():
        expected = a.url if q in on_a else b.url
        assert {j.extra["server"] for j in docs.values()} == {expected}
        assert all(j.status == STATUS_OK for j in docs.values())
        assert all(j.score == score_of(j.prompt_message) for j in docs.values())
    assert engine.server_report() == []
    assert [s["judged"] for s in engine.describe()["servers"]] == [len(on_a) * 4, len(on_b) * 4]


def test_the_extra_step_for_p_of_n_goes_to_the_querys_server(qwen3_tokenizer) -> None:
    with fake_servers(2) as (a, b):
        engine = OpenAIEngine(MODEL, base_url=f"{a.url},{b.url}", tokenizer=qwen3_tokenizer)
        judged = judge_all(engine, QUERIES[:6])
    for server in (a, b):
        # the fake lists only the sampled digit: P(0..10) needs the extra completions step
        assert len(server.completion_prompts) >= len(server.chat_messages)
        for ids in server.completion_prompts:
            text = qwen3_tokenizer.decode(ids)
            assert any(f"\n{q}\n" in text for q in seen_by(server))
    assert all(j.score_distribution is not None for docs in judged.values() for j in docs.values())


def test_concurrency_is_per_server_across_queries_in_flight() -> None:
    with fake_servers(2, latency_per_token_s=0.005) as servers:
        engine = OpenAIEngine(MODEL, base_url=",".join(s.url for s in servers), concurrency=2)
        threads = [threading.Thread(target=judge_all, args=(engine, QUERIES[i::4])) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(s.max_in_flight <= 2 for s in servers)
    assert max(s.max_in_flight for s in servers) == 2  # the limit was reached, not just kept


@pytest.mark.parametrize("failure", ["http-500", "closed-port"])
def test_a_failing_servers_documents_are_judged_by_the_other(failure, caplog) -> None:
    with fake_servers(2) as (bad, good), fake_servers(1) as (alone,):
        bad_url = bad.url
        if failure == "closed-port":
            bad_url = closed_port_url()
        else:
            bad.fail_status = 500
        with caplog.at_level(logging.WARNING, logger="erank_studio.engines.servers"):
            engine = OpenAIEngine(MODEL, base_url=f"{bad_url},{good.url}", max_retries=1)
            judged = judge_all(engine)
        reference = judge_all(OpenAIEngine(MODEL, base_url=alone.url))
    assert all(j.extra["server"] == good.url and j.status == STATUS_OK for d in judged.values() for j in d.values())
    assert len(good.chat_messages) == len(QUERIES) * len(DOCS)
    assert comparable(judged) == comparable(reference)  # the same judgments as one server's
    report = "\n".join(engine.server_report())
    if failure == "closed-port":  # seen at start: the run says so at once, nothing is sent there
        assert f"{bad_url} does not answer" in (engine.warning or "")
    else:
        assert f"server {bad_url} failed (the server at {bad_url} answered HTTP 500" in report
        assert f"document(s) of {bad_url} judged by {good.url}" in report
        assert any(bad_url in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert bad_url in report
    servers = {s["url"]: s for s in engine.describe()["servers"]}
    assert servers[good.url]["judged"] == len(QUERIES) * len(DOCS) and servers[bad_url]["judged"] == 0


def test_when_every_server_fails_each_document_fails_with_the_reason() -> None:
    with fake_servers(2) as servers:
        for server in servers:
            server.fail_status = 503
        engine = OpenAIEngine(MODEL, base_url=",".join(s.url for s in servers), max_retries=0)
        judged = judge_all(engine, QUERIES[:2])
    for docs in judged.values():
        for j in docs.values():
            assert j.status != STATUS_OK and "HTTP 503" in j.failure_detail


def test_base_urls_parsed_from_the_option_and_the_environment(monkeypatch) -> None:
    assert parse_base_urls(" http://a:1/v1/ , http://b:2/v1,http://a:1/v1") == ["http://a:1/v1", "http://b:2/v1"]
    with pytest.raises(ValueError, match="not an http"):
        parse_base_urls("a:1/v1")
    with fake_servers(2) as (a, b):
        monkeypatch.setenv("ERANK_BASE_URL", f"{a.url}, {b.url}")
        engine = OpenAIEngine(MODEL)
        assert engine.base_url == f"{a.url},{b.url}"
        assert [s["url"] for s in engine.describe()["servers"]] == [a.url, b.url]
    with pytest.raises(ServerUnavailable, match="none of the servers answers"):
        OpenAIEngine(MODEL, base_url=f"{closed_port_url()},{closed_port_url()}")


def test_cli_refuses_bad_server_options_in_one_line(capsys) -> None:
    from erank_studio.cli import main

    for argv, message in [
        (["--engine", "openai", "--base-url", "ftp://x"], "--base-url: base URL 'ftp://x' is not an http(s) URL"),
        (["--engine", "openai", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["--engine", "transformers", "--concurrency", "4"], "--concurrency is for --engine openai"),
    ]:
        assert main(["rerank", "--dataset", "sample", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_query_keeps_its_server_whichever_documents_are_asked() -> None:
    with fake_servers(2) as (a, b):
        engine = OpenAIEngine(MODEL, base_url=f"{a.url},{b.url}")
        where = defaultdict(set)
        for q in QUERIES[:6]:
            for subset in (DOCS, DOCS[:1], DOCS[2:]):
                for j in judge.judge(engine, q, subset, DEFAULT_INSTRUCTION):
                    where[q].add(j.extra["server"])
    assert all(len(servers) == 1 for servers in where.values())


def _pool(count: int):
    from erank_studio.engines.servers import Server, ServerPool

    return ServerPool([Server(url=f"http://s{i}:8000/v1", client=None, slots=threading.BoundedSemaphore(1))
                       for i in range(count)], retry_after_s=3600)


def test_the_pool_picks_by_hash_when_idle_and_spreads_queries_in_flight() -> None:
    from erank_studio.engines.servers import route_key

    pool = _pool(4)
    keys = [route_key(f"Here is the query:\nq{i}\n\nHere is the document:\nd", "erank") for i in range(40)]
    # idle: always the first of the query's own order, the same every time
    for key in keys:
        first = pool.choose(key, 20)
        assert first is pool.order(key)[0]
        pool.release(first, 20)
        assert pool.choose(key, 20) is first
        pool.release(first, 20)
    # 40 queries of 20 documents in flight at once: no server holds more than 1.25x its share
    for key in keys:
        pool.choose(key, 20)
    assert max(s.load for s in pool.servers) <= 1.25 * 800 / 4 + 20
    assert sum(s.load for s in pool.servers) == 800
    # a failed server is skipped, the others keep their queries
    failed = pool.order(keys[0])[0]
    for s in pool.servers:
        s.load = 0
    pool.fail(failed, "boom")
    moved = {key: pool.order(key)[0] for key in keys}
    for key in keys:
        chosen = pool.choose(key, 1)
        pool.release(chosen, 1)
        assert chosen is not failed
        if moved[key] is not failed:
            assert chosen is moved[key]  # rendezvous hashing: only the failed server's queries move
    assert pool.report() == ["server http://s%d:8000/v1 failed (boom); its documents go to the other servers"
                             % pool.servers.index(failed)]


def test_route_key_is_the_query_part_for_both_templates() -> None:
    from erank_studio.engines.servers import route_key
    from erank_studio.prompt import build

    for template in ("erank", "paper"):
        a = build("why? Here is the document: no", "doc one", DEFAULT_INSTRUCTION, None, template=template)
        b = build("why? Here is the document: no", "another document", DEFAULT_INSTRUCTION, None, template=template)
        c = build("other query", "doc one", DEFAULT_INSTRUCTION, None, template=template)
        assert route_key(a.message, template) == route_key(b.message, template)
        assert route_key(a.message, template) != route_key(c.message, template)
        assert "doc one" not in route_key(a.message, template)


def test_the_batch_command_says_which_server_failed_and_who_judged(tmp_path, capsys) -> None:
    import json

    from erank_studio.cli import main

    dead = closed_port_url()
    with fake_servers(1) as (good,):
        code = main(["rerank", "--dataset", "sample", "--queries", "4", "--top-k", "2", "--engine", "openai",
                     "--model", MODEL, "--base-url", f"{dead},{good.url}", "--concurrency", "3", "--no-progress",
                     "--db", f"sqlite:///{tmp_path / 'store.sqlite'}", "--out", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 0
    assert f"{dead} does not answer (" in captured.err.splitlines()[0]  # at the start
    assert f"note: server {dead} failed" in captured.err  # and at the end
    summary = json.loads(captured.out)
    assert summary["judged"] == 8 and summary["failed"] == 0
    assert {s["url"]: s["judged"] for s in summary["servers"]} == {dead: 0, good.url: 8}


def test_forcing_moves_to_the_next_server_when_the_querys_server_fails(qwen3_tokenizer) -> None:
    from erank_studio.engines.servers import route_key
    from erank_studio.prompt import build

    with fake_servers(2) as servers:
        engine = OpenAIEngine(MODEL, base_url=",".join(s.url for s in servers), tokenizer=qwen3_tokenizer,
                              max_retries=0)
        prompt = build(QUERIES[0], "doc", DEFAULT_INSTRUCTION, qwen3_tokenizer)
        first_url = engine._pool.order(route_key(prompt.message, prompt.template))[0].url
        first = next(s for s in servers if s.url == first_url)
        other = next(s for s in servers if s is not first)
        healthy = engine.force_scores(prompt, "<think> unfinished")
        assert healthy is not None and first.completion_prompts and not other.completion_prompts
        first.fail_status = 500  # the query's server dies between its answer and the forcing step
        assert engine.force_scores(prompt, "<think> unfinished") == pytest.approx(healthy)
        assert other.completion_prompts  # the same distribution, from the other server
        assert any(f"server {first.url} failed" in line for line in engine.server_report())
