"""Training and evaluation loops for :class:`qcstar.QCStarNet` (classification).

AdamW with a per-step cosine schedule, evaluation each epoch, metrics as JSON lines, a tqdm
progress bar, and checkpoints written atomically every epoch that resume *exactly*: the
checkpoint holds the model, optimiser and scheduler states, the best-so-far weights, the
history, and every random state (torch, numpy, python, the data-order generator) as tensors
and plain types, so it loads with ``torch.load(..., weights_only=True)``.

"tasks" mode (``model.mode == "tasks"``): the training set is split by seed into d disjoint,
equally sized parts, one per circuit (d related tasks, each with its own data); a training
batch stacks one image per task ``(B, d, *shape)``. Validation and test put the same image in
every task's slot and report the accuracy averaged over the d tasks.

Example::

    from qcstar import QCStarNet, data, train
    splits = data.load_split("digits", size=8, seed=0)
    net = QCStarNet(n_qubits=4, n_circuits=2, n_layers=2, in_shape=(8, 8), seed=0)
    result = train.fit(net, splits, epochs=3, batch_size=64, lr=0.02, out_dir="runs/demo", seed=0)
    result["test"]["acc"]
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from qcstar.circuits.errors import DataError, QcstarError, ShapeError
from qcstar.circuits.files import write_atomic

Tensor = torch.Tensor
Split = tuple[Tensor, Tensor]

__all__ = ["fit", "evaluate", "load_checkpoint", "save_checkpoint", "StopTraining", "CHECKPOINT", "METRICS"]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


class StopTraining(Exception):
    """Raise from a ``callback`` to stop after the current epoch's checkpoint (simulates a kill)."""


# --------------------------------------------------------------------------------------
# random states as plain types (weights_only-safe)
# --------------------------------------------------------------------------------------

def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": int(py_state[0]), "state": list(py_state[1]), "gauss": py_state[2]},
        "data": gen.get_state(),
    }


