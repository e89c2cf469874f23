"""E2 - kernels on encoded states, against MNISQ's table (arXiv:2306.16627).

Rows (``--rows`` chooses, in this order by default):

* ``fashion-ovo-60k``: Fashion-MNIST, exact amplitude states, fidelity kernel, all 60,000 / 10,000
  official images, one-vs-one (``QuantumKernelSVC(route="gram")``), C = 1. MNISQ: 87.17 %.
* ``mnist-ovo-1k`` ... ``mnist-ovo-20k``: MNIST learning curve, stratified seeded subsets of
  the official training split, always the same 10,000 official test images.
* ``mnist-ovo-60k``: the full run of ``experiments/results/kernels_fullscale.json``, read from
  that file (not re-run; ``--rerun-full`` recomputes it). MNISQ: 97.96 %.
* ``mnist-cos2-10k``: classical twin, the cos^2 kernel (x.y)^2 / (|x|^2 |y|^2) on the pixels in a
  precomputed ``sklearn.svm.SVC``; it is the exact-state kernel written classically, so its
  accuracy must equal ``mnist-ovo-10k``'s (asserted when both rows exist).
* ``mnist-linear-10k``: classical twin, ``sklearn.svm.LinearSVC`` on the pixels (scaled to [0, 1]).
* ``mnist-ovr-60k``: MNIST one-vs-rest, 60,000 / 10,000 (``route="poly"``). MNISQ: 97.84 %.
* ``kmnist-ovo-pooled``: KMNIST one-vs-one on the POOLED protocol: our copy has no training
  images, so train and test are drawn from its 10,000 official test images.
* ``mnist-rbf-10k``, ``mnist-cnn-10k``: classical twins on the 10k split: an RBF-SVC on the pixels
  (C = 1, gamma "scale") and a small CNN (its parameter count in the row).
* ``same6k-*``, ``same2k-*``, ``same1k-*``: every encoder on the SAME images: the first 6,000 (2,000,
  1,000) official training images and the first 1,000 official test images, the images our AQCE data
  sets were built from (``qcstar dataset build --source mnist --split train --level f80 --limit
  10000``; f90: 6,000; f95: 2,000; test: 1,000; folders ``mnist-<level>-<split>-<limit>`` under
  ``--circuits-dir``). Rows: exact amplitude states; AQCE f80/f90(/f95) (the states the circuits
  prepare, as MNISQ's kernels); the angle encoder; trained C*-nets (d = 1, and d = 4 with and
  without interaction, trained by ``qcstar train`` on 10,000 stratified 8 x 8 training images,
  fidelity and projected kernels, and each net's own classifier as its twin; the d = 4 pair also
  with seeds 1 and 2 (``-s1``, ``-s2``) and in E1b's best setting, ``inner-``: the inner-product
  readout, MLP angles, interaction from V = I); cos^2, RBF, linear and CNN twins on the pixels.
  ``same2k-fashion-exact`` / ``same2k-fashion-aqce-f80``: the same on Fashion-MNIST's first 2,000 /
  1,000 images (folders ``fashion-mnist-f80-<split>-<limit>``), where MNISQ's f80 gap is 5.1 points.

Resumable: every finished row appends one JSON line to ``<out>/e2_kernels.jsonl``; a rerun
skips finished rows. ``<out>/e2_kernels.md`` (and ``e2_kernels.png``, the learning curve, when
matplotlib is installed) are regenerated from the JSON lines after every row; ``--report``
only regenerates them.

Run::

    python experiments/e2_kernels.py --quick                             # smoke run: digits, seconds
    QCSTAR_DATA=... python experiments/e2_kernels.py --rows fashion-ovo-60k  # one row
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

# experiments/_cli.py; this script's own folder is on sys.path
from _cli import RESULTS, append_json_line, comma_choices, quick_output, read_json_lines, run_script, pyplot, save_png

from qcstar.circuits.files import write_atomic

FULLSCALE_JSON = RESULTS / "kernels_fullscale.json"

#: MNISQ's accuracies (arXiv:2306.16627, exact amplitude states, full splits).
MNISQ = {("mnist", "ovo"): 97.96, ("fashion-mnist", "ovo"): 87.17,
         ("mnist", "ovr"): 97.84, ("fashion-mnist", "ovr"): 87.24}


def row_specs(quick: bool) -> dict[str, dict]:
    """Every row by name: data set, train/test sizes, method, multiclass strategy.

    ``--quick`` keeps the names and methods but runs them on the built-in digits at tiny sizes."""
    def spec(dataset, n_train, n_test, method, multiclass="ovo"):
        if quick:
            dataset = "digits"
            n_train, n_test = min(max(n_train // 100, 50), 400), 200
        return {"dataset": dataset, "n_train": n_train, "n_test": n_test, "method": method, "multiclass": multiclass}

    rows = {"fashion-ovo-60k": spec("fashion-mnist", 60000, 10000, "exact-states")}
    for k in (1, 5, 10, 20):
        rows[f"mnist-ovo-{k}k"] = spec("mnist", k * 1000, 10000, "exact-states")
    rows["mnist-ovo-60k"] = spec("mnist", 60000, 10000, "exact-states")
    rows["mnist-cos2-10k"] = spec("mnist", 10000, 10000, "cos2-pixels")
    rows["mnist-linear-10k"] = spec("mnist", 10000, 10000, "linear-svm-pixels", "ovr")
    rows["mnist-ovr-10k"] = spec("mnist", 10000, 10000, "exact-states", "ovr")
    rows["mnist-ovr-60k"] = spec("mnist", 60000, 10000, "exact-states", "ovr")
    rows["kmnist-ovo-pooled"] = spec("kmnist", 8000, 2000, "exact-states")
    rows["mnist-rbf-10k"] = spec("mnist", 10000, 10000, "rbf-svm-pixels")
    rows["mnist-cnn-10k"] = spec("mnist", 10000, 10000, "cnn-pixels", "softmax")
    rows["fashion-ovr-60k"] = spec("fashion-mnist", 60000, 10000, "exact-states", "ovr")

    def same(n_train, method, multiclass="ovo", dataset="mnist", **extra):
        row = spec(dataset, n_train, 1000, method, multiclass)
        row["subset"] = "first"  # the first images of each official split: those the AQCE sets hold
        if quick:  # the AQCE rows build their digits circuits: keep them few
            row["n_train"], row["n_test"] = {6000: 120, 2000: 80, 1000: 60}[n_train], QUICK_TEST
        return dict(row, **extra)

    for n, tag, levels in ((6000, "6k", ("f80", "f90")), (2000, "2k", ("f80", "f90", "f95")), (1000, "1k", ("f80",))):
        rows[f"same{tag}-exact"] = same(n, "exact-states")
        for level in levels:
            rows[f"same{tag}-aqce-{level}"] = same(n, "aqce-states", level=level)
    # Fashion-MNIST: MNISQ's larger AQCE gap (87.17 - 82.04 = 5.1 points at f80), on the first 2,000 / 1,000
    rows["same2k-fashion-exact"] = same(2000, "exact-states", dataset="fashion-mnist")
    rows["same2k-fashion-aqce-f80"] = same(2000, "aqce-states", dataset="fashion-mnist", level="f80")
    rows["same6k-angle"] = same(6000, "angle-states")
    for net in CSTAR_NETS:
        for kernel in ("fidelity", "projected"):
            rows[f"same6k-cstar-{net}-{kernel}"] = same(6000, "cstar-states", net=net, kernel=kernel)
        rows[f"same6k-cstar-{net}-net"] = same(6000, "cstar-net", "softmax", net=net)
    for net in SEEDED_NETS:  # more seeds of the nets that decide whether interaction helps the kernels
        for kernel in ("fidelity", "projected"):
            rows[f"same6k-cstar-{net}-{kernel}"] = same(6000, "cstar-states", net=net, kernel=kernel)
        rows[f"same6k-cstar-{net}-net"] = same(6000, "cstar-net", "softmax", net=net)
    rows["same6k-cos2"] = same(6000, "cos2-pixels")
    rows["same6k-rbf"] = same(6000, "rbf-svm-pixels")
    rows["same6k-linear"] = same(6000, "linear-svm-pixels", "ovr")
    rows["same6k-cnn"] = same(6000, "cnn-pixels", "softmax")
    return rows


#: The trained C*-nets of the same6k rows: ``qcstar train`` options (MNIST, 8 x 8, n = 6, L = 3).
CSTAR_NETS = {"d1": ["--circuits", "1", "--interaction", "none"],
              "d4-none": ["--circuits", "4", "--interaction", "none"],
              "d4-global": ["--circuits", "4", "--interaction", "global"],
              # E1b's best setting (experiments/results/e1b_interaction.md, H1): the readout that uses R
              # through a learned element of A, an MLP angle net; interaction started exactly at V = I
              "inner-d4-none": ["--circuits", "4", "--interaction", "none", "--readout", "inner", "--angle-net", "mlp"],
              "inner-d4-global": ["--circuits", "4", "--interaction", "global", "--interaction-init", "0",
                                  "--readout", "inner", "--angle-net", "mlp"]}
#: the same nets with other seeds (``<net>-s<seed>``): interaction with and without, linear angle nets
SEEDED_NETS = [f"{net}-s{seed}" for seed in (1, 2) for net in ("d4-none", "d4-global")]
CSTAR_COMMON = ["--size", "8", "--qubits", "6", "--layers", "3", "--n-train", "10000", "--n-val", "1000",
                "--n-test", "1000", "--epochs", "10", "--seed", "0", "--no-progress"]


def stratified_subset(y, n: int, seed: int):
    """Indices of a seeded subset of ``n`` of ``y``'s samples with the class proportions of ``y``
    (all of them, in order, when ``n`` is not smaller)."""
    import numpy as np

    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(chosen)


def load_row_data(spec: dict, data_dir: str | None, seed: int):
    """(x_train, y_train, x_test, y_test, max_value, protocol note) of a row, through the CLI's loader.

    MNIST/Fashion: all official images loaded, then a stratified subset of the training split
    (the CLI's own subset is uniform, not stratified); the test split is all 10,000 images.
    KMNIST and digits: the pooled, seeded, stratified splits of ``qcstar.data.load_split``."""
    import torch

    from qcstar.commands.kernel import load_images_for_svm

    official = spec["dataset"] in ("mnist", "fashion-mnist")
    if spec.get("subset") == "first" and official:
        from qcstar.data import load_images

        x_tr, y_tr = load_images(spec["dataset"], "train", data_dir=data_dir)
        x_te, y_te = load_images(spec["dataset"], "test", data_dir=data_dir)
        n, m = spec["n_train"], spec["n_test"]
        note = (f"official splits: the FIRST {n} training and first {m} test images (the images of the AQCE "
                "data sets), unshuffled")
        return x_tr[:n], y_tr[:n].numpy(), x_te[:m], y_te[:m].numpy(), 255.0, note
    ns = argparse.Namespace(dataset=spec["dataset"], data_dir=data_dir, seed=seed,
                            train=60000 if official else spec["n_train"], test=spec["n_test"])
    x_tr, y_tr, x_te, y_te, note = load_images_for_svm(ns)
    if official and spec["n_train"] < len(y_tr):
        idx = torch.as_tensor(stratified_subset(y_tr.numpy(), spec["n_train"], seed))
        x_tr, y_tr = x_tr[idx], y_tr[idx]
        note = (f"official splits: stratified seeded subset (seed {seed}) of {len(idx)} of the 60000 training "
                f"images; all {len(y_te)} official test images")
    max_value = 255.0 if x_tr.dtype == torch.uint8 else 1.0  # load_split gives [0, 1] floats
    return x_tr, y_tr.numpy(), x_te, y_te.numpy(), max_value, note


def accuracies(decision, classes, y, multiclass: str) -> dict[str, float]:
    """Accuracy from decision values: both one-vs-one vote rules, or one-vs-rest's argmax."""
    import numpy as np

    from qcstar.kernels import vote

    if multiclass == "ovo":
        return {rule: float(np.mean(classes[vote(decision, len(classes), rule=rule)] == y))
                for rule in ("libsvm", "sklearn")}
    return {"argmax": float(np.mean(classes[np.argmax(decision, axis=1)] == y))}


def run_exact_states(spec, x_tr, y_tr, x_te, y_te, max_value) -> dict:
    import torch

    from qcstar.encoders import AmplitudeEncoder
    from qcstar.kernels import FidelityKernel, QuantumKernelSVC

    kernel = FidelityKernel(encoder=AmplitudeEncoder(max_value=max_value), dtype=torch.complex128, tile=2048)
    route = "gram" if spec["multiclass"] == "ovo" else "poly"
    # the poly route's LIBSVM cache must hold the support vectors' kernel columns (4N bytes each)
    clf = QuantumKernelSVC(kernel=kernel, C=1.0, multiclass=spec["multiclass"], route=route, verbose=True,
                           cache_size=4000.0 if route == "poly" else 200.0)
    clf.fit(x_tr, y_tr)
    return {"route": clf.route_, "n_support_vectors": int(len(clf.support_)),
            "accuracy": accuracies(clf.decision_function(x_te), clf.classes_, y_te, spec["multiclass"])}


def _pixels(x, max_value):
    import numpy as np

    return x.reshape(len(x), -1).numpy().astype(np.float64) / max_value


def run_cos2_pixels(spec, x_tr, y_tr, x_te, y_te, max_value) -> dict:
    """The exact-state fidelity kernel written on pixels: (x.y)^2 / (|x|^2 |y|^2), precomputed SVC."""
    import numpy as np
    from sklearn.svm import SVC

    a, b = _pixels(x_tr, max_value), _pixels(x_te, max_value)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    svc = SVC(kernel="precomputed", C=1.0, decision_function_shape="ovo").fit((a @ a.T) ** 2, y_tr)
    decision = svc.decision_function((b @ a.T) ** 2)
    return {"n_support_vectors": int(len(svc.support_)), "accuracy": accuracies(decision, svc.classes_, y_te, "ovo")}


def run_linear_pixels(spec, x_tr, y_tr, x_te, y_te, max_value) -> dict:
    import numpy as np
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=1.0, max_iter=5000).fit(_pixels(x_tr, max_value), y_tr)
    return {"n_parameters": int(svm.coef_.size + svm.intercept_.size),
            "accuracy": {"ovr": float(np.mean(svm.predict(_pixels(x_te, max_value)) == y_te))}}


