"""Whether a model can be had from here: a local folder, the Hugging Face cache, or the Hub at
huggingface_hub's endpoint (HF_ENDPOINT whole). The engine loader and the tokenizer loader both ask."""
from __future__ import annotations

import os

from ..network import PROBE_TIMEOUT_S, offline_forced


def hub_problem(model: str) -> str | None:
    """None when the Hub serves ``model`` to this machine; else why not, in one line (within a few
    seconds). The probe is the download's own first request, a HEAD on the model's config.json at
    huggingface_hub's endpoint (HF_ENDPOINT as given, so a mirror on its own port is asked, not
    huggingface.co), with the download's token and proxies."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
    )

    endpoint = constants.ENDPOINT
    if offline_forced() or constants.is_offline_mode():
        return f"{model} is not on this machine and the Hugging Face Hub cannot be reached (offline: HF_HUB_OFFLINE)"
    try:
        get_hf_file_metadata(hf_hub_url(model, "config.json"), timeout=PROBE_TIMEOUT_S)
    except HFValidationError:
        return f"{model!r} is neither a folder here nor a Hugging Face model id"
    except EntryNotFoundError:
        return None  # the model is there without a config.json (e.g. GGUF only): the load says more
    except GatedRepoError:
        return f"{model} is gated on {endpoint}: accept its terms there and sign in (HF_TOKEN)"
    except RepositoryNotFoundError:
        return f"{model} is not on {endpoint} (if it is private, sign in: HF_TOKEN)"
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        return f"{endpoint} answered {status or 'an error'} for {model}"
    except Exception as error:  # connection refused, timeout, DNS, TLS, proxy: not reachable
        return (f"{model} is not on this machine and the Hugging Face Hub ({endpoint}) cannot be "
                f"reached ({type(error).__name__})")
    return None


def _cached_locally(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:
        return False


def model_availability(model: str) -> str | None:
    """None when ``model`` can be loaded from here; otherwise why not (fast, no download)."""
    if os.path.isdir(model):
        return None
    if _cached_locally(model):
        return None
    return hub_problem(model)


def cached_snapshot(model: str) -> str | None:
    """The cached copy of hub model ``model`` (its snapshot folder in the Hugging Face cache) when
    the Hub cannot serve it from here (offline, the endpoint unreachable, or it refuses); None for
    a local folder, a model not cached, or a Hub that answers (the download path stays the
    library's). For vLLM: with the Hub unreachable but not declared offline (HF_HUB_OFFLINE
    unset), vLLM 0.32 asks the Hub whether files a cached model lacks exist
    (hf_quant_config.json) and fails after a minute of retries, where transformers reads the cache."""
    if os.path.isdir(model) or not _cached_locally(model) or hub_problem(model) is None:
        return None
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, local_files_only=True)
    except Exception:  # no complete snapshot: the load tries the name and says why it fails
        return None
