"""PageResponse and the one front-matter reader and writer shared by training and the data tools."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

ROTATIONS = (0, 90, 180, 270)
FRONT_MATTER_KEYS = ("primary_language", "is_rotation_valid", "rotation_correction", "is_table", "is_diagram")
# YAML 1.1's null spellings (what the original's safe_load reads as missing) and the legacy writer's `None`,
# which the original keeps as the string "None" and writes back unchanged: the same target either way.
_NULL_WORDS = {"", "~", "null", "Null", "NULL", "None"}
# YAML 1.1 booleans, as the original's safe_load reads them (its other strings: True only for "true", any case).
_TRUE_WORDS = {"yes", "Yes", "YES", "on", "On", "ON"}
_FALSE_WORDS = {"no", "No", "NO", "off", "Off", "OFF"}
_PLAIN_LANGUAGE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]+)?$")
# Plain YAML 1.1 scalars that other readers (PyYAML safe_load) turn into booleans or null.
_YAML_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none"}


class FrontMatterError(ValueError):
    """A Markdown file whose front matter cannot be read; the message names the file and the reason."""

    def __init__(self, source: str | Path | None, reason: str):
        self.source = str(source) if source is not None else "<string>"
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")

    def __reduce__(self):  # picklable across process pools
        return type(self), (self.source, self.reason)


@dataclass(frozen=True)
class PageResponse:
    """One page's metadata and transcription, the olmOCR target (fields in the original order)."""

    primary_language: str | None
    is_rotation_valid: bool
    rotation_correction: int
    is_table: bool
    is_diagram: bool
    natural_text: str | None

    def __post_init__(self) -> None:
        if self.rotation_correction not in ROTATIONS:
            raise ValueError(f"rotation_correction must be one of {ROTATIONS}, got {self.rotation_correction!r}")
        checks = {
            "primary_language": (str, type(None)),
            "is_rotation_valid": (bool,),
            "rotation_correction": (int,),
            "is_table": (bool,),
            "is_diagram": (bool,),
            "natural_text": (str, type(None)),
        }
        for field in fields(self):
            value = getattr(self, field.name)
            allowed = checks[field.name]
            # bool is a subclass of int: reject it for rotation_correction explicitly.
            if not isinstance(value, allowed) or (field.name == "rotation_correction" and isinstance(value, bool)):
                raise TypeError(f"{field.name} must be {' or '.join(t.__name__ for t in allowed)}, got {value!r}")


def split_front_matter(content: str, source: str | Path | None = None) -> tuple[dict[str, str], str]:
    """Split Markdown into raw front-matter strings and the stripped body.

    Tolerates a UTF-8 BOM and CRLF line ends and an empty block; every scalar stays a string
    (YAML's BaseLoader), so `no` stays the Norwegian language code and `None` is not a string "None".
    """
    text = content.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---\n"):
        raise FrontMatterError(source, "no front matter: the file must start with a '---' line")
    lines = text.split("\n")
    try:
        close = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    except StopIteration:
        raise FrontMatterError(source, "front matter is not closed by a '---' line") from None
    block = "\n".join(lines[1:close])
    try:
        data = yaml.load(block, Loader=yaml.BaseLoader) if block.strip() else {}
    except yaml.YAMLError as err:
        raise FrontMatterError(source, f"front matter is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise FrontMatterError(source, "front matter is not a mapping of keys to values")
    for key, value in data.items():
        if not isinstance(value, str):
            raise FrontMatterError(source, f"front-matter key {key!r} must be a scalar, got {value!r}")
    body = "\n".join(lines[close + 1 :]).strip()
    return data, body


def _as_bool(key: str, value: str, source: str | Path | None) -> bool:
    value = value.strip()
    if value.lower() == "true" or value in _TRUE_WORDS:
        return True
    if value.lower() == "false" or value in _FALSE_WORDS:
        return False
    raise FrontMatterError(source, f"{key} must be true or false, got {value!r}")


def parse_page_markdown(
    content: str, source: str | Path | None = None, *, allow_extra_keys: bool = False
) -> PageResponse:
    """Read an olmOCR-mix Markdown file (front matter + text) into a PageResponse.

    Args:
        content: the file's text.
        source: the file path, used in error messages.
        allow_extra_keys: ignore keys beyond the five known ones instead of rejecting the file.
    """
    data, body = split_front_matter(content, source)
    missing = [key for key in FRONT_MATTER_KEYS if key not in data]
    if missing:
        raise FrontMatterError(source, f"front matter lacks {', '.join(missing)}")
    extra = sorted(set(data) - set(FRONT_MATTER_KEYS))
    if extra and not allow_extra_keys:
        raise FrontMatterError(source, f"unexpected front-matter keys: {', '.join(extra)}")
    language = data["primary_language"].strip()
    try:
        rotation = int(data["rotation_correction"].strip())
    except ValueError:
        raise FrontMatterError(
            source, f"rotation_correction must be an integer, got {data['rotation_correction']!r}"
        ) from None
    if rotation not in ROTATIONS:
        raise FrontMatterError(source, f"rotation_correction must be one of {ROTATIONS}, got {rotation}")
    return PageResponse(
        primary_language=None if language in _NULL_WORDS else language,
        is_rotation_valid=_as_bool("is_rotation_valid", data["is_rotation_valid"], source),
        rotation_correction=rotation,
        is_table=_as_bool("is_table", data["is_table"], source),
        is_diagram=_as_bool("is_diagram", data["is_diagram"], source),
        natural_text=body or None,
    )


def read_page_markdown(path: str | Path, *, allow_extra_keys: bool = False) -> PageResponse:
    """Read and parse one Markdown file; every failure is a FrontMatterError naming the file."""
    try:
        content = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise FrontMatterError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not content.strip():
        raise FrontMatterError(path, "empty file")
    return parse_page_markdown(content, path, allow_extra_keys=allow_extra_keys)


def _format_language(language: str | None, null_language: str) -> str:
    if language is None:
        return null_language
    if _PLAIN_LANGUAGE.match(language) and language.lower() not in _YAML_SPECIAL:
        return language
    # Quote anything YAML would misread (Norwegian `no`, `on`, odd characters) via the dumper.
    return yaml.safe_dump(language, default_style="'").strip()


def format_page_markdown(page: PageResponse, *, null_language: str = "null", language_as_given: bool = False) -> str:
    """Write a PageResponse as front matter + text, the one spelling used everywhere.

    Booleans render as True/False, a missing language as `null_language` (`null` in files; the
    recipe's training target uses `None`), and a page without text ends right after the closing `---`.

    Args:
        page: the page to write.
        null_language: the spelling of a missing language.
        language_as_given: write the language unquoted, as the recipe's target does (`EN`, `no`); files
            quote what YAML would misread.
    """
    language = page.primary_language
    if not (language_as_given and language is not None):
        language = _format_language(language, null_language)
    head = (
        "---\n"
        f"primary_language: {language}\n"
        f"is_rotation_valid: {page.is_rotation_valid}\n"
        f"rotation_correction: {page.rotation_correction}\n"
        f"is_table: {page.is_table}\n"
        f"is_diagram: {page.is_diagram}\n"
        "---"
    )
    text = (page.natural_text or "").strip()
    return f"{head}\n{text}" if text else head
