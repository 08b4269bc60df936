"""Shared fixtures: a real tiny student (trained tokenizer + random-init Qwen3) built once per test session."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.serve import TransformersServer
from swe_dagger.agents.tiny_student import build_tiny_student

# The test machine's few cores are shared; one intra-op thread is many times faster than oversubscribing them.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300k parameters, 1k vocab: enough to exercise every code path in well under a second per call."""
    return build_tiny_student(tmp_path_factory.mktemp("tiny_student"), params="300k", vocab_size=1000, seed=0)


@pytest.fixture(scope="session")
def hf_policy(tiny_student_dir: Path) -> Iterator[HFPolicy]:
    with HFPolicy.from_pretrained(tiny_student_dir, model_version="v0") as policy:
        yield policy


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fault server."""

    status: int = 200
    text: str = "ok"
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    raw_body: str | None = None
    """Send this body verbatim instead of a well-formed chat completion."""
    drop: bool = False
    """Close the connection without answering."""


class FaultServer:
    """A real HTTP server on 127.0.0.1 that answers /v1/chat/completions from a script (then 'ok' forever)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[dict[str, object]] = []
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.arrivals.append(time.monotonic())
                    reply = server.script.pop(0) if server.script else Reply()
                time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = reply.raw_body if reply.raw_body is not None else json.dumps(_completion(reply.text))
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def _completion(text: str) -> dict[str, object]:
    return {
        "id": "x", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }


@pytest.fixture()
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def served_student(tiny_student_dir: Path) -> Iterator[TransformersServer]:
    """The tiny student behind a real ``transformers serve`` on a free 127.0.0.1 port, for the whole session."""
    with TransformersServer(tiny_student_dir, startup_timeout_s=180) as server:
        yield server
