"""The run's configuration: one dataclass per section, YAML sections mirroring the folders.

``swe-dagger train [--config run.yaml] [key.sub=value ...]``: the embedded ``default.yaml`` (identical to the
dataclass defaults, a test checks it), then the user's YAML, then the dotted overrides. The resolved config is
saved as ``config.yaml`` in the run directory, so a resumed run uses exactly what the first one used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from swe_dagger.agents.factory import StudentConfig
from swe_dagger.dagger.grpo.config import GRPOConfig, TemperatureSchedule
from swe_dagger.dagger.rollout.config import RolloutConfig
from swe_dagger.dagger.rollout.relabel import Relabel
from swe_dagger.dagger.run.provenance import strip_provenance
from swe_dagger.dagger.schedule import MixingMode, ScheduleKind
from swe_dagger.durable.files import atomic_write_text
from swe_dagger.teachers.factory import TeacherConfig
from swe_dagger.teachers.router import TeacherRouteConfig
from swe_dagger.typed import ConfigError, check_bounds, field_names, from_mapping, load, merge, to_mapping

__all__ = ["ConfigError", "GRPOConfig", "Phase", "RunConfig", "StudentConfig", "TeacherConfig", "TeacherRouteConfig",
           "TemperatureSchedule", "load_config", "load_resolved", "phase_plan", "save_resolved"]


@dataclass(frozen=True)
class TasksConfig:
    train: str = "default"
    """Training tasks: a task file (JSON/JSONL/parquet) or ``default`` (the embedded default suite)."""
    test: str = "default"
    """Held-out tasks for the student-only evaluation, same forms as ``train``."""
    max_train: int | None = None
    """Use only the first N training tasks (``null`` = all: every module of the held-out tasks is then seen)."""
    max_test: int | None = None
    """Use only the first N held-out tasks (``null`` = all)."""
    cache_dir: str | None = None
    """Where the default suite is prepared (``null`` = ``$SWE_DAGGER_CACHE`` or ``~/.cache/swe-dagger``)."""
    suite_max_tasks: int | None = 60
    """Size of the default suite to prepare (``null`` = the full suite); ignored for task files."""
    kinds: tuple[str, ...] | None = None
    """Keep only synthesized tasks of these mutation kinds, before ``max_train``/``max_test`` (``null`` = all), e.g.
    ``[compare_op, bool_op, arith_op, swap_args, remove_not, off_by_one]``: the kinds whose fix can be read off the
    code and the issue (a ``wrong_return`` to ``None`` or a ``drop_branch`` removed code no observation shows)."""

    def __post_init__(self) -> None:
        if not self.train.strip() or not self.test.strip():
            raise ConfigError("tasks.train and tasks.test must name a task file or 'default', got an empty string")
        check_bounds("tasks", self, at_least_1=("max_train", "max_test", "suite_max_tasks"))
        if self.kinds is not None:
            from swe_dagger.envs.synth.mutations import KINDS

            unknown = [k for k in self.kinds if k not in KINDS]
            if not self.kinds or unknown:
                raise ConfigError(f"tasks.kinds: {unknown or 'empty list'} not among the mutation kinds {list(KINDS)}")


@dataclass(frozen=True)
class EnvConfig:
    sandbox: str = "local"
    """Sandbox backend: ``local`` (bubblewrap) or ``docker``."""
    max_turns: int = 6
    """Turns per episode before it is truncated."""
    command_timeout_s: float = 30.0
    """Wall-clock limit of one command in the sandbox."""
    allow_unvalidated: bool = False
    """Accept tasks that ``swe-dagger tasks validate`` has not marked (their reward may be wrong). The default suite
    is validated when it is prepared; for your own file run ``swe-dagger tasks validate FILE`` and train on
    the ``.validated.jsonl`` file it writes, or set ``env.allow_unvalidated=true`` to train on it as it is."""
    stable_timings: bool = False
    """Write a fixed duration into the test-run summary lines the agent sees (``2 passed in 0.29s`` becomes ``2 passed
    in 0.00s``), so that two runs of one config collect the same observations, labels and weights. Off: the agent
    sees the real output. Grading is the same either way."""

    def __post_init__(self) -> None:
        check_bounds("env", self, at_least_1=("max_turns",), positive=("command_timeout_s",))


@dataclass(frozen=True)
class DaggerConfig:
    iterations: int = 6
    """DAgger iterations (collect → label → aggregate → train → evaluate). On the default suite the tiny student's
    held-out agreement starts to rise at iteration 2-3 (it first learns the reply format, then to read the issue)."""
    episodes_per_iteration: int = 12
    """Training episodes collected per iteration."""
    labels_per_iteration: int | None = 48
    """If set, collect whole waves of episodes until this many labels exist, and keep exactly this many (in
    episode/turn order); ``episodes_per_iteration`` is then ignored. Equalises label budgets across modes."""
    num_envs: int = 4
    """Concurrent environments; student and teacher calls are batched across them."""
    schedule: ScheduleKind = "exponential"
    """How β_i (the probability that the teacher acts) changes with the iteration i."""
    beta: float = 0.5
    """``constant``: β; ``exponential``: p in β_i = p^i; ``linear``: β_0 (falls to ``beta_end``)."""
    beta_end: float = 0.0
    """``linear`` only: β at the last iteration."""
    mixing: MixingMode = "per_turn"
    """Who acts: the teacher with probability β each turn, or for a whole episode, or after a student prefix."""
    overlap: bool = True
    """Reset the envs (fresh workspaces, first observations) of the collection after each SFT step in a background
    thread while SFT runs (``dagger/rollout/overlap.py``); as many workspaces as that collection's ``episodes`` open
    at once. ``false``: each collection resets its envs itself."""
    loss: Literal["ce", "reverse_kl", "ce+reverse_kl"] = "ce"
    """``ce``: cross-entropy on the teacher's text labels; ``reverse_kl``: token-level distillation instead (the
    student's own replies of the iteration, scored by ``kl_teacher``, trained on the per-token KL(student ||
    teacher)); ``ce+reverse_kl``: both (README "Token-level distillation")."""
    kl_teacher: str | None = None
    """The teacher that scores tokens (``loss`` with ``reverse_kl``): a model directory with the student's
    tokenizer (in process: exact full-vocabulary KL) or the base URL of a server with vLLM's ``prompt_logprobs``
    (``http://127.0.0.1:8000/v1``: the sampled-token estimator)."""
    kl_teacher_model: str | None = None
    """The served teacher's model name (its tokenizer is loaded by that name to compare with the student's)."""
    kl_coef: float = 1.0
    """Weight of the reverse-KL term."""
    relabel: Relabel = "all"
    """Which student-acted states the teacher labels: ``all``; ``disagreement``: only where the student's command
    differs from the teacher's (normalised command equality; agreeing states are not trained on); ``failure``: only
    after a command that failed (non-zero ``<returncode>`` in the last observation; no call elsewhere)."""
    teacher_budget: int | None = None
    """Teacher labels for the whole run (null = no limit): each iteration may spend an even share of what is left,
    β is capped so teacher-acted turns fit in it, and once it is spent the run goes on without labeling."""
    horizon_start: int | None = None
    """``mixing: prefix`` curriculum: the student acts for the first k_i = horizon_start + horizon_step * i turns of
    iteration i's episodes, then the teacher (null = k drawn from β, see ``dagger/schedule.py``)."""
    horizon_step: int = 1
    """Turns the student's horizon grows per iteration (curriculum)."""

    def __post_init__(self) -> None:
        check_bounds("dagger", self, fraction=("beta", "beta_end"),
                     at_least_1=("iterations", "episodes_per_iteration", "labels_per_iteration", "num_envs"),
                     at_least_0=("kl_coef", "teacher_budget", "horizon_start", "horizon_step"))
        if self.loss != "ce" and not self.kl_teacher:
            raise ConfigError(f"dagger.loss={self.loss} needs dagger.kl_teacher (a model directory with the student's "
                              "tokenizer, or a server URL with prompt logprobs)")
        if self.horizon_start is not None and self.mixing != "prefix":
            raise ConfigError(f"dagger.horizon_start is set but dagger.mixing is {self.mixing!r}; the horizon "
                              "curriculum needs mixing: prefix")


@dataclass(frozen=True)
class SFTConfig:
    epochs: int = 4
    """Passes over the aggregated dataset per iteration."""
    lr: float = 1e-3
    """AdamW learning rate (constant after warmup). 3e-3 fits the tiny student's labels as fast but leaves it
    writing the most common module path whatever the issue says; 1e-3 learns to read the issue."""
    batch_size: int = 4
    """Examples per micro-batch (4: twice the updates of 8 for the same tokens; the tiny student needs steps)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    max_seq_len: int = 1024
    """Longer examples keep their last tokens (the target is always kept)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 5
    """Linear learning-rate warmup at the start of each iteration's training."""
    init: Literal["previous", "base"] = "previous"
    """Start each iteration from the previous checkpoint or from the initial student."""
    lora: bool = False
    """Train LoRA adapters (peft) instead of all weights; checkpoints then hold adapters."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """``auto``: bf16 on a GPU that supports it, fp32 on CPU; ``bf16``: bf16 autocast also on CPU."""
    max_tokens_per_iteration: int | None = None
    """Token budget of one iteration's SFT (prompt + target tokens of the examples trained on; of the packed sequences
    when packing): training stops at the optimizer step that reaches it, ``epochs`` then being an upper bound;
    ``null`` = all epochs over the aggregate."""
    packing: Literal["episode", "none"] = "none"
    """``episode``: the states of an episode train as one sequence (shared tokens once, each label on a branch
    under a 4D attention mask; same loss and gradients, see ``dagger/sft/pack.py``); a micro-batch
    then takes whole packed episodes while it holds at most ``batch_size`` states (one episode at least).
    ``none``: one sequence per state. Attention without 4D masks (flash attention) trains per state."""
    pack_max_tokens: int = 8192
    """Longest packed sequence; an episode beyond it is split into several (its attention mask is length²; on the
    main job's labels 8192 was fastest, smaller caps gave more tokens and no less time)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them (HF gradient checkpointing,
    non-reentrant): the same gradients for ~30% more compute and a fraction of the activation memory (the SmolLM2
    config at 4 x 1792 tokens: see README); off again after training, so rollouts are unaffected."""

    def __post_init__(self) -> None:
        if self.max_tokens_per_iteration is not None and self.max_tokens_per_iteration < 1:
            raise ConfigError(f"sft.max_tokens_per_iteration must be >= 1 or null, got {self.max_tokens_per_iteration}")
        check_bounds("sft", self, at_least_0=("lr", "weight_decay", "warmup_steps"),
                     at_least_1=("epochs", "batch_size", "grad_accum", "max_seq_len", "lora_r", "lora_alpha",
                                 "pack_max_tokens"))


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 12
    """Held-out episodes per evaluation (the student acts alone, β = 0, greedy); 12 = one per default held-out
    task, 72 states at 6 turns (evaluation is cheap next to SFT, and fewer states make agreement noise)."""
    every: int = 1
    """Evaluate after every N-th iteration (the last one always)."""
    label: bool = True
    """Have the teacher label the student's held-out states (no effect on the episodes) to measure agreement."""

    def __post_init__(self) -> None:
        check_bounds("eval", self, at_least_0=("episodes",), at_least_1=("every",))


