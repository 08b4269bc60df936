"""Sandboxed workspaces: a repository copy in which agent commands run, isolated from the host.

The one seam is :class:`~swe_dagger.sandbox.protocol.Sandbox`; backends are chosen by name through
:func:`~swe_dagger.sandbox.factory.open_sandbox` (``"local"`` = bubblewrap, ``"docker"``).
"""

from swe_dagger.sandbox.protocol import ExecResult, Limits, Sandbox, SandboxError, SandboxUnavailable, Snapshot

__all__ = ["ExecResult", "Limits", "Sandbox", "SandboxError", "SandboxUnavailable", "Snapshot"]