def _set_rng_state(state: Mapping[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                         npst["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    gen.set_state(state["data"])


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """``torch.save`` to a temporary name in the same folder, then an atomic rename."""
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain types only)."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------------------
# data handling
# --------------------------------------------------------------------------------------

def _get_split(data: Mapping[str, Split], name: str) -> Split | None:
    part = data.get(name)
    if part is None:
        return None
    x, y = part
    x = torch.as_tensor(x)
    y = torch.as_tensor(y).long()
    if x.shape[0] != y.shape[0]:
        raise ShapeError(f"split '{name}': {x.shape[0]} images but {y.shape[0]} labels")
    return x, y


def _task_parts(n: int, d: int, seed: int) -> list[Tensor]:
    """d disjoint, equally sized index sets of 0..n-1 drawn by seed (tasks mode)."""
    if n < d:
        raise DataError(f"tasks mode needs at least one training image per task: {n} images for {d} tasks")
    g = torch.Generator().manual_seed(int(seed) + 7919)
    perm = torch.randperm(n, generator=g)
    per = n // d
    return [perm[j * per:(j + 1) * per] for j in range(d)]


def _batches(n_items: int, batch_size: int, gen: torch.Generator) -> list[Tensor]:
    order = torch.randperm(n_items, generator=gen)
    return [order[i:i + batch_size] for i in range(0, n_items, batch_size)]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 512) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)`` (tasks mode: averaged over tasks).

    Example::

        evaluate(net, *splits["test"])      # {"loss": 0.71, "acc": 0.78, "n": 2000}
    """
    was = model.training
    model.eval()
    tasks = getattr(model, "mode", "shared") == "tasks"
    d = getattr(model, "n_circuits", 1)
    total_loss, correct, count = 0.0, 0, 0
    try:
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            if tasks:
                xb = xb.unsqueeze(1).expand(xb.shape[0], d, *xb.shape[1:])
                logits = model(xb).flatten(0, 1)  # (B*d, C)
                yb = yb.repeat_interleave(d)
            else:
                logits = model(xb)
            total_loss += float(nn.functional.cross_entropy(logits.float(), yb, reduction="sum"))
            correct += int((logits.argmax(-1) == yb).sum())
            count += int(yb.shape[0])
    finally:
        model.train(was)
    return {"loss": total_loss / max(count, 1), "acc": correct / max(count, 1), "n": int(x.shape[0])}


# --------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------

def fit(
    model: nn.Module,
    data: Mapping[str, Split],
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 0.02,
    weight_decay: float = 1e-4,
    min_lr_ratio: float = 0.0,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    resume: bool = True,
    max_epochs_this_run: int | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool = True,
    eval_batch_size: int = 512,
    select: str = "val",
) -> dict[str, Any]:
    """Train ``model`` on ``data["train"]``, evaluating on ``data["val"]`` every epoch.

    ``data``: ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` (val/test optional), as
    :func:`qcstar.data.load_split` returns. With ``out_dir`` a checkpoint
    (``checkpoint.pt``) is written atomically after every epoch and ``metrics.jsonl`` gets one
    JSON line per epoch; with ``resume`` an existing checkpoint there is continued, giving
    bit-identical results to an uninterrupted run. ``max_epochs_this_run`` stops early (as if
    killed) after that many epochs in this call; so does :class:`StopTraining` raised from
    ``callback(epoch, metrics)``. ``select="val"`` evaluates the test split with the weights of
    the best validation epoch (``"last"``: the final weights).

    Returns ``{"history", "epochs_done", "finished", "best_epoch", "best_val", "test",
    "test_last", "params", "seconds"}``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise QcstarError(f"fit: epochs must be a positive int, got {epochs!r}")
    if select not in ("val", "last"):
        raise QcstarError(f"fit: select must be 'val' or 'last', got {select!r}")
    train = _get_split(data, "train")
    if train is None:
        raise DataError("fit: data needs a 'train' split (x, y)")
    val, test = _get_split(data, "val"), _get_split(data, "test")
    x_tr, y_tr = train
    tasks = getattr(model, "mode", "shared") == "tasks"
    d = getattr(model, "n_circuits", 1)
    parts = _task_parts(x_tr.shape[0], d, seed) if tasks else None
    n_items = parts[0].numel() if tasks else x_tr.shape[0]
    steps_per_epoch = math.ceil(n_items / batch_size)

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    gen = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch,
                                                           eta_min=lr * min_lr_ratio)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    best_val, best_epoch, best_state = -1.0, -1, None
    seconds = 0.0
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / CHECKPOINT if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if ckpt_path is not None and resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        if ck.get("epochs") != epochs or ck.get("seed") != seed:
            raise QcstarError(
                f"checkpoint {ckpt_path} was written for epochs={ck.get('epochs')}, seed={ck.get('seed')}, "
                f"not epochs={epochs}, seed={seed}; use another out_dir or resume=False"
            )
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        _set_rng_state(ck["rng"], gen)
        history = list(ck["history"])
        start_epoch = int(ck["epoch"]) + 1
        best_val, best_epoch = float(ck["best_val"]), int(ck["best_epoch"])
        best_state = ck.get("best_model")
        seconds = float(ck.get("seconds", 0.0))
        # the metrics file is rebuilt from the checkpoint: a kill between the two writes loses nothing
        write_atomic(out / METRICS, "".join(json.dumps(h) + "\n" for h in history))
    elif out is not None:
        write_atomic(out / METRICS, "")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, desc="train",
                   unit="step", dynamic_ncols=True, leave=False)
    epochs_run = 0
    model.train()
    try:
        for epoch in range(start_epoch, epochs):
            if max_epochs_this_run is not None and epochs_run >= max_epochs_this_run:
                break
            t0 = time.perf_counter()
            run_loss, run_correct, run_n = 0.0, 0, 0
            for idx in _batches(n_items, batch_size, gen):
                if tasks:
                    sel = torch.stack([p[idx] for p in parts], 1)  # (B, d) indices into train
                    xb, yb = x_tr[sel], y_tr[sel]  # (B, d, ...), (B, d)
                    logits = model(xb).flatten(0, 1)
                    yb = yb.flatten()
                else:
                    xb, yb = x_tr[idx], y_tr[idx]
                    logits = model(xb)
                loss = nn.functional.cross_entropy(logits.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                run_loss += float(loss.detach()) * yb.shape[0]
                run_correct += int((logits.detach().argmax(-1) == yb).sum())
                run_n += int(yb.shape[0])
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{run_loss / run_n:.3f}")
            metrics: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": run_loss / max(run_n, 1),
                "train_acc": run_correct / max(run_n, 1),
                "lr": float(scheduler.get_last_lr()[0]),
            }
            if val is not None:
                ev = evaluate(model, *val, batch_size=eval_batch_size)
                metrics["val_loss"], metrics["val_acc"] = ev["loss"], ev["acc"]
                if ev["acc"] > best_val:
                    best_val, best_epoch = ev["acc"], epoch + 1
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            seconds += time.perf_counter() - t0
            metrics["seconds"] = seconds
            history.append(metrics)
            epochs_run += 1
            if out is not None:
                save_checkpoint(ckpt_path, {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(gen),
                    "epoch": epoch,
                    "epochs": epochs,
                    "seed": seed,
                    "history": history,
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "best_model": best_state,
                    "seconds": seconds,
                })
                with open(out / METRICS, "a") as fh:
                    fh.write(json.dumps(metrics) + "\n")
            if bar is not None:
                bar.write(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}))
            if callback is not None:
                try:
                    callback(epoch + 1, metrics)
                except StopTraining:
                    break
    finally:
        if bar is not None:
            bar.close()

    done = len(history)
    result: dict[str, Any] = {
        "history": history,
        "epochs_done": done,
        "finished": done >= epochs,
        "best_epoch": best_epoch,
        "best_val": best_val if best_epoch > 0 else None,
        "params": model.parameter_counts() if hasattr(model, "parameter_counts") else
        {"total": sum(p.numel() for p in model.parameters() if p.requires_grad)},
        "seconds": seconds,
    }
    if test is not None and done >= epochs:
        result["test_last"] = evaluate(model, *test, batch_size=eval_batch_size)
        if select == "val" and best_state is not None:
            current = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(best_state)
            result["test"] = evaluate(model, *test, batch_size=eval_batch_size)
            model.load_state_dict(current)
        else:
            result["test"] = result["test_last"]
        if out is not None:
            summary = {k: v for k, v in result.items() if k != "history"}
            write_atomic(out / "result.json", json.dumps(summary, indent=2) + "\n")
    return result
