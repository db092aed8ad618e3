"""Local fake OpenAI-compatible servers for the several-servers tests and bench/bench_openai_servers.py.

Each ``FakeServer`` is a threaded HTTP server on 127.0.0.1 (a free port) that answers
``/v1/models``, ``/v1/chat/completions`` (with logprobs and the top alternatives) and
``/v1/completions`` (token-id prompts, one token, the extra step for P(0..10)). Its answers are a
function of the request alone (the score from a hash of the message), so every server gives the
same judgment for the same document: what lets a test compare judgments across servers.

``latency_per_token_s`` makes each answer take that long per generated token (a sleep, so many
requests are "decoded" at once, as on a batching server, without using the CPU). ``fail_status``
makes every generation request fail with that HTTP status."""
from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-erank"
P_SCORE = 0.75  # the probability the server gives the score's digit(s)


def score_of(message: str) -> int:
    """The score every fake server gives this message (0..10)."""
    return int.from_bytes(hashlib.sha1(message.encode("utf-8", "replace")).digest()[:4], "big") % 11


def answer_pieces(score: int, output_tokens: int) -> list[str]:
    """``<think>`` + filler tokens + ``</think><answer>N</answer>``, ``output_tokens`` long at least."""
    tail = ["</think>", "<answer>"] + list(str(score)) + ["</answer>"]
    filler = [" word"] * max(1, output_tokens - 1 - len(tail))
    return ["<think>"] + filler + tail


class FakeServer:
    def __init__(self, *, latency_per_token_s: float = 0.0, output_tokens: int = 12) -> None:
        self.latency_per_token_s = latency_per_token_s
        self.output_tokens = output_tokens
        self.fail_status: int | None = None
        self.lock = threading.Lock()
        self.chat_messages: list[str] = []  # the user message of each chat request, in order
        self.completion_prompts: list[list[int]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def entered(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        with self.lock:
            self.in_flight -= 1


@contextmanager
def fake_servers(count: int, **options: Any) -> Iterator[list[FakeServer]]:
    servers = [FakeServer(**options).start() for _ in range(count)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _top(token: str, logprob: float, alternatives: dict[str, float] | None = None) -> list[dict[str, Any]]:
    listed = alternatives or {token: logprob}
    return [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in listed.items()]


class OpenAIHandler(BaseHTTPRequestHandler):
    """What every fake OpenAI-compatible server here shares: JSON answers and ``/v1/models``."""

    def log_message(self, *args: Any) -> None:  # keep test and bench output clean
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})


    def _route(self, body: dict[str, Any]) -> None:
        """A POST to its endpoint (the subclass's ``_chat`` and ``_completion``)."""
        if self.path == "/v1/chat/completions":
            self._chat(body)
        elif self.path == "/v1/completions":
            self._completion(body)
        else:
            self._send(404, {"error": {"message": "not found"}})


class _Handler(OpenAIHandler):
    server_state: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = self.server_state
        if state.fail_status is not None:
            # retry-after-ms keeps the openai client's backoff short
            self._send(state.fail_status, {"error": {"message": "failing on purpose", "type": "server_error"}},
                       {"retry-after-ms": "5"})
            return
        state.entered()
        try:
            self._route(body)
        finally:
            state.left()

    def _chat(self, body: dict[str, Any]) -> None:
        state = self.server_state
        message = body["messages"][-1]["content"]
        with state.lock:
            state.chat_messages.append(message)
        score = score_of(message)
        pieces = answer_pieces(score, min(state.output_tokens, int(body.get("max_tokens") or 10**9)))
        if state.latency_per_token_s:
            time.sleep(state.latency_per_token_s * len(pieces))
        digit_logprob = math.log(P_SCORE) / len(str(score))  # P(N) = P_SCORE over its digits
        content = []
        for token in pieces + ["<|im_end|>"]:
            logprob = digit_logprob if token.isdigit() else -0.01
            content.append({"token": token, "logprob": logprob, "bytes": list(token.encode()),
                            "top_logprobs": _top(token, logprob) if body.get("top_logprobs") else []})
        self._send(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "".join(pieces)},
                         "logprobs": {"content": content}}],
            "usage": {"prompt_tokens": len(message) // 4, "completion_tokens": len(pieces) + 1,
                      "total_tokens": len(message) // 4 + len(pieces) + 1},
        })

    def _completion(self, body: dict[str, Any]) -> None:
        """The next-token digits after a token-id prompt: a fixed distribution by the last id."""
        ids = body["prompt"]
        with self.server_state.lock:
            self.server_state.completion_prompts.append(list(ids))
        weights = {str(d): 1.0 + (ids[-1] + d) % 5 for d in range(10)}
        total = sum(weights.values())
        top = {d: math.log(w / total) for d, w in weights.items()}
        self._send(200, {
            "id": "cmpl-fake", "object": "text_completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "text": "1", "finish_reason": "length",
                         "logprobs": {"tokens": ["1"], "token_logprobs": [top["1"]],
                                      "top_logprobs": [top], "text_offset": [0]}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1},
        })
