"""The recipe's optimizer (Bf16AdamW, built from mix_1025.yaml by the CLI) under a real bf16 `Trainer.fit` of the tiny
model: clipping, the non-finite guard, `.grad`, decay."""

from pathlib import Path

import lightning as L
import pytest
import torch
from training_runs import make_data, make_trainer

from vlm_ocr.callbacks import NonFiniteGuard
from vlm_ocr.experiment_cli import build_cli
from vlm_ocr.model.module import VlmOcrModule

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
CLIP = 1e-3  # far below the tiny model's gradient norm, so every step is clipped
DECAY = 0.5  # the recipe's lr 2e-5 with a decay large enough to measure in 4 steps (1e-5 per step, still below
# half of bf16's relative spacing, 2**-9: rounded to nearest, the decay alone would never move a bf16 weight)
POISONED_STEP = 2
TRAIN_ROOTS = ("train/document", "train/table")


def recipe_optimizer(cli_env, *overrides):
    args = ["--config", str(EXPERIMENTS / "mix_1025.yaml"), *cli_env, "--trainer.accelerator", "cpu", *overrides]
    return build_cli(args, run=False).model.optimizer_factory


def bf16_module(tiny_vlm_dir, optimizer):
    return VlmOcrModule(
        str(tiny_vlm_dir), dtype="bfloat16", attn_implementation="sdpa", optimizer=optimizer, lr_scheduler="constant"
    )


def snapshot(optimizer, module):
    """Weights, optimizer state tensors and step counters, copied."""
    weights = {n: p.detach().clone() for n, p in module.model.named_parameters() if p.requires_grad}
    state = {id(p): {k: v.clone() for k, v in s.items()} for p, s in optimizer.state.items()}
    return weights, state


