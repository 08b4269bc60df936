"""Whole episodes in the real env (swe_dagger/SWE-v0, local bubblewrap sandbox) on a tiny real git task."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import gymnasium
import pytest

import swe_dagger.envs  # noqa: F401  (registers swe_dagger/SWE-v0)
from swe_dagger.agents.agent import Agent, AgentConfig
from swe_dagger.agents.backends.hf import HFPolicy
from swe_dagger.agents.episode import run_episode
from swe_dagger.agents.prompts import SUBMIT_MARKER
from swe_dagger.agents.protocol import Completion, Conversation, SamplingParams
from swe_dagger.envs.actions import SUBMIT_MARKER as ENV_SUBMIT_MARKER
from swe_dagger.envs.task import Task

BUGGY = "def double(x):\n    return x + x + 1\n"
TEST = "from mod import double\n\n\ndef test_double():\n    assert double(3) == 6\n"


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def pytest_venv() -> Path:
    """A venv holding pytest for the sandboxed tests, cached outside /tmp (the sandbox hides the host's /tmp);
    same location and recipe as the env tests' venv, so the two share it."""
    cache = Path(os.environ.get("SWE_DAGGER_CACHE", Path.home() / ".cache" / "swe-dagger"))
    venv = cache / "test-venvs" / f"py{sys.version_info.major}{sys.version_info.minor}-pytest"
    if not (venv / "bin" / "pytest").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "pytest"], check=True)
    return venv


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    repo = tmp_path_factory.mktemp("tiny_repo")
    (repo / "tests").mkdir()
    (repo / "mod.py").write_text(BUGGY)
    (repo / "tests" / "test_mod.py").write_text(TEST)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "buggy")
    base = git(repo, "rev-parse", "HEAD").strip()
    return Task(
        instance_id="tiny__tiny-1", repo="tiny/tiny", base_commit=base, problem_statement="double(3) is 7, not 6.",
        patch="", fail_to_pass=("tests/test_mod.py::test_double",), repo_path=repo, venv=pytest_venv(),
        test_cmd="python -m pytest -rA -p no:cacheprovider tests/test_mod.py",
    )


@pytest.fixture()
def env(task: Task) -> Iterator[gymnasium.Env[str, str]]:
    env = gymnasium.make("swe_dagger/SWE-v0", tasks=[task], sandbox="local", max_turns=3, allow_unvalidated=True,
                         command_timeout_s=20)
    try:
        yield env
    finally:
        env.close()


def test_agent_and_env_agree_on_the_submit_marker() -> None:
    assert SUBMIT_MARKER == ENV_SUBMIT_MARKER


def test_tiny_student_garbage_runs_to_truncation(env: gymnasium.Env[str, str], hf_policy: HFPolicy) -> None:
    agent = Agent(AgentConfig(max_prompt_tokens=2048))
    result = run_episode(env, agent, hf_policy, SamplingParams(max_new_tokens=24, temperature=1.0, seed=0),
                         count_tokens=hf_policy.count_tokens)
    assert result.truncated and not result.terminated and len(result.steps) == 3
    assert all(step.format_error and "Format error" in step.observation for step in result.steps)
    assert all(step.completion.token_ids for step in result.steps)
    assert result.resolution is None and result.reward == 0.0 and result.task_id == "tiny__tiny-1"


class ScriptedPolicy:
    """A stand-in for the policy's decisions: fixed replies in order."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.seen: list[Conversation] = []

    def generate(self, conversations: Sequence[Conversation], sampling: SamplingParams) -> list[Completion]:
        self.seen.extend(conversations)
        return [Completion(text=self.replies.pop(0)) for _ in conversations]

    def close(self) -> None:
        pass


def test_a_fix_and_submit_terminates_with_full_reward(env: gymnasium.Env[str, str]) -> None:
    policy = ScriptedPolicy([
        "THOUGHT: fix it.\n\n```bash\nsed -i 's/ + 1$//' mod.py && cat mod.py\n```",
        f"THOUGHT: done.\n\n```bash\necho {SUBMIT_MARKER}\n```",
    ])
    result = run_episode(env, Agent(), policy, SamplingParams())
    assert result.terminated and not result.truncated and len(result.steps) == 2
    assert (result.reward, result.resolution, result.error) == (1.0, "FULL", None), result.steps[-1].observation
    assert "return x + x\n" in result.steps[0].observation
    assert policy.seen[1][-1].content == result.steps[0].observation, "the policy saw the env's output verbatim"
