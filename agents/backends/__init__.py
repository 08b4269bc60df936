"""Student policy backends behind the one ``Policy`` protocol: in-process HF, OpenAI-compatible HTTP, vLLM.
May import agents.protocol (and agents.factory for configs); never dagger, envs or teachers."""
