"""The four requests of mine_html_pages, with the original's text (olmocr 0.4.27 `generate_html_from_image`)."""

from __future__ import annotations

ORIENTATION = (
    "Please analyze this document image and determine its orientation.\n\n"
    "Is this document right-side-up (correctly oriented), or is it rotated?\n\n"
    "Make your decision based on the main document contents that takes up most of the page area.\n\n"
    "Respond with ONLY one of the following:\n"
    "- RIGHT_SIDE_UP: The document is correctly oriented and readable\n"
    "- ROTATED_90: The document is rotated 90 degrees clockwise\n"
    "- ROTATED_180: The document is upside down (rotated 180 degrees)\n"
    "- ROTATED_270: The document is rotated 270 degrees clockwise (90 degrees counter-clockwise)\n"
    "- UNCLEAR: Cannot determine orientation (e.g., blank page, purely graphical content)\n\n"
    "Important: Only respond with one of these exact terms, nothing else."
)
UPRIGHT_ANSWER = "RIGHT_SIDE_UP"

ANALYSIS = (
    "Analyze this document and provide a detailed assessment of its structure. Focus specifically on:\n"
    "1. How many columns does the document have? Is it single-column, two-column, three-column, or a mixed layout?\n"
    "2. What are the main sections and content types (headings, paragraphs, lists, tables, images, etc.)?\n"
    "3. Does it have headers, footers, page numbers, or other special elements?\n"
    "4. Is there any complex formatting that would be challenging to reproduce in HTML?\n\n"
    "Please be very precise about the number of columns and how they're arranged."
)


def html_request(analysis: str, width: int, height: int) -> str:
    """The HTML request: the analysis, then the original's rules (running content, image placeholders, math
    delimiters, the page's column count, the fixed viewport)."""
    return (
        "Render this document as clean, semantic HTML. Here's my analysis of the document structure:\n\n"
        f"{analysis}\n\n"
        "Important requirements:\n"
        "1. Use appropriate HTML tags for elements like headings, paragraphs, lists, tables, etc.\n"
        "2. Use the <header> and <footer> tags to represent content at the top/bottom which would not normally be "
        "part of the main content, such as page numbers, etc.\n"
        "3. Use a placeholder <div> tag with class 'image' which will render as a grey box with black outline to make "
        "sure images have their original size, shape, and position on the page. Include an alt-text of the original "
        "image as a 'data-description' attribute on the tag. Include 'data-x', 'data-y', 'data-width', 'data-height' "
        "attributes which specify where the image was found in the original document.\n"
        "4. Render any math equations and Latex inline using either \\[ \\] or \\( \\) delimeters.\n"
        "5. CRITICAL: If the document has a multi-column layout, you MUST preserve the exact same number of columns "
        "in your HTML. Use CSS flexbox or grid to create the columns.\n"
        "6. Focus on creating valid, accessible HTML that preserves the appearance and formatting of the original "
        "page as closely as possible.\n"
        f"7. The webpage will be viewed with a fixed viewport size of {width} pixels wide by {height} pixels tall.\n"
        "8. For multi-column layouts, use explicit CSS. The most important aspect is preserving the column structure "
        "of the original document - this is critical.\n\n"
        "Enclose your HTML in a ```html code block."
    )


REFINEMENT_INTRO = (
    "I'm going to show you two images:\n1. The original document\n2. How the HTML I generated renders\n\n"
    "Please compare them carefully and provide a revised version of the HTML that better matches the original."
)
AFTER_ORIGINAL = "Above is the ORIGINAL document."
AFTER_RENDER = "Above is how my HTML currently renders."


def refinement_request(html: str, width: int, height: int) -> str:
    """The refinement's last text: the current HTML and what to compare."""
    return (
        f"Here is the current HTML code:\n\n```html\n{html}\n```\n\n"
        "Please analyze the differences between the original document and the rendered version. Focus on:\n"
        "1. Layout issues - are columns preserved correctly?\n"
        "2. Positioning - are elements in the right place?\n"
        "3. Spacing - are margins, padding, and spacing between elements correct?\n"
        "4. Occlusion - is any important content hidden or overlapping?\n"
        "5. Text formatting - are fonts, sizes, and styles appropriate?\n"
        "6. Tables - are the headers on tables are aligned with the correct corresponding columns?\n"
        f"The webpage will be viewed at {width}x{height} pixels.\n\n"
        "Provide a REVISED version of the HTML that corrects any issues you identified. "
        "Make sure all important elements are visible and the layout matches the original as closely as possible.\n"
        "Output the complete revised HTML in a ```html code block."
    )
