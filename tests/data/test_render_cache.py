import numpy as np

from vlm_ocr.data.transforms import RenderPage


def test_cached_render_equals_fresh_render_and_is_reused(tmp_path, sample_data_dir):
    pdf = str(next((sample_data_dir / "train" / "table").glob("*.pdf")))
    fresh = RenderPage(300)({"pdf_path": pdf})["image"]
    cached_step = RenderPage(300, cache_dir=str(tmp_path / "cache"))
    first = cached_step({"pdf_path": pdf})["image"]
    entries = list((tmp_path / "cache").rglob("*.png"))
    assert len(entries) == 1
    second = cached_step({"pdf_path": pdf})["image"]
    assert np.array_equal(np.asarray(first), np.asarray(fresh)) and np.array_equal(
        np.asarray(second), np.asarray(fresh)
    )
    entries[0].write_bytes(b"damaged")  # a corrupt entry is rendered again, not returned
    assert np.array_equal(np.asarray(cached_step({"pdf_path": pdf})["image"]), np.asarray(fresh))
    RenderPage(200, cache_dir=str(tmp_path / "cache"))({"pdf_path": pdf})
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 2  # other settings, other key


def test_cache_renders_command_fills_the_cache(cli_env, tmp_path, sample_data_dir):
    from pathlib import Path

    import yaml

    from vlm_ocr.cli import main

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "experiments" / "tiny.yaml").read_text())
    cache = tmp_path / "renders"
    config["data"]["render"]["init_args"]["cache_dir"] = str(cache)
    (tmp_path / "cached.yaml").write_text(yaml.safe_dump(config))
    assert main(["cache-renders", "--config", str(tmp_path / "cached.yaml"), *cli_env, "--workers", "1"]) == 0
    distinct = {p.read_bytes() for p in sample_data_dir.rglob("*.pdf")}  # identical blank pages share one entry
    assert len(list(cache.rglob("*.png"))) == len(distinct) < len(list(sample_data_dir.rglob("*.pdf")))


def test_cached_pipeline_gives_the_same_model_tensors(tmp_path, tiny_vlm_dir, sample_data_dir):
    """Through the whole pipeline (render, processor, chat template), the cache changes no tensor."""
    import torch
    from tiny_setup import datamodule

    def items(cache_dir):
        render = {"render": RenderPage(112, cache_dir=cache_dir)} if cache_dir else {}
        data = datamodule(tiny_vlm_dir, sample_data_dir, train="train/table", **render)
        data.setup("fit")
        return [data.train_set[(0, i)] for i in range(len(data.train_set))]

    fresh = items(None)
    filled, reused = items(str(tmp_path / "cache")), items(str(tmp_path / "cache"))
    assert list((tmp_path / "cache").rglob("*.png"))
    keys = ("input_ids", "labels", "pixel_values", "image_grid_thw", "mm_token_type_ids")
    for a, b, c in zip(fresh, filled, reused, strict=True):
        for key in keys:
            assert torch.equal(a[key], b[key]) and torch.equal(a[key], c[key]), key
