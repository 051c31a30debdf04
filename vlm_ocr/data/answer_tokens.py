"""Answer token counts for packing: each page's training answer tokenized once, while the index is built."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_ocr.data.pipeline import answer_text, describe
from vlm_ocr.data.processor import answer_ids
from vlm_ocr.data.sample import Transform
from vlm_ocr.data.transforms import FormatTarget, ReformatLatexBoldItalic
from vlm_ocr.model.families import family_of
from vlm_ocr.pages.front_matter import PageResponse

# Files whose bytes decide how text is tokenized (whichever of them the tokenizer has).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json")


def tokenizer_file(tokenizer_path: str, name: str) -> Path | None:
    """One of the tokenizer's files: in a local folder, else from the hub cache (downloaded when missing)."""
    folder = Path(tokenizer_path)
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else None
    from transformers.utils import cached_file

    found = cached_file(tokenizer_path, name, _raise_exceptions_for_missing_entries=False)
    return Path(found) if found else None


def tokenizer_fingerprint(tokenizer_path: str) -> str:
    """A hash of the tokenizer's files (a local folder or a hub id's cached files), without loading it.

    Any change to these files changes the fingerprint, so stored counts are never reused across tokenizers.
    """
    digest = hashlib.sha1()
    found = 0
    for name in TOKENIZER_FILES:
        path = tokenizer_file(tokenizer_path, name)
        if path is not None:
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
            found += 1
    if not found:
        raise FileNotFoundError(f"{tokenizer_path}: none of {', '.join(TOKENIZER_FILES)} found")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=2)
def load_tokenizer(tokenizer_path: str, fingerprint: str) -> Any:
    """The tokenizer, loaded once per process (and per fingerprint, so a changed folder is read again)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path)


@dataclass(frozen=True)
class AnswerTokens:
    """Counts a page's answer tokens as training sees them: the pipeline's text steps and target step, then the
    end-of-turn token.

    Small and picklable: the tokenizer is not part of it but loaded from `tokenizer_path` once per process
    (build_index loads it before its worker pool forks, so the workers share that copy).

    Args:
        tokenizer_path: hub id or folder of the tokenizer (the processor's).
        text_steps: the pipeline's text steps (data.text_steps; the recipe's ReformatLatexBoldItalic by default).
        target: the pipeline's target step (data.target; the recipe's FormatTarget by default).
        end_of_turn: the token that ends every answer; default: the end of turn of the model family of
            `tokenizer_path` (a model folder or hub id).
    """

    tokenizer_path: str
    text_steps: tuple[Transform, ...] = (ReformatLatexBoldItalic(),)
    target: Transform = FormatTarget()
    end_of_turn: str | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """The tokenizer's fingerprint, read once per instance."""
        return tokenizer_fingerprint(self.tokenizer_path)

    @property
    def key(self) -> str:
        """What the counts depend on: the tokenizer and the target format (part of the index cache's name)."""
        steps = ",".join(describe(step) for step in self.text_steps)
        return f"{self.fingerprint}|text_steps=[{steps}]|target={describe(self.target)}"

    def answer(self, page: PageResponse) -> str:
        """The answer text, made by the pipeline's own steps."""
        return answer_text(page, self.text_steps, self.target)

    def tokenizer(self) -> Any:
        """The tokenizer, loaded on first use in each process (a forked worker inherits its parent's)."""
        return load_tokenizer(self.tokenizer_path, self.fingerprint)

    @functools.cached_property
    def answer_end(self) -> str:
        """The token appended to every answer."""
        return self.end_of_turn or family_of(self.tokenizer_path).end_of_turn

    def __call__(self, page: PageResponse) -> int:
        return len(answer_ids(self.tokenizer(), self.answer(page), self.answer_end))