@dataclass(frozen=True)
class ReportConfig:
    wandb: bool = False
    """Also log to Weights & Biases, through the same metrics as TensorBoard (needs the ``wandb`` extra)."""
    wandb_project: str = "swe-dagger"
    wandb_name: str | None = None
    """The W&B run's name (``null`` = the run directory's name)."""
    wandb_mode: Literal["offline", "online"] = "offline"
    """``offline``: written under ``<run_dir>/wandb`` for a later ``wandb sync``; ``online`` needs ``wandb login``."""
    text_episodes: int = 3
    """Held-out episodes written as text (task, outcome, each turn's command) after each evaluation (0 = none)."""

    def __post_init__(self) -> None:
        check_bounds("report", self, at_least_0=("text_episodes",))


RunMode = Literal["dagger", "bc", "base"]
"""``RunConfig.mode`` (and ``swe-dagger train --mode``)."""


@dataclass(frozen=True)
class RunConfig:
    phases: tuple[str | dict[str, dict[str, Any]], ...] = ("dagger",)
    """Training phases in order: names (``[dagger, grpo]``), or one-key mappings whose value overrides the section
    of that name for the phase (``[{dagger: {iterations: 3}}, {grpo: {steps: 50, group_size: 8}}]``). Each phase
    starts from the last checkpoint of the one before; ``dagger`` (which starts from the initial student) comes
    first if present."""
    mode: RunMode = "dagger"
    """``dagger``: β from the schedule; ``bc``: β ≡ 1 (SFT on teacher trajectories only, the baseline); ``base``:
    no training, the initial student evaluated once (iteration 0) under the same limits (``compare``'s zero line)."""
    seed: int = 0
    """Seeds task order, mixing draws, sampling and training."""
    run_dir: str | None = None
    """Where everything is written (``null`` = ``runs/<mode>-<seed>``)."""
    progress: bool = True
    """Show rich progress bars and per-iteration tables."""
    tensorboard: bool = True
    """Write TensorBoard event files under ``<run_dir>/tb``."""
    tasks: TasksConfig = field(default_factory=TasksConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    teachers: tuple[TeacherRouteConfig, ...] = ()
    """Several teachers behind a router (empty = the single ``teacher``): per-task patterns, cheapest first,
    escalation on an invalid reply, fallback on an error; labels record which teacher gave them."""
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        check_bounds("", self, at_least_0=("seed",))
        if self.run_dir is not None and not self.run_dir.strip():
            raise ConfigError("run_dir is empty: give a directory or null (runs/<mode>-<seed>)")
        parse_phases(self.phases)
        check_run_student(self.student)
        if self.dagger.loss != "ce" and self.sft.packing != "none":
            raise ConfigError(f"dagger.loss={self.dagger.loss} trains one sequence per state: set sft.packing=none")

    def resolved_run_dir(self) -> Path:
        return Path(self.run_dir) if self.run_dir else Path("runs") / f"{self.mode}-{self.seed}"


RUN_STUDENT_FIELDS = ("model", "backend", "tiny_params", "max_new_tokens", "temperature", "max_prompt_tokens",
                      "prompt", "rollout_dtype")
"""The ``student`` keys a training run uses; the section's other keys configure ``make_policy``'s backends only."""


def check_run_student(student: StudentConfig) -> None:
    """What a run cannot do with a valid :class:`StudentConfig`: ``ConfigError`` naming the key."""
    if student.backend not in ("hf", "vllm"):
        raise ConfigError(f"student.backend: {student.backend!r} is not one of ['hf', 'vllm'] (a run trains the "
                          "student's weights and rolls them out itself; other backends are for make_policy)")
    if student.rollout_dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"student.rollout_dtype: {student.rollout_dtype!r} is not one of ['float32', 'bfloat16'] "
                          "(a run casts each checkpoint to it for rollouts)")
    default = StudentConfig()
    for name in field_names(StudentConfig):
        if name not in RUN_STUDENT_FIELDS and getattr(student, name) != getattr(default, name):
            raise ConfigError(f"student.{name}: a training run does not use it (only make_policy's backends do); "
                              f"remove it or leave it at {getattr(default, name)!r}")


