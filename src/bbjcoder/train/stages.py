"""`bbjcoder train`: the two stages as a story — make or resume a run, prepare data, CPT, SFT, record.

Stage 1 (cpt) trains a LoRA adapter on packed BBj source; stage 2 (sft) continues that same adapter
on ChatML examples (loss on assistant tokens only). Each stage is one transformers Trainer run with
our collator and loss; checkpoints under `checkpoints/<stage>/` make `--resume` exact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

if TYPE_CHECKING:
    import torch

from bbjcoder.config import RunConfig, StageSection
from bbjcoder.errors import ConfigError, UserError
from bbjcoder.fileio import DirLock
from bbjcoder.records.run import RunRecord, TrainData
from bbjcoder.records.train_result import STAGES, LogEntry, StageResult
from bbjcoder.runs import create_run, dataset_hashes, list_runs, resolve_run, update_run, write_model_card
from bbjcoder.train.data import ChatRecord, CorpusDoc
from bbjcoder.train.examples import Row


def _precision(model: Any, quantization: str) -> str:
    """The precision the base weights were trained in, as the model card names it: nf4, bf16, fp16, fp32."""
    if quantization == "nf4":
        return "nf4"
    import torch

    names = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}
    dtypes = [p.dtype for p in model.parameters() if not p.requires_grad]  # frozen base weights
    dtype = dtypes[0] if dtypes else next(model.parameters()).dtype
    return names.get(dtype, str(dtype).removeprefix("torch."))


def _stage_trainer_class() -> type:
    """A Trainer whose loss never builds full logits (chunked or Liger fused linear CE)."""
    from transformers import Trainer

    from bbjcoder.train.loss import chunked_linear_cross_entropy, shift_for_causal_lm

    class LMTrainer(Trainer):
        loss_impl: str = "plain"
        ce_chunk_size: int = 1024
        liger_loss: Any = None

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, torch.Tensor],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if self.loss_impl == "plain":
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            unwrapped = self.accelerator.unwrap_model(model)
            causal_lm = unwrapped.get_base_model() if hasattr(unwrapped, "get_base_model") else unwrapped
            labels = inputs["labels"]
            # The decoder alone (no lm_head): autocast as the wrapped forward would have applied.
            with self.accelerator.autocast():
                hidden = causal_lm.model(
                    input_ids=inputs["input_ids"],
                    attention_mask=inputs.get("attention_mask"),
                    position_ids=inputs.get("position_ids"),
                    use_cache=False,
                ).last_hidden_state
                h, t = shift_for_causal_lm(hidden, labels)
                weight = causal_lm.get_output_embeddings().weight
                if self.loss_impl == "liger" and self.liger_loss is not None:
                    total = self.liger_loss(weight, h.reshape(-1, h.shape[-1]), t.reshape(-1))
                else:
                    total = chunked_linear_cross_entropy(h, weight, t, chunk_size=self.ce_chunk_size)
            n = num_items_in_batch if num_items_in_batch is not None else (t != -100).sum().clamp(min=1)
            loss = total / n
            return (loss, {}) if return_outputs else loss

    return LMTrainer


class ListDataset:
    """Rows held in memory; the Trainer's seeded sampler decides the order (and replays it on resume)."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Row:
        return self.rows[i]


def _loss_impl(choice: str, cuda: bool, world_size: int = 1) -> tuple[str, Any]:
    """The loss path actually used: "plain", "chunked" or "liger" (with Liger's loss function).

    With more than one process (DDP or FSDP under `accelerate launch`) the loss is always plain:
    the chunked and Liger paths call the unwrapped decoder and read the lm_head weight directly,
    which would bypass DDP's gradient sync and FSDP's parameter all-gather. The plain path goes
    through the wrapped model's forward.
    """
    from bbjcoder.train.loss import liger_fused_linear_cross_entropy

    if world_size > 1:
        return "plain", None
    if choice in ("liger", "auto"):
        fn = liger_fused_linear_cross_entropy() if cuda else None
        if fn is not None:
            return "liger", fn
        if choice == "liger":
            raise UserError(
                "cross_entropy = 'liger' needs CUDA and liger-kernel", hint="pip install 'bbjcoder[gpu]'"
            )
        return "chunked", None
    return choice, None


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(p) if ckpt_dir.is_dir() and (p := get_last_checkpoint(str(ckpt_dir))) else None


