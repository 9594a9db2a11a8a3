"""The project configuration: one YAML file, validated with pydantic.

Relative paths are resolved against the config file's folder. A key that does not exist is
refused with a "did you mean" suggestion; every error names the file and the field.
See ``examples/project.yaml`` for a documented example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from mixtures.errors import ConfigError, InfeasibleError, MixturesError
from mixtures.registry import did_you_mean

Format = Literal["auto", "jsonl", "jsonl.gz", "jsonl.zst", "parquet", "text", "hf"]


def _count(value: Any) -> Any:
    """``1e6`` as YAML writes it (a string: YAML 1.1 floats need a dot) or ``1.0e6``: the integer it names."""
    if isinstance(value, (str, float)) and not isinstance(value, bool):
        try:
            number = float(str(value).replace("_", ""))
        except ValueError:
            return value
        if number.is_integer():
            return int(number)
    return value


Count = Annotated[int, BeforeValidator(_count)]  # token counts and sizes: 1e6, 1_000_000 and 1000000 alike


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class DomainConfig(_Strict):
    """One training domain: where its documents are and how to read them."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="letters, digits, _ . - ; no path separators")
    paths: list[str] = Field(min_length=1, description="files, folders or globs, relative to the config file")
    format: Format = "auto"
    text_field: str = "text"
    id_field: str | None = None
    revealed: float | None = Field(None, gt=0, description="documents revealed to the ot law: a count (>= 1) or a "
                                                           "fraction (< 1) of the split's documents; null: all")

    @field_validator("name")
    @classmethod
    def _no_traversal(cls, value: str) -> str:
        if value in (".", "..") or ".." in value:
            raise ValueError(f"domain name {value!r} may not contain '..'")
        return value


class TargetSetConfig(DomainConfig):
    """A held-out target set: evaluated on, never trained on."""

    weight: float = Field(1.0, gt=0)


class TaskConfig(_Strict):
    """A multiple-choice task (jsonl items, :mod:`mixtures.tasks`): its loss and accuracy are measured at every
    eval point; with ``weight > 0`` its accuracy enters the objective (maximised), else it is only reported."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="letters, digits, _ . - ; no path separators")
    path: str = Field(description="a jsonl file of items {context, choices, answer}, relative to the config file")
    weight: float = Field(0.0, ge=0, description="weight of the task's accuracy in the objective; 0 = reported only")


class TargetConfig(_Strict):
    """What the optimizer minimizes: a weighted sum of per-domain losses and/or held-out sets (and, maximised,
    task accuracies)."""

    domains: dict[str, float] = Field(default_factory=dict, description="training domain -> weight; empty = natural shares")
    sets: list[TargetSetConfig] = Field(default_factory=list)
    tasks: list[TaskConfig] = Field(default_factory=list, description="multiple-choice tasks (mixtures.tasks)")

    @field_validator("domains")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if not weight >= 0:
                raise ValueError(f"target weight of {name!r} is {weight}; it must be >= 0")
        return value


class HFTokenizerFile(_Strict):
    """The user's own Hugging Face ``tokenizer.json`` (nothing is downloaded)."""

    path: str = Field(description="a tokenizer.json, relative to the config file")
    eod_token: str | None = Field(None, description="the end-of-document token; default: the first known one")


class HFTokenizerChoice(_Strict):
    hf: HFTokenizerFile


class CorpusConfig(_Strict):
    """How documents are read, split and tokenized."""

    val_fraction: float = Field(0.05, gt=0, lt=0.5)
    on_bad_line: Literal["fail", "skip"] = "fail"
    batch_docs: int = Field(1024, gt=0)
    tokenizer: str | HFTokenizerChoice = Field("bytes", description="bytes | bpe | {hf: {path: tokenizer.json}}")
    bpe_vocab_size: int = Field(4096, ge=260, le=1 << 20)
    bpe_sample_mb: float = Field(32.0, gt=0, description="MB of training text the BPE is trained on")

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, value: str | HFTokenizerChoice) -> str | HFTokenizerChoice:
        if isinstance(value, str):
            from mixtures.tokenizers import TOKENIZERS

            if value == "hf":
                raise ValueError("the hf tokenizer needs its file: tokenizer: {hf: {path: tokenizer.json}}")
            if value not in TOKENIZERS:
                raise ValueError(TOKENIZERS.unknown_message(value))
        return value