PHASE_SECTIONS: dict[str, type] = {"dagger": DaggerConfig, "grpo": GRPOConfig}
"""Phase name → the dataclass of its ``RunConfig`` section (of the same name), which a phase mapping overrides."""


@dataclass(frozen=True)
class Phase:
    """One entry of ``phases``, resolved: its name and the run's config with the phase's overrides applied."""

    index: int
    name: str
    config: RunConfig


def parse_phases(raw: tuple[str | dict[str, dict[str, Any]], ...]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, section overrides)`` per entry of ``phases``; a bad entry raises ``ConfigError`` naming it."""
    parsed: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(raw):
        where = f"phases[{i}]"
        overrides: Any
        if isinstance(entry, str):
            name, overrides = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            ((name, overrides),) = entry.items()
        else:
            raise ConfigError(f"{where}: expected a phase name or a one-key mapping {{name: {{key: value}}}}, "
                              f"got {entry!r}")
        if name not in PHASE_SECTIONS:
            raise ConfigError(f"{where}: unknown phase {name!r}; available: {', '.join(PHASE_SECTIONS)}")
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}.{name}: expected a mapping of {name} keys, got {overrides!r}")
        from_mapping(PHASE_SECTIONS[name], overrides, f"{where}.{name}")  # validates keys and types
        if any(name == seen for seen, _ in parsed):
            raise ConfigError(f"{where}: phase {name!r} appears twice (its markers and checkpoints would collide)")
        if name == "dagger" and parsed:
            raise ConfigError(f"{where}: the dagger phase starts from the initial student, so it must come first")
        parsed.append((name, dict(overrides)))
    if not parsed:
        raise ConfigError("phases is empty: name at least one of " + ", ".join(PHASE_SECTIONS))
    return parsed


def phase_plan(cfg: RunConfig) -> list[Phase]:
    """The run's phases in order, each with its effective config (its section = top-level section ← overrides)."""
    plan = []
    for i, (name, overrides) in enumerate(parse_phases(cfg.phases)):
        merged = merge(to_mapping(getattr(cfg, name)), overrides)
        section: Any = from_mapping(PHASE_SECTIONS[name], merged, f"phases[{i}].{name}")
        plan.append(Phase(i, name, replace(cfg, **{name: section})))
    return plan


def default_mapping() -> dict[str, Any]:
    """The embedded ``default.yaml`` as a mapping."""
    text = resources.files("swe_dagger.dagger").joinpath("default.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError("embedded default.yaml is not a mapping")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Defaults ← YAML file at ``path`` ← dotted overrides; unknown keys and bad values raise ``ConfigError``."""
    data = default_mapping()
    if path is not None:
        try:
            user = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(user, dict):
            raise ConfigError(f"config {path}: top level must be a mapping of sections")
        data = merge(data, strip_provenance(user))  # a run's config.yaml works as --config
    return load(RunConfig, data, list(overrides))


def save_resolved(cfg: RunConfig, run_dir: Path) -> Path:
    """Write the resolved config to ``run_dir/config.yaml`` atomically (fsync'd: ``--resume`` reads it)."""
    path = run_dir / "config.yaml"
    atomic_write_text(path, yaml.safe_dump(to_mapping(cfg), sort_keys=False))
    return path


def load_resolved(run_dir: Path) -> RunConfig:
    """The config a run was started with (for ``--resume``)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {path} is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return from_mapping(RunConfig, strip_provenance(data))
