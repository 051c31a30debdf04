import torch
import torch.nn.functional as F

from vlm_ocr.model.architecture import build_config
from vlm_ocr.model.loading import load_model
from vlm_ocr.model.loss import answer_token_loss_terms
from vlm_ocr.model.parameters import decay_parameter_groups, set_trainable


def test_answer_loss_equals_full_logits_cross_entropy():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(2, 7, 8, requires_grad=True)
    labels = torch.full((2, 7), -100)
    labels[0, 3:6] = torch.tensor([4, 5, 6])
    labels[1, 5:7] = torch.tensor([7, 8])
    reference_tokens = F.cross_entropy(head(hidden)[:, :-1].reshape(-1, 50), labels[:, 1:].reshape(-1))
    loss, count, _ = answer_token_loss_terms(hidden, head, labels, "token", chunk_size=2)
    assert count == 5
    torch.testing.assert_close(loss, reference_tokens)
    grad = torch.autograd.grad(loss, hidden)[0]
    reference_grad = torch.autograd.grad(reference_tokens, hidden)[0]
    torch.testing.assert_close(grad, reference_grad)
    per_page = torch.stack([F.cross_entropy(head(hidden[i])[:-1], labels[i, 1:]) for i in range(2)]).mean()
    torch.testing.assert_close(answer_token_loss_terms(hidden, head, labels, "page")[0], per_page)


def test_no_answer_tokens_gives_zero_loss_with_a_graph():
    head = torch.nn.Linear(4, 10)
    hidden = torch.randn(1, 3, 4, requires_grad=True)
    loss, count, _ = answer_token_loss_terms(hidden, head, torch.full((1, 3), -100))
    assert count == 0 and loss.item() == 0.0 and loss.requires_grad


def test_freezing_flags_and_decay_groups(tiny_vlm_dir):
    model = load_model(str(tiny_vlm_dir), "float32", "sdpa")
    set_trainable(model, vision_tower=False, merger=True, decoder=True)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("model.visual.") and ".merger." not in n for n in names)
    assert any(".merger." in n for n in names) and "lm_head.weight" in names
    groups = {g["name"]: g for g in decay_parameter_groups(model)}
    by_id = {id(p): n for n, p in model.named_parameters()}
    no_decay = {by_id[id(p)] for p in groups["no_decay"]["params"]}
    decay = {by_id[id(p)] for p in groups["decay"]["params"]}
    assert groups["no_decay"]["weight_decay"] == 0.0 and "weight_decay" not in groups["decay"]
    assert "model.language_model.norm.weight" in no_decay
    assert "model.language_model.layers.0.input_layernorm.weight" in no_decay
    assert "model.visual.merger.ln_q.weight" in no_decay
    assert "model.language_model.layers.0.self_attn.q_proj.bias" in no_decay
    assert "model.language_model.layers.0.self_attn.q_proj.weight" in decay and "lm_head.weight" in decay
    assert decay | no_decay == names and not decay & no_decay
    set_trainable(model, vision_tower=True, merger=False, decoder=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("model.visual.") and ".merger." not in n for n in trainable)


def test_full_7b_shape_builds_without_download():
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(build_config("qwen2.5-vl-7b"))
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for p in model.model.visual.parameters())
    assert 8.2e9 < total < 8.4e9 and 0.6e9 < vision < 0.7e9
    assert model.config.text_config.vocab_size == 152064


def test_chunked_loss_keeps_at_most_one_chunk_of_logits():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 4096, bias=False)
    hidden = torch.randn(1, 513, 16, requires_grad=True)
    labels = torch.randint(0, 4096, (1, 513))
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, count, _ = answer_token_loss_terms(hidden, head, labels, "token", chunk_size=64)
    assert count == 512
    assert max(saved) < 64 * 4096  # no saved tensor holds even one chunk of logits
    loss.backward()
    reference = F.cross_entropy(head(hidden[0, :-1]), labels[0, 1:])
    torch.testing.assert_close(loss, reference)
