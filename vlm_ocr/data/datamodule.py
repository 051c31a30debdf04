"""PageDataModule: pair-tree roots -> validated indexes -> datasets -> DataLoaders for each stage."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import lightning as L
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import BatchSampler, ConcatDataset, DataLoader, Dataset

from vlm_ocr.data.answer_tokens import AnswerTokens
from vlm_ocr.data.bad_files import check_bad_share, report_bad_files
from vlm_ocr.data.collate import Collator
from vlm_ocr.data.dataset import ConcatPages, PageDataset
from vlm_ocr.data.index import DatasetIndex, build_index
from vlm_ocr.data.mixing import WeightedMix, dataset_weights, describe_mix
from vlm_ocr.data.packing import PackCollator, PackingBatchSampler, planned_tokens
from vlm_ocr.data.pipeline import ROLES, PagePipeline
from vlm_ocr.data.predict_pages import EvalPromptDataset, PdfPageDataset
from vlm_ocr.data.processor import QwenInputs, load_processor
from vlm_ocr.data.roots import check_roots, resolve_root
from vlm_ocr.data.sample import Transform
from vlm_ocr.data.sampler import EpochSampler, ResumableDataLoader, ShardedBatches
from vlm_ocr.data.transforms import RenderPage
from vlm_ocr.errors import UsageError
from vlm_ocr.pages.pdf import render_page
from vlm_ocr.pages.rotation import turn_counter_clockwise

logger = logging.getLogger(__name__)


class PageDataModule(L.LightningDataModule):
    """Single-page PDF + Markdown pairs for training and evaluation, PDFs of any length for predict.

    Args:
        processor_path: hub id or folder of the processor (linked from model.pretrained).
        data_root: folder that relative train/eval roots are resolved against (the one path to set
            for a new machine).
        train_roots: pair trees concatenated for training.
        train_weights: sampling weight per train root, by folder name (unlisted roots: 1.0): 2.0 trains on each
            page twice per epoch, 0.5 on a fresh random half each epoch, 0 leaves the root out.
        eval_roots: name -> pair tree; each is validated/tested and reported under its name.
        predict_paths: PDF files or folders for predict.
        predict_eval_datasets: names of eval datasets to predict on too (rows then carry the reference).
        read: reads a pair's Markdown into `page_data` (ParseFrontMatter). The roles run in this order, the
            split's augmentations after render (vlm_ocr.data.pipeline).
        page_filters: drop pages by their front matter (FilterRotated).
        text_steps: rewrite the page text (ReformatLatexBoldItalic); the packing plan counts answers after them.
        text_filters: drop pages by their text (TextRuleFilter).
        render: renders the page image (RenderPage); predict renders with it (its defaults when unset).
        target: makes the answer text (FormatTarget).
        messages: makes the chat messages (BuildMessages); predict prompts with it (its defaults when unset).
        train_augmentations: steps for training only, after render (RotationAugmentation).
        eval_augmentations: the same for the eval sets (not predict), drawn as in epoch 0, so every validation sees
            the same pages (the recipe: RotationAugmentation, as the original).
        max_length: most tokens per sample.
        overlong: `drop` or `truncate` samples over max_length (both counted).
        batch_size: pages per batch (without packing).
        pack_max_tokens: pack several training pages into one row of at most this many tokens (8192 in the
            recipe's budget); None trains one page per row. Batch size is then the pack. The packs are planned
            from answer token counts that the train roots' index stores (counted with the processor's tokenizer
            when the index is built, cached with it).
        num_workers: DataLoader worker processes.
        data_seed: seed of the epoch shuffles and of augmentation (with epoch and sample index).
        index_cache_dir: where validated indexes are cached (None: no cache).
        index_workers: processes that validate new pairs (0: one per CPU).
        allow_extra_keys: accept front matter with unknown keys.
        max_bad_fraction: fail when a root has a larger share of bad files than this.
        report_dir: where data_report.jsonl (bad files and reasons) goes; default the trainer's log dir.
    """

    def __init__(
        self,
        processor_path: str,
        data_root: str | None = None,
        train_roots: list[str] | None = None,
        train_weights: dict[str, float] | None = None,
        eval_roots: dict[str, str] | None = None,
        predict_paths: list[str] | None = None,
        predict_eval_datasets: list[str] | None = None,
        read: Transform | None = None,
        page_filters: list[Transform] | None = None,
        text_steps: list[Transform] | None = None,
        text_filters: list[Transform] | None = None,
        render: RenderPage | None = None,
        target: Transform | None = None,
        messages: Transform | None = None,
        train_augmentations: list[Transform] | None = None,
        eval_augmentations: list[Transform] | None = None,
        max_length: int = 8192,
        overlong: Literal["drop", "truncate"] = "drop",
        batch_size: int = 1,
        pack_max_tokens: int | None = None,
        num_workers: int = 0,
        data_seed: int = 0,
        index_cache_dir: str | None = None,
        index_workers: int = 0,
        allow_extra_keys: bool = False,
        max_bad_fraction: float = 0.01,
        report_dir: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=list(ROLES))
        self.pipeline = PagePipeline(
            read=read,
            page_filters=tuple(page_filters or ()),
            text_steps=tuple(text_steps or ()),
            text_filters=tuple(text_filters or ()),
            render=render,
            target=target,
            messages=messages,
            train_augmentations=tuple(train_augmentations or ()),
            eval_augmentations=tuple(eval_augmentations or ()),
        )
        self.processor: Any = None
        self.inputs: QwenInputs | None = None
        self.train_set: Any = None
        self.eval_sets: list[PageDataset] = []
        self.predict_set: Dataset | None = None

    @property
    def eval_names(self) -> list[str]:
        return list((self.hparams.eval_roots or {}).keys())

    def _index(self, root: str, name: str, answer_tokens: AnswerTokens | None = None) -> DatasetIndex:
        hp = self.hparams
        root = resolve_root(self.hparams.data_root, root)
        index = build_index(
            root,
            name=name,
            cache_dir=hp.index_cache_dir,
            workers=hp.index_workers,
            allow_extra_keys=hp.allow_extra_keys,
            answer_tokens=answer_tokens,
        )
        report_bad_files(index, hp.report_dir or (self.trainer.log_dir if self.trainer else None))
        check_bad_share(index, root, hp.max_bad_fraction)
        return index

    def answer_tokens(self) -> AnswerTokens | None:
        """How the train index counts answer tokens: only for packing, with the processor's tokenizer and the
        pipeline's own text steps and target step (None without packing or without a target step)."""
        pipeline = self.pipeline
        if not self.hparams.pack_max_tokens or pipeline.target is None:
            return None
        return AnswerTokens(
            self.hparams.processor_path,
            tuple(pipeline.text_steps),
            pipeline.target,
            end_of_turn=self.inputs.family.end_of_turn,
        )

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.processor is None:
            self.processor = load_processor(hp.processor_path)
            self.inputs = QwenInputs(self.processor, hp.max_length, hp.overlong)
        refusal = self.inputs.family.packing_refusal
        if stage in ("fit", None) and hp.pack_max_tokens and refusal:
            raise UsageError(f"--data.pack_max_tokens {hp.pack_max_tokens}: {refusal}")
        if stage in ("fit", None) and self.train_set is None:
            check_roots(hp.data_root, "train_roots", list(hp.train_roots or []))
            self.train_set = self.build_train_set()
        if stage in ("fit", "validate", "test", None) and not self.eval_sets:
            check_roots(hp.data_root, "eval_roots", list((hp.eval_roots or {}).values()))
            self.eval_sets = [self.build_eval_set(name) for name in self.eval_names]
        if stage == "predict" and self.predict_set is None:
            paths, render = list(hp.predict_paths or []), self.pipeline.render_step.spec
            parts: list[Dataset] = [PdfPageDataset(paths, render, self.inputs, self.pipeline.messages_step)]
            for name in hp.predict_eval_datasets or []:
                if name not in self.eval_names:
                    raise UsageError(
                        f"--data.predict_eval_datasets: unknown eval dataset {name!r}; known: {self.eval_names}"
                    )
                index = self._index(hp.eval_roots[name], name)
                parts.append(EvalPromptDataset(PageDataset(name, index.pages, self.pipeline.steps()), self.inputs))
            if not sum(len(part) for part in parts):
                raise UsageError(
                    "nothing to predict: --data.predict_paths holds no PDF and --data.predict_eval_datasets no page; "
                    "give PDFs or folders, or an eval set's name"
                )
            self.predict_set = parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def build_train_set(self) -> Any:
        counter = self.answer_tokens()
        parts = [
            PageDataset(
                Path(root).name,
                self._index(root, Path(root).name, counter).pages,
                [*self.pipeline.train_steps(), self.inputs],
                seed=self.hparams.data_seed,
            )
            for root in self.hparams.train_roots or []
        ]
        if not parts:
            raise UsageError("--data.train_roots is empty: fit needs at least one pair tree")
        empty = [part.name for part in parts if len(part) == 0]
        if empty:
            raise UsageError(
                f"--data.train_roots: no usable page (PDF + Markdown pair) in {', '.join(empty)}: "
                "nothing to train on; check the folder (bad pairs are listed in the run's data_report_*.jsonl)"
            )
        return parts[0] if len(parts) == 1 else ConcatPages(parts)

    def build_eval_set(self, name: str) -> PageDataset:
        index = self._index(self.hparams.eval_roots[name], name)
        return PageDataset(name, index.pages, [*self.pipeline.eval_steps(), self.inputs], seed=self.hparams.data_seed)

    def _loader(self, dataset: Any, shuffle: bool, padding_side: str = "right") -> DataLoader:
        hp = self.hparams
        collate = Collator(self.inputs.pad_id, padding_side)
        if isinstance(dataset, PageDataset | ConcatPages):
            batches = BatchSampler(self._epoch_sampler(dataset, train=shuffle), hp.batch_size, drop_last=False)
            return self._sharded_loader(dataset, batches, collate)
        return DataLoader(
            dataset,
            batch_size=hp.batch_size,
            num_workers=hp.num_workers,
            collate_fn=collate,
            persistent_workers=hp.num_workers > 0,
        )

    def _epoch_sampler(self, dataset: Any, train: bool) -> EpochSampler:
        """Item order of an epoch: shuffled (and mixed by train_weights) for training, index order otherwise."""
        hp = self.hparams
        mix = None
        if train and hp.train_weights:
            parts = dataset.parts if isinstance(dataset, ConcatPages) else [dataset]
            names = [part.name for part in parts]
            mix = WeightedMix([len(part) for part in parts], dataset_weights(names, hp.train_weights), hp.data_seed)
            rank_zero_info(describe_mix(names, mix))
        return EpochSampler(len(dataset), seed=hp.data_seed, shuffle=train, mix=mix)

    def _sharded_loader(self, dataset: Any, batches: Any, collate: Any) -> ResumableDataLoader:
        """Deal the batches to the data-parallel ranks; the train loader's position is saved in checkpoints."""
        trainer = self.trainer
        shards = (trainer.distributed_sampler_kwargs if trainer is not None else None) or {}
        world, rank = shards.get("num_replicas", 1), shards.get("rank", 0)
        if world > 1 and getattr(trainer._accelerator_connector, "use_distributed_sampler", False):
            raise ValueError(
                "set trainer.use_distributed_sampler: false: PageDataModule deals batches to the ranks itself "
                "(Lightning's DistributedSampler would shard them a second time and break exact resume)"
            )
        return ResumableDataLoader(
            dataset,
            ShardedBatches(batches, rank, world),
            num_workers=self.hparams.num_workers,
            collate_fn=collate,
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        if self.hparams.pack_max_tokens:
            return self._packed_loader(self.train_set, self.hparams.pack_max_tokens)
        return self._loader(self.train_set, shuffle=True)

    def planned_lengths(self, dataset: Any) -> list[int]:
        """Planned tokens per item from the index alone (no rendering, no tokenizing per page): the prompt's
        tokens, the image's, and the answer's as the index stored them."""
        render = self.pipeline.render_step.spec
        prompt = self.inputs.prompt_text_tokens(self.pipeline.prompt_messages())
        parts = dataset.parts if isinstance(dataset, ConcatPages) else [dataset]
        pages = [page for part in parts for page in part.pages]
        estimated = sum(page.answer_tokens is None for page in pages)
        if estimated:
            logger.warning(
                "%d of %d pages have no answer token count in their index: their answer length is estimated "
                "from the character count",
                estimated,
                len(pages),
            )
        return [planned_tokens(page, render, prompt, self.processor.image_processor) for page in pages]

    def _packed_loader(self, dataset: Any, max_tokens: int) -> DataLoader:
        items = self._epoch_sampler(dataset, train=True)
        batches = PackingBatchSampler(items, self.planned_lengths(dataset), max_tokens)
        return self._sharded_loader(dataset, batches, PackCollator(self.inputs.pad_id, max_tokens))

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(ds, shuffle=False) for ds in self.eval_sets]

    def test_dataloader(self) -> list[DataLoader]:
        return self.val_dataloader()

    def page_prompt_settings(self) -> tuple[Any, list[dict[str, Any]]]:
        """How predict turns a page into a prompt: the RenderSpec and the chat messages (an image placeholder)."""
        return self.pipeline.render_step.spec, self.pipeline.prompt_messages()

    def rotated_prompt(self, source: str, page: int, degrees: int) -> dict[str, Any]:
        """Prompt tensors for `page` (1-based) of `source` turned by a rotation_correction (predict's retry)."""
        image = turn_counter_clockwise(render_page(source, page - 1, self.pipeline.render_step.spec), degrees)
        return self.inputs.prompt(self.pipeline.prompt_messages(), image)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, shuffle=False, padding_side="left")
