"""ERank Studio: see how the ERank reasoning reranker judges documents, and correct it."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Reranker", "hybrid_scores", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import erank_studio` (e.g. for the store) does not import torch.
    if name in ("Reranker", "hybrid_scores"):
        from . import reranker

        return getattr(reranker, name)
    raise AttributeError(name)
