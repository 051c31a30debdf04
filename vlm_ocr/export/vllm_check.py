"""Optional serving check: vLLM loads the exported folder and generates for one page (needs vllm and a GPU)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def check_vllm(folder: Path, processor: Any, image: Any, new_tokens: int = 16) -> str:
    """Generate greedily for one page with vLLM from `folder`; returns the text, raises if nothing came out."""
    if importlib.util.find_spec("vllm") is None:
        raise RuntimeError("--vllm_check needs vllm installed (pip install vllm)")
    from vllm import LLM, SamplingParams

    from vlm_ocr.data.processor import QwenInputs
    from vlm_ocr.data.transforms import BuildMessages

    prompt = QwenInputs(processor).render_prompt(BuildMessages()({})["messages"])
    llm = LLM(
        model=str(folder),
        max_model_len=8192,
        limit_mm_per_prompt={"image": 1},
        gpu_memory_utilization=0.5,
        enforce_eager=True,
    )
    result = llm.generate(
        {"prompt": prompt, "multi_modal_data": {"image": image}},
        SamplingParams(temperature=0.0, max_tokens=new_tokens),
    )
    completion = result[0].outputs[0]
    if not completion.token_ids:
        raise RuntimeError(f"vLLM loaded {folder} but generated no tokens")
    logger.info("vLLM generated %d tokens from %s", len(completion.token_ids), folder)
    return completion.text
