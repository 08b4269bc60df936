"""``swe-dagger view``: the static site from a run dir and from swebench-eval trajectories, escaped, and rendered
by a real headless browser (Debian's chromium, installed by scripts/setup.sh)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swe_dagger.agents.protocol import Message
from swe_dagger.dagger.records import Trajectory, Turn
from swe_dagger.dagger.rollout.episode_log import append_trajectory, episode_log
from swe_dagger.dagger.rollout.serialize import trajectory_to_json
from swe_dagger.dagger.view.load import load_episodes
from swe_dagger.dagger.view.site import write_site

INJECTED = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
LABEL = "THOUGHT: read the module.\n\n```bash\ncat toolz/dicttoolz.py\n```"
TAMPERED = ("tests/test_m.py", "conftest.py")
PATCH = "diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-return w + h\n+return w * h\n"


def _trajectory(episode: int, iteration: int = 0, tampered: tuple[str, ...] = ()) -> Trajectory:
    turns = (
        Turn(0, "student", "THOUGHT: look\n\n```bash\ncat toolz/itertoolz.py\n```", LABEL, INJECTED,
             model_version="iter_000"),
        Turn(1, "teacher", LABEL, LABEL, "x" * 10_000),
        Turn(2, "student", "\n\n\n", "THOUGHT: submit\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```",
             "format error: no bash block", format_error=True, model_version="iter_000"),
        Turn(3, "student", LABEL, LABEL, "def f(): ...", model_version="iter_000"),
    )
    return Trajectory(task_id="toolz__toolz-1", prefix=(Message("system", "sys"), Message("user", "fix <b>it</b>")),
                      turns=turns, reward=0.0, resolution="NO", terminated=True, truncated=False,
                      iteration=iteration, beta=0.5, seed=7, episode=episode, teacher_calls=4, patch=PATCH,
                      failed_tests=("tests/test_m.py::test_area",), tampered=tampered)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    for e in range(2):  # episode 1 touched protected paths (dropped before grading)
        append_trajectory(episode_log(run, "train", 0), _trajectory(e, tampered=TAMPERED if e else ()))
    append_trajectory(episode_log(run, "eval", 0), _trajectory(0))
    (run / "config.yaml").write_text("seed: 0  # <not a tag>\n")
    return run


def test_site_from_a_run_dir_escapes_everything(run_dir: Path, tmp_path: Path) -> None:
    index, episodes = write_site(run_dir, tmp_path / "site")
    assert [e.split for e in episodes] == ["held-out", "train", "train"]
    page = (index.parent / f"{episodes[1].key}.html").read_text()
    assert INJECTED not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<b>it</b>" not in page and "&lt;b&gt;it&lt;/b&gt;" in page
    assert page.count('<section class="turn ') == 4 and 'id="turn-count">4<' in page
    assert "7,000 characters elided" in page  # 10,000 x's: 1,500 head + 1,500 tail shown
    assert "only whitespace: 3 characters" in page and "format error" in page
    assert "-cat toolz/itertoolz.py" in page and "+cat toolz/dicttoolz.py" in page  # student → teacher diff
    assert "+return w * h" in page and "tests/test_m.py::test_area" in page and ">NO<" in page
    assert "http://" not in page and "https://" not in page  # no CDN, nothing fetched
    home = index.read_text()
    assert home.count("<tr data-split=") == 3 and "&lt;not a tag&gt;" in home and "1S/0T" not in home
    assert 'class="tampered"' not in page and "tampered paths" not in page
    tampered = (index.parent / f"{episodes[2].key}.html").read_text()  # train episode 1
    assert '<span class="badge bad">tampered</span> the agent touched 2 protected paths' in tampered
    assert "<li><code>tests/test_m.py</code></li><li><code>conftest.py</code></li>" in tampered
    assert "tampered paths <b>2</b>" in tampered
    assert home.count(">tampered</span>") == 1 and home.count('data-tampered="2"') == 1
    assert 'title="protected paths touched (dropped before grading): tests/test_m.py, conftest.py"' in home
    assert "tampered <b>1</b>" in home


def test_swebench_eval_trajectories_and_old_records(tmp_path: Path) -> None:
    out = tmp_path / "verified"
    (out / "trajectories").mkdir(parents=True)
    old = trajectory_to_json(_trajectory(-1))
    del old["patch"], old["failed_tests"]  # a trajectory written before these fields existed
    outcome = {"instance_id": "a__b-1", "repo": "a/b", "status": "unresolved", "resolution": "NO",
               "submitted": True, "model_patch": PATCH, "turns": 4, "error": None}
    (out / "trajectories" / "a__b-1.json").write_text(json.dumps({"outcome": outcome, "trajectory": old}))
    failed = {**outcome, "instance_id": "a__b-2", "status": "error", "error": "ImageNotFound: <sweb.eval>"}
    (out / "trajectories" / "a__b-2.json").write_text(json.dumps({"outcome": failed, "trajectory": None}))
    index, episodes = write_site(out)
    assert index == out / "view" / "index.html"
    assert [(e.key, e.status) for e in episodes] == [("swebench_toolz__toolz-1", "unresolved"),
                                                     ("swebench_a__b-2", "error")]
    assert episodes[0].traj.patch == PATCH  # taken from the outcome
    assert "ImageNotFound: &lt;sweb.eval&gt;" in (index.parent / "swebench_a__b-2.html").read_text()


def test_bad_inputs_name_what_was_wrong(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no episodes found"):
        load_episodes(tmp_path)
    bad = tmp_path / "episodes" / "train_iter_000.jsonl"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"task_id": "t", "turns": []}) + "\n")
    with pytest.raises(ValueError, match=r"train_iter_000.jsonl:1: trajectory is missing field 'prefix'"):
        load_episodes(tmp_path)
    out = subprocess.run([sys.executable, "-m", "swe_dagger.dagger.cli", "view", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "nope: no such file or directory" in out.stderr


def _chromium(*args: str, url: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'profile'}",
           "--window-size=1280,1400", *args, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_headless_browser_renders_the_pages(run_dir: Path, tmp_path: Path) -> None:
    index, episodes = write_site(run_dir, tmp_path / "site")
    ep = episodes[1]
    url = (index.parent / f"{ep.key}.html").as_uri()
    dom = _chromium("--dump-dom", url=url, tmp=tmp_path).stdout
    assert 'data-ready="1"' in dom  # our script ran under the page's CSP (its sha256 is allowed)
    assert len(re.findall(r'<section class="turn (student|teacher)"', dom)) == len(ep.traj.turns) == 4
    assert "<title>pwned</title>" not in dom and "&lt;script&gt;document.title" in dom  # shown as text, not run
    shot = tmp_path / "episode.png"
    _chromium(f"--screenshot={shot}", url=url, tmp=tmp_path)
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == (1280, 1400) and ImageStat.Stat(image).var[0] > 100  # not a blank page
    filtered = _chromium("--dump-dom", url=index.as_uri() + "#split=held-out", tmp=tmp_path).stdout
    assert filtered.count("<tr data-split=") == 3 and filtered.count(" hidden=") == 2
    assert re.search(r'id="shown">1<', filtered)
    marked = _chromium("--dump-dom", url=index.as_uri() + "#q=tampered", tmp=tmp_path).stdout
    assert re.search(r'id="shown">1<', marked) and marked.count(" hidden=") == 2  # the marker is filterable
