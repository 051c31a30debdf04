"""The olmOCR prompt strings (compatibility data: keep byte-identical, typos included) and their builders."""
# ruff: noqa: E501  (verbatim compatibility strings)

from __future__ import annotations

import re

_NO_ANCHORING_V4_YAML = (
    "Attached is one page of a document that you must process. Just return the plain text representation of this document as if you were reading it naturally. Convert equations to LateX and tables to HTML.\n"
    "If there are any figures or charts, label them with the following markdown syntax ![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
    "Return your output as markdown, with a front matter section on top specifying values for the primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)

_NO_ANCHORING_YAML = (
    "Attached is one page of a document that you must process. Just return the plain text representation of this document as if you were reading it naturally. Convert equations to LateX and tables to markdown.\n"
    "Return your output as markdown, with a front matter section on top specifying values for the primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)

_SILVER_V1 = (
    "Below is the image of one page of a PDF document, as well as some raw textual content that was previously extracted for it that includes position information for each image and block of text (The origin [0x0] of the coordinates is in the lower left corner of the image). Just return the plain text representation of this document as if you were reading it naturally.\n"
    "Turn equations into a LaTeX representation, and tables into markdown format. Remove the headers and footers, but keep references and footnotes.\n"
    "Read any natural handwriting.\n"
    "This is likely one page out of several in the document, so be sure to preserve any sentences that come from the previous page, or continue onto the next page, exactly as they are.\n"
    "If there is no text at all that you think you should read, you can output null.\n"
    "Do not hallucinate.\n"
    "RAW_TEXT_START\n"
    "{base_text}\n"
    "RAW_TEXT_END"
)

_SILVER_V3_SIMPLE = (
    "Attached is the image of one page of a PDF document.Just return the plain text representation of this document as if you were reading it naturally.\n"
    "Turn equations and math symbols into a LaTeX representation, make sure to use \\( and \\) as a delimiter for inline math, and \\[ and \\] for block math. Do NOT use ascii or unicode math symbols such as ∈ ∉ ⊂ ⊃ ⊆ ⊇ ∅ ∪ ∩ ∀ ∃ ¬, just use LaTeX syntax, ex  \\( \\in \\) \\( \\notin \\) etc. If you were going to surround a math expression in $ symbols, surround it with \\( \\) instead.\n"
    "Convert tables into HTML format. Keep the syntax simple, but use <th> for header rows, and use rowspan and colspans appropriately. Don't use <br> inside of table cells, just split that into new rows as needed. Do NOT use LaTeX or Markdown table syntax.\n"
    "Remove the headers and footers, but keep references and footnotes.\n"
    "Read any natural handwriting.\n"
    "If there are any figures or charts, label them with the following markdown syntax ![Alt text describing the contents of the figure](page_startx_starty_width_height.png)This is likely one page out of several in the document, so be sure to preserve any sentences that come from the previous page, or continue onto the next page, exactly as they are.\n"
    "If there is no text at all that you think you should read, you can output null.\n"
    "Do not hallucinate.\n"
    "Page width: {page_width}, Page height: {page_height}"
)


def build_no_anchoring_v4_yaml_prompt() -> str:
    """The v4 YAML prompt without anchoring: the training recipe's instruction and the inference prompt."""
    return _NO_ANCHORING_V4_YAML


def build_no_anchoring_yaml_prompt() -> str:
    """The older YAML prompt (tables as Markdown)."""
    return _NO_ANCHORING_YAML


def build_openai_silver_data_prompt(base_text: str) -> str:
    """The anchored silver-data prompt used by buildsilver."""
    return _SILVER_V1.replace("{base_text}", base_text)


def build_openai_silver_data_prompt_v3_simple(page_width: int, page_height: int) -> str:
    """The prompt of build_openai_batch_from_olmocrmix; width and height are the rendered PNG's pixels."""
    return _SILVER_V3_SIMPLE.replace("{page_width}", str(page_width)).replace("{page_height}", str(page_height))


_RAW_TEXT = re.compile(r"RAW_TEXT_START\s*\n(.*?)\nRAW_TEXT_END", re.DOTALL)


def extract_raw_text(prompt: str) -> str:
    """The anchor text between RAW_TEXT_START and RAW_TEXT_END of an anchored prompt."""
    match = _RAW_TEXT.search(prompt)
    if match is None:
        raise ValueError("prompt has no RAW_TEXT_START ... RAW_TEXT_END block")
    return match.group(1).strip()


def openai_response_format_schema() -> dict:
    """The structured-output schema of the silver-data requests (property order matters to the model)."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "page_response",
            "schema": {
                "type": "object",
                "properties": {
                    "primary_language": {
                        "type": ["string", "null"],
                        "description": "The primary language of the text using two-letter codes or null if there is no text at all that you think you should read.",
                    },
                    "is_rotation_valid": {
                        "type": "boolean",
                        "description": "Is this page oriented correctly for reading? Answer only considering the textual content, do not factor in the rotation of any charts, tables, drawings, or figures.",
                    },
                    "rotation_correction": {
                        "type": "integer",
                        "description": "Indicates the degree of clockwise rotation needed if the page is not oriented correctly.",
                        "enum": [0, 90, 180, 270],
                        "default": 0,
                    },
                    "is_table": {
                        "type": "boolean",
                        "description": "Indicates if the majority of the page content is in tabular format.",
                    },
                    "is_diagram": {
                        "type": "boolean",
                        "description": "Indicates if the majority of the page content is a visual diagram.",
                    },
                    "natural_text": {
                        "type": ["string", "null"],
                        "description": "The natural text content extracted from the page.",
                    },
                },
                "additionalProperties": False,
                "required": [
                    "primary_language",
                    "is_rotation_valid",
                    "rotation_correction",
                    "is_table",
                    "is_diagram",
                    "natural_text",
                ],
            },
            "strict": True,
        },
    }
