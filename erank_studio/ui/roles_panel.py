"""Roles in the app: people the operator names as admins (``ERANK_ADMINS="alice,bob"``, an
environment setting of the server) grant and revoke the adjudicator role, and create campaigns,
from the page. A control a person may not use is disabled with the reason beside it, before any
click, not refused after one.

Who someone is: the signed-in user with password auth or a Hugging Face login, else the name
typed. Without sign-in a typed name is not proof of anything, so the line says that the operator
should turn sign-in on where admin rights matter."""
from __future__ import annotations

import os

import gradio as gr

from ..store import teams
from . import render
from . import person as acting
from .context import Context

ADMINS_ENV = "ERANK_ADMINS"


def admins() -> set[str]:
    """The operator's admins (read at each check, so a restart is not needed to see a change)."""
    return {n.strip() for n in os.environ.get(ADMINS_ENV, "").split(",") if n.strip()}


def admin_reason(name: str) -> str | None:
    """None when ``name`` may act as admin, else the one line saying why not."""
    if not admins():
        return f"No admins are set: the operator names them with {ADMINS_ENV}=name,name (or uses `roles grant` on the command line)."
    if not name:
        return "Type your name (or sign in) to manage roles."
    if name not in admins():
        return f"Only admins ({', '.join(sorted(admins()))}) may change roles and campaigns."
    return None


def who_may_admin(typed: str, request: gr.Request | None) -> tuple[str, str | None]:
    """(name, the reason it may not act as admin, or None)."""
    name = acting.who(typed, request)
    return name, admin_reason(name)


def admin_line(reason: str | None, request: gr.Request | None, what: str) -> str:
    """What the page says beside admin controls: why they are disabled, or that they may be used."""
    if reason is not None:
        return render.md_escape(reason)
    unchecked = "" if getattr(request, "username", None) else (
        " (nobody is signed in, so the typed name is taken at its word: turn sign-in on where this matters)")
    return f"You are an admin: you may {what}.{unchecked}"


def build(ctx: Context, annotator: gr.Textbox, tab: gr.Tab) -> None:
    """The "Team roles" panel (inside a tab): the adjudicators, and grant / revoke for admins."""
    with gr.Accordion("Team roles (admins)", open=False, elem_id="erank-roles"):
        holders = gr.Markdown("", elem_id="erank-roles-holders")
        with gr.Row():
            person = gr.Textbox(label="Person", elem_id="erank-roles-person", scale=2)
            grant = gr.Button("Grant adjudicator", elem_id="erank-roles-grant", interactive=False, scale=1)
            revoke = gr.Button("Revoke adjudicator", elem_id="erank-roles-revoke", interactive=False, scale=1)
        why = gr.Markdown("", elem_id="erank-roles-why")

    def listing() -> str:
        names = teams.role_holders(ctx.store)
        return "Adjudicators: " + (", ".join(render.md_escape(n) for n in names) or "none yet")

    def refresh(typed, request: gr.Request):
        _, reason = who_may_admin(typed, request)
        allowed = reason is None
        return (listing(), gr.update(interactive=allowed), gr.update(interactive=allowed),
                admin_line(reason, request, "grant and revoke roles"))

    def change(action):
        def run(typed, target, request: gr.Request):
            _, reason = who_may_admin(typed, request)
            if reason is not None:  # the buttons are disabled; a stale page still gets the reason
                gr.Warning(render.html_escape(reason))
                return gr.skip(), gr.skip()
            try:
                done = (teams.grant_role if action == "grant" else teams.revoke_role)(ctx.store, target)
            except ValueError as error:
                gr.Warning(render.html_escape(error))
                return gr.skip(), gr.skip()
            verb = {("grant", True): "is now", ("grant", False): "was already",
                    ("revoke", True): "is no longer", ("revoke", False): "was not"}[(action, done)]
            return listing(), f"{render.md_escape(target.strip())} {verb} an adjudicator."
        return run

    tab.select(refresh, [annotator], [holders, grant, revoke, why], api_visibility="private")
    annotator.change(refresh, [annotator], [holders, grant, revoke, why], api_visibility="private")
    grant.click(change("grant"), [annotator, person], [holders, why], api_visibility="private")
    revoke.click(change("revoke"), [annotator, person], [holders, why], api_visibility="private")
