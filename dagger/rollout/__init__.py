"""Where records are made: the one episode loop (collector: training, eval, swebench-eval), env workers, the log.
May import the spine, dagger.run, agents, envs, teachers and sft.checkpoints (to load a student); no other SFT code."""
