"""FSDP2: decoder layers, mergers and lm_head fully sharded, the frozen vision tower replicated,
sharded checkpoints written to a staging folder and renamed into place once every rank has finished."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.strategies.fsdp import _METADATA_FILENAME, _distributed_checkpoint_save, _is_sharded_checkpoint
from lightning.fabric.strategies.model_parallel import _load_checkpoint
from lightning.pytorch.strategies import ModelParallelStrategy
from torch import nn

from vlm_ocr.checkpointing.verified_files import (
    MANIFEST,
    TEMP_MARK,
    CheckpointWriteError,
    CorruptCheckpoint,
    file_crc,
    fsync_dir,
    usable_checkpoint,
    write_error,
)
from vlm_ocr.model.families import family_of_model


def shard_model(model: nn.Module, mesh: Any, reshard_after_forward: bool = True) -> None:
    """Apply `fully_shard` to a model of any family in place (its parts: `ModelFamily.parts`).

    `VlmOcrModule` calls `model.model(...)` and `model.lm_head(...)` separately, so those two are the FSDP
    roots (not the top-level model). A vision tower that does not train stays a plain, replicated module
    (no all-gathers for weights that never change); one that trains is sharded block by block. Each merger
    (DeepStack's too) is its own unit.
    """
    from torch.distributed.fsdp import fully_shard

    family = family_of_model(model)
    named = dict(model.named_parameters())
    tower = [named[name] for name in family.parts(model)["vision"]]
    train_tower = any(p.requires_grad for p in tower)
    for layer in family.decoder_layers(model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=reshard_after_forward)
    if train_tower:
        for block in family.vision_blocks(model):
            fully_shard(block, mesh=mesh, reshard_after_forward=reshard_after_forward)
    for merger in family.merger_modules(model):
        fully_shard(merger, mesh=mesh, reshard_after_forward=reshard_after_forward)
    ignored = set() if train_tower else set(tower)
    fully_shard(model.model, mesh=mesh, reshard_after_forward=reshard_after_forward, ignored_params=ignored)
    # lm_head runs once per loss chunk: keep it gathered until backward instead of gathering per chunk.
    fully_shard(model.lm_head, mesh=mesh, reshard_after_forward=False)


class FSDP2Strategy(ModelParallelStrategy):
    """Fully sharded data parallel (torch FSDP2) over every process, for `VlmOcrModule`.

    Sharded checkpoints are folders (one file per rank plus metadata). They are written beside the target,
    get a manifest with every file's size and CRC32 once all ranks are done, and only then replace the
    target; loading verifies the manifest and falls back to the newest valid checkpoint beside a bad one.
    `python -m vlm_ocr export CKPT --out DIR` turns such a folder into one Hugging Face folder.

    Args:
        reshard_after_forward: free gathered weights after each layer's forward (less memory, one more
            all-gather in backward).
        save_distributed_checkpoint: write sharded folders; False gathers full weights on rank 0 into one file.
        process_group_backend: `nccl` on GPUs, `gloo` on CPUs (default: chosen from the device).
        timeout: collective timeout.
    """

    def __init__(
        self,
        reshard_after_forward: bool = True,
        save_distributed_checkpoint: bool = True,
        process_group_backend: str | None = None,
        timeout: timedelta | None = timedelta(minutes=30),
    ):
        super().__init__(
            data_parallel_size="auto",
            tensor_parallel_size=1,
            save_distributed_checkpoint=save_distributed_checkpoint,
            process_group_backend=process_group_backend,
            timeout=timeout,
        )
        self.reshard_after_forward = reshard_after_forward

    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes  # pure FSDP: every process is a DP rank
        super().setup_environment()

    def setup(self, trainer: Any) -> None:
        model = self.lightning_module.model
        if model is not None and not getattr(model, "_vlm_ocr_sharded", False):
            shard_model(model, self.device_mesh["data_parallel"], self.reshard_after_forward)
            model._vlm_ocr_sharded = True
        super().setup(trainer)

    def save_checkpoint(self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None) -> None:
        if not self._save_distributed_checkpoint:
            return super().save_checkpoint(checkpoint, filepath, storage_options)
        path = Path(self.broadcast(str(filepath)))
        staging = path.with_name(f".{path.name}{TEMP_MARK}save")
        if self.global_rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
        self.barrier("fsdp2-save-start")
        # The layout of Lightning's FSDPStrategy ("model", "optimizer_<i>"), which its consolidate_checkpoint
        # and `vlm_ocr export` read; hyper_parameters ride along so the export knows the base model.
        shards = {"model": checkpoint.pop("state_dict"), "hyper_parameters": checkpoint.get("hyper_parameters")}
        shards.update({f"optimizer_{i}": state for i, state in enumerate(checkpoint.pop("optimizer_states", []))})
        try:
            _distributed_checkpoint_save(shards, staging)  # every rank writes its shard
            if self.global_rank == 0:
                torch.save(checkpoint, staging / _METADATA_FILENAME)
        except BaseException as error:  # DCP reports a failed write on any rank to all of them
            if self.global_rank == 0:
                shutil.rmtree(staging, ignore_errors=True)
            raise _save_error(path, error) from error
        self.barrier("fsdp2-save-written")
        failure = None
        if self.global_rank == 0:
            try:
                write_manifest(staging, checkpoint.get("global_step"))
                replace_folder(staging, path)
            except OSError as error:
                shutil.rmtree(staging, ignore_errors=True)
                failure = str(_save_error(path, error))
        failure = self.broadcast(failure)
        if failure:
            raise CheckpointWriteError(0, failure)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        chosen, failure = None, None
        if self.global_rank == 0:  # one rank decides (and logs) which checkpoint is usable, all load it
            try:
                chosen = str(usable_checkpoint(Path(checkpoint_path)))
            except (CorruptCheckpoint, FileNotFoundError) as error:
                failure = error
        chosen, failure = self.broadcast((chosen, failure))
        if failure is not None:
            raise failure
        path = Path(chosen)
        key = "model" if _is_sharded_checkpoint(path) else "state_dict"
        state = {key: self.model, **{f"optimizer_{i}": optimizer for i, optimizer in enumerate(self.optimizers)}}
        strict = self.lightning_module.strict_loading
        return _load_checkpoint(path, state, strict=strict, optimizer_states_from_list=True, weights_only=weights_only)

    def remove_checkpoint(self, filepath: Any) -> None:
        if self.is_global_zero:
            path = Path(filepath)
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _save_error(path: Path, error: BaseException) -> CheckpointWriteError:
    if isinstance(error, OSError):
        return write_error(path, error)
    return CheckpointWriteError(0, f"sharded checkpoint {path} was not written: {error}")


def write_manifest(folder: Path, step: int | None) -> None:
    """Record every file's size and CRC32; its presence marks the folder as complete."""
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        with open(file, "rb+") as handle:
            os.fsync(handle.fileno())
        size, crc = file_crc(file)
        files[str(file.relative_to(folder))] = [size, f"{crc:08x}"]
    (folder / MANIFEST).write_text(json.dumps({"global_step": step, "files": files}))
    fsync_dir(folder)


def replace_folder(staging: Path, path: Path) -> None:
    """Move a finished folder onto `path`; an old checkpoint there is moved aside first, then deleted."""
    old = path.with_name(f".{path.name}{TEMP_MARK}old")
    shutil.rmtree(old, ignore_errors=True)
    if path.is_dir():
        path.rename(old)
    elif path.exists():
        path.unlink()
    staging.rename(path)
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)