def run_stage(
    stage: str,
    cfg: RunConfig,
    run: RunRecord,
    base_dir: Path,
    train_rows: Sequence[Row],
    val_rows: Sequence[Row],
    *,
    init_adapter: Path | None,
    resume: bool,
    callbacks: Sequence[Any] = (),
    fresh_optimizer: bool = False,
) -> tuple[StageResult, list[LogEntry]]:
    """Train one stage; save its adapter to `<run>/<stage>/adapter`. Returns its result and the
    Trainer's log history."""
    import torch
    from transformers import EarlyStoppingCallback, TrainingArguments
    from transformers.integrations import TensorBoardCallback

    from bbjcoder.train.callbacks import NonFiniteLossGuard
    from bbjcoder.train.examples import PadCollator
    from bbjcoder.train.model import (
        add_lora,
        apply_fused_kernels,
        enable_gradient_checkpointing,
        load_adapter,
        load_model_and_tokenizer,
    )

    sc: StageSection = getattr(cfg, stage)
    mc = cfg.model
    cuda = torch.cuda.is_available()
    if mc.backend == "unsloth":
        model, tokenizer = _load_unsloth(base_dir, cfg)
    else:
        model, tokenizer = load_model_and_tokenizer(
            base_dir,
            quantization=mc.quantization,
            dtype=mc.dtype,
            attn_implementation=mc.attn_implementation,
            gradient_checkpointing=mc.gradient_checkpointing,
        )
    fused = mc.fused_kernels == "on" or (mc.fused_kernels == "auto" and cuda)
    if fused and not apply_fused_kernels(model) and mc.fused_kernels == "on":
        raise UserError(
            "fused_kernels = 'on' needs CUDA and liger-kernel", hint="pip install 'bbjcoder[gpu]'"
        )
    if init_adapter is not None:
        model = load_adapter(model, init_adapter, trainable=True)
    elif mc.backend != "unsloth":
        model = add_lora(
            model,
            r=cfg.lora.r,
            alpha=cfg.lora.lora_alpha,
            dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules,
            modules_to_save=cfg.lora.modules_to_save,
        )
    if mc.gradient_checkpointing:
        enable_gradient_checkpointing(model, mc.checkpoint_every)

    # bf16 autocast whenever the weights are bf16/NF4: without it activations stay fp32 and
    # attention falls off the bf16 flash kernel (half the speed on an H100).
    bf16 = cuda and (mc.quantization == "nf4" or any(p.dtype == torch.bfloat16 for p in model.parameters()))
    has_val = len(val_rows) > 0
    early = has_val and sc.early_stopping_patience > 0
    if has_val and sc.save_steps % sc.eval_steps:
        raise ConfigError(
            f"[{stage}] save_steps ({sc.save_steps}) must be a multiple of eval_steps ({sc.eval_steps})",
            path=cfg.source,
        )
    ckpt_dir = run.path / "checkpoints" / stage
    report_to: list[str] = [r for r in cfg.run.report_to if _importable(r)]
    args = TrainingArguments(
        output_dir=str(ckpt_dir),
        seed=cfg.run.seed,
        data_seed=cfg.run.seed,
        per_device_train_batch_size=sc.micro_batch_size,
        per_device_eval_batch_size=sc.eval_batch_size,
        gradient_accumulation_steps=sc.gradient_accumulation,
        learning_rate=sc.learning_rate,
        num_train_epochs=sc.epochs,
        max_steps=sc.max_steps,
        lr_scheduler_type=sc.lr_scheduler,
        warmup_steps=sc.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=sc.weight_decay,
        max_grad_norm=sc.max_grad_norm,
        logging_steps=sc.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # NonFiniteLossGuard must see NaN steps
        eval_strategy="steps" if has_val else "no",
        eval_on_start=has_val,  # the untrained validation loss: the baseline the curve falls from
        eval_steps=sc.eval_steps,
        save_strategy="steps",
        save_steps=sc.save_steps,
        save_total_limit=sc.save_total_limit,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        prediction_loss_only=True,
        bf16=bf16,
        gradient_checkpointing=False,  # enabled above (selectively), not by the Trainer
        report_to=report_to or "none",
        run_name=f"{run.id}-{stage}",
        remove_unused_columns=False,
        include_num_input_tokens_seen="all",
        dataloader_num_workers=0,
        disable_tqdm=False,
        use_cpu=not cuda,
    )
    trainer_cls = _stage_trainer_class()
    impl, liger_fn = _loss_impl(mc.cross_entropy, cuda, int(os.environ.get("WORLD_SIZE", "1")))
    cbs: list[Any] = [
        NonFiniteLossGuard(stage),
        TensorBoardCallback(tb_writer=_tb_writer(run.path / "logs" / stage)),
    ]
    if early:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=sc.early_stopping_patience))
    trainer = trainer_cls(
        model=model,
        args=args,
        data_collator=PadCollator(int(tokenizer.pad_token_id)),
        train_dataset=ListDataset(train_rows),
        eval_dataset=ListDataset(val_rows) if has_val else None,
        processing_class=tokenizer,
        callbacks=[*cbs, *callbacks],
    )
    trainer.loss_impl, trainer.liger_loss, trainer.ce_chunk_size = impl, liger_fn, mc.ce_chunk_size
    resume_from = last_checkpoint(ckpt_dir) if resume else None
    if resume_from is not None:
        check_checkpoint(resume_from, fresh_optimizer=fresh_optimizer)
    t0 = time.monotonic()
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    wall = time.monotonic() - t0
    adapter_dir = run.path / stage / "adapter"
    if trainer.is_fsdp_enabled:
        # Sharded parameters must be gathered into one adapter file (as PEFT's FSDP recipe does).
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
        trainer.save_model(str(adapter_dir))
    elif trainer.is_world_process_zero():
        trainer.model.save_pretrained(adapter_dir)
    trainer.accelerator.wait_for_everyone()
    state = trainer.state
    hist = state.log_history
    train_losses = [h["loss"] for h in hist if "loss" in h]
    val_losses = [h["eval_loss"] for h in hist if "eval_loss" in h]
    final_val = trainer.evaluate()["eval_loss"] if has_val else None
    result = StageResult(
        status="done",
        global_step=state.global_step,
        max_steps=state.max_steps,
        epochs=round(float(state.epoch or 0.0), 3),  # trained, not configured (max_steps may cut)
        precision=_precision(model, mc.quantization),
        bf16_autocast=bf16,
        tokens_seen=int(state.num_input_tokens_seen),
        train_rows=len(train_rows),
        val_rows=len(val_rows),
        first_train_loss=train_losses[0] if train_losses else None,
        final_train_loss=train_losses[-1] if train_losses else None,
        first_val_loss=val_losses[0] if val_losses else None,
        best_val_loss=state.best_metric if has_val else None,
        final_val_loss=final_val,
        best_checkpoint=Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        wall_time_s=round(wall, 1),
        resumed_from=resume_from.name if resume_from else None,
        loss_impl=impl,
        fused_kernels=fused,
    )
    return result, hist


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _tb_writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(log_dir))


