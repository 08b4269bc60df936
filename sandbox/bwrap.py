"""The bubblewrap command line for one workspace: what is mounted where, who runs, which limits apply.

Only system directories (``/usr``, ``/bin``, ``/sbin``, ``/lib*``, ``/etc``) of the host (or of a given
rootfs) are visible, read-only; ``/root``, ``/home``, ``/work``, host ``/tmp`` and ``/var`` are not, because
the host holds task files with gold patches. The workspace repository is writable at ``workdir``, the
workspace's own directory is ``/tmp``, and a runtime virtualenv (plus its base interpreter) can be
mounted read-only at its own path.

When we are root, bubblewrap runs privileged (no user namespace: cheaper) and ``setpriv`` drops to a
per-workspace unprivileged uid before the command starts, so RLIMIT_NPROC holds (root is exempt from
it) and processes of different workspaces never share a process budget. Otherwise bubblewrap creates a
user namespace, in which RLIMIT_NPROC is counted per namespace. ``prlimit`` then sets the rlimits and execs
``bash -c COMMAND``: per command that is bubblewrap, setpriv, prlimit and one bash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from swe_dagger.sandbox.protocol import Limits

#: Where the trusted base repository and the scratch area live inside every sandbox (both backends).
STATE_DIR = "/var/lib/swe-dagger"
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

PRLIMIT = "/usr/bin/prlimit"
"""Sets the rlimits and execs the command's bash: one small program instead of a second bash (``ulimit``, then
``exec bash``), which cost ~30 ms a command on a loaded 2-core machine. It exits 1 with ``prlimit: failed to set``
when a limit cannot be set."""


@dataclass(frozen=True)
class BwrapLayout:
    """Host paths of one workspace and how commands see them."""

    repo: Path
    """Host directory of the repository, mounted read-write at ``workdir``."""
    base_git: Path
    """Host directory of the trusted single-commit repository, read-only at ``STATE_DIR/base.git``."""
    cache: Path
    """Host scratch directory (diff index, snapshot objects); only maintenance commands see it."""
    tmp: Path
    """Host directory mounted as the private ``/tmp``."""
    workdir: str = "/testbed"
    rootfs: Path = Path("/")
    """Root filesystem whose system directories are mounted read-only."""
    runtime_mounts: tuple[Path, ...] = ()
    """Extra read-only directories mounted at their own path (a virtualenv and its base interpreter)."""
    uid: int | None = None
    """Root mode: the uid (and gid) commands run as. ``None``: user-namespace mode (we are not root)."""
    env: Mapping[str, str] = field(default_factory=dict)


def runtime_mounts(runtime: Path) -> tuple[Path, ...]:
    """A virtualenv and the prefix of the interpreter it was made from (``home`` in ``pyvenv.cfg``)."""
    runtime = runtime.resolve()
    if not (runtime / "bin").is_dir():
        raise ValueError(f"runtime {runtime} has no bin/ directory; expected a Python virtualenv")
    mounts = [runtime]
    cfg = runtime / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "home":
                home = Path(value.strip()).resolve()
                mounts.append(home.parent if home.name == "bin" else home)
    for path in mounts:
        if _under(path, "/tmp"):
            raise ValueError(f"runtime path {path} is under /tmp, which the sandbox replaces; put it elsewhere")
    return tuple(p for p in mounts if not any(_under(p, "/" + d) for d in SYSTEM_DIRS))


def bwrap_argv(
    layout: BwrapLayout,
    command: Sequence[str],
    *,
    limits: Limits | None,
    maintenance: bool = False,
    writable_base: bool = False,
) -> list[str]:
    """The full argv: bubblewrap, its mounts, the uid switch, the rlimits, then ``command``.

    ``limits=None`` runs ``command`` as given, without rlimits (maintenance scripts); with ``limits``, ``command``
    is the one bash command string, run as ``bash -c`` under them. ``maintenance`` adds the scratch area.
    """
    argv = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
    argv += ["--unshare-uts", "--hostname", "sandbox", "--clearenv"]
    if layout.uid is None:
        argv += ["--unshare-user"]
    else:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    for key, value in sorted(layout.env.items()):
        argv += ["--setenv", key, value]
    argv += _system_mounts(layout.rootfs)
    argv += ["--proc", "/proc", "--perms", "0755", "--dir", "/dev"]
    for dev in DEVICES:
        argv += ["--dev-bind", f"/dev/{dev}", f"/dev/{dev}"]
    argv += ["--symlink", "/proc/self/fd", "/dev/fd", "--perms", "1777", "--tmpfs", "/dev/shm"]
    created = {"/", "/dev", "/proc", "/tmp"} | {"/" + d for d in SYSTEM_DIRS}
    argv += ["--bind", str(layout.tmp), "/tmp"]
    argv += [*_dirs_for(layout.workdir, created), "--bind", str(layout.repo), layout.workdir]
    base_dest = f"{STATE_DIR}/base.git"
    argv += [
        *_dirs_for(base_dest, created),
        "--bind" if writable_base else "--ro-bind",
        str(layout.base_git),
        base_dest,
    ]
    if maintenance:
        argv += ["--bind", str(layout.cache), f"{STATE_DIR}/cache"]
    for mount in layout.runtime_mounts:
        argv += [*_dirs_for(str(mount), created), "--ro-bind", str(mount), str(mount)]
    argv += ["--chdir", layout.workdir]
    if layout.uid is not None:
        uid = str(layout.uid)
        argv += ["/usr/bin/setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all"]
        argv += ["--bounding-set=-all", "--no-new-privs", "--"]
    if limits is not None:  # soft = hard = the limit, as ``ulimit -S -H`` sets them
        argv += [PRLIMIT, f"--cpu={limits.cpu_s}", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}"]
        argv += [f"--fsize={limits.file_bytes}", "--", "/bin/bash", "-c"]
    argv += list(command)
    return argv


def _system_mounts(rootfs: Path) -> list[str]:
    out: list[str] = []
    for name in SYSTEM_DIRS:
        host = rootfs / name
        if host.is_symlink():
            out += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            out += ["--ro-bind", str(host), f"/{name}"]
    return out


def _dirs_for(dest: str, created: set[str]) -> list[str]:
    """``--dir`` for every missing ancestor of ``dest`` (mode 0755: bubblewrap's default is stricter)."""
    out: list[str] = []
    parents = [*list(PurePosixPath(dest).parents)[::-1], PurePosixPath(dest)]
    for parent in parents:
        text = str(parent)
        if text in created or any(_under(Path(text), "/" + d) for d in SYSTEM_DIRS):
            continue
        created.add(text)
        out += ["--perms", "0755", "--dir", text]
    return out


def _under(path: Path, top: str) -> bool:
    return path == Path(top) or Path(top) in path.parents
