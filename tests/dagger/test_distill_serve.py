"""The served token teacher against a real ``transformers serve`` on 127.0.0.1: its tokenizer check passes (same
model dir), and the server's refusal of prompt logprobs (transformers 5.x has none) is one clear error, not scores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swe_dagger.agents.serve import TransformersServer
from swe_dagger.dagger.sft.checkpoints import load_student
from swe_dagger.dagger.sft.token_teacher import ServedTokenTeacher, open_token_teacher

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def served(tiny_student_dir: Path) -> Iterator[TransformersServer]:
    with TransformersServer(tiny_student_dir, threads=1, startup_timeout_s=600) as server:
        yield server


def test_a_server_without_prompt_logprobs_is_an_error_naming_it(served: TransformersServer) -> None:
    _, tok = load_student(served.model_id)
    teacher = open_token_teacher(served.url, served.model_id, "cpu", tok)
    assert isinstance(teacher, ServedTokenTeacher)
    ids = tok.encode("def f(x):\n    return x", add_special_tokens=False)
    with pytest.raises(RuntimeError, match=r"at http://127\.0\.0\.1:\d+/v1 refused prompt logprobs \(HTTP 422: .*"
                                           r"prompt_logprobs.*needs a server with vLLM's prompt_logprobs"):
        teacher.logprobs([ids], [3])
    teacher.close()
    teacher.close()  # idempotent
    with pytest.raises(RuntimeError, match="is closed"):
        teacher.logprobs([ids], [3])
