"""Agents scored, not trained: checkpoint eval, SWE-bench eval and its report, run comparison.
May import the spine, dagger.run, rollout, sft (checkpoints), agents, envs, teachers; nothing imports eval but CLIs."""
