"""The clean-up conversation of clean_olmocrmix: system rules, structured-output schema, reply -> PageResponse.

Fixes over the original: the language may be null, the rotation is limited to 0/90/180/270 by the schema,
a literal "null" text counts as a blank page, and the schema has no min/max keywords that strict mode rejects.
"""

from __future__ import annotations

from typing import Any

from vlm_ocr.pages.front_matter import PageResponse
from vlm_ocr.prep.batch_io import png_data_uri

SYSTEM_PROMPT = """You clean up OCR transcriptions of single document pages, looking at the page image.
1. Fix formatting errors of the transcription.
2. Keep the original spelling, even when it is old or unusual.
3. Remove transcriber marks in square brackets such as [?] or [[deleted]].
4. Repair words and lines broken by the transcription.
5. Make formulas and special characters correct; write math as LaTeX with \\( \\) and \\[ \\].
6. Label figures and charts as ![Alt text describing the contents of the figure](page_startx_starty_width_height.png).
7. Keep the semantic structure: headings, lists, paragraphs.
8. Remove headers and footers that carry no meaning, such as page numbers or classification marks.
9. Write tables as simple HTML: <th> for header rows, rowspan and colspan as needed, no <br> in cells,
   never LaTeX or Markdown tables.
10. If the page is blank, set is_page_all_blank to true and cleaned_text to an empty string."""
_BOOL = {"type": "boolean"}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "cleaned_document",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "cleaned_text": {"type": "string"},
                "confidence_score": {"type": "number", "description": "Confidence from 0 to 1."},
                "corrections_made": {"type": "array", "items": {"type": "string"}},
                "is_page_all_blank": _BOOL,
                "primary_language": {"type": ["string", "null"], "description": "Two-letter code, null if no text."},
                "is_rotation_valid": _BOOL,
                "rotation_correction": {"type": "integer", "enum": [0, 90, 180, 270]},
                "is_table": _BOOL,
                "is_diagram": _BOOL,
            },
            "required": [
                "cleaned_text",
                "confidence_score",
                "corrections_made",
                "is_page_all_blank",
                "primary_language",
                "is_rotation_valid",
                "rotation_correction",
                "is_table",
                "is_diagram",
            ],
            "additionalProperties": False,
        },
    },
}


def cleanup_messages(markdown: str, png: bytes) -> list[dict[str, Any]]:
    """System rules, then the current Markdown (front matter included) and the page image."""
    request = "Please clean the following OCR transcription based on the page image.\n\n" + markdown
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": request},
                {"type": "image_url", "image_url": {"url": png_data_uri(png)}},
            ],
        },
    ]


def page_from_cleanup(data: dict[str, Any]) -> PageResponse:
    """The model's structured reply as a validated page; blank pages (flag, empty or "null" text) have no text."""
    text = (data["cleaned_text"] or "").strip()
    blank = bool(data["is_page_all_blank"]) or text in ("", "null")
    return PageResponse(
        primary_language=data["primary_language"] or None,
        is_rotation_valid=data["is_rotation_valid"],
        rotation_correction=data["rotation_correction"],
        is_table=data["is_table"],
        is_diagram=data["is_diagram"],
        natural_text=None if blank else text,
    )