def _listed_once(value: list, what: str) -> list:
    """``value`` unless an item repeats (a repeated seed or scale would only train the same runs again)."""
    dupes = [item for i, item in enumerate(value) if item in value[:i]]
    if dupes:
        raise ValueError(f"{what} {dupes[0]} is listed twice; list each once")
    return value


def _seeds(value: list[int]) -> list[int]:
    """Seeds: each once, none negative (numpy refuses a negative seed only when the run starts)."""
    for seed in value:
        if seed < 0:
            raise ValueError(f"seed {seed} is negative; seeds are integers >= 0")
    return _listed_once(value, "seed")


class ScaleConfig(_Strict):
    """One proxy scale: a model preset (size N) and a training budget in tokens (D)."""

    model: str = Field("tiny", description="a preset of mixtures.presets.MODEL_PRESETS")
    tokens: Count = Field(gt=0)

    @field_validator("model")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from mixtures.presets import MODEL_PRESETS

        if value not in MODEL_PRESETS:
            raise ValueError(f"unknown model preset {value!r}{did_you_mean(value, list(MODEL_PRESETS))}; "
                             f"presets: {list(MODEL_PRESETS)}")
        return value


class CommandTrainerConfig(_Strict):
    """The user's own trainer: an argument list run without a shell."""

    args: list[str] = Field(min_length=1)
    timeout_s: float = Field(3600, gt=0)
    env: dict[str, str] = Field(default_factory=dict)


class RepeatRunsConfig(_Strict):
    """Proxy runs that repeat a small subset of a domain on purpose, so the repetition law can fit R* (issue 22).

    For each domain, ``n`` runs at every proxy scale (first proxy seed) give it a share from 0.3 to 0.7 (the
    rest in natural proportions) and cap its unique tokens at ``unique_fraction`` of what the run draws from
    it: the trainer repeats that subset about ``1 / unique_fraction`` times.
    """

    domains: list[str] = Field(min_length=1, description="the training domains whose data the runs cap")
    unique_fraction: float = Field(0.1, gt=0, lt=1, description="share of a run's tokens of the domain that are "
                                   "unique (0.1: a 10% subset seen ~10 times)")
    n: int = Field(2, ge=1, description="runs per domain and proxy scale")

    @field_validator("domains")
    @classmethod
    def _domains_once(cls, value: list[str]) -> list[str]:
        return _listed_once(value, "domain")


class ProxyConfig(_Strict):
    """Design of experiments and proxy training."""

    n_mixtures: int = Field(16, ge=2, description="mixtures in the design, natural and uniform included")
    scales: list[ScaleConfig] = Field(default_factory=lambda: [ScaleConfig(model="tiny", tokens=1_000_000)], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    repeats: int = Field(0, ge=0, description="extra seeds of proxy.repeats_mixture (seeds after proxy.seeds) that "
                         "measure the noise floor (the objective's seed spread); kept out of the law's fit")
    repeats_mixture: str = Field("uniform", description="the design mixture the repeats train (natural, uniform, ...)")
    temperature: float = Field(0.5, gt=0)
    strength: tuple[float, float] = (0.1, 5.0)
    max_epochs: float = Field(4.0, gt=0)
    min_weight: float = Field(0.01, ge=0, lt=1)
    space_filling: bool = False
    candidates_per_mixture: int = Field(50, ge=1)
    eval_points: int = Field(4, ge=1)
    trainer: Literal["builtin", "command"] = "builtin"
    command: CommandTrainerConfig | None = None
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="built-in trainer: auto = cuda when present")
    precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="auto = bf16 autocast on CUDA, fp32 on CPU")
    compile: bool | None = Field(None, description="torch.compile the model; null = on for CUDA, off on CPU")
    micro_batch: int | None = Field(None, ge=1, description="sequences per forward pass (gradient accumulation)")
    runs_table: str | None = Field(None, description="a wide-format table of finished runs to import")
    repeat_runs: RepeatRunsConfig | None = Field(None, description="runs that repeat a subset of a domain, to fit "
                                                 "the repetition law's R* (off by default)")

    @field_validator("seeds")
    @classmethod
    def _seeds_once(cls, value: list[int]) -> list[int]:
        return _seeds(value)

    @field_validator("scales")
    @classmethod
    def _scales_once(cls, value: list[ScaleConfig]) -> list[ScaleConfig]:
        return _listed_once(value, "scale")

    @model_validator(mode="after")
    def _command_given(self) -> ProxyConfig:
        if self.trainer == "command" and self.command is None:
            raise ValueError("trainer is 'command' but no 'command:' section gives the argument list")
        if self.trainer == "command" and self.repeat_runs is not None:
            raise ValueError("repeat_runs caps a domain's unique tokens, which only the builtin trainer does; "
                             "remove proxy.repeat_runs or use trainer: builtin")
        lo, hi = self.strength
        if not 0 < lo <= hi:
            raise ValueError(f"strength range {self.strength} must satisfy 0 < low <= high")
        return self


