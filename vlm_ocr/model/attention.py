"""`sdpa_varlen`: variable-length attention for packed rows with PyTorch's own kernels (no flash-attn build).

With packed rows and no attention mask, transformers' plain `sdpa` builds one dense (length x length)
block-causal mask per forward. A dense mask rules out SDPA's flash backend and computes every block of the
row, including the ones between pages that the mask then throws away: for an 8192-token pack of five pages
that is about nine times the causal attention work. `sdpa_varlen` instead runs causal SDPA on each page of
the row separately (`is_causal=True`, no mask), which lets PyTorch pick its flash kernel on a GPU and does
only the work inside each page, the same cost as flash-attention 2's varlen kernel.

Pages are found the way transformers finds packed sequences: the text position ids restart (do not step by
1) where a new page begins. Anything else (unpacked rows, generation with a KV cache, the vision tower's
non-causal blocks) goes to transformers' sdpa unchanged, with its own mask.
"""

from __future__ import annotations

from typing import Any

import torch

SDPA_VARLEN = "sdpa_varlen"


def page_segments(position_ids: torch.Tensor) -> list[list[tuple[int, int]]] | None:
    """Per row, the [start, end) spans of the pages packed in it; None when no row holds more than one."""
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[:, 1:] = torch.diff(position_ids, dim=-1) != 1
    if not bool(starts[:, 1:].any()):
        return None
    length = position_ids.shape[1]
    segments = []
    for row_starts in starts.tolist():
        begins = [i for i, is_start in enumerate(row_starts) if is_start]
        segments.append(list(zip(begins, begins[1:] + [length], strict=True)))
    return segments


@torch.compiler.disable  # data-dependent page spans: a compiled decoder layer runs this part eagerly
def sdpa_varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention with transformers' interface: (batch, heads, length, head_dim) in, (batch, length, heads, head_dim)
    out. Causal attention inside each packed page when the position ids show packing, else plain sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    is_causal = kwargs.pop("is_causal", None)
    packed = (
        is_causal is not False
        and position_ids is not None
        and position_ids.dim() == 2
        and query.shape[2] == key.shape[2] == position_ids.shape[1]
        and getattr(module, "is_causal", True)
    )
    segments = page_segments(position_ids) if packed else None
    if segments is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, is_causal=is_causal, **kwargs)
    rows = []
    for row, spans in enumerate(segments):
        pieces = [
            sdpa_attention_forward(
                module,
                query[row : row + 1, :, start:end],
                key[row : row + 1, :, start:end],
                value[row : row + 1, :, start:end],
                None,
                is_causal=end - start > 1,
                **kwargs,
            )[0]
            for start, end in spans
        ]
        rows.append(torch.cat(pieces, dim=1))
    return torch.cat(rows, dim=0), None


def register_sdpa_varlen() -> None:
    """Make `attn_implementation="sdpa_varlen"` known to transformers (idempotent). Masks are built as for
    sdpa, so unpacked batches with padding and generation keep working; packed rows ignore the mask."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(SDPA_VARLEN, sdpa_varlen_attention)
    AttentionMaskInterface.register(SDPA_VARLEN, sdpa_mask)
