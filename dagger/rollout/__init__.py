"""Where records are made: the collector, its env workers, episode collection, the episode log, trajectory JSON.
May import the spine, dagger.run, agents, envs, teachers and sft.checkpoints (to load a student); no other SFT code."""
