"""The workspace's git maintenance, as bash scripts that run *inside* the sandbox (both backends).

Layout inside every sandbox (``S`` = ``/var/lib/swe-dagger``):

- ``$S/base.git``: the trusted repository holding exactly one commit, the base (no history, refs,
  tags, reflog or remotes: the SWE-bench#465 exploit). Its config is ours, so running git over the
  agent-controlled work tree cannot run agent-chosen filters, hooks or fsmonitors.
- ``$S/cache``: scratch indexes (``base.index``, ``diff.index``, ``snap.index``, ``tmp.index``), the
  object store diffs and snapshots write into (``objects``, with ``base.git/objects`` as alternate: the
  agent's own ``.git`` never receives them), the ``keep`` list and incoming payloads.
- ``$W/.git``: what the agent sees: ``main`` at the base commit, objects borrowed from ``base.git``
  through ``objects/info/alternates``; rebuilt from scratch by reset and restore.

Every script is called as ``bash -c SCRIPT swe-dagger W BASE [ARGS...]`` and prints its result on stdout.
Running inside the sandbox keeps file ownership right and means a symlink planted by the agent can
only point inside the sandbox.
"""

from __future__ import annotations

from swe_dagger.sandbox.bwrap import STATE_DIR

#: Exit codes of READ/WRITE that mean "the caller gave a bad path" rather than "our machinery broke".
EXIT_ESCAPES = 3
EXIT_MISSING = 4

BASE_IDENTITY = {
    "GIT_AUTHOR_NAME": "swe-dagger",
    "GIT_AUTHOR_EMAIL": "base@swe-dagger.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "swe-dagger",
    "GIT_COMMITTER_EMAIL": "base@swe-dagger.invalid",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}

_IDENTITY = " ".join(f"{k}='{v}'" for k, v in BASE_IDENTITY.items())

PRELUDE = f"""set -euo pipefail
umask 022
W="$1"; BASE="$2"; shift 2
S={STATE_DIR}; B="$S/base.git"; C="$S/cache"
export GIT_DIR="$B" GIT_WORK_TREE="$W" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 LC_ALL=C
unset GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
g() {{ git -c safe.directory='*' -c core.autocrlf=false -c core.fsmonitor=false -c core.hooksPath=/dev/null "$@"; }}
scratch() {{ export GIT_OBJECT_DIRECTORY="$C/objects" GIT_ALTERNATE_OBJECT_DIRECTORIES="$B/objects"; }}
agent_git() {{
  rm -rf "$W/.git"
  mkdir -p "$W/.git/objects/info" "$W/.git/objects/pack" "$W/.git/refs/heads" "$W/.git/refs/tags"
  printf 'ref: refs/heads/main\\n' > "$W/.git/HEAD"
  printf '%s\\n' "$BASE" > "$W/.git/refs/heads/main"
  printf '%s\\n' "$B/objects" > "$W/.git/objects/info/alternates"
  printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfilemode = true\\n\\tbare = false\\n' > "$W/.git/config"
  printf '\\tlogallrefupdates = false\\n[gc]\\n\\tauto = 0\\n' >> "$W/.git/config"
  cp "$1" "$W/.git/index"
}}
clear_tmp() {{
  find /tmp -mindepth 1 -delete 2>/dev/null || {{ chmod -R u+rwX /tmp; find /tmp -mindepth 1 -delete; }}
}}
"""

_INIT = f"""mkdir -p "$B" "$C/objects/info"
env -u GIT_DIR -u GIT_WORK_TREE git init -q --bare --template= "$B"
g config core.bare false; g config core.logAllRefUpdates false; g config gc.auto 0
commit_base() {{
  BASE=$(env {_IDENTITY} git -c safe.directory='*' commit-tree "$1" -m "swe-dagger base")
  g update-ref refs/heads/main "$BASE"; g symbolic-ref HEAD refs/heads/main
}}
"""

# Ignored files present at creation (build artefacts of the image) belong to the environment: reset
# keeps them. They are written as anchored, escaped gitignore patterns for `git clean -e`.
_FINISH = """GIT_INDEX_FILE="$C/base.index" g status --porcelain=v1 -z --ignored=traditional -unormal \\
  | { grep -z '^!! ' || true; } | sed -z 's/^!! //; s/[][\\\\*?]/\\\\&/g; s|^|/|' > "$C/keep"
cp "$C/base.index" "$C/diff.index"; cp "$C/base.index" "$C/snap.index"
agent_git "$C/base.index"
printf '%s' "$BASE"
"""

#: From a pack of the base tree's objects (payload) and the tree id ($1): check out into an empty $W.
CREATE_FROM_PACK = (
    PRELUDE
    + _INIT
    + r"""g index-pack --stdin < "$C/payload" > /dev/null; rm -f "$C/payload"
commit_base "$1"
GIT_INDEX_FILE="$C/base.index" g read-tree -u --reset "$BASE"
# Files written in the same second as the index are "racily clean": git would re-hash (and reset would
# rewrite) all of them on every call. Backdate them and refresh the index once.
find "$W" -path "$W/.git" -prune -o \( -type f -o -type l \) -exec touch -h -d "@$(( $(date +%s) - 2 ))" {} +
GIT_INDEX_FILE="$C/base.index" g update-index -q --refresh
"""
    + _FINISH
)

