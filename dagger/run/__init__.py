"""What a run holds and shows: its context (dir, config, student, teacher), lock, provenance, progress, metrics, plots.
May import the spine's records/config, dagger.report, agents, envs, teachers; never rollout, sft, grpo or eval."""