def _load_unsloth(base_dir: Path, cfg: RunConfig) -> tuple[Any, Any]:
    """Optional backend: Unsloth's FastLanguageModel (CUDA only), with its own LoRA wrapper."""
    try:
        from unsloth import FastLanguageModel
    except ImportError as exc:
        from bbjcoder.errors import DependencyError

        raise DependencyError(
            "backend = 'unsloth' needs the unsloth package", hint="pip install unsloth, or backend = 'hf'"
        ) from exc
    from bbjcoder.train.model import prepare_tokenizer

    model, tokenizer = FastLanguageModel.from_pretrained(
        str(base_dir),
        max_seq_length=max(cfg.cpt.max_length, cfg.sft.max_length),
        load_in_4bit=cfg.model.quantization == "nf4",
    )
    target = cfg.lora.target_modules
    if target == "all-linear":
        target = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = FastLanguageModel.get_peft_model(
        model,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.lora_alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=target,
    )
    return model, prepare_tokenizer(tokenizer)


# --- resume safety ----------------------------------------------------------------------------

OPTIMIZER_FILES = ("optimizer.pt", "scheduler.pt")


def _checkpoint_problem(ckpt: Path, *, fresh_optimizer: bool) -> UserError | None:
    """The first thing wrong with a Trainer checkpoint directory, as the error to show, or None."""
    from bbjcoder.integrity import CorruptFile, check_json_object, check_safetensors, check_torch_file

    try:
        check_json_object(ckpt / "trainer_state.json", hint="", required=("global_step",))
        adapter = ckpt / "adapter_model.safetensors"
        if adapter.exists():
            check_safetensors(adapter, hint="")
        missing = [f for f in OPTIMIZER_FILES if not (ckpt / f).is_file()]
        if missing and not fresh_optimizer:
            return UserError(
                f"checkpoint has no {' or '.join(missing)}: resuming would silently restart the "
                "optimizer and the learning-rate schedule (warm-up included)",
                path=ckpt,
                hint="pass --fresh-optimizer to continue from its weights with a new optimizer and "
                "schedule on purpose",
            )
        for f in OPTIMIZER_FILES:
            if (ckpt / f).is_file():
                check_torch_file(ckpt / f, hint="")
    except CorruptFile as exc:
        return exc
    return None


