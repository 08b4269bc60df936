"""The env end to end on a real git repo, a real pytest suite and the real bubblewrap sandbox."""

from __future__ import annotations

import dataclasses
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import swe_dagger.envs  # noqa: F401  (registers swe_dagger/SWE-v0)
from swe_dagger.envs.actions import SUBMIT_MARKER
from swe_dagger.envs.swe_env import SWEEnv
from swe_dagger.envs.task import Task

SUBMIT = f"Done.\n```bash\necho {SUBMIT_MARKER}\n```"


def bash(command: str) -> str:
    return f"Let me run this.\n```bash\n{command}\n```"


def apply_by_shell(patch: str) -> str:
    """The reply an agent would write to apply ``patch`` with a heredoc and git apply."""
    return bash(f"cat > /tmp/fix.patch <<'PATCH_EOF'\n{patch}PATCH_EOF\ngit apply /tmp/fix.patch && git status --short")


@pytest.fixture()
def env(calc_tasks: list[Task]):  # type: ignore[no-untyped-def]
    environment = SWEEnv(calc_tasks, sandbox="local", max_turns=5, allow_unvalidated=True, command_timeout_s=5)
    yield environment
    environment.close()


def test_registered_and_check_env_passes(calc_tasks: list[Task]) -> None:
    made = gymnasium.make("swe_dagger/SWE-v0", tasks=calc_tasks, sandbox="local", max_turns=3, allow_unvalidated=True)
    try:
        assert isinstance(made.unwrapped, SWEEnv)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # gymnasium's checker reports problems as warnings: none allowed
            check_env(made.unwrapped)
        assert made.observation_space.contains("any unicode: \ufffd é 漢")
    finally:
        made.close()
        made.close()  # idempotent


def test_reset_gives_the_prompt_and_a_seeded_choice(env: SWEEnv) -> None:
    obs, info = env.reset(seed=3)
    again, info2 = env.reset(seed=3)
    assert obs == again and info["task_id"] == info2["task_id"]
    chosen = {env.reset(seed=s)[1]["task_id"] for s in range(12)}
    assert chosen == {"calc__calc-1", "calc__calc-2"}
    obs, info = env.reset(options={"task_id": "calc__calc-1"})
    assert "add(-2, 3) returns 5" in obs and SUBMIT_MARKER in obs and "```bash" in obs
    assert env.current_task.instance_id == "calc__calc-1"
    assert "test_add_negative" not in obs and "abs(a)" not in obs  # neither the test patch nor the gold patch
    with pytest.raises(KeyError, match="nope"):
        env.reset(options={"task_id": "nope"})


def test_issue_only_task_prompt_leaves_the_protocol_to_the_agent(calc_tasks: list[Task]) -> None:
    with SWEEnv(calc_tasks, max_turns=2, allow_unvalidated=True, task_prompt="issue") as short:
        obs, _ = short.reset(options={"task_id": "calc__calc-1"})
    assert "add(-2, 3) returns 5" in obs and "calc" in obs
    assert SUBMIT_MARKER not in obs and "```bash" not in obs and "abs(a)" not in obs
    with pytest.raises(ValueError, match="task_prompt must be one of full, issue, got 'short'"):
        SWEEnv(calc_tasks, allow_unvalidated=True, task_prompt="short")


def test_commands_format_errors_timeouts_and_big_output_are_observations(calc_tasks: list[Task]) -> None:
    with SWEEnv(calc_tasks, max_turns=10, allow_unvalidated=True, command_timeout_s=1, output_bytes=2000) as env:
        env.reset(options={"task_id": "calc__calc-1"})
        obs, reward, term, trunc, info = env.step(bash("grep -n 'abs' calc/ops.py; ls tests; false"))
        assert "<returncode>1</returncode>" in obs and "return abs(a) + b" in obs and "test_ops.py" in obs
        assert (reward, term, trunc, info["exit_code"], info["format_error"]) == (0.0, False, False, 1, False)
        obs, *_, info = env.step("I think the bug is in add.")
        assert info["format_error"] and "no bash code block" in obs and info["exit_code"] is None
        obs, *_, info = env.step(bash("ls") + "\n" + bash("pwd"))
        assert info["format_error"] and "2 bash code blocks" in obs
        obs, *_, info = env.step(bash("sleep 10"))
        assert info["timed_out"] and "timed out after 1 s" in obs
        obs, *_, info = env.step(bash("yes abcdefgh | head -c 500000"))
        assert "only its head and tail" in obs and len(obs) < 10_000
        obs, *_ = env.step(bash("printf '\\xff\\xfe bad bytes'"))
        assert "\ufffd" in obs and "bad bytes" in obs
        assert info["turn"] == 5


