"""Scoring one candidate on an olmOCR-Bench folder: load tests, add baselines, run repeats, majority-vote."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from vlm_ocr.bench.checks import BaselineTest, BenchTest
from vlm_ocr.bench.layout import BenchLayout, candidate_dir, candidate_files, find_layout, page_files, page_numbers
from vlm_ocr.bench.loading import BenchDataError, load_tests
from vlm_ocr.bench.report import BenchReport, Outcome, build_report
from vlm_ocr.katex.equation import EquationRenderer, RenderError
from vlm_ocr.katex.render import find_renderer

logger = logging.getLogger(__name__)

BASELINE_GROUP = "baseline"


@dataclass(frozen=True)
class GroupedTest:
    test: BenchTest
    group: str


def collect_tests(layout: BenchLayout, force: bool = False, skip_baseline: bool = False) -> list[GroupedTest]:
    """Tests of every JSONL file plus an automatic baseline per PDF lacking one; checks page coverage."""
    tests = [GroupedTest(t, path.name) for path in layout.jsonl_files for t in load_tests(path)]
    if not tests:
        raise BenchDataError(f"no tests found in {', '.join(str(p) for p in layout.jsonl_files)}")
    ids = [g.test.id for g in tests]
    if len(set(ids)) != len(ids):
        logger.warning("the same test id appears in several JSONL files; each copy is scored in its own file")
    with_baseline = {g.test.pdf for g in tests if g.test.type == "baseline"}
    for pdf in _bench_pdfs(layout, tests):
        if pdf not in with_baseline:
            auto = BaselineTest(id=f"{pdf}_baseline", pdf=pdf, page=1, type="baseline")
            tests.append(GroupedTest(auto, BASELINE_GROUP))
    covered = {(g.test.pdf, g.test.page) for g in tests}
    for pdf in _bench_pdfs(layout, tests):
        for page in page_numbers(layout, pdf):
            if (pdf, page) not in covered and not force:
                raise BenchDataError(f"No dataset entry found for pdf {pdf} page {page}")
    if skip_baseline:  # drops explicit baseline tests too, as upstream
        tests = [g for g in tests if g.test.type != "baseline"]
    return tests


def _bench_pdfs(layout: BenchLayout, tests: list[GroupedTest]) -> tuple[str, ...]:
    """All PDFs, or only those the single given JSONL file references."""
    if not layout.single_file:
        return layout.pdfs
    referenced = {g.test.pdf for g in tests}
    return tuple(p for p in layout.pdfs if p in referenced)


@dataclass
class _Pages:
    """Candidate page texts read once each; unreadable files keep their error message."""

    text: dict[Path, str] = field(default_factory=dict)
    unreadable: dict[Path, str] = field(default_factory=dict)

    def read(self, path: Path) -> str | None:
        if path not in self.text and path not in self.unreadable:
            try:
                self.text[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.unreadable[path] = f"Error reading {path}: {exc}"
        return self.text.get(path)


@dataclass
class _CandidateRun:
    """The state of scoring one candidate: its files, the renderer, and the errors that flag it as FAILED."""

    files: dict[str, list[Path]]
    renderer: EquationRenderer | None
    renderer_note: str
    pages: _Pages = field(default_factory=_Pages)
    errors: list[str] = field(default_factory=list)
    render_failure: str = ""

    def prerender(self, tests: list[GroupedTest]) -> None:
        """Render every equation the math tests will need, in few browser launches."""
        if self.renderer is None:
            return
        latex: list[str] = []
        for g in tests:
            if g.test.needs_renderer:
                for path in page_files(self.files.get(g.test.pdf, []), g.test.page):
                    if (content := self.pages.read(path)) is not None:
                        latex.extend(g.test.render_requests(content))
        if not latex:
            return
        unique = list(dict.fromkeys(latex))
        logger.info("rendering %d equations for math tests", len(unique))
        try:
            self.renderer.render_many(unique)
        except RenderError as exc:
            self.render_failure = f"math rendering failed: {exc}"
            self.errors.append(self.render_failure)

    def run(self, g: GroupedTest) -> Outcome:
        """Run one test on every repeat of its page; passed iff a strict majority of repeats pass."""
        test = g.test
        paths = page_files(self.files.get(test.pdf, []), test.page)
        base = Outcome(test.id, test.type, g.group, test.pdf, test.page, status="fail", repeats=len(paths), passes=0)
        if not paths:
            self.errors.append(f"missing MD repeats for {test.pdf} page {test.page}")
            return replace(base, explanation="Missing MD files")
        if test.needs_renderer and self.render_failure:
            return replace(base, explanation=self.render_failure)
        if test.needs_renderer and self.renderer is None:
            return replace(base, status="not_scored", explanation=self.renderer_note)
        passes, explanations = 0, []
        for path in paths:
            content = self.pages.read(path)
            if content is None:
                continue  # an unreadable repeat counts as not passing; its error is reported once per file
            try:
                passed, why = test.run(content, self.renderer)
            except Exception as exc:  # noqa: BLE001 - any crash flags the whole candidate, as upstream
                self.errors.append(f"Error running test {test.id} on {path}: {exc!r}")
                explanations.append(str(exc))
                continue
            passes += passed
            if not passed:
                explanations.append(why)
        status = "pass" if passes / len(paths) > 0.5 else "fail"
        return replace(base, status=status, passes=passes, explanation=next(iter(explanations), ""))


def score_bench(
    bench_dir: Path,
    candidate: str,
    *,
    force: bool = False,
    skip_baseline: bool = False,
    bootstrap_samples: int = 1000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
    chromium: str | None = "chromium",
    renderer: EquationRenderer | None = None,
) -> BenchReport:
    """Score one candidate's Markdown outputs against an olmOCR-Bench folder.

    Args:
        bench_dir: Folder with pdfs/, *.jsonl test files and candidate folders (or one .jsonl file in it).
        candidate: Name of the candidate folder inside the bench folder.
        force: Skip the page-coverage check and the up-front missing-files check.
        skip_baseline: Drop every baseline test, explicit and automatic.
        bootstrap_samples: Bootstrap iterations for the confidence interval.
        confidence_level: Level of the confidence interval.
        seed: Bootstrap seed; None for a fresh one each run (upstream's behaviour).
        chromium: Chromium executable (name or path) for math tests; None leaves them not scored.
        renderer: A ready equation renderer; overrides `chromium`.
    """
    layout = find_layout(Path(bench_dir))
    folder = candidate_dir(layout, candidate)
    tests = collect_tests(layout, force=force, skip_baseline=skip_baseline)
    note = "no math tests"
    if any(g.test.needs_renderer for g in tests):
        note = "custom renderer"
        if renderer is None:
            renderer, note = find_renderer(chromium)
    finish = functools.partial(
        build_report,
        candidate,
        str(bench_dir),
        math_renderer=note,
        bootstrap_samples=bootstrap_samples,
        confidence_level=confidence_level,
        seed=seed,
    )
    run = _CandidateRun(candidate_files(folder, _bench_pdfs(layout, tests)), renderer, note)
    missing = [pdf for pdf, found in run.files.items() if not found]
    if missing and not force:  # upstream runs no test at all for such a candidate
        return finish(
            [], [f"candidate {candidate!r} has no {pdf.removesuffix('.pdf')}_pg*_repeat*.md" for pdf in missing]
        )
    run.prerender(tests)
    outcomes = [run.run(g) for g in tests]
    errors = run.errors + list(run.pages.unreadable.values())
    logger.info("scored %d tests for %s (%d errors)", len(outcomes), candidate, len(errors))
    return finish(outcomes, errors)
