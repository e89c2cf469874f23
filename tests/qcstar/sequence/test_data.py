"""Token splits from data sets, and qcstar.train.fit on token sequences (buckets, resume, metrics)."""

import json

import pytest
import torch

from qcstar.circuits.errors import ConfigError, DataError
from qcstar.circuits.tokens import GateTokenizer, LexicalTokenizer, TokenSequences
from qcstar.sequence import make_model
from qcstar.sequence.data import load_token_splits, split_indices
from qcstar.train import _bucketed, fit

from .seq_helpers import write_circuit_folder, write_mnisq_zip


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqdata")
    return write_circuit_folder(root / "train", 40), write_mnisq_zip(root / "test.zip", 12, start=1000)


def test_splits_from_a_folder_and_an_mnisq_zip(folders):
    train, test = folders
    splits = load_token_splits(train, tokenizer=GateTokenizer(n_qubits=4), test_data=test, val_fraction=0.25)
    assert splits.meta["counts"] == {"train": 30, "val": 10, "test": 12}
    assert splits.meta["n_classes"] == 3
    x, y = splits["train"]
    assert isinstance(x, TokenSequences) and x.features is not None and y.dtype == torch.int64
    assert splits.meta["lengths"]["test"]["min"] >= 3
    again = load_token_splits(train, tokenizer=GateTokenizer(n_qubits=4), test_data=test, val_fraction=0.25)
    assert torch.equal(again["val"][0].ids, splits["val"][0].ids)  # seeded


def test_without_test_data_a_share_is_held_out(folders):
    splits = load_token_splits(folders[0], tokenizer=LexicalTokenizer(numbers="bins"), test_fraction=0.25,
                               val_fraction=0.0, seed=3)
    assert splits.meta["counts"] == {"train": 30, "test": 10}
    kept, held = split_indices(40, 0.25, 3)
    assert sorted(kept.tolist() + held.tolist()) == list(range(40))
    with pytest.raises(ConfigError, match="fraction"):
        split_indices(10, 1.0, 0)


def test_too_long_sequences_are_refused_or_cut(folders):
    with pytest.raises(DataError, match="max_len=2"):
        load_token_splits(folders[0], tokenizer=GateTokenizer(n_qubits=4, max_len=2))
    splits = load_token_splits(folders[0], tokenizer=GateTokenizer(n_qubits=4, max_len=2), truncate=True)
    assert splits.meta["lengths"]["train"]["max"] == 2


def test_buckets_hold_similar_lengths_and_cover_every_row_once():
    lengths = torch.tensor([1, 9, 2, 8, 3, 7, 4, 6, 5, 10, 11, 12])
    x = TokenSequences(torch.ones(12, 12, dtype=torch.long) * (torch.arange(12) < lengths[:, None]), lengths)
    y = torch.arange(12)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    batches = list(_bucketed(x, y, order, 3, torch.Generator().manual_seed(1)))
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == list(range(12))
    for xb, yb in batches:  # one group of 12 rows sorted by length: batches of consecutive lengths
        assert xb.ids.shape[1] == int(xb.lengths.max()) and int(xb.lengths.max() - xb.lengths.min()) == 2


def test_fit_trains_a_sequence_model_and_resumes_exactly(tmp_path, folders):
    splits = load_token_splits(folders[0], tokenizer=GateTokenizer(n_qubits=4), test_data=folders[1],
                               val_fraction=0.25)

    def model():
        torch.manual_seed(0)
        return make_model("s4d", vocab_size=GateTokenizer(n_qubits=4).vocab_size, n_features=36, n_classes=3,
                          d_model=16, n_layers=1, d_state=8)

    kw = dict(epochs=3, batch_size=8, lr=1e-2, seed=0, progress=False, eval_batch_size=16)
    whole = fit(model(), splits, out_dir=tmp_path / "a", **kw)
    assert whole["finished"] and whole["test"]["n"] == 12
    assert whole["params"]["backbone"] > 0 and whole["params"]["total"] > whole["params"]["backbone"]
    assert all(h["tokens"] == int(splits["train"][0].lengths.sum()) and h["tokens_per_s"] > 0 for h in whole["history"])
    assert whole["history"][-1]["train_acc"] > 0.5  # the first block's wires give the class away
    part = fit(model(), splits, out_dir=tmp_path / "b", max_epochs_this_run=1, **kw)
    assert not part["finished"]
    rest = fit(model(), splits, out_dir=tmp_path / "b", **kw)
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "tokens_per_s")} for e in h]  # noqa: E731
    assert strip(rest["history"]) == strip(whole["history"]) and rest["test"] == whole["test"]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "a" / "result.json").read_text())["test"] == whole["test"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_cuda_with_bf16_autocast(folders):
    splits = load_token_splits(folders[0], tokenizer=GateTokenizer(n_qubits=4), test_data=folders[1])
    torch.manual_seed(0)
    for kind in ("s4d", "transformer", "lstm"):
        model = make_model(kind, vocab_size=GateTokenizer(n_qubits=4).vocab_size, n_features=36, n_classes=3,
                           d_model=16, n_layers=1, **({"max_len": 16} if kind == "transformer" else {})).cuda()
        result = fit(model, splits, epochs=2, batch_size=8, lr=1e-2, progress=False, autocast=True)
        assert result["finished"] and result["test"]["n"] == 12
        assert all(p.device.type == "cuda" for p in model.parameters())
