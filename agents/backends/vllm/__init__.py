"""The vLLM backend: its virtualenv, server process, admin endpoints, policy, in-process engine and trained student.
May import agents.protocol and agents.backends (the OpenAI-compatible client); never dagger, envs or teachers."""
