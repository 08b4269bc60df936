"""swe_dagger.envs: SWE-bench tasks and the Gymnasium env ``swe_dagger/SWE-v0`` (registered on import)."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENV_ID = "swe_dagger/SWE-v0"

if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="swe_dagger.envs.swe_env:SWEEnv")
