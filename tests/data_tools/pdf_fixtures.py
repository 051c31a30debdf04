"""Small real PDFs written byte by byte, for the data-tool tests."""

from __future__ import annotations

import io

SECRET_KEY = "sk-test-DO-NOT-LEAK-8f3a"
"""A fake API key the tests check never appears in outputs or logs."""


def make_pdf(pages: list[dict]) -> bytes:
    """A small real PDF: each page dict has width, height, text (Helvetica), optional rotate and crop box."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    pages_id = len(pages) * 2 + 2  # filled in order below: content, page, ..., then the Pages node
    for page in pages:
        text = page.get("text", "").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 36 {page['height'] - 48} Td ({text}) Tj ET".encode() if text else b""
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        extra = b""
        if page.get("rotate"):
            extra += b" /Rotate %d" % page["rotate"]
        if page.get("cropbox"):
            extra += b" /CropBox [%s]" % " ".join(str(v) for v in page["cropbox"]).encode()
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Contents %d 0 R"
                b" /Resources << /Font << /F1 %d 0 R >> >>%s >>"
                % (pages_id, str(page["width"]).encode(), str(page["height"]).encode(), content, font, extra)
            )
        )
    assert (
        add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids)))
        == pages_id
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref))
    return out.getvalue()


def letter(text: str = "Hello page", **extra) -> dict:
    return {"width": 612, "height": 792, "text": text, **extra}
