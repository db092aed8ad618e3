"""Deciding fast whether a network service can be reached, so nothing hangs offline."""
from __future__ import annotations

import os
import socket

PROBE_TIMEOUT_S = 3.0
OFFLINE_VARIABLES = ("ERANK_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def offline_forced() -> bool:
    """The user said so: ERANK_OFFLINE, HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set."""
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in OFFLINE_VARIABLES)


def host_reachable(host: str, timeout: float = PROBE_TIMEOUT_S, port: int = 443) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
