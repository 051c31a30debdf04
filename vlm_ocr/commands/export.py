"""`python -m vlm_ocr export CKPT... --out DIR`: a servable Hugging Face folder from training checkpoints."""

from __future__ import annotations

from jsonargparse import ArgumentParser


def build_parser() -> ArgumentParser:
    from vlm_ocr.export.run import export_model

    parser = ArgumentParser(
        prog="python -m vlm_ocr export",
        description="Export checkpoints (Lightning .ckpt, sharded checkpoint folder, peft adapter or HF folder) "
        "as a Hugging Face folder: LoRA merged, several checkpoints averaged (soup), optionally FP8, "
        "kept only if the parity check against the source passes.",
    )
    parser.add_argument("checkpoints", nargs="+", help="checkpoints to export; more than one are souped")
    parser.add_function_arguments(export_model, skip={"checkpoints"})
    return parser


def main(argv: list[str]) -> int:
    from vlm_ocr.export.checkpoints import CheckpointError
    from vlm_ocr.export.run import ParityError, export_model

    parser = build_parser()
    config = parser.instantiate(parser.parse_args(argv))
    try:
        result = export_model(**{key: config[key] for key in vars(config)})
    except (CheckpointError, ParityError, FileExistsError, FileNotFoundError) as err:
        raise SystemExit(f"export: {err}") from None
    report = result.parity
    generation = "identical" if report.exact else f"equal over the decisive steps {report.decisive_steps}"
    print(
        f"{result.out}\nparity: max |logit diff| {report.max_abs_diff:.4g} (bound {report.bound:.4g}, "
        f"max |logit| {report.max_abs_logit:.4g}), top-1 agreement {report.top1_agreement:.4f}, "
        f"greedy tokens {generation}"
    )
    return 0