def run_rbf_pixels(spec, x_tr, y_tr, x_te, y_te, max_value) -> dict:
    """Classical twin: an RBF-SVC on the pixels in [0, 1] (C = 1, gamma "scale": sklearn's default)."""
    from sklearn.svm import SVC

    svc = SVC(kernel="rbf", C=1.0, gamma="scale", decision_function_shape="ovo", cache_size=1000)
    svc.fit(_pixels(x_tr, max_value), y_tr)
    decision = svc.decision_function(_pixels(x_te, max_value))
    return {"n_support_vectors": int(len(svc.support_)), "accuracy": accuracies(decision, svc.classes_, y_te, "ovo")}


class SmallCNN:
    """Two 3 x 3 conv layers (8 and 16 channels, padded) each followed by 2 x 2 max-pooling, then one
    linear layer: 9,098 parameters on 28 x 28 images. A small classical twin of the kernel rows."""

    @staticmethod
    def build(side: int, n_classes: int):
        import torch.nn as nn

        flat = 16 * (side // 4) ** 2
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(flat, n_classes))


def run_cnn_pixels(spec, x_tr, y_tr, x_te, y_te, max_value, *, epochs: int = 10, seed: int = 0) -> dict:
    """Classical twin: :class:`SmallCNN` trained with AdamW (lr 3e-3, cosine, batch 64, 10 epochs)."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    side = int(round(np.sqrt(x_tr[0].numel())))
    a = x_tr.reshape(len(x_tr), 1, side, side).float() / max_value
    b = x_te.reshape(len(x_te), 1, side, side).float() / max_value
    classes = np.unique(y_tr)
    y = torch.as_tensor(np.searchsorted(classes, y_tr))
    model = SmallCNN.build(side, len(classes))
    steps = epochs * ((len(a) + 63) // 64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(a), generator=gen).split(64):
            loss = torch.nn.functional.cross_entropy(model(a[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        pred = classes[torch.cat([model(chunk).argmax(1) for chunk in b.split(1000)]).numpy()]
    return {"n_parameters": int(sum(p.numel() for p in model.parameters())), "epochs": epochs,
            "accuracy": {"argmax": float(np.mean(pred == y_te))}}


def _svm_on_states(spec, s_tr, y_tr, s_te, y_te, kernel: str = "fidelity") -> dict:
    import torch

    from qcstar.kernels import FidelityKernel, ProjectedKernel, QuantumKernelSVC

    common = dict(dtype=torch.complex128, tile=2048)
    k = ProjectedKernel(**common) if kernel == "projected" else FidelityKernel(**common)
    clf = QuantumKernelSVC(kernel=k, C=1.0, multiclass=spec["multiclass"], route="gram").fit(s_tr, y_tr)
    return {"route": clf.route_, "kernel": kernel, "n_qubits": int(s_tr.shape[1]).bit_length() - 1,
            "n_support_vectors": int(len(clf.support_)),
            "accuracy": accuracies(clf.decision_function(s_te), clf.classes_, y_te, spec["multiclass"])}


QUICK_TEST = 60  # --quick: test circuits of every same-images row
QUICK_CIRCUITS = 120 + QUICK_TEST  # --quick: one digits AQCE set (per level asked for), shared by its rows


def _quick_circuits(spec, args):
    """--quick: a tiny digits AQCE set (6 qubits, a small block budget) built once per level in a
    temporary folder: rows train on its first circuits and test on its last ``QUICK_TEST``."""
    from qcstar.data.build import build_dataset
    from qcstar.encoders.aqce import AQCEEncoder

    if not hasattr(args, "quick_circuits_dir"):  # a scratch folder: the build leaves its lock file there
        import tempfile

        args.quick_circuits_dir = Path(tempfile.mkdtemp(prefix="e2-quick-circuits-"))
    folder = args.quick_circuits_dir / f"digits-{spec['level']}"
    return build_dataset(out=folder, encoder=AQCEEncoder(level=spec["level"], max_blocks=4, sweeps=2),
                         source="digits", split="train", level=spec["level"], limit=QUICK_CIRCUITS,
                         shard_size=QUICK_CIRCUITS, progress=False)


def run_aqce_states(spec, x_tr, y_tr, x_te, y_te, max_value, *, args) -> dict:
    """AQCE rows: the states the circuits of our AQCE data sets prepare (what MNISQ's kernels compare).

    The sets hold the first images of each official split: their labels must equal the IDX labels
    and their exact target states the amplitude encoding of the same images (checked)."""
    import torch

    from qcstar.data.read import load_dataset
    from qcstar.encoders import AmplitudeEncoder

    n, m, level = len(y_tr), len(y_te), spec["level"]
    if args.quick:  # digits have one pool: train on its first n circuits, test on its last m
        ds = load_dataset(_quick_circuits(spec, args))
        states, labels = ds.circuit_states(), ds.labels.numpy()
        return {"level": level, "circuits": "quick digits build",
                "mean_overlap": {"train": float(ds.overlaps[:n].mean()), "test": float(ds.overlaps[-m:].mean())},
                **_svm_on_states(spec, states[:n], labels[:n], states[-m:], labels[-m:])}
    parts, mean_overlap = [], {}
    source = spec["dataset"]
    for split, count, x, y in (("train", n, x_tr, y_tr), ("test", m, x_te, y_te)):
        sets = sorted(args.circuits_dir.glob(f"{source}-{level}-{split}-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
        sets = [p for p in sets if int(p.name.rsplit("-", 1)[1]) >= count]
        if not sets:
            raise SystemExit(f"no AQCE set with >= {count} {split} images at {level} under {args.circuits_dir}: run "
                             f"qcstar dataset build --source {source} --split {split} --level {level} --limit {count} "
                             f"--out {args.circuits_dir}/{source}-{level}-{split}-{count}")
        ds = load_dataset(sets[0], limit=count)
        if len(ds) < count:
            raise SystemExit(f"{sets[0]} holds {len(ds)} finished circuits, {count} needed: resume its build")
        assert (ds.labels.numpy() == y).all(), f"{sets[0]}: labels differ from the first {count} {split} images"
        exact = AmplitudeEncoder(max_value=max_value).states(x).to(torch.complex128)
        assert torch.allclose(ds.states, exact, atol=1e-6), f"{sets[0]}: target states are not these images'"
        parts.append(ds.circuit_states())
        mean_overlap[split] = float(ds.overlaps.mean())
    return {"level": level, "circuits": str(args.circuits_dir), "mean_overlap": mean_overlap,
            **_svm_on_states(spec, parts[0], y_tr, parts[1], y_te)}


def run_angle_states(spec, x_tr, y_tr, x_te, y_te, max_value) -> dict:
    """The angle encoder as ``qcstar kernel svm --encoder angle`` builds it (8 qubits, 4 x 4 images, 2 reps)."""
    from qcstar.commands.kernel import _encoder

    enc = _encoder(argparse.Namespace(encoder="angle", qubits=8, size=4), max_value)
    return {"encoder": repr(enc), **_svm_on_states(spec, enc.states(x_tr), y_tr, enc.states(x_te), y_te)}


def trained_net(name: str, args):
    """The C*-net ``name`` of :data:`CSTAR_NETS`, trained once by ``qcstar train`` (resumable run
    folder under ``<out>/e2_nets/``, not committed) and loaded weights-only."""
    from qcstar.cli import main as qcstar_main
    from qcstar.train import load_model

    base, seed = name, None
    if name not in CSTAR_NETS:  # "<net>-s<seed>": the net of CSTAR_NETS with another seed
        base, seed = name.rsplit("-s", 1)
    run = args.out_dir / "e2_nets" / name
    flags = ["train", "--dataset", "digits" if args.quick else "mnist", *CSTAR_NETS[base], *CSTAR_COMMON,
             "--out", str(run)] + (["--seed", seed] if seed else [])
    if args.quick:
        flags += ["--n-train", "300", "--n-val", "100", "--n-test", "100", "--epochs", "1", "--qubits", "3"]
    if args.data_dir:
        flags += ["--data-dir", args.data_dir]
    if not (run / "result.json").exists():
        assert qcstar_main(flags) == 0, f"qcstar {' '.join(flags)} failed"
    result = json.loads((run / "result.json").read_text())
    return load_model(run / "checkpoint.pt"), result, "qcstar " + " ".join(flags)


def _net_inputs(net, x, max_value):
    from qcstar.data import prepare

    return prepare(x, size=tuple(net.in_shape)[-1], max_value=max_value)


def run_cstar_states(spec, x_tr, y_tr, x_te, y_te, max_value, *, args) -> dict:
    """States of a trained C*-net (its joint state on n + ceil(log2 d) qubits from |0>_index)."""
    from qcstar.encoders import CStarEncoder

    net, trained, command = trained_net(spec["net"], args)
    enc = CStarEncoder(net)
    s_tr, s_te = enc.states(_net_inputs(net, x_tr, max_value)), enc.states(_net_inputs(net, x_te, max_value))
    return {"net_command": command, "net_params": trained["params"]["total"],
            **_svm_on_states(spec, s_tr, y_tr, s_te, y_te, spec["kernel"])}


def run_cstar_net(spec, x_tr, y_tr, x_te, y_te, max_value, *, args) -> dict:
    """The trained C*-net's own classifier on the same test images: the twin of its kernel rows."""
    import numpy as np
    import torch

    net, trained, command = trained_net(spec["net"], args)
    with torch.no_grad():
        pred = net(_net_inputs(net, x_te, max_value)).argmax(-1).numpy()
    return {"net_command": command, "n_parameters": trained["params"]["total"],
            "accuracy": {"argmax": float(np.mean(pred == y_te))}}


METHODS = {"exact-states": run_exact_states, "cos2-pixels": run_cos2_pixels, "linear-svm-pixels": run_linear_pixels,
           "rbf-svm-pixels": run_rbf_pixels, "cnn-pixels": run_cnn_pixels, "aqce-states": run_aqce_states,
           "angle-states": run_angle_states, "cstar-states": run_cstar_states, "cstar-net": run_cstar_net}
#: methods that need the script's options (data folders, --quick)
NEEDS_ARGS = {"aqce-states", "cstar-states", "cstar-net"}


def imported_fullscale_row(name: str, spec: dict) -> dict:
    """The finished full-scale MNIST run, read from its JSON rather than recomputed."""
    doc = json.loads(FULLSCALE_JSON.read_text())
    return {"row": name, **spec, "protocol": doc["protocol"], "route": doc["route"],
            "n_train": doc["n_train"], "n_test": doc["n_test"], "n_support_vectors": doc["n_support_vectors"],
            "accuracy": doc["accuracy"], "wall_s": doc["seconds"]["wall"], "peak_rss_bytes": doc["peak_rss_bytes"],
            "source": f"read from experiments/results/{FULLSCALE_JSON.name} (not re-run)",
            "command": "qcstar kernel svm --dataset mnist --encoder amplitude --train 60000 --test 10000"}


def run_row(name: str, spec: dict, args) -> dict:
    t0 = time.perf_counter()
    x_tr, y_tr, x_te, y_te, max_value, note = load_row_data(spec, args.data_dir, args.seed)
    print(f"[{name}] {note}", flush=True)
    method = METHODS[spec["method"]]
    extra = {"args": args} if spec["method"] in NEEDS_ARGS else {}
    if spec["method"] == "cnn-pixels" and args.quick:
        extra["epochs"] = 2
    result = method(spec, x_tr, y_tr, x_te, y_te, max_value, **extra)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    command = " ".join(["python", "experiments/e2_kernels.py", "--rows", name] + (["--quick"] if args.quick else [])
                       + (["--circuits-dir", str(args.circuits_dir)] if spec["method"] == "aqce-states" and not args.quick
                          else []))
    record = {"row": name, **spec, "n_train": int(len(y_tr)), "n_test": int(len(y_te)), "protocol": note, **result,
              "wall_s": wall, "peak_rss_bytes": int(peak), "source": "run by this script", "command": command,
              "seed": args.seed, "machine": f"{platform.machine()}, {platform.node()}",
              "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    shown = ", ".join(f"{100 * v:.2f} % ({k})" for k, v in result["accuracy"].items())
    print(f"[{name}] accuracy {shown}; {wall:.1f} s, peak {peak / 2**30:.2f} GiB", flush=True)
    return record


def check_cos2_equals_states(rows: dict[str, dict]) -> list[str]:
    """The cos^2 kernel on pixels is the exact-state kernel: same SVM, same accuracy (LIBSVM vote rule).

    Up to the float rounding of two different Gram computations, which may move a decision value
    that is ~0 across the boundary: at most one test image in 2,000 is allowed to differ."""
    checked = []
    for exact, cos2 in (("mnist-ovo-10k", "mnist-cos2-10k"), ("same6k-exact", "same6k-cos2")):
        states, twin = rows.get(exact), rows.get(cos2)
        if not states or not twin:
            continue
        a, b = states["accuracy"]["libsvm"], twin["accuracy"]["libsvm"]
        assert abs(a - b) * states["n_test"] <= max(1, states["n_test"] // 2000), (
            f"cos^2 on pixels ({b}) must equal the exact-state kernel ({a}) on the same split")
        checked.append(f"cos^2-on-pixels twin `{cos2}` {100 * b:.2f} % vs exact states `{exact}` {100 * a:.2f} % "
                       "(LIBSVM vote rule): checked equal")
    return checked


def percent(acc: dict, key: str) -> str:
    return f"{100 * acc[key]:.2f}" if key in acc else ""


#: MNISQ's AQCE rows (arXiv:2306.16627, fidelity-kernel SVM on the circuits' states, full splits).
MNISQ_AQCE = {"f80": 94.86, "f90": 97.33, "f95": 97.91}
MNISQ_AQCE_FASHION = {"f80": 82.04, "f90": 85.41, "f95": 86.78}


def mnisq_aqce(row: dict) -> float:
    """MNISQ's AQCE accuracy for a row's data set and level."""
    return (MNISQ_AQCE_FASHION if row.get("dataset") == "fashion-mnist" else MNISQ_AQCE)[row["level"]]


def main_accuracy(r: dict) -> float:
    """The row's headline accuracy: LIBSVM's vote (one-vs-one), argmax (one-vs-rest, CNN, net), LinearSVC's predict."""
    acc = r["accuracy"]
    return next(acc[k] for k in ("libsvm", "argmax", "ovr") if k in acc)


def describe(r: dict) -> str:
    """What produced the states or predictions of a row, in a few words."""
    m = r["method"]
    if m == "exact-states":
        return "exact amplitude states (10 qubits)"
    if m == "aqce-states":
        return f"AQCE {r['level']} circuits' states (10 qubits)"
    if m == "angle-states":
        return "angle encoder (8 qubits, 4 x 4 image, RY, 2 reps)"
    if m == "cstar-states":
        return f"C*-net {r['net']} states ({r['n_qubits']} qubits)"
    if m == "cstar-net":
        return f"C*-net {r['net']}: its own classifier"
    return {"cos2-pixels": "cos^2 kernel on pixels", "linear-svm-pixels": "linear SVM on pixels",
            "rbf-svm-pixels": "RBF-SVC on pixels", "cnn-pixels": "small CNN on pixels"}[m]


def _table(rows: dict[str, dict], names: list[str], *, mnisq: dict[str, float] | None = None) -> list[str]:
    lines = ["| row | states / model | kernel | multiclass | train / test | accuracy % | sklearn OvO tie-break % "
             "| parameters | MNISQ % | wall s |", "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for name in names:
        r = rows[name]
        kernel = r.get("kernel", "fidelity") if r["method"].endswith("-states") else ""
        params = r.get("n_parameters") or r.get("net_params") or ""
        reference = (mnisq or {}).get(name, "")
        lines.append(f"| {name} | {describe(r)} | {kernel} | {r['multiclass']} | {r['n_train']:,} / {r['n_test']:,} "
                     f"| {100 * main_accuracy(r):.2f} | {percent(r['accuracy'], 'sklearn')} "
                     f"| {f'{params:,}' if params else ''} | {reference} | {r['wall_s']:.0f} |")
    return lines


def interaction_lines(rows: dict[str, dict]) -> list[str]:
    """Per kernel (and the net's own classifier): the accuracy difference interaction minus none, per
    seed, with its mean and standard error over the seeds that have both rows."""
    import statistics

    out = []
    for what in ("fidelity", "projected", "net"):
        diffs = []
        for prefix, suffix in (("", ""), ("", "-s1"), ("", "-s2"), ("inner-", "")):
            a = rows.get(f"same6k-cstar-{prefix}d4-global{suffix}-{what}")
            b = rows.get(f"same6k-cstar-{prefix}d4-none{suffix}-{what}")
            if a and b:
                diffs.append(100 * (main_accuracy(a) - main_accuracy(b)))
        if diffs:
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            label = "its own classifier" if what == "net" else f"{what} kernel SVM"
            out.append(f"* {label}: {', '.join(f'{d:+.1f}' for d in diffs)} points; mean **{statistics.mean(diffs):+.2f}** "
                       f"+- {se:.2f} (standard error over {len(diffs)} net pair{'s' if len(diffs) > 1 else ''})")
    return out


def aqce_gap_lines(rows: dict[str, dict]) -> list[str]:
    """Exact minus AQCE accuracy on the same images, beside MNISQ's gap at full scale."""
    out = []
    for tag in ("6k", "2k", "1k", "2k-fashion"):
        exact = rows.get(f"same{tag}-exact")
        if not exact:
            continue
        dataset = exact.get("dataset", "mnist")
        name = "Fashion-MNIST" if dataset == "fashion-mnist" else "MNIST"
        for level in ("f80", "f90", "f95"):
            r = rows.get(f"same{tag}-aqce-{level}")
            if r:
                ours = 100 * (main_accuracy(exact) - main_accuracy(r))
                theirs = MNISQ[(dataset, "ovo")] - mnisq_aqce(r)
                out.append(f"* {name} {level}, {exact['n_train']:,} / {exact['n_test']:,} images: exact minus AQCE = "
                           f"**{ours:+.2f}** points (ours) vs {theirs:+.2f} (MNISQ, 60,000 / 10,000); mean overlap "
                           f"of the training circuits {r['mean_overlap']['train']:.3f}")
    return out


def write_report(out: Path, rows: dict[str, dict], order: list[str]) -> None:
    named = [n for n in order if n in rows] + sorted(set(rows) - set(order))
    pick = lambda pred: [n for n in named if pred(n, rows[n])]  # noqa: E731
    lines = ["# E2: kernels on encoded states, against MNISQ (arXiv:2306.16627)", "",
             "Quantum-kernel SVMs (`qcstar.kernels.QuantumKernelSVC`, C = 1) on the states of our encoders, each beside "
             "classical twins on the same images and, where MNISQ reports one, MNISQ's number. Generated by "
             "`experiments/e2_kernels.py` from `e2_kernels.jsonl` (every row's command below; IDX files under "
             "`$QCSTAR_DATA`). Machine: the 2-core x86_64 development VM (23 GiB, no GPU), torch CPU. Accuracy is "
             "LIBSVM's one-vs-one vote (one-vs-rest, CNN and nets: argmax); the next column is scikit-learn "
             "`OneVsOneClassifier`'s tie-breaking, the rule behind MNISQ's numbers.", ""]
    full = pick(lambda n, r: r["n_train"] >= 60000)
    if full:
        lines += ["## 1. MNISQ's table: exact amplitude states, all 60,000 / 10,000 official images", ""]
        lines += _table(rows, full, mnisq={n: MNISQ.get((rows[n]["dataset"], rows[n]["multiclass"]), "") for n in full})
        lines.append("")
    curve = pick(lambda n, r: n.startswith("mnist-ovo-"))
    if curve:
        lines += ["## 2. Learning curve (MNIST, exact states, one-vs-one; stratified seeded training subsets, all "
                  "10,000 test images; plot `e2_kernels.png`)", ""] + _table(rows, curve) + [""]
    twins10 = pick(lambda n, r: n.startswith("mnist-") and n.endswith("-10k") and n != "mnist-ovo-10k")
    if twins10:
        lines += ["## 3. One-vs-rest and classical twins on the 10,000-image split (the images of `mnist-ovo-10k`)", ""]
        lines += _table(rows, [n for n in ["mnist-ovo-10k"] if n in rows] + twins10) + [""]
    same = pick(lambda n, r: n.startswith("same"))
    if same:
        lines += ["## 4. Every encoder on the same images: the first 6,000 (2,000) official training images and the "
                  "first 1,000 test images (MNIST; the `same2k-fashion-*` rows: Fashion-MNIST; AQCE levels: plot "
                  "`e2_kernels_aqce.png`)", "",
                  "These are the images of our AQCE data sets (`qcstar dataset build --limit`): exact states, AQCE "
                  "states, angle and trained C*-net states, and the classical twins all see them. MNISQ's AQCE "
                  "numbers are at full scale (60,000 / 10,000) and shown for reference only.", ""]
        lines += _table(rows, same, mnisq={n: mnisq_aqce(rows[n]) for n in same if "level" in rows[n]})
        effect = interaction_lines(rows)
        if effect:
            lines += ["", "Does interaction make the C*-net's states better kernel inputs? Interaction minus none, "
                      "same settings and seed (`d4-global` vs `d4-none`: linear angle nets with seeds 0, 1, 2, then E1b's inner-readout "
                      "MLP nets with seed 0):", ""] + effect
        gaps = aqce_gap_lines(rows)
        if gaps:
            lines += ["", "AQCE gap (the question of E2.2: does ours match MNISQ's 3.1 points at f80?):", ""] + gaps
            exact = rows.get("same6k-exact") or rows.get("same2k-exact")
            if exact:
                p, n = main_accuracy(exact), exact["n_test"]
                lines += ["", f"Reading the gaps: one of the {n:,} test images is {100 / n:.1f} point, and the binomial "
                          f"standard error of one accuracy near {100 * p:.0f} % is {100 * (p * (1 - p) / n) ** 0.5:.2f} "
                          "points (the rows share their test images, so their differences vary less). The gap falls "
                          "with the level and with the training set, in MNISQ's order (f80 > f90 > f95); gaps below "
                          "about one point say 'small', not a precise size."
                          + (" Fashion-MNIST's f80 gap is larger than MNIST's at the same size, as in MNISQ, although "
                             "its circuits reach higher overlaps." if "same2k-fashion-aqce-f80" in rows else "")]
        lines.append("")
    rest = [n for n in named if n not in full + curve + twins10 + same]
    if rest:
        lines += ["## 5. Other rows", ""] + _table(rows, rest) + [""]
    lines += ["## Commands and protocols", ""]
    for name in named:
        r = rows[name]
        extra = f"; net: `{r['net_command']}`" if "net_command" in r else ""
        lines.append(f"* `{name}`: `{r['command']}` ({r['source']}{extra}). {r['protocol']}.")
    check = check_cos2_equals_states(rows)
    lines += ["", "## Notes", "",
              "* Wall time includes loading and encoding; peak memory is in the JSON lines (rows run in one "
              "process share the peak).",
              "* KMNIST rows use the POOLED protocol: train and test drawn from the 10,000 official test images "
              "(our copy has no KMNIST training images); not comparable to MNISQ's KMNIST numbers.",
              "* The C*-nets are trained by `qcstar train` on 10,000 stratified 8 x 8 MNIST training images "
              "(n = 6 system qubits, L = 3, 10 epochs); their states live on n + ceil(log2 d) qubits.",
              "* One-vs-rest rows use route 2: LIBSVM's polynomial kernel (a.b)^2 on the real states (exactly the "
              "fidelity kernel), no Gram held, columns that are zero in every training state dropped, and a 4 GB "
              "kernel cache: at 60,000 samples a cached column is 240 KB, and scikit-learn's default 200 MB cache "
              "recomputes the support vectors' columns over and over.",
              "* A full 70,000-image AQCE level (one MNISQ image set) is one resumable `qcstar dataset build "
              "--source mnist --split train --level LEVEL --out DIR` (and the same for `--split test`) that a user "
              "runs. Measured on this VM (2026-11-30): the builds behind the AQCE rows encoded ~1.0 (f80), ~0.8 "
              "(f90) and ~0.35 (f95) images/s per single-thread process, two processes side by side, so a whole "
              "level takes ~10 h (f80), ~12 h (f90) and ~28 h (f95) of both cores here; on a quiet machine "
              "`bench_aqce.md` measured 4.2 (f80) and 1.7 (f90) images/s on 2 threads (4.7 h and 11.4 h per level), "
              "and 16 cores would take ~0.6 / 1.4 / 3 h."]
    lines += [f"* {c}." for c in check]
    missing = [n for n in order if n not in rows]
    if missing:
        lines += ["", "## Not run yet", "",
                  f"Rows of this script without a result: {', '.join(f'`{n}`' for n in missing)}. A rerun runs only "
                  "those. `*-ovr-60k` fit ten LIBSVM polynomial-kernel problems on all 60,000 images (one to two CPU "
                  "minutes each with the 4 GB kernel cache); the AQCE rows need the data sets named in the "
                  "docstring (resumable `qcstar dataset build`s)."]
    write_atomic(out / "e2_kernels.md", "\n".join(lines) + "\n")
    plot_learning_curve(out, rows)
    plot_aqce_levels(out, rows)


def plot_learning_curve(out: Path, rows: dict[str, dict]) -> None:
    plt = pyplot()
    if plt is None:
        return

    # scikit-learn's OvO tie-breaking: the rule behind MNISQ's number on the dashed line
    curve = sorted((r["n_train"], 100 * r["accuracy"]["sklearn"]) for n, r in rows.items()
                   if n.startswith("mnist-ovo-") and "sklearn" in r["accuracy"])
    if not curve:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([c[0] for c in curve], [c[1] for c in curve], "o-", label="exact amplitude states, one-vs-one")
    ax.axhline(MNISQ[("mnist", "ovo")], color="gray", ls="--", label="MNISQ, 60,000 images")
    ax.set_xscale("log")
    ax.set_xlabel("training images (same test images throughout)")
    ax.set_ylabel("test accuracy %")
    ax.set_title("E2: MNIST fidelity-kernel SVM learning curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, out / "e2_kernels.png", dpi=120)


def plot_aqce_levels(out: Path, rows: dict[str, dict]) -> None:
    """Accuracy against AQCE level on the same images (ours per training size), beside MNISQ's full-scale line."""
    plt = pyplot()
    if plt is None:
        return

    levels = ["f80", "f90", "f95", "exact"]
    series = []
    for tag in ("6k", "2k", "1k"):
        # scikit-learn's OvO tie-breaking, as MNISQ's numbers
        points = [(i, 100 * rows[name]["accuracy"]["sklearn"]) for i, level in enumerate(levels)
                  if (name := f"same{tag}-{'exact' if level == 'exact' else 'aqce-' + level}") in rows
                  and "sklearn" in rows[name]["accuracy"]]
        if len(points) >= 2:
            n_train, n_test = rows[f"same{tag}-exact"]["n_train"], rows[f"same{tag}-exact"]["n_test"]
            series.append((f"ours, first {n_train:,} / {n_test:,} images", points))
    if not series:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    mnisq = [MNISQ_AQCE["f80"], MNISQ_AQCE["f90"], MNISQ_AQCE["f95"], MNISQ[("mnist", "ovo")]]
    ax.plot(range(4), mnisq, "s--", color="gray", label="MNISQ, 60,000 / 10,000 images")
    for label, points in series:
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label)
    ax.set_xticks(range(4), ["AQCE f80", "AQCE f90", "AQCE f95", "exact states"])
    ax.set_ylabel("test accuracy %")
    ax.set_title("E2: MNIST fidelity-kernel SVM on AQCE states")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, out / "e2_kernels_aqce.png", dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default=None, help="comma-separated rows to run (default: all, in order)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default experiments/results/)")
    ap.add_argument("--data-dir", default=None, help="folder with the IDX files (default $QCSTAR_DATA)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: digits, tiny sizes, one row per method (unless --rows), temporary folder")
    ap.add_argument("--rerun-full", action="store_true", help="recompute mnist-ovo-60k instead of reading it")
    ap.add_argument("--report", action="store_true", help="only regenerate the .md and the plot")
    ap.add_argument("--circuits-dir", type=Path, default=Path("circuits-data"),
                    help="folder of the AQCE data sets mnist-<level>-<split>-<limit> (default ./circuits-data)")
    args = ap.parse_args(argv)
    specs = row_specs(args.quick)
    order = list(specs)
    if args.rows:
        chosen = comma_choices(ap, "--rows", args.rows, specs)
    elif args.quick:  # a smoke run: one row of every method (and of each C*-net kernel)
        seen, chosen = set(), []
        for name in order:
            key = (specs[name]["method"], specs[name].get("kernel"))
            if key not in seen:
                seen.add(key)
                chosen.append(name)
    else:
        chosen = order
    out = quick_output(ap, args.out, name="e2_kernels") if args.quick else (args.out or RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    args.out_dir = out
    log = out / "e2_kernels.jsonl"
    done = read_json_lines(log, key="row")
    if not args.report:
        for name in chosen:
            if name in done:
                print(f"[{name}] finished before: skipped", flush=True)
                continue
            if name == "mnist-ovo-60k" and not args.quick and not args.rerun_full:
                record = imported_fullscale_row(name, specs[name])
            else:
                record = run_row(name, specs[name], args)
            append_json_line(log, record)
            done[name] = record
            check_cos2_equals_states(done)  # fail loudly as soon as both rows exist
            write_report(out, done, order)
    write_report(out, done, order)
    if hasattr(args, "quick_circuits_dir"):  # the scratch AQCE sets of --quick (lock files and all)
        import shutil

        shutil.rmtree(args.quick_circuits_dir, ignore_errors=True)
    print(f"rows={len(done)}")
    return 0


if __name__ == "__main__":
    run_script(main)
