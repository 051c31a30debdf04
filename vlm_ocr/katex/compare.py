"""Equation comparison: MathML containment, then per-character layout matching with backtracking (spec §4.4)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import BeautifulSoup

from vlm_ocr.katex.equation import RenderedEquation, SpanBox

_INVISIBLE = re.compile(r"[\s\u200a-\u200d\u2060\ufeff]+")
ALIGN_TOLERANCE_PX = 5.0
_DIRECTIONS = ("up", "down", "left", "right")


@dataclass(frozen=True)
class _Glyph:
    text: str
    cx: float
    cy: float


def equations_match(reference: RenderedEquation, hypothesis: RenderedEquation) -> bool:
    """True if the reference equation is found in the hypothesis render."""
    if _mathml_core(reference.mathml) in _mathml_core(hypothesis.mathml):
        return True
    return _layout_match(_glyphs(reference.spans), _glyphs(hypothesis.spans))


def _mathml_core(mathml: str) -> str:
    """The <semantics> children except <annotation> (else the whole document), with invisibles removed."""
    soup = BeautifulSoup(mathml, "xml")  # needs lxml; without it upstream silently compares the TeX annotation
    semantics = soup.find("semantics")
    if semantics is None:
        serialised = str(soup)
    else:
        serialised = "".join(str(child) for child in semantics.contents if getattr(child, "name", None) != "annotation")
    return _INVISIBLE.sub("", serialised)


def _glyphs(spans: tuple[SpanBox, ...]) -> list[_Glyph]:
    """One glyph per character; a span's width is shared equally among its characters."""
    glyphs = []
    for span in spans:
        text = _INVISIBLE.sub("", span.text)
        step = span.width / len(text) if text else 0.0
        for i, char in enumerate(text):
            glyphs.append(_Glyph(char, span.x + i * step + step / 2, span.y + span.height / 2))
    return glyphs


def _neighbours(glyphs: list[_Glyph]) -> list[dict[str, int | None]]:
    """Nearest other glyph in each direction whose centre is aligned within the tolerance."""
    result = []
    for i, g in enumerate(glyphs):
        best: dict[str, tuple[float, int] | None] = dict.fromkeys(_DIRECTIONS)
        for j, o in enumerate(glyphs):
            if i == j:
                continue
            candidates = []
            if abs(o.cx - g.cx) <= ALIGN_TOLERANCE_PX:
                if o.cy < g.cy:
                    candidates.append(("up", g.cy - o.cy))
                if o.cy > g.cy:
                    candidates.append(("down", o.cy - g.cy))
            if abs(o.cy - g.cy) <= ALIGN_TOLERANCE_PX:
                if o.cx < g.cx:
                    candidates.append(("left", g.cx - o.cx))
                if o.cx > g.cx:
                    candidates.append(("right", o.cx - g.cx))
            for direction, dist in candidates:
                current = best[direction]
                if current is None or dist < current[0]:
                    best[direction] = (dist, j)
        result.append({d: (None if b is None else b[1]) for d, b in best.items()})
    return result


def _layout_match(ref: list[_Glyph], hyp: list[_Glyph]) -> bool:
    """Assign every reference glyph to a distinct same-text hypothesis glyph with consistent neighbours."""
    candidates = [[j for j, h in enumerate(hyp) if h.text == r.text] for r in ref]
    if any(not c for c in candidates):
        return False
    ref_nb, hyp_nb = _neighbours(ref), _neighbours(hyp)
    assignment: dict[int, int] = {}
    used: set[int] = set()

    def consistent(i: int, cand: int) -> bool:
        for direction in _DIRECTIONS:
            r_nb = ref_nb[i][direction]
            if r_nb is None:
                continue  # extra material in the hypothesis is allowed
            h_nb = hyp_nb[cand][direction]
            if h_nb is None:
                return False
            if r_nb in assignment:
                if assignment[r_nb] != h_nb:
                    return False
            elif hyp[h_nb].text != ref[r_nb].text:
                return False
        return True

    # Iterative depth-first search (upstream recurses, which overflows on very long equations).
    cursor = [0] * (len(ref) + 1)  # next candidate index to try at each depth
    depth = 0
    while depth < len(ref):
        if depth in assignment:  # backtracked into this depth: release its previous choice
            used.discard(assignment.pop(depth))
        options = candidates[depth]
        while cursor[depth] < len(options):
            cand = options[cursor[depth]]
            cursor[depth] += 1
            if cand not in used and consistent(depth, cand):
                assignment[depth] = cand
                used.add(cand)
                break
        else:
            if depth == 0:
                return False
            cursor[depth] = 0
            depth -= 1
            continue
        depth += 1
    return True