class LawsConfig(_Strict):
    """Law fitting and model selection."""

    law: str = Field("auto", description="auto, or a law family of mixtures.laws.LAWS")
    reuse_law: str = Field("exp", description="the law of a mixture reuse's refit over its few components (a family, "
                                              "or auto): by default Olmix's log-linear form, k + 2 parameters for k "
                                              "components, fitted on the max(4, 2k) swarm")
    folds: int = Field(5, ge=2)
    min_spearman: float = Field(0.5, ge=-1, le=1)
    bootstrap: int = Field(20, ge=0)

    @field_validator("law", "reuse_law")
    @classmethod
    def _known_law(cls, value: str) -> str:
        from mixtures.laws.families import checked_law

        try:
            return checked_law(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


def check_bounds(bounds: dict[str, tuple[float, float]], domains: list[str], where: str = "bounds") -> None:
    """Refuse per-domain weight bounds no mixture over ``domains`` can meet: an unknown domain or ``min > max`` or
    outside [0, 1] (:class:`ConfigError`); minimums summing above 1 or maximums (1 where unbounded) summing below 1
    (:class:`InfeasibleError`).
    The config checks ``constraints.bounds`` with it at load; the optimizer, the bounds it is given (its
    :class:`~mixtures.optimize.problem.Problem` then adds what data availability and the KL bound allow)."""
    unknown = [name for name in bounds if name not in domains]
    if unknown:
        hint = did_you_mean(unknown[0], list(domains))
        raise ConfigError(f"{where} names unknown domain(s) {unknown}{hint}; domains are {list(domains)}")
    for name, (lo, hi) in bounds.items():
        if not 0 <= lo <= hi <= 1:
            raise ConfigError(f"{where}: bounds of {name!r} are [{lo}, {hi}]; need 0 <= min <= max <= 1")
    lows = sum(lo for lo, _ in bounds.values())
    if lows > 1 + 1e-12:
        floored = ", ".join(f"{n}>={lo:g} by bounds" for n, (lo, _) in bounds.items() if lo > 0)
        raise InfeasibleError(f"{where}: infeasible constraints: the sum of per-domain minima ({floored}) is "
                              f"{lows:.4g} > 1; lower some minimum.")
    highs = sum(bounds.get(d, (0.0, 1.0))[1] for d in domains)
    if highs < 1 - 1e-12:
        capped = ", ".join(f"{n}<={hi:g} by bounds" for n, (_, hi) in bounds.items())
        raise InfeasibleError(f"{where}: infeasible constraints: the sum of per-domain maxima ({capped}) is "
                              f"{highs:.4g} < 1; raise some maximum.")


class ConstraintsConfig(_Strict):
    """Constraints on the optimized mixture."""

    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict, description="domain -> [min, max] "
                                                   "(checked with the domains by check_bounds)")
    max_epochs: float = Field(4.0, gt=0)
    max_epochs_per_domain: dict[str, float] = Field(default_factory=dict)
    kl_to_natural_max: float | None = Field(None, gt=0)

    @field_validator("max_epochs_per_domain")
    @classmethod
    def _positive_epochs(cls, value: dict[str, float]) -> dict[str, float]:
        for name, epochs in value.items():
            if not epochs > 0:
                raise ValueError(f"max_epochs_per_domain of {name!r} is {epochs}; it must be > 0")
        return value


