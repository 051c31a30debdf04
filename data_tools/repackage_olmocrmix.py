"""md/pdf pair tree -> `<tag>.parquet` + size-capped PDF tarballs + a manifest (the inverse of prepare_olmocrmix)."""

from __future__ import annotations

import json
import logging
import re
from functools import partial
from pathlib import Path
from typing import Any

from vlm_ocr.errors import InputError
from vlm_ocr.pages.files import atomic_write_text
from vlm_ocr.pages.front_matter import FRONT_MATTER_KEYS, parse_page_markdown, split_front_matter
from vlm_ocr.pages.pairs import ScannedPair
from vlm_ocr.prep.olmocrmix import (
    TarChunk,
    dataset_tag,
    load_urls,
    plan_chunks,
    tar_matches,
    write_parquet,
    write_tar_chunk,
)
from vlm_ocr.prep.pair_inputs import scan_input_pairs
from vlm_ocr.prep.runner import DEFAULT_RUN, Collect, RunArgs, map_items
from vlm_ocr.verbs import tool_entry_point

logger = logging.getLogger(__name__)
TOOL = "repackage_olmocrmix"
_TRAILING_PAGE = re.compile(r"-(\d+)$")


def read_record(
    pair: ScannedPair, root: Path, pdf_root: Path | None, urls: dict[str, str], url_template: str | None
) -> dict[str, Any]:
    """One pair -> one parquet record (plus its PDF path and size, used for the tarballs)."""
    doc_id = pair.markdown_path.relative_to(root).with_suffix("").as_posix()
    pdf = pair.pdf_path if pair.pdf_stat is not None else (pdf_root / f"{doc_id}.pdf" if pdf_root else None)
    if pdf is None or not pdf.is_file():
        raise FileNotFoundError(f"no PDF for {doc_id} (beside the md{' or under --pdf_root' if pdf_root else ''})")
    content = pair.markdown_path.read_text(encoding="utf-8")
    page = parse_page_markdown(content, pair.markdown_path, allow_extra_keys=True)
    extras = {k: v for k, v in split_front_matter(content, pair.markdown_path)[0].items() if k not in FRONT_MATTER_KEYS}
    page_number = extras.get("page_number")
    if page_number is None or not str(page_number).strip().lstrip("-").isdigit():
        match = _TRAILING_PAGE.search(doc_id)
        page_number = match.group(1) if match else None
    url = urls.get(doc_id) or urls.get(doc_id.replace("/", ""))
    if url is None and url_template:
        url = url_template.format(doc_id=doc_id)
    return {
        "id": doc_id,
        "url": url,
        "page_number": int(page_number) if page_number is not None else None,
        "primary_language": page.primary_language,
        "is_rotation_valid": page.is_rotation_valid,
        "rotation_correction": page.rotation_correction,
        "is_table": page.is_table,
        "is_diagram": page.is_diagram,
        "natural_text": page.natural_text,
        "extras": json.dumps(extras, ensure_ascii=False) if extras else None,
        "_pdf": str(pdf.resolve()),
    }


def write_chunk(chunk: TarChunk, chunk_dir: Path) -> dict:
    write_tar_chunk(chunk, chunk_dir / chunk.name)
    return {}


def main(
    *,
    processed_dir: Path,
    subset: str,
    split: str,
    output_dir: Path,
    parquet_name: str | None = None,
    pdf_chunk_dir: str = "pdf_tarballs",
    pdf_chunk_prefix: str | None = None,
    max_tar_size_bytes: int = 1024**3,
    pdf_root: Path | None = None,
    url_template: str | None = None,
    parquet_compression: str = "snappy",
    manifest_name: str = "pdf_chunk_manifest.jsonl",
    strict: bool = False,
    run: RunArgs = DEFAULT_RUN,
) -> int:
    """Pack an md/pdf pair tree into a parquet, PDF tarballs and a manifest, ready for a Hugging Face upload.

    Args:
        processed_dir: Root of the md/pdf pair tree.
        subset: Dataset subset, e.g. `00_documents`; with `split` it forms the tag `<subset>_<split>`.
        split: Dataset split, e.g. `train`.
        output_dir: Destination folder.
        parquet_name: Parquet file name (default `<tag>.parquet`).
        pdf_chunk_dir: Sub-folder of output_dir for the tarballs; also the prefix of `pdf_relpath`.
        pdf_chunk_prefix: Tarball name prefix (default the tag).
        max_tar_size_bytes: Cap on each tarball's compressed size, guaranteed by worst-case budgeting.
        pdf_root: Fallback folder holding `<doc_id>.pdf` when a PDF is not beside its md.
        url_template: URL for ids missing from urls.jsonl, formatted with `{doc_id}`.
        parquet_compression: Parquet codec.
        manifest_name: Manifest file name under output_dir.
        strict: Fail (exit code 1) if any pair could not be read, instead of leaving it out.
        run: Common data-tool flags.
    """
    tag = dataset_tag(subset, split)
    config = {k: v for k, v in locals().items() if k != "tag"}
    processed_dir = processed_dir.resolve()
    pairs, left_out = scan_input_pairs(processed_dir, "--processed_dir")
    records = Collect()
    read = partial(
        read_record, root=processed_dir, pdf_root=pdf_root, urls=load_urls(processed_dir), url_template=url_template
    )
    counts = map_items(
        read,
        pairs,
        output_dir,
        run,
        tool=TOOL,
        sink=records,
        stage="records",
        config=config,
        dropped=left_out,
        key=lambda pair: pair.markdown_path.relative_to(processed_dir).with_suffix("").as_posix(),
    )
    rows = sorted(records.results, key=lambda row: row["id"])
    if strict and counts.failed:
        logger.error("%d pairs could not be read (see %s/errors.records.jsonl)", counts.failed, output_dir)
        return 1
    if not rows:
        raise InputError(
            f"--processed_dir {processed_dir}: no readable md/pdf pair", f"see {output_dir}/errors.records.jsonl"
        )
    members = [(row["id"], row["_pdf"], Path(row["_pdf"]).stat().st_size) for row in rows]
    chunks = plan_chunks(members, pdf_chunk_prefix or tag, max_tar_size_bytes)
    chunk_dir = output_dir / pdf_chunk_dir
    map_items(
        partial(write_chunk, chunk_dir=chunk_dir),
        chunks,
        output_dir,
        run,
        tool=TOOL,
        pool="process",
        config=config,
        key=lambda chunk: f"{pdf_chunk_dir}/{chunk.name}",
        done=lambda chunk: tar_matches(chunk, chunk_dir / chunk.name),
    )
    where = {doc_id: chunk.name for chunk in chunks for doc_id, _ in chunk.members}
    manifest = []
    for row in rows:
        row["pdf_relpath"] = f"{pdf_chunk_dir}/{where[row['id']]}:{row['id']}.pdf"
        manifest.append(
            {
                "doc_id": row["id"],
                "chunk": where[row["id"]],
                "arcname": f"{row['id']}.pdf",
                "pdf_relpath": row["pdf_relpath"],
            }
        )
        del row["_pdf"]
    write_parquet(rows, output_dir / (parquet_name or f"{tag}.parquet"), parquet_compression)
    atomic_write_text(output_dir / manifest_name, "".join(json.dumps(m) + "\n" for m in manifest))
    logger.info("wrote %d records, %d tarballs to %s", len(rows), len(chunks), output_dir)
    return 0


cli = tool_entry_point(main)


if __name__ == "__main__":
    cli()
