"""A stand-in Hugging Face Hub on a loopback port, for tests that take the path a user's download
takes: ``HF_ENDPOINT=http://127.0.0.1:PORT`` and huggingface_hub / transformers do the rest.

It serves model folders under hub names (``Alibaba-NLP/ERank-4B`` -> a tiny Qwen3 folder) through
the requests huggingface_hub makes (see its file_download.py, hf_api.py):

- ``HEAD|GET /{repo}/resolve/{revision}/{file}``: the file, with ``X-Repo-Commit`` (required: a
  response without it "does not seem to be served by a Hugging Face Hub endpoint"), ``ETag``
  (required: the cache's blob name) and ``Content-Length``;
- ``GET /api/models/{repo}[/revision/{revision}]``: the model's info (``sha``, ``siblings``), what
  ``model_info`` / ``snapshot_download`` read;
- ``GET /api/models/{repo}/tree/{revision}``: the file list ``snapshot_download`` walks.

Unknown repositories answer 404 with ``X-Error-Code: RepoNotFound`` and unknown files 404 with
``EntryNotFound``, as the Hub does, so huggingface_hub raises its own errors. Every request is
recorded in ``requests`` (method, path) so a test can see what was asked.

``user_env`` and ``run_python`` run a user's program against it in a subprocess: huggingface_hub
reads HF_HUB_OFFLINE, HF_ENDPOINT and HF_HOME once, at import, and the tests' own process is
offline (conftest), so a download is only a user's in a fresh process."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


REPO_ROOT = Path(__file__).resolve().parents[1]
# Variables of this machine or of conftest that would change what a subprocess loads.
_CLEARED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "ERANK_OFFLINE", "HF_ENDPOINT",
            "HF_HOME", "HF_HUB_CACHE", "ERANK_MODEL", "ERANK_ENGINE", "ERANK_CPU_MODEL", "ERANK_DB_URL",
            "ERANK_MAX_NEW_TOKENS", "SPACE_ID", "SPACES_ZERO_GPU")


def user_env(endpoint: str, hf_home: Path, **extra: str) -> dict[str, str]:
    """This process's environment as a user's: the Hub online at ``endpoint``, its cache in
    ``hf_home``, no GPU, this checkout importable."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])), **extra)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 400) -> dict:
    """Run ``code`` as a user's program; it prints one JSON object last."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _commit_of(repo: str) -> str:
    return hashlib.sha1(f"stand-in commit of {repo}".encode()).hexdigest()  # 40 hex, like a git commit


class StandInHub:
    """``with StandInHub({"Alibaba-NLP/ERank-4B": folder}) as hub: ... hub.endpoint ...``"""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {name: Path(folder) for name, folder in repos.items()}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the stand-in hub is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInHub:
        hub = self

        class Handler(_Handler):
            stand_in = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: a free one
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="stand-in-hub")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandInHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def files(self, repo: str) -> list[Path]:
        folder = self.repos[repo]
        return sorted(p for p in folder.rglob("*") if p.is_file())

    def resolve(self, path: str) -> tuple[str, str, str] | None:
        """(repo, revision, file) of an API-free path ``{org}/{name}/resolve/{rev}/{file}``."""
        parts = path.strip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            return "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        return None


def downloads(hub: StandInHub, repo: str) -> list[str]:
    """The files of ``repo`` fetched whole (GET) from ``hub`` so far."""
    return [path for method, path in hub.requests if method == "GET" and path.startswith(f"/{repo}/resolve/")]


class _Handler(BaseHTTPRequestHandler):
    stand_in: StandInHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads .requests
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.stand_in.requests.append((self.command, path))
        if path.startswith("/api/models/"):
            self._api(path[len("/api/models/"):], body)
            return
        found = self.stand_in.resolve(path)
        if found is None:
            self._send(404, b'{"error": "not found"}', body, {"X-Error-Code": "EntryNotFound"})
            return
        repo, _revision, name = found
        if repo not in self.stand_in.repos:
            self._repo_not_found(repo, body)
            return
        file = self.stand_in.repos[repo] / name
        commit = {"X-Repo-Commit": _commit_of(repo)}
        if not file.is_file():
            self._send(404, b'{"error": "Entry not found"}', body,
                       {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found", **commit})
            return
        data = file.read_bytes()
        self._send(200, data, body, {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', **commit},
                   content_type="application/octet-stream")

    def _api(self, rest: str, body: bool) -> None:
        parts = rest.strip("/").split("/")
        repo = "/".join(parts[:2])
        if repo not in self.stand_in.repos:
            self._repo_not_found(repo, body)
            return
        commit = _commit_of(repo)
        files = self.stand_in.files(repo)
        folder = self.stand_in.repos[repo]
        if len(parts) >= 4 and parts[2] == "tree":
            under = "/".join(parts[4:])
            inside = [f for f in files if not under or str(f.relative_to(folder)).startswith(under + "/")]
            if under and not inside:
                self._send(404, b'{"error": "Entry not found"}', body,
                           {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
                return
            listing = [{"type": "file", "path": str(f.relative_to(folder)), "size": f.stat().st_size,
                        "oid": hashlib.sha1(f.read_bytes()).hexdigest()} for f in inside]
            self._send(200, json.dumps(listing).encode(), body, {"X-Repo-Commit": commit})
            return
        info = {"id": repo, "modelId": repo, "sha": commit, "private": False, "disabled": False,
                "gated": False, "tags": ["qwen3"], "pipeline_tag": "text-generation",
                "siblings": [{"rfilename": str(f.relative_to(folder))} for f in files]}
        self._send(200, json.dumps(info).encode(), body, {"X-Repo-Commit": commit})

    def _repo_not_found(self, repo: str, body: bool) -> None:
        self._send(404, json.dumps({"error": f"Repository {repo} not found"}).encode(), body,
                   {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})

    def _send(self, status: int, data: bytes, body: bool, headers: dict[str, str],
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)
