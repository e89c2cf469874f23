"""``qcstar seq train``: train an S4D, Transformer or LSTM classifier on tokenized circuits.

Example::

    qcstar seq train --data mnist-f80-train-10000 --test-data mnist-f80-test-1000 \\
        --model s4d --tokenizer gate --epochs 20 --out runs/s4d-gate

``--data`` / ``--test-data``: folders written by ``qcstar dataset build`` or original MNISQ zip
files. The Transformer's and the LSTM's widths are matched to the S4D's parameter count at
``--d-model`` unless ``--no-size-match``. Rerunning the same command resumes ``--out``.
Prints the test accuracy, training tokens per second and the parameter counts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from qcstar.circuits.errors import ConfigError

#: options that do not change what is trained: a resume may change them freely
NOT_RECORDED = frozenset({"out", "no_resume", "no_progress", "threads", "device", "config", "func", "command",
                          "action", "eval_batch_size"})


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``seq`` subcommand to a ``qcstar`` subparsers object."""
    from qcstar.cli import add_common, non_negative_float, positive_float, positive_int

    p = subparsers.add_parser("seq", help="sequence models (S4D, Transformer, LSTM) on tokenized QASM",
                              description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("action", choices=["train"], help="train a classifier")
    p.add_argument("--data", required=True, help="training circuits: a qcstar dataset folder or an MNISQ zip")
    p.add_argument("--test-data", default=None, help="test circuits (default: hold out --test-fraction of --data)")
    p.add_argument("--limit", type=positive_int, default=None, help="read only the first LIMIT training circuits")
    p.add_argument("--test-limit", type=positive_int, default=None, help="read only the first TEST_LIMIT test circuits")
    p.add_argument("--val-fraction", type=non_negative_float, default=0.1, help="validation share of --data (default 0.1)")
    p.add_argument("--test-fraction", type=positive_float, default=0.2,
                   help="test share of --data when there is no --test-data (default 0.2)")
    p.add_argument("--model", choices=["s4d", "transformer", "lstm"], default="s4d", help="classifier (default s4d)")
    p.add_argument("--tokenizer", choices=["char", "lexical", "gate"], default="gate",
                   help="char: Dense QASM characters; lexical: QASM lexemes; gate: one token per gate (default gate)")
    p.add_argument("--numbers", choices=["digits", "bins"], default="bins", help="lexical: numbers as digits or bins (default bins)")
    p.add_argument("--bins", type=positive_int, default=256, help="lexical: number bins over [-1, 1] (default 256)")
    p.add_argument("--max-len", type=positive_int, default=None,
                   help="longest sequence in tokens (longer ones are refused unless --truncate; default no limit)")
    p.add_argument("--truncate", action="store_true", help="cut sequences longer than --max-len")
    p.add_argument("--d-model", type=positive_int, default=64, help="S4D width (default 64)")
    p.add_argument("--layers", type=positive_int, default=4, help="layers (default 4)")
    p.add_argument("--d-state", type=positive_int, default=64, help="S4D state size N (default 64)")
    p.add_argument("--dropout", type=non_negative_float, default=0.1, help="dropout (default 0.1)")
    p.add_argument("--pool", choices=["mean", "cls"], default="mean", help="sequence summary (default mean)")
    p.add_argument("--no-size-match", action="store_true",
                   help="use --d-model for every model instead of matching the S4D's parameter count")
    p.add_argument("--augment", choices=["none", "gauge"], default="none",
                   help="gate tokens: 'gauge' trains on a fresh equivalent circuit per batch (random rotations "
                        "between blocks that share a wire, commuting swaps); default none")
    p.add_argument("--augment-angle", type=non_negative_float, default=math.pi,
                   help="gauge rotation angles drawn in [-A, A] (default pi: any rotation)")
    p.add_argument("--epochs", type=positive_int, default=20, help="training epochs (default 20)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="sequences per step (default 32)")
    p.add_argument("--eval-batch-size", type=positive_int, default=64, help="sequences per evaluation step (default 64)")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="AdamW learning rate, cosine schedule (default 3e-3)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.01, help="AdamW weight decay (default 0.01)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N (bf16 autocast on cuda; default cpu)")
    p.add_argument("--out", type=Path, default=None, help="run folder: checkpoint.pt, metrics.jsonl, result.json, tokenizer.json")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT has a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _tokenizer(args: argparse.Namespace, n_qubits: int):
    from qcstar.circuits.tokens import make_tokenizer

    options: dict[str, Any] = {"max_len": args.max_len}
    if args.tokenizer == "lexical":
        options.update(numbers=args.numbers, bins=args.bins)
    elif args.tokenizer == "gate":
        options.update(n_qubits=n_qubits)
    return make_tokenizer(args.tokenizer, **options)


def _n_qubits(path: str) -> int:
    from qcstar.data.read import load_dataset

    ds = load_dataset(path, limit=1)
    if len(ds) == 0:
        raise ConfigError(f"--data {path} holds no circuits")
    return ds.n_qubits


def model_options(args: argparse.Namespace, longest: int) -> dict[str, Any]:
    """The chosen model's options from the flags (width matched to the S4D's unless --no-size-match);
    ``longest``: the longest sequence of the data (the Transformer's learned positions)."""
    from qcstar.sequence import size_matched

    common = {"dropout": args.dropout, "pool": args.pool}
    if args.model == "s4d" or args.no_size_match:
        options = {"d_model": args.d_model, "n_layers": args.layers}
    else:
        matched = size_matched(d_model=args.d_model, n_layers=args.layers, d_state=args.d_state)[args.model]
        options = {"d_model": matched["d_model"], "n_layers": args.layers}
    if args.model == "s4d":
        options["d_state"] = args.d_state
    if args.model == "transformer":
        options["max_len"] = args.max_len or longest
    return options | common


def run(args: argparse.Namespace) -> int:
    """Tokenize the data, build the model, train, print and save the metrics."""
    import torch

    from qcstar.commands.train import _mismatch_message, check_device
    from qcstar.sequence import make_model
    from qcstar.sequence.data import load_token_splits
    from qcstar.train import ResumeMismatchError, fit, make_folder

    device = check_device(args.device, "qcstar seq train")
    if args.val_fraction >= 1:
        raise ConfigError(f"--val-fraction must be below 1, got {args.val_fraction}")
    if args.test_data is None and args.test_fraction >= 1:
        raise ConfigError(f"--test-fraction must be below 1, got {args.test_fraction}")
    if args.augment == "gauge" and args.tokenizer != "gate":
        raise ConfigError(f"--augment gauge needs --tokenizer gate (matrices as features), got --tokenizer "
                          f"{args.tokenizer}")
    if args.augment_angle > math.pi:
        raise ConfigError(f"--augment-angle must be in [0, pi], got {args.augment_angle}")
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = _tokenizer(args, _n_qubits(args.data))
    t0 = time.perf_counter()
    splits = load_token_splits(args.data, tokenizer=tokenizer, test_data=args.test_data, limit=args.limit,
                               test_limit=args.test_limit, val_fraction=args.val_fraction,
                               test_fraction=args.test_fraction, seed=args.seed, truncate=args.truncate)
    print(f"tokenized {splits.meta['counts']} with {tokenizer!r} in {time.perf_counter() - t0:.1f} s; lengths "
          f"{splits.meta['lengths']['train']}", file=sys.stderr)
    augment = None
    if args.augment == "gauge":
        from qcstar.sequence import GaugeAugment, gauge_table

        augment = GaugeAugment(gauge_table(tokenizer), angle=args.augment_angle)
    torch.manual_seed(args.seed)
    options = model_options(args, max(s["max"] for s in splits.meta["lengths"].values()))
    model = make_model(args.model, vocab_size=tokenizer.vocab_size, n_features=tokenizer.n_features,
                       n_classes=splits.meta["n_classes"], augment=augment, **options).to(device)
    flags = {"--" + k.replace("_", "-"): v for k, v in sorted(vars(args).items()) if k not in NOT_RECORDED}
    run_info = {"flags": flags, "model": model.config, "data": {k: v for k, v in splits.meta.items() if k != "tokenizer"}}
    if args.out is not None:
        make_folder(args.out)
        tokenizer.save(args.out / "tokenizer.json")
    try:
        result = fit(model, splits, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     weight_decay=args.weight_decay, seed=args.seed, out_dir=args.out, resume=not args.no_resume,
                     progress=not args.no_progress, run_info=run_info, eval_batch_size=args.eval_batch_size,
                     autocast=device.type == "cuda")
    except ResumeMismatchError as exc:
        raise ConfigError(_mismatch_message(exc, flags, args.out)) from None
    rates = [h["tokens_per_s"] for h in result["history"] if "tokens_per_s" in h]
    summary = {k: v for k, v in result.items() if k not in ("history", "epochs_this_run")}
    summary["train_tokens_per_s"] = sum(rates) / len(rates) if rates else None
    summary.update(run_info)
    print(json.dumps(summary, indent=2))
    test = result.get("test")
    acc = f"{100 * test['acc']:.2f} %" if test else "n/a (unfinished)"
    rate = summary["train_tokens_per_s"]
    print(f"qcstar seq train: {args.model} on {args.tokenizer} tokens: test accuracy {acc}, "
          f"{rate:,.0f} training tokens/s, {result['params']['total']:,} parameters "
          f"({result['params'].get('backbone', 0):,} in the backbone) on {device}"
          if rate is not None and not math.isnan(rate) else f"qcstar seq train: test accuracy {acc}")
    return 0
