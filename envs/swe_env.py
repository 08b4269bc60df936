"""``swe_dagger/SWE-v0``: a Gymnasium env where one episode is one SWE-bench task solved with bash commands.

reset → the task prompt. step(reply) → the reply's one ```bash block runs in the repo root; the observation is
its exit code and output. A command whose output starts with ``COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` submits:
the agent's diff is graded in a fresh workspace of the same task (test_patch applied, tests run, swebench's rules)
and the episode terminates with reward 1.0 iff FULL. Only the agent's changes to non-test code count: its changes to
the task's tests, ``conftest.py``, pytest config and the other protected paths of :mod:`swe_dagger.envs.protected`
are left out, and ``info["tampered"]`` lists the ones it touched. Running out of turns truncates. Format errors and
failing commands are observations; a grading crash is ``info["error"]`` (reward 0.0, ``resolution`` None), never a
silent zero. A command that grows the workspace past ``Limits.disk_bytes`` truncates the episode
(``info["disk_exceeded"]``; the sandbox has reset the workspace, and the observation says so).
``stable_timings=True`` writes a fixed duration into the test-run summary lines of observations (``2 passed in
0.00s``), so that reruns of the same commands see the same text; grading never reads observations.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium

from swe_dagger.envs.actions import FormatError, is_submission, parse_action
from swe_dagger.envs.evaluation import Evaluation, evaluate_fresh
from swe_dagger.envs.loading import load_tasks
from swe_dagger.envs.observations import TASK_PROMPT_STYLES, command_observation, fixed_durations, task_prompt
from swe_dagger.envs.spaces import UnicodeText
from swe_dagger.envs.task import Task
from swe_dagger.sandbox.protocol import Limits, Sandbox, SandboxError, WorkspaceSource

MAX_TEXT = 1_000_000
"""Longest observation/action (characters) the spaces declare; longer observations are cut to it."""

TaskSource = str | Path | Sequence[Task] | Sequence[Mapping[str, Any]]


def _as_tasks(tasks: TaskSource) -> list[Task]:
    if isinstance(tasks, (str, Path)):
        return load_tasks(tasks)
    items = list(tasks)
    if all(isinstance(t, Task) for t in items):
        return [t for t in items if isinstance(t, Task)]
    if any(isinstance(t, Task) for t in items):
        raise TypeError("tasks: mix of Task objects and rows; give one kind")
    return load_tasks([t for t in items if isinstance(t, Mapping)])


def _check_validated(tasks: Sequence[Task]) -> None:
    missing = [t.instance_id for t in tasks if not t.validated]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(tasks)} tasks are not validated (e.g. {', '.join(missing[:3])}). "
            "Run `swe-dagger tasks validate FILE` and train on FILE's .validated.jsonl, or pass allow_unvalidated=True."
        )


class SWEEnv(gymnasium.Env[str, str]):
    """One SWE-bench task per episode, in a fresh sandbox workspace at the task's base commit."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's declared class attribute)

    def __init__(
        self,
        tasks: TaskSource,
        sandbox: Literal["local", "docker"] | str = "local",
        max_turns: int = 30,
        command_timeout_s: float = 60.0,
        output_bytes: int = 20_000,
        allow_unvalidated: bool = False,
        limits: Limits | None = None,
        test_timeout_s: float = 900.0,
        task_prompt: Literal["full", "issue"] | str = "full",
        stable_timings: bool = False,
    ) -> None:
        if task_prompt not in TASK_PROMPT_STYLES:
            raise ValueError(f"task_prompt must be one of {', '.join(TASK_PROMPT_STYLES)}, got {task_prompt!r}")
        self.task_prompt = task_prompt
        self.stable_timings = stable_timings
        self.tasks = _as_tasks(tasks)
        if not self.tasks:
            raise ValueError("tasks: no tasks given")
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        if not allow_unvalidated:
            _check_validated(self.tasks)
        self._by_id = {t.instance_id: t for t in self.tasks}
        self.backend = sandbox
        self.max_turns = max_turns
        self.test_timeout_s = test_timeout_s
        self.limits = dataclasses.replace(limits or Limits(), timeout_s=command_timeout_s, output_bytes=output_bytes)
        self.observation_space = UnicodeText(MAX_TEXT)
        self.action_space = UnicodeText(MAX_TEXT)
        self._sandbox: Sandbox | None = None
        self._sandbox_task: str | None = None
        self._task: Task | None = None
        self._turn = 0
        self._done = False

    # --- public extras used by the DAgger collector ---
    @property
    def current_task(self) -> Task:
        if self._task is None:
            raise RuntimeError("no current task: call reset() first")
        return self._task

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            raise RuntimeError("no sandbox: call reset() first")
        return self._sandbox

    def workspace_diff(self) -> str:
        """The agent's changes so far as a ``git apply``-able diff against the base commit."""
        return self.sandbox.diff()

    def evaluate(self, patch: str) -> Evaluation:
        """Grade ``patch`` for the current task as a submission is graded: protected paths left out, in a fresh
        workspace (the agent's is untouched). Raises when grading itself fails."""
        task = self.current_task
        return evaluate_fresh(lambda: self._new_sandbox(task), task, patch, self.test_timeout_s)

    # --- gymnasium API ---
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id is None:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        elif task_id in self._by_id:
            task = self._by_id[task_id]
        else:
            raise KeyError(f"unknown task_id {task_id!r} ({len(self.tasks)} tasks, e.g. {self.tasks[0].instance_id})")
        self._open_workspace(task)
        self._task, self._turn, self._done = task, 0, False
        return task_prompt(task, self.task_prompt)[:MAX_TEXT], {"task_id": task.instance_id, "turn": 0}

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._task is None or self._sandbox is None:
            raise RuntimeError("step() before reset()")
        if self._done:
            raise RuntimeError("step() after the episode ended; call reset()")
        self._turn += 1
        info: dict[str, Any] = {"turn": self._turn, "exit_code": None, "format_error": False, "timed_out": False,
                                "disk_exceeded": False}
        reward, terminated = 0.0, False
        try:
            command = parse_action(action)
        except FormatError as exc:
            observation = str(exc)
            info["format_error"] = True
        else:
            result = self._sandbox.exec(command)
            info.update(exit_code=result.exit_code, timed_out=result.timed_out, disk_exceeded=result.disk_exceeded)
            observation = command_observation(
                result, self.limits.timeout_s, self.limits.output_bytes, disk_bytes=self.limits.disk_bytes
            )
            if self.stable_timings:  # the agent's view only: submission and grading read the command's own output
                observation = fixed_durations(observation)
            if is_submission(result.output) and not result.disk_exceeded:
                reward, terminated = self._submit(self._sandbox, self._task, info), True
        # the disk limit ends the episode like the turn limit: the sandbox already reset the workspace
        truncated = not terminated and (self._turn >= self.max_turns or info["disk_exceeded"])
        self._done = terminated or truncated
        return observation[:MAX_TEXT], reward, terminated, truncated, info

    def close(self) -> None:
        """Release the workspace; safe to call twice."""
        sandbox, self._sandbox, self._sandbox_task = self._sandbox, None, None
        if sandbox is not None:
            sandbox.close()

    # --- internals ---
    def _open_workspace(self, task: Task) -> None:
        if self._sandbox is not None and self._sandbox_task == task.instance_id:
            try:  # same task again (e.g. a GRPO group): a fast reset beats a new workspace
                self._sandbox.reset()
                return
            except SandboxError:  # the agent broke it beyond reset (or its container vanished): start afresh
                pass
        self.close()
        self._sandbox = self._new_sandbox(task)
        self._sandbox_task = task.instance_id

    def _new_sandbox(self, task: Task) -> Sandbox:
        from swe_dagger.sandbox.factory import open_sandbox

        if self.backend == "docker" and task.repo_path is None:
            if not task.image:
                raise ValueError(f"task {task.instance_id}: sandbox='docker' needs an image or a repo_path")
            source = None
        elif task.repo_path is None:
            raise ValueError(f"task {task.instance_id}: sandbox={self.backend!r} needs a repo_path (local checkout)")
        else:
            source = WorkspaceSource(task.repo_path, task.base_commit or None)
        runtime = task.venv if self.backend != "docker" else None
        return open_sandbox(self.backend, source, limits=self.limits, runtime=runtime, image=task.image)

    def _submit(self, sandbox: Sandbox, task: Task, info: dict[str, Any]) -> float:
        """Grade the submitted diff in a fresh workspace; fills ``info`` and returns the reward."""
        info.update(resolution=None, patch="", test_status={}, tampered=[])
        start = time.monotonic()
        try:
            info["patch"] = sandbox.diff()
            evaluation = self.evaluate(info["patch"])
        except Exception as exc:  # our machinery failed: report it, never score it
            info["error"] = f"grading failed: {type(exc).__name__}: {exc}"
            return 0.0
        finally:
            info["grading_s"] = time.monotonic() - start
        info.update(
            resolution=evaluation.resolution,
            tampered=list(evaluation.tampered),
            test_status=evaluation.test_status,
            tests_timed_out=evaluation.timed_out,
            f2p_failure=list(evaluation.report.f2p_failure),
            p2p_failure=list(evaluation.report.p2p_failure),
        )
        return 1.0 if evaluation.report.resolved else 0.0
