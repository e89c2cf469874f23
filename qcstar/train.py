"""Training and evaluation loops for :class:`qcstar.QCStarNet` (classification).

AdamW with a per-step cosine schedule, evaluation each epoch, metrics as JSON lines, a tqdm
progress bar, and checkpoints written atomically every epoch that resume *exactly*.

Three layers:

* :class:`TrainingState`: everything a run is - model, optimiser, scheduler, every random
  state (torch, numpy, python, the data-order generator), the epoch, the history, the best
  weights - and what it was made from: the options that change the result, the model's
  constructor arguments and the identity (a content digest) of the data. It saves itself to a
  checkpoint of tensors and plain types with a checksum, and loads only with
  ``torch.load(..., weights_only=True)``.
* :func:`train_epoch`: one epoch of steps, the validation and the best-so-far weights.
* :func:`fit`: a thin loop that owns the run folder (``checkpoint.pt``, ``metrics.jsonl``,
  ``result.json``). A resume continues a checkpoint only when everything it records matches
  the call; anything else is refused with a :class:`ResumeMismatchError` that names what
  differs.

Sequence data: an ``x`` with per-row ``lengths`` (:class:`qcstar.circuits.tokens.TokenSequences`)
is drawn in length-bucketed batches (rows of similar length together, padding trimmed to the
longest row of each batch; the buckets are shuffled by seed). Batches go to the model's device;
``autocast=True`` runs the forward pass in bfloat16 on CUDA (the loss in float32). A model with
an ``optimizer_groups(lr, weight_decay)`` method chooses its own AdamW parameter groups.

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
    same = train.load_model("runs/demo/checkpoint.pt")   # rebuilt from the checkpoint alone
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import random
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from qcstar.circuits.digest import canonical_json, content_digest
from qcstar.circuits.errors import ConfigError, DataError, ShapeError
from qcstar.circuits.files import write_atomic
from qcstar.circuits.resources import check_memory

Tensor = torch.Tensor
Split = tuple[Tensor, Tensor]

__all__ = [
    "fit", "train_epoch", "evaluate", "TrainingState", "load_checkpoint", "save_checkpoint", "load_model",
    "model_config", "training_memory_bytes", "read_metrics", "make_folder", "StopTraining", "ResumeMismatchError",
    "CHECKPOINT", "METRICS", "RESULT",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
RESULT = "result.json"

#: written into every checkpoint; a file without it is not one of ours
CHECKPOINT_FORMAT = "qcstar.train/2"


class StopTraining(Exception):
    """Raise from a ``callback`` to stop after the current epoch's checkpoint (simulates a kill)."""


class ResumeMismatchError(ConfigError):
    """A checkpoint in the run folder was written by a run with other settings or other data.

    ``differences`` maps each differing key (``"options.lr"``, ``"model.n_qubits"``,
    ``"data.train"``, ``"run_info.<key>"``) to ``(recorded, requested)``; ``recorded`` is the
    checkpoint's whole record, so that a front end (the CLI) can name its own flags.
    """

    def __init__(self, message: str, *, path: Path, differences: dict[str, tuple[Any, Any]],
                 recorded: Mapping[str, Any]):
        super().__init__(message)
        self.path = path
        self.differences = differences
        self.recorded = recorded


