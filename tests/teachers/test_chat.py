"""ChatTeacher against a real scripted OpenAI-compatible server on 127.0.0.1: retries, validation, errors, cost."""

from __future__ import annotations

import inspect
import json
import shlex
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.agents.serve import free_port
from swe_dagger.dagger.config import load_config
from swe_dagger.envs.task import Task
from swe_dagger.teachers.chat import ChatTeacher, TeacherError
from swe_dagger.teachers.factory import TeacherConfig, make_teacher
from swe_dagger.teachers.protocol import Teacher, TeacherState

VALID = "THOUGHT: look around.\n\n```bash\nls -la\n```"


class ScriptedServer:
    """Answers each POST with the next (status, content[, finish_reason]) of its script; then a valid action
    forever."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str] | tuple[int, str, str]] = []
        self.bodies: list[dict[str, object]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                with lock:
                    outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                    status, content, *finish = outer.script.pop(0) if outer.script else (200, VALID)
                body = {
                    "choices": [{"finish_reason": finish[0] if finish else "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20},
                }
                data = json.dumps(body if status == 200 else {"error": content}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture()
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    try:
        yield s
    finally:
        s.close()


def state(task_id: str = "demo__demo-1", turns: int = 1) -> TeacherState:
    task = Task(instance_id=task_id, repo="demo/demo", base_commit="0" * 40, problem_statement="fix it", patch="")
    messages: tuple[Message, ...] = (Message("system", "student system"), Message("user", "the task"))
    for i in range(turns):
        messages += (Message("assistant", f"THOUGHT: t\n\n```bash\necho {i}\n```"), Message("user", f"out {i}"))
    return TeacherState(task=task, messages=messages, workspace_diff="")


def teacher(server: ScriptedServer, **options: object) -> ChatTeacher:
    return ChatTeacher("teacher-model", server.url, api_key="k", **options)  # type: ignore[arg-type]


def test_labels_a_batch_in_order(server: ScriptedServer) -> None:
    server.script = [(200, f"THOUGHT: {i}\n\n```bash\necho {i}\n```") for i in range(3)]
    with teacher(server, max_concurrency=1) as t:
        assert isinstance(t, Teacher)
        labels = t.label([state(f"t-{i}") for i in range(3)])
        usage = t.usage
    assert labels == [f"THOUGHT: {i}\n\n```bash\necho {i}\n```" for i in range(3)]
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.dollars) == (3, 300, 60, None)
    assert server.bodies[0]["model"] == "teacher-model" and server.bodies[0]["temperature"] == 0.0


def test_invalid_reply_is_retried_with_the_format_error_fed_back(server: ScriptedServer) -> None:
    server.script = [(200, "I think we should list files."), (200, VALID)]
    with teacher(server) as t:
        assert t.label([state()]) == [VALID]
        assert t.usage.invalid_replies == 1
    retry = server.bodies[1]["messages"]
    assert isinstance(retry, list)
    assert retry[-2] == {"role": "assistant", "content": "I think we should list files."}
    assert retry[-1]["role"] == "user" and "exactly ONE bash code block" in retry[-1]["content"]


def test_persistently_invalid_replies_raise_naming_task_and_reply(server: ScriptedServer) -> None:
    server.script = [(200, "no block here")] * 3
    with teacher(server, invalid_retries=2) as t, pytest.raises(TeacherError) as info:
        t.label([state("astropy__astropy-12907", turns=2)])
    message = str(info.value)
    assert "astropy__astropy-12907" in message and "turn 2" in message and "no block here" in message
    assert "3 replies" in message and len(server.bodies) == 3


def test_transient_server_errors_are_retried(server: ScriptedServer) -> None:
    server.script = [(429, "slow down"), (503, "overloaded")]
    with ChatTeacher("m", server.url, max_retries=3) as t:
        t.client._rng.seed(0)
        assert t.label([state()]) == [VALID]
        assert t.client.usage.retries == 2


def test_an_unreachable_endpoint_is_a_teacher_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with ChatTeacher("m", url, max_retries=1) as t, pytest.raises(TeacherError, match=r"demo__demo-1.*ConnectError"):
        t.label([state()])


def test_system_prompt_replaces_the_students(server: ScriptedServer) -> None:
    with teacher(server, system_prompt="You are the expert.") as t:
        t.label([state()])
        plain = teacher(server)
        assert plain.teacher_id != t.teacher_id and plain.teacher_id.startswith(f"chat:teacher-model@{server.url}#")
        plain.close()
    sent = server.bodies[0]["messages"]
    assert isinstance(sent, list) and sent[0] == {"role": "system", "content": "You are the expert."}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


def test_priced_usage_reports_dollars(server: ScriptedServer) -> None:
    with teacher(server, price_per_1k_prompt=0.5, price_per_1k_completion=2.0) as t:
        t.label([state(), state()])
        assert t.usage.dollars == pytest.approx((200 * 0.5 + 40 * 2.0) / 1000)


def test_the_teacher_factory_builds_it_by_name(server: ScriptedServer) -> None:
    cfg = TeacherConfig(name="chat", options={"model": "m", "base_url": server.url, "max_tokens": "64"})
    made = make_teacher(cfg)
    try:
        assert made.label([state()]) == [VALID]
        assert made.teacher_id.startswith("chat:m@")
        assert server.bodies[0]["max_tokens"] == 64
    finally:
        made.close()


def test_a_reply_cut_at_max_tokens_is_retried_saying_so(server: ScriptedServer) -> None:
    cut = "THOUGHT: rewrite the module.\n\n```bash\ncat <<'EOF' > calc/core.py\ndef add(a, b):\n"
    server.script = [(200, cut, "length"), (200, VALID)]
    with teacher(server) as t:
        assert t.label([state()]) == [VALID]
    assert server.bodies[0]["max_tokens"] == 512  # the default: one THOUGHT and one command
    retry = server.bodies[1]["messages"]
    assert isinstance(retry, list) and retry[-1]["content"].startswith("Your reply was cut off at 512 tokens")
    server.script = [(200, cut, "length")] * 2
    with teacher(server, invalid_retries=1) as t, pytest.raises(TeacherError, match=r"raise teacher\.options\.max_tok"):
        t.label([state()])


def _readme() -> list[str]:
    return (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").splitlines()


def test_readme_lists_every_option_with_its_default(server: ScriptedServer) -> None:
    lines = _readme()
    start = lines.index("| `teacher.options` key | default | what |") + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    rows = [line.split("|") for line in lines[start:end]]  # that table only
    documented = {cells[1].strip().strip("`"): cells[2].strip() for cells in rows}
    params = {n: p for n, p in inspect.signature(ChatTeacher).parameters.items()}
    assert list(documented) == list(params)

    def shown(default: object) -> str:
        if default is inspect.Parameter.empty:
            return "(required)"
        return "`null`" if default is None else '`""`' if default == "" else f"`{default}`"

    assert documented == {name: shown(p.default) for name, p in params.items()}


def test_readme_example_builds_a_working_chat_teacher(server: ScriptedServer) -> None:
    lines = _readme()
    commands = []  # each README command line starting so, with its backslash continuations
    for i, text in enumerate(lines):
        if text.startswith("swe-dagger train teacher.name=chat"):
            while text.rstrip().endswith("\\"):
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i]
            commands.append(text)
    assert len(commands) == 2  # the options as one mapping, and one option per dotted override
    configs = [load_config(None, shlex.split(c, comments=True)[2:]) for c in commands]
    assert configs[0].teacher == configs[1].teacher
    cfg = configs[0]
    assert cfg.teacher.name == "chat" and cfg.teacher.options["base_url"] == "http://127.0.0.1:8000/v1"
    options = {**cfg.teacher.options, "base_url": server.url}  # the scripted server stands in for `vllm serve`
    made = make_teacher(TeacherConfig(name=cfg.teacher.name, options=options))
    try:
        assert made.label([state()]) == [VALID]
    finally:
        made.close()
    assert server.bodies[0]["model"] == "Qwen/Qwen2.5-Coder-7B-Instruct" and server.bodies[0]["max_tokens"] == 512