def check_checkpoint(ckpt: Path, *, fresh_optimizer: bool = False) -> None:
    """Refuse to resume from a checkpoint with corrupt or missing state, naming the file, what is
    wrong, and the previous intact checkpoint to continue from instead."""
    problem = _checkpoint_problem(ckpt, fresh_optimizer=fresh_optimizer)
    if problem is None:
        if fresh_optimizer and any(not (ckpt / f).is_file() for f in OPTIMIZER_FILES):
            import warnings

            warnings.warn(
                f"{ckpt}: no optimizer/scheduler state; --fresh-optimizer: continuing with a new "
                "optimizer and learning-rate schedule",
                stacklevel=2,
            )
        return
    earlier = sorted(
        (p for p in ckpt.parent.glob("checkpoint-*") if p != ckpt and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    intact = next((p for p in earlier if _checkpoint_problem(p, fresh_optimizer=False) is None), None)
    if intact is not None:
        hint = (
            f"move it aside (mv {ckpt} {ckpt}.bad) and run again: --resume then continues "
            f"from {intact.name}, the previous intact checkpoint"
        )
    else:
        hint = f"no earlier intact checkpoint: move {ckpt} aside to start the stage over"
    if problem.hint:  # e.g. how to go on without optimizer state on purpose
        hint = f"{problem.hint}; or {hint}"
    raise UserError(problem.message, path=problem.path, hint=hint)


# Config sections whose values change what training computes; a resumed run must keep them.
_TRAINING_KEYS = ("model.", "lora.", "cpt.", "sft.", "run.seed", "data.general_mix", "data.synthetic")
_HARMLESS = ("logging_steps", "eval_batch_size", "save_total_limit")


def training_config_changes(stored: Mapping[str, object], given: Mapping[str, object]) -> list[str]:
    """`key: stored -> given` for every training-relevant setting that differs."""
    from bbjcoder.runs import flatten

    a, b = flatten(stored), flatten(given)
    out = []
    for key in sorted(set(a) & set(b)):
        if key.startswith(_TRAINING_KEYS) and not key.endswith(_HARMLESS) and a[key] != b[key]:
            out.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    return out


def _has_training_state(run: RunRecord) -> bool:
    """Whether the run holds anything a resume would continue: checkpoints or a finished stage."""
    return any((run.path / "checkpoints").glob("*/checkpoint-*")) or any(
        run.stage_adapter(s).is_dir() for s in STAGES
    )


def check_resume_config(run: RunRecord, cfg: RunConfig, *, allow_config_change: bool) -> RunRecord:
    """Refuse to continue a run's training under a config that changes it (unless allowed). With
    nothing trained yet (no checkpoint, no finished stage) there is nothing to mix: the run simply
    takes the new config. The config used from now on is recorded in run.json."""
    changes = training_config_changes(run.config, cfg.to_dict())
    if not changes:
        return run
    if _has_training_state(run) and not allow_config_change:
        shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
        raise ConfigError(
            f"--resume with a config that differs from run {run.id}'s in what it trains: {shown}",
            path=cfg.source,
            hint="resume with the run's own config, start a new run without --resume, or pass "
            "--allow-config-change to continue with the new settings on purpose",
        )
    new_config = cfg.to_dict()

    def record(rec: RunRecord) -> RunRecord:
        previous = [*rec.previous_configs, rec.config]
        return rec.model_copy(update={"previous_configs": previous, "config": new_config})

    return update_run(run, record)


# --- the whole run ----------------------------------------------------------------------------


def _set_status(status: str) -> Callable[[RunRecord], RunRecord]:
    return lambda rec: rec.model_copy(update={"status": status})


def _record_stage(
    stage: str, result: StageResult, history: list[LogEntry]
) -> Callable[[RunRecord], RunRecord]:
    """The stage's result into `stages.<stage>`, the Trainer's log history into `history.<stage>`."""

    def change(rec: RunRecord) -> RunRecord:
        return rec.model_copy(
            update={"stages": {**rec.stages, stage: result}, "history": {**rec.history, stage: history}}
        )

    return change


def _find_resumable(cfg: RunConfig, run_id: str | None) -> RunRecord:
    if run_id:
        return resolve_run(run_id, cfg.run.runs_dir)
    candidates = [
        r for r in list_runs(cfg.run.runs_dir) if r.config.get("run", {}).get("name") == cfg.run.name
    ]
    unfinished = [r for r in candidates if r.status != "done"]
    if not unfinished:
        raise UserError(
            f"no unfinished run named {cfg.run.name!r} under {cfg.run.runs_dir} to resume",
            hint="start a new run without --resume, or pass --run ID",
        )
    return unfinished[-1]


def _ensure_base_model(
    cfg: RunConfig, run: RunRecord, corpus: list[CorpusDoc], records: list[ChatRecord]
) -> Path:
    """The base model directory: model.path, or the tiny model built (once) into `<run>/base`."""
    from bbjcoder.train.data import tokenizer_texts

    if cfg.model.path != "tiny":
        path = Path(cfg.model.path)
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"model.path {str(path)!r} is not a Hugging Face model directory", path=cfg.source
            )
        return path
    base = run.path / "base"
    if not (base / "model.safetensors").is_file():
        from bbjcoder.train.tiny import build_tiny_model

        m = cfg.model
        build_tiny_model(
            base,
            tokenizer_texts(corpus, records),
            **m.tiny_shape(),
            max_position_embeddings=max(cfg.cpt.max_length, cfg.sft.max_length, 512),
            seed=cfg.run.seed,
        )
    return base


class _Processes:
    """The processes of this training job: one, or several under `accelerate launch`/torchrun.

    With several, all must train into one run directory: rank 0 makes (or finds) it and tells the
    others its id, and only rank 0 builds the tiny base and writes the run's final files.
    """

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.state: Any = None
        if self.world > 1:
            import torch
            from accelerate import PartialState

            # sets up the process group the Trainer then uses (on CPU only when told: cpu=True)
            self.state = PartialState(cpu=not torch.cuda.is_available())
        self.main = self.state is None or bool(self.state.is_main_process)

    def wait(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()

    def one_run(self, make: Callable[[], RunRecord], runs_dir: Path) -> RunRecord:
        if self.state is None:
            return make()
        import torch.distributed as torch_dist

        run: RunRecord | None = None
        ids: list[str | None] = [None]
        try:
            if self.main:
                run = make()
                ids[0] = str(run.path.resolve())
        finally:  # rank 0 always broadcasts, so a failure there cannot hang the others
            torch_dist.broadcast_object_list(ids, src=0)
        if ids[0] is None:
            raise UserError("the main process could not create or find the run", path=runs_dir)
        return run if run is not None else resolve_run(Path(ids[0]), runs_dir)


def train(
    cfg: RunConfig,
    *,
    stage: str = "all",
    resume: bool = False,
    run_id: str | None = None,
    callbacks: Sequence[Any] = (),
    allow_config_change: bool = False,
    fresh_optimizer: bool = False,
) -> RunRecord:
    """Run (or resume) the configured stages and write run.json, adapter/, loss.png, MODEL_CARD.md.

    The run directory is locked while training (a second process exits naming this one's pid). A
    resume refuses a config that changes training, and a checkpoint without optimizer state,
    unless `allow_config_change` / `fresh_optimizer` say to go on.
    """
    with contextlib.ExitStack() as held:
        return _train(
            cfg,
            stage=stage,
            resume=resume,
            run_id=run_id,
            callbacks=callbacks,
            allow_config_change=allow_config_change,
            fresh_optimizer=fresh_optimizer,
            held=held,
        )


def _train(
    cfg: RunConfig,
    *,
    stage: str,
    resume: bool,
    run_id: str | None,
    callbacks: Sequence[Any],
    allow_config_change: bool,
    fresh_optimizer: bool,
    held: contextlib.ExitStack,
) -> RunRecord:
    from transformers import AutoTokenizer

    from bbjcoder.train.data import (
        GENERAL_MIX,
        apply_synthetic,
        build_sft_examples,
        cpt_rows,
        read_chat_records,
        read_corpus,
        read_general_mix,
        sft_rows,
        split_documents,
    )
    from bbjcoder.train.model import prepare_tokenizer
    from bbjcoder.train.plots import plot_losses

    if stage not in ("all", *STAGES):
        raise UserError(f"unknown stage {stage!r}; expected cpt, sft or all")
    wanted = [s for s in STAGES if (stage in ("all", s)) and getattr(cfg, s).enabled]
    if not wanted:
        raise ConfigError(
            "no stage to run: both [cpt] and [sft] are disabled or not selected", path=cfg.source
        )
    ds = cfg.data.dataset_dir
    corpus = read_corpus(ds / "corpus.jsonl") if "cpt" in wanted else []
    train_recs = read_chat_records(ds / "train.jsonl") if "sft" in wanted else []
    train_recs, origin_counts = apply_synthetic(
        train_recs, mode=cfg.data.synthetic, weight=cfg.data.synthetic_weight, seed=cfg.run.seed
    )
    val_path = ds / "val.jsonl"
    val_recs = read_chat_records(val_path) if "sft" in wanted and val_path.is_file() else []
    mix_path = cfg.data.general_mix or GENERAL_MIX
    general = read_general_mix(mix_path) if cfg.data.general_mix_share > 0 else []

    dist = _Processes()

    def open_run() -> RunRecord:  # on the main process: find or make the run, lock it, check a resume
        found = (
            _find_resumable(cfg, run_id)
            if resume
            else create_run(cfg.run.runs_dir, cfg.run.name, cfg.to_dict())
        )
        held.enter_context(DirLock(found.path, "run directory"))
        if resume:
            found = check_resume_config(found, cfg, allow_config_change=allow_config_change)
        return found

    run = dist.one_run(open_run, cfg.run.runs_dir)
    t_start = time.monotonic()
    used = [p for p in (ds / "corpus.jsonl", ds / "train.jsonl", val_path) if p.is_file()]
    if cfg.data.general_mix_share > 0:
        used.append(mix_path)
    if dist.main:  # builds the tiny base once; the others then find it built
        _ensure_base_model(cfg, run, corpus, train_recs + val_recs + general)
    dist.wait()
    base_dir = _ensure_base_model(cfg, run, corpus, train_recs + val_recs + general)

    init = {
        "status": "running",
        "base_model_path": str(base_dir.resolve()) if cfg.model.path != "tiny" else "base",
        "base_model_name": cfg.model.name
        or ("bbjcoder-tiny (random init)" if cfg.model.path == "tiny" else base_dir.name),
        "dataset": dataset_hashes(used, ds / "manifest.json"),
    }
    run = update_run(run, lambda rec: rec.model_copy(update=init))
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(base_dir))
    seed = cfg.run.seed
    data_info: dict[str, int | float | str] = {}
    rows: dict[str, tuple[list[Row], list[Row]]] = {}
    if "cpt" in wanted:
        tr, va = split_documents(corpus, cfg.cpt.val_share, seed)
        rows["cpt"] = (
            cpt_rows(tokenizer, tr, cfg.cpt.max_length),
            cpt_rows(tokenizer, va, cfg.cpt.max_length) if va else [],
        )
        data_info.update(cpt_documents=len(corpus), cpt_val_documents=len(va), cpt_blocks=len(rows["cpt"][0]))
    if "sft" in wanted:
        sc = cfg.sft
        tr_set = build_sft_examples(
            tokenizer,
            train_recs,
            max_length=sc.max_length,
            fim_share=sc.fim_share,
            seed=seed,
            general=general,
            general_share=cfg.data.general_mix_share,
        )
        va_set = build_sft_examples(
            tokenizer, val_recs, max_length=sc.max_length, fim_share=sc.fim_share, seed=seed
        )
        rows["sft"] = (
            sft_rows(tr_set.examples, sc.max_length, sc.packing),
            sft_rows(va_set.examples, sc.max_length, sc.packing),
        )
        data_info.update(
            sft_train_examples=len(tr_set.examples),
            sft_val_examples=len(va_set.examples),
            sft_fim_examples=tr_set.counts["fim"],
            sft_general_examples=tr_set.counts["general"],
            sft_truncated=tr_set.counts["truncated"],
            sft_dropped=tr_set.counts["dropped"],
            sft_train_rows=len(rows["sft"][0]),
            sft_curated_records=origin_counts["curated"],
            sft_synthetic_records=origin_counts["synthetic"],
            synthetic=cfg.data.synthetic,
            synthetic_weight=cfg.data.synthetic_weight,
        )
        if not rows["sft"][0]:
            raise UserError("stage 2 has no training examples", path=ds / "train.jsonl")

    def record_data(rec: RunRecord) -> RunRecord:
        data = TrainData.model_validate({**rec.data.model_dump(exclude_unset=True), **data_info})
        return rec.model_copy(update={"data": data})

    run = update_run(run, record_data)

    for st in wanted:
        if resume and run.stage_done(st) and run.stage_adapter(st).is_dir():
            continue
        cpt_adapter = run.stage_adapter("cpt")
        start = cpt_adapter if st == "sft" and (cpt_adapter / "adapter_config.json").is_file() else None
        train_rows, val_rows = rows[st]
        if not train_rows:
            raise UserError(f"stage {st} has no training rows (corpus too small for max_length?)", path=ds)
        try:
            stats = run_stage(
                st,
                cfg,
                run,
                base_dir,
                train_rows,
                val_rows,
                init_adapter=start,
                resume=resume,
                callbacks=callbacks,
                fresh_optimizer=fresh_optimizer,
            )
        except BaseException as exc:
            run = update_run(run, _set_status(f"failed in {st}: {type(exc).__name__}: {exc}"))
            raise
        run = update_run(run, _record_stage(st, *stats))

    if not dist.main:  # rank 0 writes the run's final files
        dist.wait()
        return resolve_run(run.path)
    last = run.stage_adapter("sft") if run.stage_adapter("sft").is_dir() else run.stage_adapter("cpt")
    final = run.path / "adapter"
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(last, final)
    plot_losses(run.history, run.path / "loss.png")
    wall = time.monotonic() - t_start

    def _finish(rec: RunRecord) -> RunRecord:
        st = rec.stages
        train_metrics: dict[str, JsonValue] = {
            "tokens_seen": {s: v.tokens_seen for s, v in st.items()},
            "final_train_loss": {s: v.final_train_loss for s, v in st.items()},
            "best_val_loss": {s: v.best_val_loss for s, v in st.items()},
        }
        return rec.model_copy(
            update={
                "status": "done",
                "adapter_path": "adapter",
                "wall_time_s": round((rec.wall_time_s or 0) + wall, 1),
                "metrics": {**rec.metrics, "train": train_metrics},
            }
        )

    run = update_run(run, _finish)
    write_model_card(run)
    dist.wait()
    return run
