"""`python -m vlm_ocr export CKPT... --out DIR`: a servable Hugging Face folder from training checkpoints."""

from __future__ import annotations

import functools

from vlm_ocr.export.run import export_model


@functools.wraps(export_model)  # the command line is export_model's signature and docstring
def export(*args, **kwargs) -> int:
    result = export_model(*args, **kwargs)  # its errors are UsageErrors: one line, exit 2
    report = result.parity
    generation = "identical" if report.exact else f"equal over the decisive steps {report.decisive_steps}"
    print(
        f"{result.out}\nparity: max |logit diff| {report.max_abs_diff:.4g} (bound {report.bound:.4g}, "
        f"max |logit| {report.max_abs_logit:.4g}), top-1 agreement {report.top1_agreement:.4f}, "
        f"greedy tokens {generation}"
    )
    return 0
