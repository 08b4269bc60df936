"""Issue 13 item 9 (teacher): a chat teacher failing mid-train is one ``error:`` line (exit 2), and the labels its
failed batch did get are cached, so ``--resume`` does not pay for them again. A real OpenAI-compatible server on
127.0.0.1 that fails every request about one task."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.envs.loading import save_tasks
from swe_dagger.envs.task import Task
from swe_dagger.teachers.cache import read_label_rows
from swe_dagger.teachers.factory import TeacherConfig, make_teacher
from swe_dagger.teachers.protocol import TeacherError, TeacherState

VALID = "THOUGHT: look around.\n\n```bash\nls\n```"


class FlakyServer:
    """Answers every chat request with ``VALID``, except HTTP 500 for a request whose text holds ``poison``."""

    def __init__(self) -> None:
        self.poison: str | None = None
        self.requests: list[list[dict[str, str]]] = []
        outer, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    outer.requests.append(body["messages"])
                    failing = outer.poison is not None and outer.poison in json.dumps(body)
                reply = {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": VALID}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
                data = json.dumps({"error": "down"} if failing else reply).encode()
                self.send_response(500 if failing else 200)
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
def server() -> Iterator[FlakyServer]:
    s = FlakyServer()
    try:
        yield s
    finally:
        s.close()


def _state(task_id: str) -> TeacherState:
    task = Task(instance_id=task_id, repo="demo/demo", base_commit="0" * 40, problem_statement=f"fix {task_id}",
                patch="", fail_to_pass=("t.py::test",))
    return TeacherState(task, (Message("system", "s"), Message("user", f"the task {task_id}")), "")


def test_a_failed_batch_keeps_the_labels_it_got(server: FlakyServer, tmp_path: Path) -> None:
    cfg = TeacherConfig(name="chat", options={"model": "m", "base_url": server.url, "api_key": "k",
                                              "max_retries": "0"})
    states = [_state(f"demo__demo-{i}") for i in range(4)]
    server.poison = "demo__demo-2"
    with make_teacher(cfg, tmp_path) as teacher, pytest.raises(TeacherError, match=r"'demo__demo-2'.*1 of 4 states"):
        teacher.label(states)
    (cache_file,) = tmp_path.iterdir()
    assert sorted(r.task_id for r in read_label_rows(cache_file)) == ["demo__demo-0", "demo__demo-1", "demo__demo-3"]
    server.poison, before = None, len(server.requests)
    with make_teacher(cfg, tmp_path) as teacher:  # a new process would open the same cache file
        assert teacher.label(states) == [VALID] * 4
    assert [m[-1]["content"] for m in server.requests[before:]] == ["the task demo__demo-2"]  # only the miss


def test_train_with_a_failing_chat_teacher_is_one_error_line_and_resume_does_not_pay_twice(
    server: FlakyServer, shape_tasks: list[Task], tiny_student_dir: Path, tmp_path: Path,
    cli: Callable[..., subprocess.CompletedProcess[str]],
    error_line: Callable[[subprocess.CompletedProcess[str]], str],
) -> None:
    save_tasks(shape_tasks[:2], tmp_path / "train.jsonl")  # area, perimeter: the first batch holds one state of each
    save_tasks(shape_tasks[2:3], tmp_path / "test.jsonl")
    run_dir = tmp_path / "run"
    teacher = f"{{model: m, base_url: '{server.url}', api_key: k, max_retries: 0}}"
    server.poison = "perimeter()"
    line = error_line(cli(
        "train", f"tasks.train={tmp_path / 'train.jsonl'}", f"tasks.test={tmp_path / 'test.jsonl'}",
        f"student.model={tiny_student_dir}", f"run_dir={run_dir}", "teacher.name=chat", f"teacher.options={teacher}",
        "dagger.iterations=1", "dagger.episodes_per_iteration=2", "dagger.labels_per_iteration=null",
        "dagger.num_envs=2", "env.max_turns=2", "eval.episodes=0", "student.max_new_tokens=8", "sft.epochs=1",
        "sft.max_seq_len=256", "progress=false", "tensorboard=false",
    ))
    assert "shapes__shapes-perimeter" in line and "HTTP 500" in line
    (cache_file,) = (run_dir / "teacher_cache").iterdir()
    (kept,) = read_label_rows(cache_file)
    assert kept.task_id == "shapes__shapes-area"
    paid = [m for m in server.requests if "area()" in json.dumps(m)]
    assert len(paid) == 1
    server.poison, before = None, len(server.requests)
    resumed = cli("train", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert paid[0] not in server.requests[before:]  # the kept label was not asked for again
    assert len(list(read_label_rows(cache_file))) == len(server.requests) - 1  # one row per paid label, the failed