class OptimizeConfig(_Strict):
    """The optimizer."""

    solver: str = Field("slsqp", description="a solver of mixtures.optimize.SOLVERS")
    options: dict[str, Any] = Field(default_factory=dict, description="the solver's options, e.g. {starts: 8}")
    tokens: Count | None = Field(None, gt=0, description="final training budget D_target; default: the dataset size")
    kl_penalty: float = Field(0.0, ge=0, description="adds kl_penalty x KL(w || natural) to the objective: a pull "
                              "toward the prior (the natural mixture), as Olmix's proposer does; 0 = off")

    @model_validator(mode="after")
    def _known_solver(self) -> OptimizeConfig:
        if self.solver == "slsqp" and not self.options:
            return self  # the default: nothing to check (and no optimizer import)
        from mixtures.optimize.solvers import make_solver

        try:
            make_solver(self.solver, **self.options)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self


class ValidationConfig(_Strict):
    """Validation runs: the optimum vs baselines at a larger scale."""

    scale: ScaleConfig | None = Field(None, description="default: next preset up, 4x the proxy compute")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    mixtures: dict[str, dict[str, float]] = Field(default_factory=dict, description="extra named baselines")

    @field_validator("seeds")
    @classmethod
    def _seeds_once(cls, value: list[int]) -> list[int]:
        return _seeds(value)


class DsirConfig(_Strict):
    """DSIR importance resampling inside domains."""

    enabled: bool = False
    buckets: int = Field(10_000, ge=16)
    min_length: int = Field(0, ge=0, description="documents with fewer words are excluded and counted")
    scope: Literal["domain", "pool"] = Field("domain", description="importance model per domain, or one over the pool")
    smoothing: float = Field(1.0, gt=0, description="pseudo-count of the hashed n-gram distributions")
    target: list[str] = Field(default_factory=list, description="target-set names to resample toward (default: all)")


class DatasetConfig(_Strict):
    """The materialized training set."""

    size: Count = Field(10_000_000, gt=0)
    unit: Literal["tokens", "bytes", "documents"] = "tokens"
    shard_mb: float = Field(64, gt=0)
    format: str = Field("parquet", description="parquet | jsonl | megatron | hf (mixtures.resample.formats)")
    split_documents: int | None = Field(
        None, ge=16, description="cut documents longer than this many UTF-8 bytes into pieces before drawing")
    tolerance: float = Field(0.05, ge=0, description="largest relative difference of a domain's drawn and asked share")
    tolerance_floor: float = Field(
        0.002, ge=0, le=1, description="a difference under this share of the dataset's size is always accepted")
    dsir: DsirConfig = Field(default_factory=DsirConfig)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from mixtures.resample.formats import OUTPUT_FORMATS

        if value not in OUTPUT_FORMATS:
            raise ValueError(OUTPUT_FORMATS.unknown_message(value))
        return value


OnlineMethod = Literal["doremi", "aioli", "dga", "reweight"]


class DoremiConfig(_Strict):
    """DoReMi: Group DRO on the excess loss over a reference model (Xie et al. 2023)."""

    eta: float = Field(1.0, gt=0, description="step size of the exponentiated-gradient update")
    smoothing: float = Field(1e-3, ge=0, lt=1, description="mix with uniform: (1-c) * weights + c * uniform")
    reference: Literal["natural", "uniform"] = Field("natural", description="mixture the reference model trains on")
    mode: Literal["sample", "reweight_loss"] = Field(
        "sample", description="draw batches from the weights, or from the initial mixture with losses weighted (authors' code)")


class AioliConfig(_Strict):
    """Aioli-style: a linear mixing law's interaction matrix estimated online from short probes."""

    eta: float = Field(1.0, gt=0, description="step size per nat of target loss removed per probe")
    epsilon: float = Field(0.5, gt=0, le=1, description="probe mixture: (1-epsilon) * weights + epsilon * one-hot")
    probe_steps: int = Field(2, ge=1, description="training steps per probe (one probe per domain per round)")
    eval_windows: int = Field(8, ge=1, description="validation windows per domain/target set to measure probe losses")
    smoothing: float = Field(0.01, ge=0, lt=1)


