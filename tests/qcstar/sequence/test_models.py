"""The three classifiers: shapes, padding invariance, size matching, parameter groups, learning."""

import pytest
import torch

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.circuits.tokens import TokenSequences
from qcstar.sequence import MODELS, make_model, parameter_counts, size_matched
from qcstar.sequence.models import SSM_LR


def _batch(lengths, vocab=12, n_features=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(1, vocab, (len(lengths), width), generator=g)
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(width) < lengths_t[:, None]
    ids = ids * mask
    feats = torch.randn(len(lengths), width, n_features, generator=g) * mask[..., None] if n_features else None
    return TokenSequences(ids, lengths_t, feats)


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_padding_does_not_change_the_logits(kind, pool):
    torch.manual_seed(0)
    model = make_model(kind, vocab_size=12, n_features=3, n_classes=4, d_model=16, n_layers=2, pool=pool,
                       **({"max_len": 64} if kind == "transformer" else {})).eval()
    x = _batch([5, 9], n_features=3)
    logits = model(x)
    assert logits.shape == (2, 4)
    alone = model(x[[0]])  # trimmed to 5 tokens: no padding at all
    assert torch.allclose(logits[0], alone[0], atol=1e-5)


def test_transformer_positions_and_limits():
    model = make_model("transformer", vocab_size=12, n_classes=3, d_model=16, n_layers=1, max_len=4)
    with pytest.raises(DataError, match="max_len=4"):
        model(_batch([7]))
    sin = make_model("transformer", vocab_size=12, n_classes=3, d_model=16, n_layers=1, positions="sinusoidal")
    assert sin(_batch([300])).shape == (1, 3)
    with pytest.raises(ConfigError, match="n_heads"):
        make_model("transformer", vocab_size=12, n_classes=3, d_model=10, n_heads=4)


def test_size_matched_backbones_are_within_ten_percent():
    configs = size_matched(d_model=32, n_layers=2)
    target = configs["s4d"]["backbone_params"]
    for kind in ("transformer", "lstm"):
        assert abs(configs[kind]["backbone_params"] - target) <= 0.1 * target
        model = make_model(kind, vocab_size=50, n_classes=10, **{k: v for k, v in configs[kind].items()
                                                                 if k != "backbone_params"})
        counts = parameter_counts(model)
        assert counts["backbone"] == configs[kind]["backbone_params"]
        assert counts["total"] == sum(p.numel() for p in model.parameters())
        assert counts["embedding"] == 50 * configs[kind]["d_model"] + (model.positions.numel() if kind == "transformer" else 0)


def test_s4d_parameter_groups_give_the_ssm_its_own_rate():
    model = make_model("s4d", vocab_size=12, n_classes=3, d_model=8, n_layers=2, d_state=4)
    groups = model.optimizer_groups(1e-2, 0.05)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    ssm = groups[-1]
    assert ssm["lr"] == SSM_LR and ssm["weight_decay"] == 0.0 and len(ssm["params"]) == 2 * 4
    assert groups[0]["weight_decay"] == 0.05 and all(p.dim() >= 2 for p in groups[0]["params"])


@pytest.mark.parametrize("kind", list(MODELS))
def test_each_model_learns_a_token_counting_task(kind):
    """Class = whether token 1 occurs in the sequence: learnable by all three in a few steps."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n, L = 64, 12
    ids = torch.randint(2, 8, (n, L), generator=g)
    y = torch.arange(n) % 2
    pos = torch.randint(0, L, (n,), generator=g)
    ids[y == 1, pos[y == 1]] = 1
    x = TokenSequences(ids, torch.full((n,), L))
    model = make_model(kind, vocab_size=8, n_classes=2, d_model=16, n_layers=1, dropout=0.0,
                       **({"max_len": L} if kind == "transformer" else {}))
    opt = torch.optim.AdamW(model.optimizer_groups(1e-2, 0.0))
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x).argmax(-1) == y).float().mean() >= 0.95


def test_unknown_model_and_options():
    with pytest.raises(ConfigError, match="unknown sequence model"):
        make_model("mamba", vocab_size=4, n_classes=2)
    with pytest.raises(ConfigError, match="s4d"):
        make_model("s4d", vocab_size=4, n_classes=2, nosuch=1)
    with pytest.raises(ConfigError, match="pool"):
        make_model("lstm", vocab_size=4, n_classes=2, pool="max")


@pytest.mark.slow
def test_sequence_and_tokens_import_without_pennylane_or_qiskit():
    """The PyTorch-only rule: a fresh interpreter where pennylane and qiskit cannot be imported."""
    import subprocess
    import sys

    code = ("import sys\n"
            "for m in ('pennylane', 'qiskit', 'qiskit_aer'): sys.modules[m] = None\n"
            "import qcstar.sequence, qcstar.sequence.data, qcstar.circuits.tokens as t\n"
            "from qcstar.circuits import Circuit\n"
            "print(t.make_tokenizer('lexical').encode(Circuit(2).h(0).cx(0, 1)).n_tokens)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 10
