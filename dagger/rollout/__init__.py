"""Where records are made: the collector, its env workers, episode collection and the trajectory JSON form.
May import the spine's records/schedule/config, dagger.run, agents, envs, teachers; never sft, grpo or eval."""
