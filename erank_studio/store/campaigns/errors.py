"""The one error of campaign use cases: bad input or a state that forbids the action, in one line."""
from __future__ import annotations


class CampaignError(ValueError):
    """No such campaign or item, a label beyond the overlap, a bad setting: one line, nothing saved."""