# --------------------------------------------------------------------------------------
# checkpoints: tensors and plain types, a checksum, weights-only loading
# --------------------------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Save ``state`` with a checksum of its content: ``torch.save`` to memory, then an atomic write."""
    payload = {k: v for k, v in state.items() if k != "checksum"}
    payload["checksum"] = content_digest(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def _unreadable(path: Path, why: str) -> DataError:
    return DataError(
        f"{path} is not a readable qcstar checkpoint ({why}); it may be truncated, corrupt or from another "
        "program. Delete it, start the run over (qcstar train --no-resume), or use another output folder"
    )


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain types only) and verify it.

    Raises :class:`DataError` for a missing, empty, truncated, corrupt or foreign file and for one
    whose content does not match its stored checksum (a flipped byte in a tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise _unreadable(path, "the file is empty")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (EOFError, OSError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, TypeError,
            AttributeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        # weights_only refuses anything but tensors and plain types with UnpicklingError; the zip
        # reader says "PytorchStreamReader failed ..." (RuntimeError) or EINVAL (OSError) when truncated
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _unreadable(path, f"{type(exc).__name__}: {reason[:200]}") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        found = ck.get("format") if isinstance(ck, dict) else type(ck).__name__
        raise _unreadable(path, f"expected format {CHECKPOINT_FORMAT!r}, found {found!r}")
    stored = ck.pop("checksum", None)
    if stored != content_digest(ck):
        raise DataError(
            f"checkpoint {path} does not match its checksum: its content changed after it was written "
            "(a damaged disk or copy). Restore it from a backup, or start the run over (qcstar train --no-resume)"
        )
    return ck


# --------------------------------------------------------------------------------------
# the model's constructor arguments (so that a checkpoint alone rebuilds it)
# --------------------------------------------------------------------------------------

def model_config(model: nn.Module) -> dict[str, Any] | None:
    """The keyword arguments that rebuild ``model``'s architecture with ``QCStarNet(**config)``.

    ``None`` for a model that is not a :class:`qcstar.QCStarNet` with a built-in angle net
    (``"linear"``, ``"mlp"``, ``"cnn"``): a custom module cannot be rebuilt from plain values.
    Initialisation arguments (``seed``, ``interaction_init``, the initial ``strength``) do not
    change the architecture; the weights come from the checkpoint.
    """
    from qcstar.net import CNNAngles, LinearAngles, MLPAngles, QCStarNet

    if not isinstance(model, QCStarNet):
        return None
    kinds = {LinearAngles: "linear", MLPAngles: "mlp", CNNAngles: "cnn"}
    angle_net = kinds.get(type(model.angle_net))
    if angle_net is None:
        return None
    strength = getattr(model, "strength", None)
    config: dict[str, Any] = {
        "n_qubits": int(model.n_qubits), "n_circuits": int(model.n_circuits), "n_layers": int(model.n_layers),
        "n_classes": int(model.n_classes), "rotations": [str(r) for r in model.rotations],
        "entangler": str(model.entangler), "interaction": str(model.interaction), "angle_net": angle_net,
        "readout": str(model.readout_kind), "combine": str(model.combine), "mode": str(model.mode),
        "in_shape": [int(s) for s in model.in_shape], "dtype": str(model.dtype).removeprefix("torch."),
        "max_chunk": int(model.max_chunk), **model.structure_options(),
        # only whether a strength exists and trains shapes the parameters; its value is a weight
        "strength": None if strength is None else 1.0,
        "learn_strength": isinstance(strength, nn.Parameter),
    }
    if angle_net == "mlp":
        config["hidden"] = int(model.angle_net.net[0].out_features)
    return config


def _build_model(config: Mapping[str, Any]) -> nn.Module:
    from qcstar.net import QCStarNet

    kwargs = dict(config)
    kwargs["rotations"] = tuple(kwargs["rotations"])
    kwargs["in_shape"] = tuple(kwargs["in_shape"])
    kwargs["dtype"] = getattr(torch, kwargs["dtype"])
    return QCStarNet(**kwargs)


def load_model(path: str | os.PathLike, *, weights: str = "selected") -> nn.Module:
    """Rebuild the trained model from a checkpoint alone (no need to retype its arguments).

    ``weights``: ``"selected"`` (the weights :func:`fit` reports as ``result["test"]``: the best
    validation epoch with ``select="val"``, else the last), ``"best"`` or ``"last"``. The model
    is returned in eval mode.

    Example::

        net = load_model("runs/mnist-d4/checkpoint.pt")
        net(images).argmax(-1)
    """
    if weights not in ("selected", "best", "last"):
        raise ConfigError(f"load_model: weights must be 'selected', 'best' or 'last', got {weights!r}")
    ck = load_checkpoint(path)
    config = ck["record"]["model"]
    if config is None:
        raise ConfigError(
            f"{path} was trained with a model that is not a QCStarNet with a built-in angle net, so it cannot be "
            "rebuilt from the checkpoint alone; build that model yourself and load_state_dict(load_checkpoint(path)['model'])"
        )
    best = ck.get("best_model")
    if weights == "best" and best is None:
        raise ConfigError(f"{path} has no best weights (the run had no validation split); use weights='last'")
    use_best = best is not None and (weights == "best" or (weights == "selected" and ck["record"]["options"]["select"] == "val"))
    model = _build_model(config)
    _load_weights(model, best if use_best else ck["model"], Path(path))
    return model.eval()


def _load_weights(model: nn.Module, state: Mapping[str, Tensor], path: Path) -> None:
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:  # size mismatch, missing or unexpected keys
        raise DataError(f"the weights in {path} do not fit the model: {str(exc).splitlines()[0][:300]}") from None


# --------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------

def training_memory_bytes(*, n_qubits: int, n_circuits: int, n_layers: int, interaction: bool, batch_size: int,
                          itemsize: int = 8, max_chunk: int = 4) -> int:
    """Estimated peak bytes of one training step of a :class:`qcstar.QCStarNet` (exact integers).

    One sample's state is ``2**a * S * 2**n`` amplitudes (``a = ceil(log2 d)`` index qubits,
    ``S = 2**a`` source columns with interaction, else 1); autograd keeps the state after every
    block of every layer (``ceil(n / max_chunk)`` blocks, the entangler and the interaction).
    """
    a = math.ceil(math.log2(n_circuits)) if n_circuits > 1 else 0
    sources = 2**a if interaction and n_circuits > 1 else 1
    per_sample = (1 << (int(n_qubits) + a)) * sources * int(itemsize)
    kept = n_layers * (math.ceil(n_qubits / max(1, max_chunk)) + 2) + 2
    return int(batch_size) * per_sample * kept


def _check_training_memory(model: nn.Module, batch_size: int, eval_batch_size: int) -> None:
    if not all(hasattr(model, k) for k in ("n_qubits", "n_circuits", "n_layers")):
        return  # not a C*-net: we cannot estimate its memory
    dims = dict(n_qubits=model.n_qubits, n_circuits=model.n_circuits, n_layers=model.n_layers,
                interaction=bool(getattr(model, "has_interaction", True)),
                itemsize=16 if getattr(model, "dtype", None) == torch.complex128 else 8,
                max_chunk=int(getattr(model, "max_chunk", 4)))
    train = training_memory_bytes(batch_size=batch_size, **dims)
    # evaluation keeps no graph: about three states per sample, but for eval_batch_size samples
    evaluation = training_memory_bytes(batch_size=eval_batch_size, **{**dims, "n_layers": 0}) * 3 // 2
    check_memory(max(train, evaluation),
                 f"training a {model.n_qubits}-qubit, {model.n_circuits}-circuit, {model.n_layers}-layer C*-net "
                 f"with batches of {batch_size}")


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

def _is_sequences(x: Any) -> bool:
    """Token sequences (:class:`qcstar.circuits.tokens.TokenSequences`): rows with lengths."""
    return hasattr(x, "lengths") and hasattr(x, "tensors")


def _content(x: Any) -> tuple[Any, ...]:
    return x.tensors() if _is_sequences(x) else (x,)


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _get_split(data: Mapping[str, Split], name: str) -> Split | None:
    part = data.get(name)
    if part is None:
        return None
    x, y = part
    x = x if _is_sequences(x) else torch.as_tensor(x)
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


@dataclass(kw_only=True)
class TrainingData:
    """The splits of one run and how training batches are drawn from them."""

    train: Split
    val: Split | None = None
    test: Split | None = None
    parts: list[Tensor] | None = None  # tasks mode: one index set per task

    @classmethod
    def from_splits(cls, data: Mapping[str, Split], *, tasks: int | None, seed: int) -> "TrainingData":
        """``tasks``: the number of circuits in tasks mode, else ``None``."""
        train = _get_split(data, "train")
        if train is None:
            raise DataError("fit: data needs a 'train' split (x, y)")
        if train[0].shape[0] == 0:
            raise DataError("fit: the 'train' split is empty; it needs at least one image")
        parts = _task_parts(train[0].shape[0], tasks, seed) if tasks else None
        return cls(train=train, val=_get_split(data, "val"), test=_get_split(data, "test"), parts=parts)

    @property
    def n_items(self) -> int:
        return self.parts[0].numel() if self.parts is not None else self.train[0].shape[0]

    def identity(self) -> dict[str, str | None]:
        """A content digest per split: a resume on other data is refused."""
        return {name: None if part is None else content_digest(*_content(part[0]), part[1])
                for name, part in (("train", self.train), ("val", self.val), ("test", self.test))}

    def batches(self, batch_size: int, gen: torch.Generator):
        """Training batches ``(x, y)`` in an order drawn from ``gen`` (tasks: ``(B, d, ...)``, ``(B*d,)``)."""
        order = torch.randperm(self.n_items, generator=gen)
        x, y = self.train
        if _is_sequences(x) and self.parts is None:
            yield from _bucketed(x, y, order, batch_size, gen)
            return
        for i in range(0, self.n_items, batch_size):
            idx = order[i:i + batch_size]
            if self.parts is not None:
                sel = torch.stack([p[idx] for p in self.parts], 1)  # (B, d) indices into train
                yield x[sel], y[sel].flatten()
            else:
                yield x[idx], y[idx]


#: batches per length bucket: rows are sorted by length within groups of this many batches
BUCKET_BATCHES = 50


def _bucketed(x: Any, y: Tensor, order: Tensor, batch_size: int, gen: torch.Generator):
    """Length-bucketed batches: the shuffled rows in groups of ``BUCKET_BATCHES`` batches, each
    group sorted by length and cut into batches, and the batches of all groups shuffled."""
    lengths = x.lengths
    batches = []
    group = batch_size * BUCKET_BATCHES
    for g in range(0, order.numel(), group):
        rows = order[g:g + group]
        rows = rows[torch.argsort(lengths[rows], stable=True)]
        batches += [rows[i:i + batch_size] for i in range(0, rows.numel(), batch_size)]
    for b in torch.randperm(len(batches), generator=gen).tolist():
        yield x[batches[b]], y[batches[b]]


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
    device = _model_device(model)
    if _is_sequences(x):  # similar lengths together: little padding
        order = torch.argsort(x.lengths, stable=True)
        x, y = x[order], y[order]
    total_loss, correct, count = 0.0, 0, 0
    try:
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
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
# the training state
# --------------------------------------------------------------------------------------

def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    """Every random state as tensors and plain types (weights_only-safe)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    extra = {}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout on a GPU draws from its own generators
        extra["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return {**extra,
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
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _differences(recorded: Any, current: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Leaf-by-leaf differences of two nested dicts of plain values: ``{"a.b": (recorded, current)}``."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(recorded) | set(current), key=str):
            out.update(_differences(recorded.get(key), current.get(key), f"{prefix}{key}."))
        return out
    return {} if recorded == current else {prefix.rstrip("."): (recorded, current)}


@dataclass(kw_only=True)
class TrainingState:
    """One run: what it trains and what it has reached, saved to and loaded from a checkpoint.

    ``record`` is the run's identity (compared on resume): ``options`` (the :func:`fit`
    arguments that change the result), ``model`` (:func:`model_config`), ``data`` (a digest
    per split) and ``run_info`` (the caller's own description, e.g. the CLI's flags).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator
    record: dict[str, Any]
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = -1.0
    best_epoch: int = -1
    best_model: dict[str, Tensor] | None = None
    seconds: float = 0.0

    @classmethod
    def start(cls, model: nn.Module, *, options: Mapping[str, Any], steps_per_epoch: int,
              data_identity: Mapping[str, Any], run_info: Mapping[str, Any] | None = None) -> "TrainingState":
        """A fresh run: seed every generator, build AdamW and the per-step cosine schedule."""
        seed, lr, epochs = options["seed"], options["lr"], options["epochs"]
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        gen = torch.Generator().manual_seed(int(seed))
        groups = getattr(model, "optimizer_groups", None)
        params = groups(lr, options["weight_decay"]) if callable(groups) else model.parameters()
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=options["weight_decay"])
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch,
                                                               eta_min=lr * options["min_lr_ratio"])
        try:  # plain JSON values only: they are compared after a round trip through the checkpoint
            info = json.loads(canonical_json(dict(run_info or {})))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"fit: run_info must hold JSON values (no NaN or inf): {exc}") from None
        record = {"options": dict(options), "model": model_config(model), "data": dict(data_identity),
                  "run_info": info}
        return cls(model=model, optimizer=optimizer, scheduler=scheduler, generator=gen, record=record)

    @property
    def epochs(self) -> int:
        return int(self.record["options"]["epochs"])

    @property
    def finished(self) -> bool:
        return self.epoch >= self.epochs

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "record": self.record,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(self.generator),
            "epoch": self.epoch - 1,  # index of the last completed epoch (as before)
            "history": self.history,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_model": self.best_model,
            "seconds": self.seconds,
        }

    def save(self, path: str | os.PathLike) -> None:
        save_checkpoint(path, self.to_checkpoint())

    def resume(self, path: str | os.PathLike) -> None:
        """Continue from the checkpoint at ``path``, or raise :class:`ResumeMismatchError` when it
        was written by a run with other options, another model or other data."""
        path = Path(path)
        ck = load_checkpoint(path)
        recorded = ck["record"]
        differences = _differences(recorded, self.record)
        if differences:
            listed = "; ".join(f"{key}: {old!r} in the checkpoint, {new!r} now" for key, old, new in
                               ((k, *v) for k, v in differences.items()))
            raise ResumeMismatchError(
                f"cannot resume {path}: it was written by another run ({listed}). Call again with the checkpoint's "
                "settings to continue it, pass resume=False to start over in this folder, or use another out_dir",
                path=path, differences=differences, recorded=recorded,
            )
        _load_weights(self.model, ck["model"], path)
        try:
            self.optimizer.load_state_dict(ck["optimizer"])
            self.scheduler.load_state_dict(ck["scheduler"])
            _set_rng_state(ck["rng"], self.generator)
            self.history = list(ck["history"])
            self.epoch = int(ck["epoch"]) + 1
            self.best_val, self.best_epoch = float(ck["best_val"]), int(ck["best_epoch"])
            self.best_model = ck["best_model"]
            self.seconds = float(ck["seconds"])
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise _unreadable(path, f"{type(exc).__name__}: {exc}") from None

    def snapshot(self) -> dict[str, Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def train_epoch(state: TrainingState, data: TrainingData, *, batch_size: int, eval_batch_size: int = 512,
                on_step: Callable[[float], None] | None = None, autocast: bool = False) -> dict[str, Any]:
    """One epoch: the optimiser steps over every batch, then the validation and the best weights.

    Appends the epoch's metrics to ``state.history`` and returns them; ``on_step(mean_loss)``
    is called after every step (for a progress bar). ``autocast``: bfloat16 forward on CUDA.
    Token sequences add ``tokens`` and ``tokens_per_s`` (training tokens, padding excluded).
    """
    model = state.model
    model.train()
    device = _model_device(model)
    amp = autocast and device.type == "cuda"
    t0 = time.perf_counter()
    run_loss, run_correct, run_n, tokens = 0.0, 0, 0, 0
    for xb, yb in data.batches(batch_size, state.generator):
        xb, yb = xb.to(device), yb.to(device)
        if _is_sequences(xb):
            tokens += xb.n_tokens
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(xb)
        if data.parts is not None:
            logits = logits.flatten(0, 1)
        loss = nn.functional.cross_entropy(logits.float(), yb)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        run_loss += float(loss.detach()) * yb.shape[0]
        run_correct += int((logits.detach().argmax(-1) == yb).sum())
        run_n += int(yb.shape[0])
        if on_step is not None:
            on_step(run_loss / run_n)
    state.epoch += 1
    metrics: dict[str, Any] = {
        "epoch": state.epoch,
        "train_loss": run_loss / max(run_n, 1),
        "train_acc": run_correct / max(run_n, 1),
        "lr": float(state.scheduler.get_last_lr()[0]),
    }
    if tokens:
        seconds = time.perf_counter() - t0
        metrics["tokens"], metrics["tokens_per_s"] = tokens, tokens / max(seconds, 1e-9)
    if data.val is not None:
        ev = evaluate(model, *data.val, batch_size=eval_batch_size)
        metrics["val_loss"], metrics["val_acc"] = ev["loss"], ev["acc"]
        if ev["acc"] > state.best_val:
            state.best_val, state.best_epoch = ev["acc"], state.epoch
            state.best_model = state.snapshot()
    state.seconds += time.perf_counter() - t0
    metrics["seconds"] = state.seconds
    state.history.append(metrics)
    return metrics


# --------------------------------------------------------------------------------------
# the run folder
# --------------------------------------------------------------------------------------

def make_folder(path: str | os.PathLike) -> Path:
    """Create an output folder (and its parents), or raise :class:`ConfigError` saying why not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ConfigError(f"cannot create the output folder {path}: {exc.strerror or exc} (a file is in the way); "
                          "choose another output folder") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {path}: {exc.strerror or exc}; choose a folder you "
                          "can write to") from None
    return path


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The complete lines of a ``metrics.jsonl`` (a torn last line left by a kill is skipped)."""
    rows = []
    for line in Path(path).read_text(errors="replace").splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # torn by a kill mid-append
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


class _RunFolder:
    """``out_dir``: the checkpoint, the metrics lines and the result, and their temporaries."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out)
        self.checkpoint = self.path / CHECKPOINT
        self.metrics = self.path / METRICS
        self.result = self.path / RESULT

    def prepare(self) -> None:
        """Create the folder and remove the temporaries a killed run left (``write_atomic``'s
        ``.<name>.*.tmp``): they would otherwise pile up, one per kill."""
        make_folder(self.path)
        for name in (CHECKPOINT, METRICS, RESULT):
            for tmp in self.path.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def start_over(self) -> None:
        """A fresh run: forget the files of any earlier run here, so that a kill before the first
        checkpoint leaves neither its checkpoint (a later resume would continue it) nor its result."""
        self.checkpoint.unlink(missing_ok=True)
        self.result.unlink(missing_ok=True)
        write_atomic(self.metrics, "")

    def sync_metrics(self, history: list[dict[str, Any]]) -> None:
        """Make ``metrics.jsonl`` hold exactly ``history``: drop a torn last line and any line the
        checkpoint does not have (a kill between the checkpoint and the append), add what it lacks."""
        lines = [json.dumps(h) + "\n" for h in history]
        if self.metrics.exists() and history:
            kept = read_metrics(self.metrics)
            if kept == [json.loads(s) for s in lines[:len(kept)]]:
                # the file is a prefix of the history: cut the torn tail, then append the rest
                with open(self.metrics, "r+") as fh:
                    fh.truncate(sum(len(s) for s in lines[:len(kept)]))
                self.append_metrics(history[len(kept):])
                return
        write_atomic(self.metrics, "".join(lines))

    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with open(self.metrics, "a") as fh:
                fh.write("".join(json.dumps(r) + "\n" for r in rows))


# --------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------

def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"fit: {name} must be a positive int, got {value!r}")


def _finite(name: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if low_open else f">= {low}"
        bound += f" and <= {high}" if math.isfinite(high) else ""
        raise ConfigError(f"fit: {name} must be a finite number {bound}, got {value!r}")


def _check_options(options: Mapping[str, Any], eval_batch_size: Any, max_epochs_this_run: Any) -> None:
    _positive_int("epochs", options["epochs"])
    _positive_int("batch_size", options["batch_size"])
    _positive_int("eval_batch_size", eval_batch_size)
    _finite("lr", options["lr"], low=0.0, low_open=True)
    _finite("weight_decay", options["weight_decay"], low=0.0)
    _finite("min_lr_ratio", options["min_lr_ratio"], low=0.0, high=1.0)
    seed = options["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"fit: seed must be an int, got {seed!r}")
    if options["select"] not in ("val", "last"):
        raise ConfigError(f"fit: select must be 'val' or 'last', got {options['select']!r}")
    if max_epochs_this_run is not None and (isinstance(max_epochs_this_run, bool) or not isinstance(
            max_epochs_this_run, int) or max_epochs_this_run < 0):
        raise ConfigError(f"fit: max_epochs_this_run must be None or an int >= 0, got {max_epochs_this_run!r}")


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
    run_info: Mapping[str, Any] | None = None,
    autocast: bool = False,
) -> dict[str, Any]:
    """Train ``model`` on ``data["train"]``, evaluating on ``data["val"]`` every epoch.

    ``data``: ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` (val/test optional), as
    :func:`qcstar.data.load_split` returns. With ``out_dir`` a checkpoint
    (``checkpoint.pt``) is written atomically after every epoch and ``metrics.jsonl`` gets one
    JSON line per epoch; with ``resume`` an existing checkpoint there is continued, giving
    bit-identical results to an uninterrupted run - but only when it was written with the same
    result-changing options (``epochs``, ``batch_size``, ``lr``, ``weight_decay``,
    ``min_lr_ratio``, ``seed``, ``select``), the same model architecture, the same data (a
    digest per split) and the same ``run_info``; otherwise :class:`ResumeMismatchError`.
    ``progress``, ``eval_batch_size``, ``callback``, ``autocast`` and ``max_epochs_this_run`` may
    differ. ``autocast``: bfloat16 autocast of the forward pass when the model is on CUDA (ignored
    on the CPU). Data may be token sequences (see the module docstring).
    ``max_epochs_this_run`` stops early (as if killed) after that many epochs in this call; so
    does :class:`StopTraining` raised from ``callback(epoch, metrics)``. ``select="val"``
    evaluates the test split with the weights of the best validation epoch (``"last"``: the
    final weights). ``run_info``: the caller's JSON-serialisable description of the run, kept in
    the checkpoint and added to ``result.json``.

    Returns ``{"history", "epochs_done", "epochs_this_run", "finished", "best_epoch",
    "best_val", "test", "test_last", "params", "seconds"}``.
    """
    options = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
               "min_lr_ratio": min_lr_ratio, "seed": seed, "select": select}
    _check_options(options, eval_batch_size, max_epochs_this_run)
    tasks = getattr(model, "mode", "shared") == "tasks"
    splits = TrainingData.from_splits(data, tasks=getattr(model, "n_circuits", 1) if tasks else None, seed=seed)
    _check_training_memory(model, batch_size, eval_batch_size)
    steps_per_epoch = math.ceil(splits.n_items / batch_size)
    state = TrainingState.start(model, options=options, steps_per_epoch=steps_per_epoch,
                                data_identity=splits.identity(), run_info=run_info)
    folder = _RunFolder(out_dir) if out_dir is not None else None
    if folder is not None:
        folder.prepare()
        if resume and folder.checkpoint.exists():
            state.resume(folder.checkpoint)
            folder.sync_metrics(state.history)  # a kill between checkpoint and metrics loses nothing
        else:
            folder.start_over()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, initial=state.epoch * steps_per_epoch, desc="train",
                   unit="step", dynamic_ncols=True, leave=False)

    def on_step(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(epoch=state.epoch + 1, loss=f"{loss:.3f}")

    epochs_run = 0
    try:
        while not state.finished:
            if max_epochs_this_run is not None and epochs_run >= max_epochs_this_run:
                break
            metrics = train_epoch(state, splits, batch_size=batch_size, eval_batch_size=eval_batch_size,
                                  on_step=on_step if bar is not None else None, autocast=autocast)
            epochs_run += 1
            if folder is not None:
                state.save(folder.checkpoint)
                folder.append_metrics([metrics])
            if bar is not None:
                bar.write(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}))
            if callback is not None:
                try:
                    callback(state.epoch, metrics)
                except StopTraining:
                    break
    finally:
        if bar is not None:
            bar.close()
    return _result(state, splits, folder, epochs_run=epochs_run, eval_batch_size=eval_batch_size)


def _result(state: TrainingState, splits: TrainingData, folder: _RunFolder | None, *, epochs_run: int,
            eval_batch_size: int) -> dict[str, Any]:
    """The run's summary; when finished, the test metrics and ``result.json``."""
    model = state.model
    result: dict[str, Any] = {
        "history": state.history,
        "epochs_done": len(state.history),
        "epochs_this_run": epochs_run,
        "finished": state.finished,
        "best_epoch": state.best_epoch,
        "best_val": state.best_val if state.best_epoch > 0 else None,
        "params": model.parameter_counts() if hasattr(model, "parameter_counts") else
        {"total": sum(p.numel() for p in model.parameters() if p.requires_grad)},
        "seconds": state.seconds,
    }
    if splits.test is not None and state.finished:
        result["test_last"] = evaluate(model, *splits.test, batch_size=eval_batch_size)
        if state.record["options"]["select"] == "val" and state.best_model is not None:
            current = state.snapshot()
            model.load_state_dict(state.best_model)
            result["test"] = evaluate(model, *splits.test, batch_size=eval_batch_size)
            model.load_state_dict(current)
        else:
            result["test"] = result["test_last"]
        if folder is not None:
            summary = {k: v for k, v in result.items() if k not in ("history", "epochs_this_run")}
            summary.update(state.record["run_info"])
            write_atomic(folder.result, json.dumps(summary, indent=2) + "\n")
    return result
