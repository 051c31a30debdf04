"""A pair tree as a data tool's input: its md/pdf pairs, and every PDF left out of them, named with the reason."""

from __future__ import annotations

from pathlib import Path

from vlm_ocr.errors import InputError
from vlm_ocr.pages.pairs import ScannedPair, scan_pair_tree
from vlm_ocr.prep.input_paths import require_dir

NO_MARKDOWN = "no Markdown beside the PDF"


def scan_input_pairs(root: Path, option: str) -> tuple[list[ScannedPair], dict[str, str]]:
    """Pairs under `root` (an md whose PDF is missing included), and {PDF path relative to root: why left out}.

    A missing folder, or one without a single md file, is an InputError naming `option`.
    """
    require_dir(root, option, "pass the root folder of an md/pdf pair tree")
    pairs, lone = scan_pair_tree(root)
    if not pairs:
        raise InputError(f"{option} {root}: no .md file under it", "pass the root folder of an md/pdf pair tree")
    return pairs, {pdf.relative_to(root).as_posix(): NO_MARKDOWN for pdf in lone}
