"""sdpa_varlen: causal SDPA page by page on packed rows equals sdpa with the dense block-causal mask."""

import torch
from attention_cases import GroupedAttention, block_causal_mask, packed_positions
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from vlm_ocr.model.attention import page_segments, sdpa_varlen_attention


def qkv(rows: int, length: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(rows, 4, length, 8, generator=generator, requires_grad=True)
    key = torch.randn(rows, 2, length, 8, generator=generator, requires_grad=True)
    value = torch.randn(rows, 2, length, 8, generator=generator, requires_grad=True)
    return query, key, value


def test_page_segments_follow_position_restarts():
    positions = packed_positions([[3, 1, 4], [5, 3]])
    assert page_segments(positions) == [[(0, 3), (3, 4), (4, 8)], [(0, 5), (5, 8)]]
    assert page_segments(torch.arange(6)[None]) is None


def test_packed_rows_match_the_dense_block_causal_mask_in_values_and_gradients():
    positions = packed_positions([[5, 1, 7, 3], [9, 7]])  # two rows, different pages, a one-token page
    module = GroupedAttention()
    query, key, value = qkv(2, 16)
    varlen, _ = sdpa_varlen_attention(module, query, key, value, None, position_ids=positions, scaling=8**-0.5)
    grads = torch.autograd.grad(varlen.square().sum(), (query, key, value))
    dense, _ = sdpa_attention_forward(
        module, query, key, value, block_causal_mask(positions), scaling=8**-0.5, is_causal=False
    )
    dense_grads = torch.autograd.grad(dense.square().sum(), (query, key, value))
    assert varlen.shape == dense.shape == (2, 16, 4, 8)
    torch.testing.assert_close(varlen, dense, rtol=1e-5, atol=1e-6)
    for mine, reference in zip(grads, dense_grads, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-5)


def test_unpacked_and_non_causal_calls_are_plain_sdpa():
    module = GroupedAttention()
    query, key, value = qkv(1, 10, seed=1)
    mask = torch.ones(1, 1, 10, 10, dtype=torch.bool).tril()
    plain, _ = sdpa_attention_forward(module, query, key, value, mask)
    unpacked, _ = sdpa_varlen_attention(module, query, key, value, mask, position_ids=torch.arange(10)[None])
    assert torch.equal(unpacked, plain)
    restarts = packed_positions([[4, 6]])  # packed positions, but a non-causal caller (the vision tower's blocks)
    full, _ = sdpa_attention_forward(module, query, key, value, None, is_causal=False)
    non_causal, _ = sdpa_varlen_attention(module, query, key, value, None, position_ids=restarts, is_causal=False)
    assert torch.equal(non_causal, full)
