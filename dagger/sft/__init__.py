"""Labels → weights: the aggregated label dataset, tokenized examples, packing, the SFT trainer, checkpoints.
May import the spine's records/config/sft_loss, dagger.rollout, agents; never grpo, eval, run or the loop."""