class DgaConfig(_Strict):
    """Gradient alignment: move weight toward domains whose gradient aligns with the target's."""

    eta: float = Field(1.0, gt=0)
    layers: int = Field(1, ge=1, description="last blocks whose gradients are compared (+ final norm, output head)")
    probe_sequences: int = Field(4, ge=1, description="sequences per domain and for the target, per update")
    smoothing: float = Field(0.01, ge=0, lt=1)


class ReweightConfig(_Strict):
    """Loss-based sample reweighting inside each batch (domain sampling stays static)."""

    strategy: Literal["downweight_easy", "downweight_hard"] = "downweight_easy"
    temperature: float = Field(1.0, gt=0, description="softness over the batch-standardized loss")
    strength: float = Field(1.0, ge=0, le=1, description="0 = uniform weights, 1 = the full loss-based weights")


class OnlineConfig(_Strict):
    """Online mixing inside the built-in proxy trainer (off unless ``methods`` is given)."""

    methods: list[OnlineMethod] = Field(default_factory=list, description="empty = off")
    scale: ScaleConfig | None = Field(None, description="the online proxy run; default: the largest proxy scale")
    init: Literal["natural", "uniform"] = Field("natural", description="weights at step 0 (reweight: the sampling mixture)")
    steps_per_update: int = Field(10, ge=1, description="training steps between weight updates")
    output: Literal["average", "final"] = Field("average", description="the mixture an online run stands for")
    doremi: DoremiConfig = Field(default_factory=DoremiConfig)
    aioli: AioliConfig = Field(default_factory=AioliConfig)
    dga: DgaConfig = Field(default_factory=DgaConfig)
    reweight: ReweightConfig = Field(default_factory=ReweightConfig)

    @field_validator("methods")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({m for m in value if value.count(m) > 1})
        if dupes:
            raise ValueError(f"method(s) {dupes} listed twice")
        return value


LauncherName = Literal["local", "slurm", "k8s"]  # resources.launchers.LAUNCHERS (the library cannot import it)


SLURM_TIME = r"^([0-9]+(:[0-9]{1,2}){0,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}){0,2}|UNLIMITED|INFINITE)$"


class SlurmLaunchConfig(_Strict):
    """One ``sbatch`` job per training run (``launch.launcher: slurm``)."""

    partition: str | None = Field(None, description="--partition; default: the cluster's default partition")
    account: str | None = Field(None, description="--account")
    gpus: int = Field(0, ge=0, description="--gres=gpu:N per run (0: none)")
    cpus_per_task: int | None = Field(None, ge=1, description="--cpus-per-task; default: launch.threads")
    mem: str | None = Field(None, pattern=r"^[0-9]+[KMGT]?$", description="--mem, e.g. 16G")
    time: str | None = Field(None, pattern=SLURM_TIME, description="--time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, "
                             "D-HH:MM:SS or UNLIMITED, e.g. 02:00:00")
    qos: str | None = Field(None, description="--qos")
    extra_args: list[str] = Field(default_factory=list, description="more sbatch options, e.g. ['--constraint=a100']")
    setup: list[str] = Field(default_factory=list, description="shell lines run before the worker (module load, venv)")
    python: str | None = Field(None, description="the interpreter on the nodes; default: the one running Dagster")
    poll_seconds: float = Field(1.0, gt=0, description="how often the job's state is read (squeue)")
    node_down_timeout_s: float = Field(300.0, gt=0, description="fail a pending job after its partition has had "
                                       "no usable node (all down or drained) for this long")

    @field_validator("extra_args")
    @classmethod
    def _options_only(cls, value: list[str]) -> list[str]:
        for arg in value:
            if not arg.startswith("-"):
                raise ValueError(f"{arg!r} is not an sbatch option; write it as an option, e.g. '--{arg}'")
        return value


