"""The spine a reader opens first: loop, schedule, records, SFT/GRPO losses, config, CLI; the phases in subfolders
(rollout/ → sft/ → grpo/, run/, eval/, report/, view/). The spine's loop and CLIs may import any of them."""
