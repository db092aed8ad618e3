"""The campaign endpoints for programs (gradio_client), matching the ``campaign`` command:
``/campaign_create``, ``/campaign_next``, ``/campaign_label``, ``/campaign_skip``,
``/campaign_reveal``, ``/campaign_keep_trace``, ``/campaign_status``, ``/campaign_anchoring``.
``/campaign_create`` takes the records search's filter (text, model_min, model_max, disagreement,
status, labelled_by), as ``campaign create`` does.

Each returns the use case's dict (campaigns/), so a blind campaign's ``/campaign_next`` carries
nothing of the model's, exactly as ``campaign next --json``. With password auth on, the person is
the signed-in user whatever ``annotator`` says. Bad input: a ``gr.Error`` with one escaped line."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ..store.campaigns import CampaignError, anchoring, progress, setup, work
from . import render
from . import person as acting
from .record_filter import record_filter


def _text(value: str | None) -> str | None:
    return value if value and value.strip() else None


def _answer(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (CampaignError, ValueError, TypeError) as error:
        raise gr.Error(render.html_escape(error)) from None


def endpoints(store: Any) -> dict[str, Callable[..., Any]]:
    """api name -> function (also what the tests call without a server)."""

    def campaign_create(name: str, run_id: int = 0, dataset: str = "", model: str = "", top_k: int = 0,
                        overlap: int = 1, blind: bool = False, guidelines: str = "", strategy: str = "rank",
                        lease_minutes: float = 10.0, text: str = "", model_min: int | None = None,
                        model_max: int | None = None, disagreement: int | None = None, status: str = "",
                        labelled_by: str = "", annotator: str = "", request: gr.Request = None) -> dict:
        """A campaign over a run's (``run_id``) or a dataset's judged documents (``top_k`` per query, 0: all);
        with a filter (``text``, ``model_min``/``model_max`` 0..10, ``disagreement``, ``status`` labelled or
        unlabelled, ``labelled_by`` me/anyone/nobody, "me" being ``annotator``), only the documents the
        records search finds with it."""
        if not 0 < float(lease_minutes) <= 7 * 24 * 60:
            raise gr.Error("lease_minutes must be more than 0 and at most a week")
        return _answer(lambda: setup.create(
            store, name, run_id=int(run_id) or None, dataset=_text(dataset), model=_text(model),
            top_k=int(top_k) or None, overlap=int(overlap), blind=bool(blind), guidelines_text=_text(guidelines),
            strategy=strategy, lease_s=max(1, round(float(lease_minutes) * 60)),
            record_filter=record_filter(text, model_min, model_max, disagreement, status, labelled_by,
                                        acting.who(annotator, request))).to_dict())

    def campaign_next(campaign: str, annotator: str = "", request: gr.Request = None) -> dict:
        """Lease the next item to the person: {"item": id, query, document, guidelines, ...}; the
        model's judgment ("model") only when the campaign is not blind; {"item": None} when done."""
        item = _answer(lambda: work.next_item(store, campaign, acting.who(annotator, request)))
        return item if item is not None else {"item": None}

    def campaign_label(campaign: str, annotator: str, item: int, score: int, rationale: str = "", note: str = "",
                       seconds: float = -1.0, guideline_version: int = 0, request: gr.Request = None) -> dict:
        """Save the person's label of the item; ``seconds`` < 0: measured from the lease;
        ``guideline_version`` 0: the current one. Returns the label and the model's judgment."""
        return _answer(lambda: work.label(
            store, campaign, acting.who(annotator, request), int(item), score, _text(rationale), _text(note),
            None if seconds is None or float(seconds) < 0 else float(seconds), int(guideline_version) or None))

    def campaign_skip(campaign: str, annotator: str, item: int, request: gr.Request = None) -> dict:
        """Pass on the item (it is never handed to this person again)."""
        _answer(lambda: work.skip(store, campaign, acting.who(annotator, request), int(item)))
        return {"skipped": int(item)}

    def campaign_reveal(campaign: str, annotator: str, item: int, request: gr.Request = None) -> dict:
        """The model's judgment of the item; refused in a blind campaign before the person's label."""
        return {"item": int(item), "model": _answer(
            lambda: work.reveal(store, campaign, acting.who(annotator, request), int(item)))}

    def campaign_keep_trace(campaign: str, annotator: str, item: int, request: gr.Request = None) -> dict:
        """A blind label keeps the model's revealed trace for the SFT export."""
        return {"label": _answer(lambda: work.keep_trace(store, campaign, acting.who(annotator, request), int(item)))}

    def campaign_status(campaign: str) -> dict:
        """Done, leased and left, labels per hour and median seconds, per person and overall."""
        return _answer(lambda: progress.status(store, campaign))

    def campaign_anchoring(campaign: str) -> dict:
        """Agreement with the model of blind labels and of labels made with the model in view."""
        return _answer(lambda: anchoring.report(store, campaign))

    return {f.__name__: f for f in (campaign_create, campaign_next, campaign_label, campaign_skip, campaign_reveal,
                                    campaign_keep_trace, campaign_status, campaign_anchoring)}


def register(store: Any) -> None:
    """Add the endpoints to the Blocks being built (call inside ``gr.Blocks``)."""
    for name, function in endpoints(store).items():
        gr.api(function, api_name=name)