class K8sLaunchConfig(_Strict):
    """One Kubernetes Job per training run through dagster-k8s Pipes (``launch.launcher: k8s``)."""

    image: str | None = Field(None, description="an image with mixtures installed (pip install '.[k8s]')")
    namespace: str = "default"
    cpu: str = Field("2", pattern=r"^[0-9]+(\.[0-9]+)?m?$", description="resources.requests/limits cpu, e.g. 2 or 500m")
    memory: str = Field("8Gi", pattern=r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|k)?$",
                        description="resources.requests/limits memory, e.g. 8Gi or 512M")
    gpus: int = Field(0, ge=0, description="resources.limits nvidia.com/gpu")
    service_account: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    env: dict[str, str] = Field(default_factory=dict, description="more environment variables for the pod")
    node_selector: dict[str, str] = Field(default_factory=dict)
    kubeconfig: str | None = Field(None, description="a kubeconfig file; default: in-cluster, then ~/.kube/config")


class LaunchConfig(_Strict):
    """Where each training run executes; every run is one Dagster partition, launched by this launcher."""

    launcher: LauncherName = Field("local", description="local (a subprocess) | slurm | k8s; "
                                   "MIXTURES_LAUNCHER overrides it per environment")
    threads: int = Field(1, ge=1, description="CPU threads per run; part of the run spec (it can change the last "
                         "bits of a loss), so the same run gives the same losses under every launcher")
    max_concurrent: int | None = Field(None, ge=1, description="trainings at once (the Dagster pool's limit); "
                                       "default: cores / threads for local, 16 for slurm and k8s")
    retries: int = Field(2, ge=0, description="a run whose job was cancelled or preempted is retried this often "
                         "and resumes from its checkpoint")
    slurm: SlurmLaunchConfig = Field(default_factory=SlurmLaunchConfig)
    k8s: K8sLaunchConfig = Field(default_factory=K8sLaunchConfig)

    @model_validator(mode="after")
    def _k8s_image(self) -> LaunchConfig:
        if self.launcher == "k8s" and not self.k8s.image:
            raise ValueError("launch.launcher is k8s but launch.k8s.image is not set: give an image with mixtures "
                             "installed (pip install '.[k8s]'); see README: Run on a cluster")
        return self


class StorageConfig(_Strict):
    """Where outputs and caches go (relative to the config file)."""

    root: str = ".mixtures"
    cache: str | None = None