class Probe(L.Callback):
    """Gradients as the hooks before the step see them (before clipping) and as the step left them; snapshots at
    the start of every step; NaN pixels in the batch of POISONED_STEP."""

    def __init__(self):
        self.before_clip, self.after_step, self.starts = {}, {}, {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts[trainer.global_step] = snapshot(trainer.optimizers[0], pl_module)
        if trainer.global_step == POISONED_STEP:
            batch["pixel_values"].fill_(float("nan"))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.before_clip[trainer.global_step] = gradients(optimizer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after_step[trainer.global_step - 1] = gradients(trainer.optimizers[0])


def gradients(optimizer):
    return {id(p): p.grad.clone() for group in optimizer.param_groups for p in group["params"] if p.grad is not None}


@pytest.fixture(scope="module")
def clipped_fit(tmp_path_factory, tiny_vlm_dir, sample_data_dir):
    """4 optimizer steps of the tiny bf16 model, clipped at CLIP, the recipe's optimizer with DECAY; step 2 poisoned."""
    root = tmp_path_factory.mktemp("clipped")
    cli_env = ["--model.pretrained", str(tiny_vlm_dir), "--data.data_root", str(sample_data_dir)]
    cli_env += ["--trainer.default_root_dir", str(root)]
    optimizer = recipe_optimizer(cli_env, "--model.optimizer.init_args.weight_decay", str(DECAY))
    system, probe = bf16_module(tiny_vlm_dir, optimizer), Probe()
    trainer = fit(root, system, probe, tiny_vlm_dir, sample_data_dir, every_n_steps=1)
    return system, trainer.optimizers[0], probe, root / "ckpt"


def fit(root, system, probe, tiny_vlm_dir, sample_data_dir, ckpt_path=None, every_n_steps=None, max_steps=4):
    callbacks = [probe, NonFiniteGuard()]
    trainer = make_trainer(
        root, callbacks, every_n_steps, precision="bf16-true", gradient_clip_val=CLIP, max_steps=max_steps
    )
    with pytest.warns(UserWarning, match="non-finite gradients, update skipped"):
        trainer.fit(system, make_data(tiny_vlm_dir, sample_data_dir, roots=TRAIN_ROOTS), ckpt_path=ckpt_path)
    return trainer


def flat(tensors):
    return torch.cat([t.float().flatten() for t in tensors.values()])


def test_the_step_reads_the_clipped_gradients_and_leaves_them_as_it_found_them(clipped_fit):
    system, optimizer, probe, _ = clipped_fit
    for step in (0, 1, 3):
        before, after = flat(probe.before_clip[step]), flat(probe.after_step[step])
        assert before.norm() > 10 * CLIP  # clipping had work to do
        assert after.norm().item() == pytest.approx(CLIP, rel=0.02)  # what the step saw, and left, is clipped
        assert torch.nn.functional.cosine_similarity(before, after, dim=0) > 0.999  # a scaled copy, no scratch
    # the first moments were built from exactly those clipped gradients: m1 = 0.1 g0, m2 = 0.9 m1 + 0.1 g1
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for step, previous in ((0, None), (1, 1)):
        wanted = torch.cat(
            [
                (0.9 * probe.starts[previous][1][id(p)]["exp_avg"].float().flatten() if previous else 0)
                + 0.1 * probe.after_step[step][id(p)].float().flatten()
                for p in params
            ]
        )
        stored = torch.cat([probe.starts[step + 1][1][id(p)]["exp_avg"].float().flatten() for p in params])
        assert ((stored - wanted).norm() / wanted.norm()).item() < 0.01


def test_a_step_the_guard_skips_changes_no_weight_state_or_step_counter(clipped_fit):
    system, optimizer, probe, _ = clipped_fit
    (weights_1, _), (weights_2, state_2), (weights_3, state_3) = (probe.starts[s] for s in (1, 2, 3))
    assert not all(torch.equal(weights_1[n], weights_2[n]) for n in weights_1)  # step 1 trained
    assert all(torch.equal(weights_2[n], weights_3[n]) for n in weights_2)  # step 2 (poisoned) did not
    assert state_2.keys() == state_3.keys()
    for key, state in state_2.items():
        assert all(torch.equal(value, state_3[key][name]) for name, value in state.items())
    assert {int(s["step"]) for s in state_3.values()} == {2}  # two real steps so far, not three
    assert {int(s["step"]) for s in optimizer.state.values()} == {3}


def test_decay_reaches_bf16_weights_through_the_compensation(clipped_fit):
    """Embedding rows of tokens no batch holds get zero gradients: only the decay moves them, by 1e-5 per step."""
    system, optimizer, probe, _ = clipped_fit
    embedding = system.model.get_input_embeddings().weight
    untouched = torch.stack([probe.after_step[s][id(embedding)].abs().sum(1) == 0 for s in (0, 1, 3)]).all(0)
    assert untouched.sum() > 1000
    start = probe.starts[0][0]["model.language_model.embed_tokens.weight"][untouched].float()
    held = (embedding.detach().float() + optimizer.state[embedding]["compensation"].float())[untouched]
    wanted = start * (1 - 2e-5 * DECAY) ** 3  # three real steps at the constant lr 2e-5
    moved = start != 0
    ratio = (held - start)[moved] / (wanted - start)[moved]
    assert ratio.median().item() == pytest.approx(1.0, abs=0.01) and (ratio - 1).abs().max() < 0.1


def test_a_resumed_run_is_bit_identical_with_every_state_in_its_dtype(
    clipped_fit, tmp_path, tiny_vlm_dir, sample_data_dir
):
    """From the checkpoint after step 1, the same 3 steps again (the poisoned one included): the same bits in the
    weights and in every state tensor (moments, Kahan compensation, step counters), each in its saved dtype."""
    system, optimizer, _, checkpoints = clipped_fit
    saved = torch.load(checkpoints / "step1.ckpt", weights_only=True)["optimizer_states"][0]["state"]
    assert {k: str(v.dtype) for k, v in saved[0].items()} == {
        "step": "torch.int64",
        "exp_avg": "torch.bfloat16",
        "exp_avg_sq": "torch.bfloat16",
        "compensation": "torch.bfloat16",
    }
    optimizer_factory = system.optimizer_factory
    resumed = bf16_module(tiny_vlm_dir, optimizer_factory)
    trainer = fit(tmp_path, resumed, Probe(), tiny_vlm_dir, sample_data_dir, ckpt_path=checkpoints / "step1.ckpt")
    weights = dict(system.model.named_parameters())
    assert all(torch.equal(p, weights[n]) for n, p in resumed.model.named_parameters())
    names = {id(p): n for n, p in resumed.model.named_parameters()}
    theirs = {n: optimizer.state[p] for n, p in weights.items() if p in optimizer.state}
    for param, state in trainer.optimizers[0].state.items():
        wanted = theirs[names[id(param)]]
        assert state.keys() == wanted.keys()
        assert all(v.dtype == wanted[k].dtype and torch.equal(v, wanted[k]) for k, v in state.items())


def test_float32_moments_of_bf16_weights_come_back_float32(tmp_path, tiny_vlm_dir, sample_data_dir):
    """torch's Optimizer.load_state_dict casts state to the weights' dtype; the 14-byte choice must resume as saved."""
    cli_env = ["--model.pretrained", str(tiny_vlm_dir), "--data.data_root", str(sample_data_dir)]
    cli_env += ["--trainer.default_root_dir", str(tmp_path)]
    optimizer = recipe_optimizer(cli_env, "--model.optimizer.init_args.moments", "float32")
    first = make_trainer(tmp_path, [], 1, precision="bf16-true", max_steps=1)
    first.fit(bf16_module(tiny_vlm_dir, optimizer), make_data(tiny_vlm_dir, sample_data_dir, roots=TRAIN_ROOTS))
    second = make_trainer(tmp_path / "again", [], None, precision="bf16-true", max_steps=2)
    data = make_data(tiny_vlm_dir, sample_data_dir, roots=TRAIN_ROOTS)
    second.fit(bf16_module(tiny_vlm_dir, optimizer), data, ckpt_path=tmp_path / "ckpt" / "step1.ckpt")
    states = list(second.optimizers[0].state.values())
    assert states and all(s["exp_avg"].dtype == s["exp_avg_sq"].dtype == torch.float32 for s in states)
    assert all(s["compensation"].dtype == torch.bfloat16 and int(s["step"]) == 2 for s in states)