def test_gold_patch_by_shell_resolves_and_grading_happens_in_a_copy(env: SWEEnv, calc_tasks: list[Task]) -> None:
    task = calc_tasks[0]
    env.reset(options={"task_id": task.instance_id})
    obs, reward, *_ = env.step(apply_by_shell(task.patch))
    assert "M calc/ops.py" in obs and reward == 0.0
    before = env.unwrapped.workspace_diff()
    obs, reward, terminated, truncated, info = env.step(SUBMIT)
    assert (reward, terminated, truncated, info["resolution"]) == (1.0, True, False, "FULL")
    assert "error" not in info and info["patch"] == before and "abs(a)" in info["patch"]
    assert info["test_status"]["tests/test_ops.py::test_add_negative"] == "PASSED"
    assert len(info["test_status"]) == 5
    # the test patch was applied to a copy: the agent's workspace is as it was
    assert env.workspace_diff() == before
    assert "test_add_negative" not in env.sandbox.read_file("tests/test_ops.py")
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(SUBMIT)


def test_immediate_submit_is_no_and_truncation_on_turns(env: SWEEnv) -> None:
    env.reset(options={"task_id": "calc__calc-1"})
    _, reward, terminated, _, info = env.step(SUBMIT)
    assert (reward, terminated, info["resolution"], info["patch"]) == (0.0, True, "NO", "")
    assert info["test_status"]["tests/test_ops.py::test_add_negative"] == "FAILED"
    env.reset(options={"task_id": "calc__calc-1"})
    results = [env.step(bash("echo working")) for _ in range(5)]
    assert [r[3] for r in results] == [False] * 4 + [True] and not any(r[2] for r in results)


def test_synth_shaped_task_and_tampered_tests(env: SWEEnv, calc_tasks: list[Task]) -> None:
    synth = calc_tasks[1]
    env.reset(options={"task_id": synth.instance_id})
    env.step(apply_by_shell(synth.patch))
    *_, info = env.step(SUBMIT)
    assert info["resolution"] == "FULL"
    # half a fix: one of two FAIL_TO_PASS tests passes -> PARTIAL, reward 0
    env.reset(options={"task_id": synth.instance_id})
    env.step(bash("sed -i 's/min(x, lo)/min(x, 5)/' calc/ops.py"))
    _, reward, *_, info = env.step(SUBMIT)
    assert (reward, info["resolution"]) == (0.0, "PARTIAL")
    # an agent that rewrites a test the test_patch touches gets it reset, as in the swebench harness
    env.reset(options={"task_id": "calc__calc-1"})
    env.step(bash("printf 'def test_add_negative():\\n    pass\\n' > tests/test_ops.py"))
    *_, info = env.step(SUBMIT)
    assert info["resolution"] == "NO"
    # ... also when it commits the rewrite (grading starts from the base commit plus the agent's diff)
    env.reset(options={"task_id": "calc__calc-1"})
    env.step(bash("printf 'def test_add_negative():\\n    pass\\n' > tests/test_ops.py"))
    env.step(bash("git commit -qam 'tests pass now' && git log --oneline | wc -l"))
    *_, info = env.step(SUBMIT)
    assert info["resolution"] == "NO" and "tests/test_ops.py" in info["patch"]