class TrackingConfig(_Strict):
    """MLflow."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "mixtures"
    registered_model: str = "mixtures-law"


class ProjectConfig(_Strict):
    """The whole project."""

    project: str = "mixtures"
    seed: int = Field(0, ge=0)
    reuse: Literal["auto", "never", "always"] = Field(
        "never", description="after a corpus change, reuse the previous optimum (its unchanged domains' ratios as "
        "one virtual domain, a small swarm over it and the changed domains): auto = when it is cheaper than a full "
        "design, always = whenever there is a previous optimum, never = a full design (mixtures.reuse)")
    domains: list[DomainConfig] = Field(min_length=1)
    target: TargetConfig = Field(default_factory=TargetConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    proxy: ProxyConfig = Field(default_factory=ProxyConfig)
    laws: LawsConfig = Field(default_factory=LawsConfig)
    constraints: ConstraintsConfig = Field(default_factory=ConstraintsConfig)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    online: OnlineConfig = Field(default_factory=OnlineConfig)
    launch: LaunchConfig = Field(default_factory=LaunchConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    base_dir: str = Field(".", description="set by load_config: the config file's folder")

    @model_validator(mode="after")
    def _cross_checks(self) -> ProjectConfig:
        names = [d.name for d in self.domains]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"domains: duplicate domain name(s) {dupes}; each domain needs its own name")
        set_names = [s.name for s in self.target.sets]
        clash = sorted(set(set_names) & set(names))
        if clash:
            raise ValueError(f"target.sets: name(s) {clash} are also training domains; rename them")
        task_names = [t.name for t in self.target.tasks]
        twice = sorted({n for n in task_names if task_names.count(n) > 1})
        if twice:
            raise ValueError(f"target.tasks: duplicate task name(s) {twice}; each task needs its own name")
        for section, keys in (
            ("target.domains", self.target.domains),
            ("constraints.max_epochs_per_domain", self.constraints.max_epochs_per_domain),
            ("proxy.repeat_runs.domains", self.proxy.repeat_runs.domains if self.proxy.repeat_runs else []),
            *((f"validation.mixtures.{label}", mixture) for label, mixture in self.validation.mixtures.items()),
        ):
            unknown = [k for k in keys if k not in names]
            if unknown:
                raise ValueError(f"{section} names unknown domain(s) {unknown}{did_you_mean(unknown[0], names)}; "
                                 f"domains are {names}")
        unknown_sets = [t for t in self.dataset.dsir.target if t not in set_names]
        if unknown_sets:
            raise ValueError(f"dataset.dsir.target names unknown target set(s) {unknown_sets}"
                             f"{did_you_mean(unknown_sets[0], set_names)}; sets are {set_names}")
        if self.target.domains and not self.target.sets and not sum(self.target.domains.values()) > 0:
            raise ValueError("target.domains: every weight is 0, so there is nothing to minimize; give some "
                             "domain a weight > 0 (or leave target.domains empty for the natural shares)")
        from mixtures.mixture import validate_mixture

        for label, mixture in self.validation.mixtures.items():
            try:
                validate_mixture(mixture, names, where=f"validation.mixtures.{label}")
            except MixturesError as exc:
                raise ValueError(str(exc)) from None
        try:
            check_bounds(self.constraints.bounds, names, where="constraints.bounds")
        except MixturesError as exc:
            raise ValueError(str(exc)) from None
        return self

    # -- paths -------------------------------------------------------------------------------
    def resolve(self, path: str | Path) -> Path:
        """A path from the config, made absolute against the config file's folder; a URL
        (``s3://...``, ``gs://...``) stays a URL, as a :class:`upath.UPath`."""
        from mixtures import storage

        text = str(path)
        if storage.is_url(text):
            return storage.as_path(text)
        if text.startswith("file://"):
            text = text[len("file://"):]
        path = Path(text).expanduser()
        return path if path.is_absolute() else (Path(self.base_dir) / path).resolve()

    @property
    def root(self) -> Path:
        return self.resolve(self.storage.root)

    @property
    def cache_dir(self) -> Path:
        return self.resolve(self.storage.cache) if self.storage.cache else self.root / "cache"

    @property
    def domain_names(self) -> list[str]:
        return [d.name for d in self.domains]

    def domain(self, name: str) -> DomainConfig:
        for d in self.domains:
            if d.name == name:
                return d
        raise ConfigError(f"no domain named {name!r}; domains are {self.domain_names}")

    def fingerprint(self) -> str:
        """A short hash of everything that shapes results (not where the file lives)."""
        import hashlib

        payload = self.model_dump_json(exclude={"base_dir", "storage", "tracking", "launch"})
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]

    @property
    def tracking_uri(self) -> str:
        """The MLflow URI (under ``MIXTURES_ENV=team``, ``MLFLOW_TRACKING_URI`` overrides the config), a relative
        sqlite path made absolute against the config folder."""
        from mixtures.environment import tracking_uri_override

        prefix = "sqlite:///"
        uri = tracking_uri_override() or self.tracking.uri
        if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
            return prefix + str(self.resolve(uri[len(prefix):]))
        return uri


# -- loading -------------------------------------------------------------------------------------


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for "did you mean")."""
    model: Any = ProjectConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = None
        for cand in candidates:
            for inner in [cand, *getattr(cand, "__args__", ())]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested = inner
        if nested is None:
            return None
        model = nested
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        model = _model_at(loc)
        key = str(loc[-1])
        hint = ""
        if model is not None:
            hint = (did_you_mean(key, list(model.model_fields))
                    or f"; known keys here: {sorted(k for k in model.model_fields if k != 'base_dir')}")
        return f"unknown key {where!r}{hint}"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if error["type"] == "literal_error" and isinstance(error.get("input"), str):  # a typo of one of the choices
        msg += did_you_mean(error["input"], re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", ""))))
    return f"{where}: {msg}" if loc else msg


def parse_config(data: dict[str, Any], *, source: str = "config", base_dir: str | Path = ".") -> ProjectConfig:
    """Validate a config mapping; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (project, domains, ...).")
    try:
        return ProjectConfig.model_validate({**data, "base_dir": str(Path(base_dir).resolve())})
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration:\n  - " + "\n  - ".join(lines)) from None


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate a YAML project config (loaded with ``yaml.safe_load``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and "base_dir" in data:
        raise ConfigError(f"{path}: 'base_dir' is set from the file's location; remove it.")
    return parse_config(data or {}, source=str(path), base_dir=path.parent)