#: From a tar of a directory (payload): unpack into $W and commit what is there (ignored files stay untracked).
CREATE_FROM_TAR = (
    PRELUDE
    + _INIT
    + """tar -xf "$C/payload" -C "$W" --no-same-owner; rm -f "$C/payload"
GIT_INDEX_FILE="$C/base.index" g add -A
commit_base "$(GIT_INDEX_FILE="$C/base.index" g write-tree)"
"""
    + _FINISH
)

#: From the repository already at $W (an image's /testbed): keep its HEAD tree plus local changes as the
#: single base commit, copy only those objects, and delete the old .git with all its history.
CREATE_IN_PLACE = (
    PRELUDE
    + _INIT
    + """O="$W/.git"
[ -d "$O" ] || { echo "no git repository at $W (expected $O)" >&2; exit 2; }
if [ -f "$O/index" ]; then cp "$O/index" "$C/base.index"
else GIT_DIR="$O" GIT_INDEX_FILE="$C/base.index" g read-tree HEAD; fi
GIT_DIR="$O" GIT_INDEX_FILE="$C/base.index" g add -A
TREE=$(GIT_DIR="$O" GIT_INDEX_FILE="$C/base.index" g write-tree)
GIT_DIR="$O" g rev-list --objects "$TREE" | GIT_DIR="$O" g pack-objects --stdout -q --window=0 \\
  | g index-pack --stdin > /dev/null
rm -rf "$O"
commit_base "$TREE"
"""
    + _FINISH
)

#: Unified, binary-safe diff of the work tree (tracked and new files) against the base.
DIFF = (
    PRELUDE
    + """scratch; export GIT_INDEX_FILE="$C/diff.index"
g add -A
g diff --cached --binary --no-color --no-ext-diff --no-textconv --no-renames "$BASE" --
"""
)

#: Back to the base: remove untracked and ignored files (except the keep list), rewrite changed
#: tracked files, empty /tmp, rebuild the agent's .git.
RESET = (
    PRELUDE
    + """scratch; export GIT_INDEX_FILE="$C/diff.index"
# Give back what chmod took away (chmod -R a-w ., chmod 000 DIR): git tracks no directory modes and only the x
# bit of files. Only entries that lost owner rw(x) are touched; a chmod changes ctime and makes git re-hash.
find "$W" -type d ! -perm -u=rwx -exec chmod u+rwx,go+rx {} \\; -o ! -type d ! -type l ! -perm -u=rw \\
  -exec chmod u+rw,go+r {} + 2>/dev/null || true
EX=(); while IFS= read -r -d '' k; do EX+=(-e "$k"); done < "$C/keep"
if ! g clean -ffdxq ${EX[@]+"${EX[@]}"} 2>/dev/null; then chmod -R u+rwX "$W"; g clean -ffdxq ${EX[@]+"${EX[@]}"}; fi
g read-tree -u --reset "$BASE"
clear_tmp
agent_git "$C/diff.index"
"""
)

#: Record the work tree (everything, ignored files included) and /tmp as two trees; prints "TREE TMPTREE".
SNAPSHOT = (
    PRELUDE
    + """scratch
export GIT_INDEX_FILE="$C/snap.index"; g add -A -f 2>/dev/null; T1=$(g write-tree)
export GIT_WORK_TREE=/tmp GIT_INDEX_FILE="$C/tmp.index"; g add -A -f 2>/dev/null; T2=$(g write-tree)
printf '%s %s' "$T1" "$T2"
"""
)

#: Bring the work tree to tree $1 and /tmp to tree $2, exactly; rebuild the agent's .git at the base.
RESTORE = (
    PRELUDE
    + """scratch
export GIT_INDEX_FILE="$C/snap.index"
if ! g add -A -f 2>/dev/null; then chmod -R u+rwX "$W"; g add -A -f; fi
g read-tree -u --reset "$1"
clear_tmp
GIT_WORK_TREE=/tmp GIT_INDEX_FILE="$C/tmp.index" g read-tree "$2"
GIT_WORK_TREE=/tmp GIT_INDEX_FILE="$C/tmp.index" g checkout-index -a -f
agent_git "$C/base.index"
"""
)

_RESOLVE = (
    PRELUDE
    + f"""p=$(realpath -m -- "$W/$1")
case "$p" in "$W"/*) ;; *) echo "path $1 resolves to $p, outside $W" >&2; exit {EXIT_ESCAPES};; esac
"""
)

#: Print the file $1 (relative to $W), refusing paths that resolve outside $W.
READ = (
    _RESOLVE
    + f"""[ -f "$p" ] || {{ echo "no such file: $1" >&2; exit {EXIT_MISSING}; }}
cat -- "$p"
"""
)

#: Write the payload to $1 (relative to $W), creating parent directories.
WRITE = (
    _RESOLVE
    + """mkdir -p -- "$(dirname -- "$p")"
cat -- "$C/payload" > "$p"; rm -f "$C/payload"
"""
)
