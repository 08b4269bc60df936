"""Rewards → weights: the GRPO phase, its config, groups, batches, windows, advantages, update and metrics.
May import the spine (records, schedule, config, grpo_loss, sft_loss), dagger.run, rollout, sft, report; never eval."""