def test_grading_crash_is_an_error_not_a_silent_zero(env: SWEEnv, calc_tasks: list[Task]) -> None:
    broken = dataclasses.replace(calc_tasks[0], instance_id="calc__broken", test_patch="diff --git a/x b/x\nnonsense\n")
    with SWEEnv([broken], max_turns=3, allow_unvalidated=True) as env2:
        env2.reset()
        _, reward, terminated, _, info = env2.step(SUBMIT)
    assert terminated and reward == 0.0 and info["resolution"] is None
    assert "test_patch line 2: unexpected 'nonsense'" in info["error"]  # it isn't a diff: grading can't begin
    no_runner = dataclasses.replace(calc_tasks[1], instance_id="calc__norunner", test_cmd="no-such-test-runner -x")
    slow = dataclasses.replace(calc_tasks[1], instance_id="calc__slow", test_cmd="sleep 30")
    with SWEEnv([no_runner, slow], max_turns=3, allow_unvalidated=True, test_timeout_s=2) as env3:
        env3.reset(options={"task_id": "calc__norunner"})
        *_, info = env3.step(SUBMIT)
        assert info["resolution"] is None and "could not run (exit 127)" in info["error"]
        # tests that hang are the agent's problem (its code may loop): graded NO like the harness's timeout
        env3.reset(options={"task_id": "calc__slow"})
        _, reward, *_, info = env3.step(SUBMIT)
        assert (reward, info["resolution"], info["tests_timed_out"]) == (0.0, "NO", True) and "error" not in info


def test_unvalidated_tasks_are_refused_unless_allowed(calc_tasks: list[Task]) -> None:
    with pytest.raises(ValueError, match=r"2 of 2 tasks are not validated.*allow_unvalidated=True"):
        SWEEnv(calc_tasks)
    marked = [dataclasses.replace(t, extra={"validated": "gold=FULL empty=NO runs=3"}) for t in calc_tasks]
    SWEEnv(marked).close()


def test_concurrent_envs_in_threads_keep_workspaces_apart(calc_tasks: list[Task]) -> None:
    """Three envs step at once (the collector's thread pool): each grades its own workspace."""
    from concurrent.futures import ThreadPoolExecutor

    plans = [(calc_tasks[0], True), (calc_tasks[0], False), (calc_tasks[1], True)]

    def episode(plan: tuple[Task, bool]) -> tuple[float, str]:
        task, fix = plan
        with SWEEnv(calc_tasks, allow_unvalidated=True) as env:
            env.reset(options={"task_id": task.instance_id})
            if fix:
                env.step(apply_by_shell(task.patch))
            _, reward, *_, info = env.step(SUBMIT)
            return reward, info["resolution"]

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(episode, plans)) == [(1.0, "FULL"), (0.0, "NO"), (1.0, "FULL")]


def test_docker_backend_episode(calc_tasks: list[Task]) -> None:
    """The same task in a container of the local test image (repo copied in at /testbed, no venv)."""
    import os

    import docker

    image = "swe-dagger-test:bookworm"  # built by scripts/build_test_image.sh
    try:
        docker.from_env().images.get(image)
    except Exception as exc:  # no daemon or no image: a failure in CI, a skip on a dev machine
        if os.environ.get("CI"):
            raise
        pytest.skip(f"docker or {image} unavailable: {exc}")
    task = dataclasses.replace(calc_tasks[0], image=image, venv=None)
    with SWEEnv([task], sandbox="docker", allow_unvalidated=True, max_turns=4) as env:
        env.reset()
        assert env.sandbox.workdir == "/testbed"
        obs, *_ = env.step(bash("cat /etc/os-release | head -1; grep -c abs calc/ops.py"))
        assert "Debian" in obs and "<returncode>0</returncode>" in obs
        env.step(apply_by_shell(task.patch))
        _, reward, terminated, _, info = env.step(SUBMIT)
    assert (reward, terminated, info["resolution"]) == (1.0, True, "FULL"), info


def test_gymnasium_async_vector_env(calc_tasks: list[Task]) -> None:
    """gymnasium.make_vec runs N envs in worker processes (Text observations need shared_memory=False)."""
    vec = gymnasium.make_vec("swe_dagger/SWE-v0", num_envs=2, vectorization_mode="async", tasks=calc_tasks,
                             allow_unvalidated=True, max_turns=3, vector_kwargs={"shared_memory": False})
    try:
        _, info = vec.reset(seed=0)
        by_id = {t.instance_id: t for t in calc_tasks}
        vec.step(tuple(apply_by_shell(by_id[task_id].patch) for task_id in info["task_id"]))
        _, rewards, terminated, truncated, info = vec.step((SUBMIT, SUBMIT))
        assert list(rewards) == [1.0, 1.0] and list(terminated) == [True, True] and not any(truncated)
        assert list(info["resolution"]) == ["FULL", "FULL"]
    finally:
        vec.close()
