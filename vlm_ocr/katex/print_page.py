"""An HTML page printed to PDF by headless Chromium (started as a subprocess), with KaTeX typesetting its math.

Like the original's Playwright page: KaTeX's CSS and scripts are added after the page's own, auto-render typesets
`\\( \\)` and `\\[ \\]` (errors left as text), and the paper has no margins and prints backgrounds. Chromium's
command line takes no print scale, so the scale is CSS `zoom` on the root, which lays the page out the same way.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from vlm_ocr.katex.equation import RenderError
from vlm_ocr.katex.render import CHROMIUM_FLAGS, KATEX_DIR

POINTS_PER_CSS_PIXEL = 0.75
_AFTER_PAGE = """
<style>@page {{ size: {width}pt {height}pt; margin: 0; }}
html {{ zoom: {zoom}; -webkit-print-color-adjust: exact; print-color-adjust: exact; }}</style>
<link rel="stylesheet" href="{css}"><script src="{js}"></script><script src="{auto_render}"></script>
<script>
renderMathInElement(document.body, {{
  delimiters: [{{left: "\\\\(", right: "\\\\)", display: false}}, {{left: "\\\\[", right: "\\\\]", display: true}}],
  throwOnError: false
}});
</script>
"""


def print_html_to_pdf(
    html: str,
    width_pt: float,
    height_pt: float,
    zoom: float,
    chromium: str,
    *,
    katex_dir: Path = KATEX_DIR,
    timeout_s: float = 120.0,
) -> bytes:
    """The PDF bytes of `html` on paper of `width_pt` x `height_pt` points, laid out at `zoom` (1.0: one CSS pixel
    per 0.75 pt). One Chromium launch; a failed or timed-out launch is a RenderError."""
    page = html + _AFTER_PAGE.format(
        width=f"{width_pt:.3f}",
        height=f"{height_pt:.3f}",
        zoom=f"{zoom:.6f}",
        css=(katex_dir / "katex.min.css").as_uri(),
        js=(katex_dir / "katex.min.js").as_uri(),
        auto_render=(katex_dir / "auto-render.min.js").as_uri(),
    )
    with tempfile.TemporaryDirectory(prefix="vlm-ocr-print-") as tmp:
        source, out = Path(tmp) / "page.html", Path(tmp) / "page.pdf"
        source.write_text(page, encoding="utf-8")
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise RenderError(f"could not run {chromium}: {err}") from err
        if not out.is_file() or out.stat().st_size == 0:
            tail = done.stderr.decode("utf-8", errors="replace")[-2000:]
            raise RenderError(f"chromium exited with {done.returncode} and printed no PDF; stderr tail:\n{tail}")
        return out.read_bytes()
