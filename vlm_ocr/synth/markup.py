"""A page's HTML as the reference Markdown with front matter (olmocr 0.4.27 `html_to_markdown_with_frontmatter`)."""

from __future__ import annotations

from dataclasses import replace

from bs4 import BeautifulSoup
from markdownify import SPACES, MarkdownConverter

from vlm_ocr.pages.front_matter import PageResponse, format_page_markdown

SUPERSCRIPTS = dict(zip("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ", strict=True))
SUBSCRIPTS = dict(zip("0123456789+-=()aeoxhklmnpst", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜ", strict=True))
IMAGE_CHARACTERS = 500
"""How much text one image placeholder weighs when deciding is_table / is_diagram (the original's estimate)."""


def convert_superscripts_subscripts(element) -> None:
    """Replace every <sup>/<sub> of a soup by its text in Unicode super/subscript characters (others unchanged)."""
    for tag, table in (("sup", SUPERSCRIPTS), ("sub", SUBSCRIPTS)):
        for found in element.find_all(tag):
            found.replace_with("".join(table.get(char, char) for char in found.get_text()))


class _PreserveTablesConverter(MarkdownConverter):
    """markdownify, with every <table> kept as its HTML (the reference Markdown's tables are HTML)."""

    def convert_table(self, el, text, parent_tags):
        reparsed = BeautifulSoup(str(el), "html.parser")
        return str(reparsed.table) if reparsed.table else str(el)


def page_metadata(html: str) -> PageResponse:
    """The front matter of a page's HTML: its <html lang>, and whether tables or images make up most of it."""
    soup = BeautifulSoup(html, "html.parser")
    html_tag = soup.find("html")
    language = "en"
    if html_tag and html_tag.get("lang"):
        language = str(html_tag.get("lang"))
        if len(language) == 5 and language[2] == "-":  # pt-BR -> pt
            language = language[:2]
    main = BeautifulSoup(str(soup.find("body") or soup), "html.parser")
    for element in main.find_all(["header", "footer"]):
        element.decompose()
    text_only = BeautifulSoup(str(main), "html.parser")
    for element in text_only.find_all("table") + text_only.find_all("div", class_="image"):
        element.decompose()
    text_length = len(text_only.get_text().strip())
    table_length = sum(len(table.get_text().strip()) for table in main.find_all("table"))
    image_length = len(main.find_all("div", class_="image")) * IMAGE_CHARACTERS
    total = text_length + table_length + image_length
    return PageResponse(
        primary_language=language,
        is_rotation_valid=True,
        rotation_correction=0,
        is_table=total > 0 and table_length / total > 0.5,
        is_diagram=total > 0 and image_length / total > 0.5,
        natural_text=None,
    )


def html_to_markdown(html: str) -> str:
    """The body as Markdown: no header/footer, images as placeholders, sup/sub as Unicode, tables as HTML."""
    soup = BeautifulSoup(html, "html.parser")
    body = soup.find("body")
    body_soup = BeautifulSoup(str(body), "html.parser") if body else soup
    for element in body_soup.find_all(["header", "footer"]):
        element.decompose()
    for class_ in ("page-header", "page-footer"):
        for element in body_soup.find_all("div", class_=class_):
            element.decompose()
    for image in body_soup.find_all("div", class_="image"):
        image.replace_with(body_soup.new_tag("img", src="page.png", alt="Image Placeholder"))
    convert_superscripts_subscripts(body_soup)
    converter = _PreserveTablesConverter(
        heading_style="ATX",
        bullets="-",
        strip=["a"],
        newline_style=SPACES,
        code_language="",
        escape_asterisks=False,
        escape_underscores=False,
    )
    markdown = converter.convert(str(body_soup))
    while "\n\n\n" in markdown:
        markdown = markdown.replace("\n\n\n", "\n\n")
    markdown = markdown.strip()
    while markdown.startswith("---"):
        markdown = markdown[3:].strip()
    while markdown.endswith("---"):
        markdown = markdown[:-3].strip()
    return markdown


def reference_markdown(html: str) -> str:
    """The page's reference Markdown (`claude_original/`): front matter + body, through the one front-matter writer."""
    return format_page_markdown(replace(page_metadata(html), natural_text=html_to_markdown(html) or None))
