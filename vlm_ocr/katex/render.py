"""KaTeX rendering in headless Chromium, started as a subprocess; batches equations into one page per launch."""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vlm_ocr.katex.equation import RenderedEquation, RenderError, SpanBox

logger = logging.getLogger(__name__)

KATEX_DIR = Path(__file__).resolve().parent
KATEX_VERSION = "0.16.21"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_OUTPUT = re.compile(r'<pre id="vlm-ocr-out">([A-Za-z0-9+/=]*)</pre>')

# Same page as upstream (800x400 viewport, body a flex box centring a 24px div, white on black) except that
# the size is fixed in CSS, because headless Chromium's --window-size does not give an exact viewport height.
# The KaTeX CSS points at fonts/ which is not shipped, so the fallback fonts are used, as upstream.
_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" href="{css}"><script src="{js}"></script>
<style>
body {{ display: flex; justify-content: center; align-items: center; width: 800px; height: 400px; margin: 0;
       background-color: white; color: black; }}
#equation-container {{ padding: 0; font-size: 24px; }}
</style></head>
<body><div id="equation-container"></div>
<script>
const equations = {equations};
const results = [];
const container = document.getElementById("equation-container");
if (typeof katex === "undefined") {{
  results.push({{fatal: "katex.min.js did not load"}});
}} else {{
  for (const latex of equations) {{
    container.innerHTML = "";
    try {{
      katex.render(latex, container, {{displayMode: true, throwOnError: true}});
      const spans = Array.from(document.querySelectorAll("span"))
        .filter((s) => s.children.length === 0 && /\\S/.test(s.textContent))
        .map((s) => {{
          const r = s.getBoundingClientRect();
          return [s.textContent.trim(), r.x, r.y, r.width, r.height];
        }});
      const math = document.querySelector(".katex-mathml math");
      results.push({{mathml: math ? math.outerHTML : "", spans: spans, error: null}});
    }} catch (e) {{
      const message = e && e.message ? e.message : String(e);
      results.push({{mathml: message, spans: [], error: message}});
    }}
  }}
}}
container.innerHTML = "";
const out = document.createElement("pre");
out.id = "vlm-ocr-out";
out.textContent = btoa(unescape(encodeURIComponent(JSON.stringify(results))));
document.body.appendChild(out);
</script></body></html>
"""


class ChromiumKatexRenderer:
    """Renders LaTeX with the vendored KaTeX in a fresh headless Chromium per batch, with an in-memory cache.

    Args:
        chromium: Path of the Chromium executable.
        katex_dir: Folder holding katex.min.js and katex.min.css.
        batch_size: Equations rendered per browser launch.
        timeout_s: Wall-clock limit of one browser launch.
    """

    def __init__(self, chromium: str, katex_dir: Path = KATEX_DIR, batch_size: int = 500, timeout_s: float = 120.0):
        self.chromium = chromium
        self.katex_dir = katex_dir
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._cache: dict[str, RenderedEquation] = {}
        self.launches = 0

    def render_many(self, latex: Sequence[str]) -> list[RenderedEquation]:
        todo = list(dict.fromkeys(eq for eq in latex if eq not in self._cache))
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            self._cache.update(zip(batch, self._render_batch(batch), strict=True))
        return [self._cache[eq] for eq in latex]

    def _render_batch(self, batch: list[str]) -> list[RenderedEquation]:
        logger.debug("rendering %d equations with %s", len(batch), self.chromium)
        with tempfile.TemporaryDirectory(prefix="vlm-ocr-katex-") as tmp:
            page = Path(tmp) / "render.html"
            page.write_text(
                _PAGE.format(
                    css=(self.katex_dir / "katex.min.css").as_uri(),
                    js=(self.katex_dir / "katex.min.js").as_uri(),
                    # Escaping "<" keeps "</script>" inside an equation from closing the script element.
                    equations=json.dumps(batch).replace("<", "\\u003c"),
                ),
                encoding="utf-8",
            )
            profile = Path(tmp) / "profile"
            cmd = [
                self.chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--window-size=800,400",
                "--dump-dom",
                page.as_uri(),
            ]
            self.launches += 1
            try:
                proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout_s, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise RenderError(f"could not run {self.chromium}: {exc}") from exc
        return _parse_output(proc, len(batch))


def _parse_output(proc: subprocess.CompletedProcess[bytes], expected: int) -> list[RenderedEquation]:
    match = _OUTPUT.search(proc.stdout.decode("utf-8", errors="replace"))
    if match is None:
        tail = proc.stderr.decode("utf-8", errors="replace")[-2000:]
        raise RenderError(f"chromium exited with {proc.returncode} and no render output; stderr tail:\n{tail}")
    rows = json.loads(base64.b64decode(match.group(1)).decode("utf-8"))
    fatal = [row["fatal"] for row in rows if "fatal" in row]
    if fatal or len(rows) != expected:
        raise RenderError(f"KaTeX page failed: {fatal or f'{len(rows)} results for {expected} equations'}")
    return [
        RenderedEquation(
            mathml=row["mathml"],
            spans=tuple(
                SpanBox(str(text), float(x), float(y), float(w), float(h)) for text, x, y, w, h in row["spans"]
            ),
            error=row["error"],
        )
        for row in rows
    ]


def find_renderer(
    chromium: str | None = "chromium", katex_dir: Path = KATEX_DIR
) -> tuple[ChromiumKatexRenderer | None, str]:
    """The renderer to use, or None plus the reason math tests cannot be scored."""
    if chromium is None:
        return None, "math rendering disabled"
    executable = shutil.which(chromium)
    if executable is None:
        return None, f"chromium executable {chromium!r} not found"
    missing = [name for name in ("katex.min.js", "katex.min.css") if not (katex_dir / name).is_file()]
    if missing:
        return None, f"KaTeX files missing from {katex_dir}: {', '.join(missing)}"
    return ChromiumKatexRenderer(executable, katex_dir), f"KaTeX {KATEX_VERSION} in {executable}"
