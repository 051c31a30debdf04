"""Checked by mypy only (`make typecheck`, tests/test_typecheck.py), never run: the project's implementations of
the declared seams are held to them."""

from vlm_ocr.data.batch import PageBatch
from vlm_ocr.data.collate import Collator
from vlm_ocr.data.datamodule import PageDataModule
from vlm_ocr.data.interface import PageData
from vlm_ocr.data.packing import PackCollator


def the_data_module_is_page_data(module: PageDataModule) -> PageData:
    return module


def the_collators_make_page_batches(plain: Collator, packed: PackCollator) -> list[PageBatch]:
    return [plain([]), packed([])]
