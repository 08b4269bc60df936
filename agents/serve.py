"""Run ``transformers serve`` on a local model directory as a child process (OpenAI-compatible, 127.0.0.1).

Used to put the tiny student (or any HF model dir) behind ``/v1/chat/completions`` for :class:`OpenAIPolicy` and
the chat teacher, without vLLM. The server lives in its own process group and :meth:`close` stops the whole group
(SIGTERM, then SIGKILL), so no process outlives its owner. Needs the ``serve`` extra (``transformers[serving]``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

_LAUNCH = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"


class ServeError(RuntimeError):
    """The server did not come up (the message carries the tail of its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TransformersServer:
    """``with TransformersServer(model_dir) as server: OpenAIPolicy(server.model_id, ClientConfig(server.url))``."""

    def __init__(
        self,
        model: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        device: str = "cpu",
        startup_timeout_s: float = 180.0,
        threads: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``threads`` caps the server's CPU threads (``OMP_NUM_THREADS``); on a shared machine 1 is often fastest."""
        self.model_id = str(model)
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}/v1"
        self._log = tempfile.NamedTemporaryFile(prefix="transformers-serve-", suffix=".log", delete=False)  # noqa: SIM115
        command = [sys.executable, "-c", _LAUNCH, "serve", self.model_id, "--host", host, "--port", str(self.port),
                   "--device", device, *extra_args]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        if threads is not None:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        try:
            self._wait_healthy(self._process, startup_timeout_s)
        except BaseException:
            self.close()
            raise

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def _wait_healthy(self, process: subprocess.Popen[bytes], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServeError(f"transformers serve exited with {process.returncode}: {self._log_tail()}")
            try:
                if httpx.get(f"http://{self.host}:{self.port}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise ServeError(f"transformers serve not healthy after {timeout_s:.0f}s: {self._log_tail()}")

    def _log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def close(self) -> None:
        """Stop the server's process group; safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if not self._log.closed:
            self._log.close()
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> TransformersServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
