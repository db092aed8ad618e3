"""The same run and label through gradio_client against the running app's named API endpoints."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from erank_studio.text_rules import text_doc_id

gradio_client = pytest.importorskip("gradio_client")

DOCUMENTS = "\n".join([
    "Cats purr by vibrating the muscles of the larynx.",
    "<script>alert(1)</script>",
    "Dogs bark when strangers come near.",
    "<img src=x onerror=alert(1)>",
    "Purring happens while breathing in and out.",
])


@pytest.mark.parametrize("app", ["running_app", "running_app_postgres"])
def test_run_and_label_through_the_api(app, request):
    """On the default SQLite store and on a team's PostgreSQL server (ERANK_DB_URL)."""
    from erank_studio.store import Store

    running_app = request.getfixturevalue(app)
    client = gradio_client.Client(running_app.url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/rerank_documents", "/label_document", "/run_labels"} <= set(endpoints)

    job = client.submit("How do cats purr? (api)", DOCUMENTS, max_new_tokens=8, force_answer=True,
                        api_name="/rerank_documents")
    result = job.result(timeout=120)
    assert len(job.outputs()) >= 2, "the endpoint streams partial results"
    assert result["status"] == "done"
    assert result["n_documents"] == 5 and len(result["judgments"]) == 5
    assert [j["rank"] for j in result["judgments"]] == [1, 2, 3, 4, 5]
    assert all(j["score"] is not None for j in result["judgments"]), "forced answers give every document a score"
    run_id = result["run_id"]
    second = text_doc_id(DOCUMENTS.splitlines()[1])  # typed documents carry the ids of their texts

    label = client.predict(run_id, second, "bob", 9, "it is about purring", "api note", api_name="/label_document")
    assert label["score"] == 9 and label["annotator"] == "bob" and label["doc_id"] == second

    listed = client.predict(run_id, "bob", api_name="/run_labels")
    assert {j["doc_id"]: j["human"] for j in listed["judgments"]}[second] == 9

    with pytest.raises(Exception, match="0 to 10"):
        client.predict(run_id, second, "bob", 11, api_name="/label_document")

    store = Store(running_app.db_url)
    try:
        labels = store.current_labels(result["query_id"], "bob")
        assert labels[second].score == 9 and labels[second].note == "api note"
        assert len(store.run_judgments(run_id)) == 5
    finally:
        store.close()
    password = make_url(running_app.db_url).password
    assert not password or password not in running_app.log.read_text()
