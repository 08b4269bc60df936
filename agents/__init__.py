"""Agents and students: the agent, prompts, the Policy and StateRenderer protocols, the factory, tiny/GGUF students;
policy backends in agents/backends/. May import sandbox.registry (the name registry); never envs, dagger, teachers."""
