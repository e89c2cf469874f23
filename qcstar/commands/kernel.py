"""``qcstar kernel svm``: a quantum-kernel SVM on an image set, at MNISQ scale on one machine.

Example (MNISQ's exact-state protocol, arXiv:2306.16627: MNIST 60,000 / 10,000, C = 1)::

    qcstar kernel svm --dataset mnist --encoder amplitude --train 60000 --test 10000 --out mnist-amplitude.json

States of other encoders: ``--encoder angle``, ``aqce-f80`` (encodes on the fly: slow, ~4 images/s
on 2 CPU cores), ``cstar:RUN/checkpoint.pt`` (a net trained by ``qcstar train``; images are resized
to the net's input). Circuits built before (``qcstar dataset build``, or MNISQ zips)::

    qcstar kernel svm --train-circuits mnist-f80-train --test-circuits mnist-f80-test --out f80.json

The SVM never holds the N x N Gram (:class:`qcstar.kernels.QuantumKernelSVC`): one-vs-one
solves one float64 pair Gram at a time; one-vs-rest on real states uses LIBSVM's polynomial
kernel. Prints accuracy (one-vs-one: under LIBSVM's vote rule and under scikit-learn
``OneVsOneClassifier``'s tie-breaking), wall time and peak memory, and writes a JSON result.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path
from typing import Any

from qcstar.circuits.errors import ConfigError

ENCODERS = ("amplitude", "angle", "aqce-f80", "aqce-f90", "aqce-f95", "cstar:CHECKPOINT")
KERNELS = ("fidelity", "projected")
RUN_ENCODERS = ("amplitude", "angle", "aqce-f80", "aqce-f90", "aqce-f95")
RUN_METHODS = ("compute-uncompute", "shadows", "projected")
#: the exact kernel is computed beside the estimate up to this many training images (seconds on a CPU)
EXACT_UP_TO = 5000

RUN_DOC = """``qcstar kernel run``: a quantum kernel estimated with shots on a backend, then an SVM.

Example (a noisy fake IBM device, readout and depolarising mitigation, resumable)::

    qcstar kernel run --backend aer:fake_torino:density --encoder amplitude --dataset digits --train 40 --test 20 \\
        --shots 2000 --method compute-uncompute --mitigation readout,depolarizing --manifest run.json

The same command after a kill or a lost connection collects finished jobs from the manifest and
submits only the missing ones; ``--dry-run`` prints circuits, executions, jobs and the estimated
device time and submits nothing; ``--budget`` stops before submitting more executions than that.
Credentials come from the provider's own saved account or environment and are never written.
Prints accuracy, the kernel error against the exact kernel (when cheap), executions and jobs.
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``kernel`` subcommand (with its ``svm`` action) to a ``qcstar`` subparsers object."""
    from qcstar.cli import add_common, positive_float

    p = subparsers.add_parser("kernel", help="quantum-kernel SVMs on image sets",
                              description=__doc__.split("\n\n")[0])
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = actions.add_parser("svm", help="train and test a quantum-kernel SVM", description=__doc__.split("\n\n")[0])
    s.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, kmnist (pooled), digits (default mnist)")
    s.add_argument("--data-dir", default=None, help="folder with the IDX files (default $QCSTAR_DATA)")
    s.add_argument("--encoder", default="amplitude", help=f"one of {', '.join(ENCODERS)} (default amplitude)")
    s.add_argument("--train-circuits", type=Path, default=None, metavar="DIR",
                   help="circuits of a built data set (or MNISQ zip): the kernel compares the states they prepare; "
                        "labels come from the set; --train takes its first items (needs --test-circuits)")
    s.add_argument("--test-circuits", type=Path, default=None, metavar="DIR", help="test circuits, as --train-circuits")
    s.add_argument("--qubits", type=int, default=8, help="qubits of the angle encoder (default 8; ceil(SIZE^2 / QUBITS) repetitions carry the pixels)")
    s.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE first (default: native)")
    s.add_argument("--train", type=int, default=None,
                   help="training images (default: all; MNIST / Fashion-MNIST: the official 60,000; the pooled sets "
                        "digits and kmnist: the pool minus the test images)")
    s.add_argument("--test", type=int, default=None,
                   help="test images (default: the official 10,000; pooled sets: 20 %% of the pool)")
    s.add_argument("--kernel", default="fidelity", help="fidelity or projected (default fidelity)")
    s.add_argument("--gamma", type=positive_float, default=1.0, help="the projected kernel's gamma (default 1)")
    s.add_argument("--multiclass", default="ovo", help="ovo (one-vs-one, MNISQ) or ovr (one-vs-rest) (default ovo)")
    s.add_argument("--route", default="auto", help="auto, gram (per-pair Grams) or poly (real states; default auto)")
    s.add_argument("--C", type=positive_float, default=1.0, dest="C", help="SVM regularisation (default 1, as MNISQ)")
    s.add_argument("--cache-mb", type=float, default=2000.0,
                   help="LIBSVM kernel cache in MB for the poly route (default 2000; at 60,000 images a smaller "
                        "cache recomputes kernel columns many times over)")
    s.add_argument("--device", default=None, help="torch device of the Gram tiles, e.g. cuda (default cpu)")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    s.add_argument("--out", type=Path, default=Path("kernel-svm.json"), help="JSON result (default kernel-svm.json)")
    s.add_argument("--no-progress", action="store_true", help="no per-pair progress lines")
    add_common(s)
    s.set_defaults(func=run_svm)
    r = actions.add_parser("run", help="estimate a kernel with shots on a backend, then train and test an SVM",
                           description=RUN_DOC.split("\n\n")[0])
    r.add_argument("--backend", default="torch",
                   help="where circuits run: torch, aer, aer:fake_manila_v2, aer:fake_torino:density, ibm:ibm_torino, "
                        "... (default torch)")
    r.add_argument("--manifest", type=Path, default=Path("kernel-run.json"),
                   help="the run's manifest (JSON, default kernel-run.json); rerunning the same command resumes it")
    r.add_argument("--dataset", default="digits", help="digits (default), mnist, fashion-mnist, kmnist")
    r.add_argument("--data-dir", default=None, help="folder with the IDX files (default $QCSTAR_DATA)")
    r.add_argument("--encoder", default="amplitude", help=f"one of {', '.join(RUN_ENCODERS)} (default amplitude)")
    r.add_argument("--qubits", type=int, default=6, help="qubits of the angle encoder (default 6)")
    r.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE first (default: native)")
    r.add_argument("--train", type=int, default=40, help="training images (default 40)")
    r.add_argument("--test", type=int, default=20, help="test images (default 20)")
    r.add_argument("--shots", type=int, default=1000, help="shots per circuit (default 1000)")
    r.add_argument("--method", default="compute-uncompute", help=f"one of {', '.join(RUN_METHODS)}")
    r.add_argument("--bases", type=int, default=50, help="random measurement bases per state (shadows; default 50)")
    r.add_argument("--gamma", type=positive_float, default=1.0, help="the projected kernel's gamma (default 1)")
    r.add_argument("--mitigation", default="", help="comma-separated: readout, depolarizing (default none)")
    r.add_argument("--psd", action="store_true", help="project the training Gram onto the PSD cone")
    r.add_argument("--chunk-size", type=int, default=2048, help="most circuits per job (default 2048)")
    r.add_argument("--budget", type=int, default=None, help="most executions (circuits x shots) to submit")
    r.add_argument("--dry-run", action="store_true", help="print circuits, executions, jobs and device time; submit nothing")
    r.add_argument("--C", type=positive_float, default=1.0, dest="C", help="SVM regularisation (default 1)")
    r.add_argument("--out", type=Path, default=None, help="JSON result (default: the manifest with .result.json)")
    add_common(r)
    r.set_defaults(func=run_shots)
    return p


def _check(args: argparse.Namespace) -> None:
    if args.encoder.startswith("cstar:"):
        if not Path(args.encoder[len("cstar:"):]).is_file():
            raise ConfigError(f"--encoder {args.encoder}: no checkpoint file there; pass cstar:RUN/checkpoint.pt "
                              "of a run of qcstar train")
    elif args.encoder not in ENCODERS:
        raise ConfigError(f"--encoder must be one of {', '.join(ENCODERS)}, got {args.encoder!r}")
    if (args.train_circuits is None) != (args.test_circuits is None):
        raise ConfigError("--train-circuits and --test-circuits go together: pass both data set folders")
    for name, value, choices in (("--kernel", args.kernel, KERNELS),
                                 ("--multiclass", args.multiclass, ("ovo", "ovr")),
                                 ("--route", args.route, ("auto", "gram", "poly"))):
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    if args.route == "poly" and args.kernel != "fidelity":
        raise ConfigError("--route poly is LIBSVM's polynomial kernel, the fidelity kernel on real states: use it "
                          f"with --kernel fidelity, or --route gram (or auto) with --kernel {args.kernel}")
    for name, value in (("--train", args.train), ("--test", args.test)):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be a positive number of images, got {value}")
    if not args.cache_mb > 0:
        raise ConfigError(f"--cache-mb must be a positive number of megabytes, got {args.cache_mb}")


def _subset(n_total: int, n: int | None, seed: int):
    import torch

    if n is None or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def load_images_for_svm(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, str]:
    """(x_train, y_train, x_test, y_test, protocol note): official splits for MNIST and Fashion-MNIST
    (a seeded subset when fewer images are asked for), pooled splits for KMNIST and digits."""
    from qcstar.data import load_images, load_split
    from qcstar.data.splits import PoolTooSmallError

    name = args.dataset.lower()
    if name in ("mnist", "fashion-mnist", "fashion_mnist", "fashion"):
        x_tr, y_tr = load_images(name, "train", data_dir=args.data_dir)
        x_te, y_te = load_images(name, "test", data_dir=args.data_dir)
        i_tr, i_te = _subset(len(y_tr), args.train, args.seed), _subset(len(y_te), args.test, args.seed + 1)
        note = (f"official splits: {len(i_tr)} of {len(y_tr)} training and {len(i_te)} of {len(y_te)} test images"
                + (f" (seeded subsets, seed {args.seed})" if len(i_tr) < len(y_tr) or len(i_te) < len(y_te) else ""))
        return x_tr[i_tr], y_tr[i_tr], x_te[i_te], y_te[i_te], note
    try:
        splits = load_split(name, n_train=args.train, n_test=args.test, n_val=0, seed=args.seed,
                            data_dir=args.data_dir)
    except PoolTooSmallError as exc:
        given = " ".join(f"{flag} {v}" for flag, v in (("--train", args.train), ("--test", args.test)) if v is not None)
        raise ConfigError(f"{given}: {args.dataset} is one pool of {exc.pool:,} images that train and test are drawn "
                          f"from, so --train + --test must fit in it ({exc}); leave --train out to take the rest of "
                          "the pool") from None
    (x_tr, y_tr), (x_te, y_te) = splits["train"], splits["test"]
    note = str(getattr(splits, "note", "") or f"{name}: seeded splits").rstrip(".")
    return x_tr, y_tr, x_te, y_te, f"{note}; {len(y_tr)} train / {len(y_te)} test images"


class _ResizedImages:
    """An encoder taking raw images: resized and scaled to [0, 1] (as ``qcstar train`` prepared them),
    then encoded by ``encoder`` (a net's encoder expects its training input)."""

    def __init__(self, encoder: Any, size: int, max_value: float):
        self.encoder, self.size, self.max_value = encoder, size, max_value

    def states(self, x: Any) -> Any:
        from qcstar.data import prepare

        return self.encoder.states(prepare(x, size=self.size, max_value=self.max_value))

    def __repr__(self) -> str:
        return f"{self.encoder!r} on images resized to {self.size} x {self.size}"


def load_circuit_states(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, str]:
    """States prepared by the circuits of two data sets (their first ``--train`` / ``--test``
    items), with the sets' labels, and a protocol note naming the sets and their levels."""
    from qcstar.data.read import load_dataset

    parts = []
    for path, limit in ((args.train_circuits, args.train), (args.test_circuits, args.test)):
        ds = load_dataset(path, limit=limit)
        parts += [ds.circuit_states(), ds.labels]
        print(f"  {path}: {len(ds)} circuits on {ds.n_qubits} qubits (level {ds.meta.get('level')}), simulated",
              flush=True)
    note = (f"circuits: first {len(parts[1])} of {args.train_circuits} and first {len(parts[3])} of "
            f"{args.test_circuits}")
    args.dataset = f"circuits ({args.train_circuits.name})"
    return parts[0], parts[1], parts[2], parts[3], note


def _encoder(args: argparse.Namespace, max_value: float):
    if args.encoder.startswith("cstar:"):
        from qcstar.encoders import CStarEncoder
        from qcstar.train import load_model

        net = load_model(args.encoder[len("cstar:"):])
        height, width = tuple(net.in_shape)[-2:]
        if height != width:
            raise ConfigError(f"the net takes {height} x {width} images; only square inputs are resized here")
        return _ResizedImages(CStarEncoder(net), height, max_value)
    if args.encoder == "amplitude":
        from qcstar.encoders import AmplitudeEncoder

        return AmplitudeEncoder(size=args.size, max_value=max_value)
    if args.encoder == "angle":
        from qcstar.encoders import AngleEncoder

        size = args.size or 4
        # one angle per pixel: as many repetitions (CX ladders between them) as the pixels need
        reps = -(-size * size // args.qubits)
        return AngleEncoder(n_qubits=args.qubits, size=size, reps=reps, max_value=max_value)
    from qcstar.encoders import AQCEEncoder

    return AQCEEncoder(level=args.encoder.split("-", 1)[1], device=args.device)


def run_svm(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from qcstar.circuits.files import write_atomic
    from qcstar.kernels import FidelityKernel, ProjectedKernel, QuantumKernelSVC, vote

    _check(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    if args.train_circuits is not None:
        x_tr, y_tr, x_te, y_te, note = load_circuit_states(args)
        encoder, args.encoder = None, "circuits"
    else:
        x_tr, y_tr, x_te, y_te, note = load_images_for_svm(args)
        max_value = 255.0 if x_tr.dtype == torch.uint8 else 1.0  # load_split gives [0, 1] floats
        encoder = _encoder(args, max_value)
    header = note if note.lower().startswith(args.dataset.lower()) else f"{args.dataset}, {note}"
    print(f"qcstar kernel svm: {header}; encoder {args.encoder}, {args.kernel} kernel, "
          f"{args.multiclass}, C={args.C}", flush=True)
    # 2,048-row tiles: the largest MNIST pair Gram (13,000^2 float64, 1.3 GB) plus ~0.2 GB of tile
    common = dict(encoder=encoder, device=args.device, dtype=torch.complex128, tile=2048)
    kernel = ProjectedKernel(gamma=args.gamma, **common) if args.kernel == "projected" else FidelityKernel(**common)
    clf = QuantumKernelSVC(kernel=kernel, C=args.C, multiclass=args.multiclass, route=args.route,
                           cache_size=args.cache_mb, verbose=not args.no_progress)
    t0 = time.perf_counter()
    clf.fit(x_tr, y_tr.numpy())
    t_fit = time.perf_counter() - t0
    print(f"fit: {t_fit:.1f} s, route {clf.route_}, {len(clf.support_)} support vectors", flush=True)
    t0 = time.perf_counter()
    dec = clf.decision_function(x_te)
    t_predict = time.perf_counter() - t0
    y = y_te.numpy()
    classes = clf.classes_
    accuracy: dict[str, float] = {}
    ties = None
    if len(classes) > 2 and args.multiclass == "ovo":
        for rule in ("libsvm", "sklearn"):
            accuracy[rule] = float(np.mean(classes[vote(dec, len(classes), rule=rule)] == y))
        ties = int(np.sum(classes[vote(dec, len(classes), rule="libsvm")] != classes[vote(dec, len(classes),
                                                                                             rule="sklearn")]))
    elif len(classes) > 2:
        accuracy["argmax"] = float(np.mean(classes[np.argmax(dec, axis=1)] == y))
    else:
        accuracy["sign"] = float(np.mean(classes[(dec > 0).astype(int)] == y))
    wall = time.perf_counter() - t_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    result = {
        "dataset": args.dataset, "protocol": note, "encoder": args.encoder, "kernel": args.kernel,
        "multiclass": args.multiclass, "route": clf.route_, "C": args.C, "n_train": int(len(y_tr)),
        "n_test": int(len(y)), "n_support_vectors": int(len(clf.support_)), "accuracy": accuracy,
        "predictions_differing_between_vote_rules": ties, "seconds": {"fit": t_fit, "predict": t_predict, "wall": wall},
        "peak_rss_bytes": int(peak), "machine": f"{platform.machine()}, {platform.node()}, "
                                                f"{torch.get_num_threads()} torch threads", "seed": args.seed,
    }
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    shown = ", ".join(f"{100 * v:.2f} % ({k})" for k, v in accuracy.items())
    differ = "test image differs" if ties == 1 else "test images differ"
    print(f"accuracy: {shown}" + (f"; {ties} {differ} between the two vote rules" if ties is not None else ""))
    print(f"wall time {wall:.1f} s (fit {t_fit:.1f} s, predict {t_predict:.1f} s), peak memory "
          f"{peak / 2**30:.2f} GiB; result in {args.out}")
    return 0


def _run_encoder(args: argparse.Namespace, x_train: Any, max_value: float) -> Any:
    """The encoder of ``kernel run``: angle encoding uses ``--qubits`` principal components of the training images."""
    if args.encoder == "angle":
        from qcstar.encoders import AngleEncoder

        return AngleEncoder(n_qubits=args.qubits, pca=args.qubits, size=args.size, max_value=max_value).fit(x_train)
    return _encoder(args, max_value)


def _check_run(args: argparse.Namespace) -> list[str]:
    for name, value, choices in (("--encoder", args.encoder, RUN_ENCODERS), ("--method", args.method, RUN_METHODS)):
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    for name, value in (("--train", args.train), ("--test", args.test), ("--shots", args.shots),
                        ("--bases", args.bases), ("--chunk-size", args.chunk_size)):
        if value < 1:
            raise ConfigError(f"{name} must be a positive number, got {value}")
    mitigation = [m.strip() for m in args.mitigation.split(",") if m.strip()]
    from qcstar.kernels.shots import MITIGATIONS

    bad = [m for m in mitigation if m not in MITIGATIONS]
    if bad:
        raise ConfigError(f"--mitigation takes a comma-separated list of {', '.join(MITIGATIONS)}, got {bad}")
    return mitigation


def run_shots(args: argparse.Namespace) -> int:
    """``qcstar kernel run``: see :data:`RUN_DOC`."""
    import numpy as np
    import torch
    from sklearn.svm import SVC

    from qcstar.circuits.backends import get_backend
    from qcstar.circuits.errors import ResourceError
    from qcstar.circuits.files import write_atomic
    from qcstar.kernels import FidelityKernel, ProjectedKernel
    from qcstar.kernels.shots import part_path

    mitigation = _check_run(args)
    t_start = time.perf_counter()
    x_tr, y_tr, x_te, y_te, note = load_images_for_svm(args)
    max_value = 255.0 if x_tr.dtype == torch.uint8 else 1.0
    encoder = _run_encoder(args, x_tr, max_value)
    backend = get_backend(args.backend)
    print(f"qcstar kernel run: {args.dataset}, {note}; encoder {args.encoder}, {args.method} with {args.shots} shots "
          f"on {backend.name}" + (f", mitigation {', '.join(mitigation)}" if mitigation else ""), flush=True)

    def kernel(part: str) -> Any:
        common = dict(encoder=encoder, backend=backend, shots=args.shots, seed=args.seed, mitigation=tuple(mitigation),
                      chunk_size=args.chunk_size, manifest=part_path(args.manifest, part))
        if args.method == "projected":
            return ProjectedKernel(gamma=args.gamma, **common)
        return FidelityKernel(method=args.method, n_bases=args.bases, enforce_psd=args.psd and part != "test",
                              **common)

    # O(N) methods measure every image once: one symmetric estimate over train + test, then its blocks.
    # Compute-uncompute runs the training pairs (i < j) and the test x train block, nothing else.
    joint = args.method != "compute-uncompute"
    n_train = len(y_tr)
    x_all = torch.cat([torch.as_tensor(x_tr), torch.as_tensor(x_te)]) if joint else None
    parts = {"all": kernel("all")} if joint else {"train": kernel("train"), "test": kernel("test")}
    plans = parts["all"].plan(x_all) if joint else parts["train"].plan(x_tr) + parts["test"].plan(x_te, x_tr)
    circuits = sum(p.circuits for _, p in plans)
    executions = sum(p.executions for _, p in plans)
    to_submit = sum(p.executions_to_submit for _, p in plans)
    jobs = sum(len(p.chunks) for _, p in plans)
    seconds = [p.estimated_seconds for _, p in plans]
    device = "unknown" if any(t is None for t in seconds) else f"{sum(seconds):.1f} s"
    print(f"plan: {circuits} circuits, {executions} executions in {jobs} job(s) ({to_submit} executions still to "
          f"submit), estimated device time {device}" + ("; readout calibration circuits come on top" if
                                                        "readout" in mitigation else ""), flush=True)
    index = {"format": "qcstar-kernel-cli-run/1", "command": "qcstar kernel run",
             "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"},
             "backend": backend.describe(), "parts": {name: part_path(args.manifest, name).name for name in parts},
             "status": "planned", "plan": {"circuits": circuits, "executions": executions, "jobs": jobs}}
    if args.dry_run:
        for part, plan in plans:
            print(f"  {part}: {plan}")
        return 0
    if args.budget is not None and to_submit > args.budget:
        raise ResourceError(f"the run needs {to_submit} executions, over --budget {args.budget}; nothing was submitted. "
                            "Lower --shots, --train or --test, or raise --budget")
    from qcstar.circuits.backends.jobs import _redact

    index["backend"] = _redact(index["backend"])
    index["status"] = "running"
    write_atomic(args.manifest, json.dumps(index, indent=1) + "\n")  # before waiting on anything
    if joint:
        full = parts["all"].evaluate(x_all)
        gram, test = full[:n_train, :n_train], full[n_train:, :n_train]
    else:
        gram = parts["train"].evaluate(x_tr)
        test = parts["test"].evaluate(x_te, x_tr)
    runs = [k.last_run_ for k in parts.values()]
    y_train, y_test = y_tr.numpy(), y_te.numpy()
    accuracy = float(SVC(kernel="precomputed", C=args.C).fit(gram, y_train).score(test, y_test))
    result: dict[str, Any] = {
        "dataset": args.dataset, "protocol": note, "encoder": args.encoder, "method": args.method,
        "backend": backend.name, "shots": args.shots, "mitigation": mitigation, "n_train": int(len(y_train)),
        "n_test": int(len(y_test)), "accuracy": accuracy,
        "circuits": sum(r.circuits for r in runs), "executions": sum(r.executions for r in runs),
        "jobs": sum(r.jobs for r in runs), "calibration_circuits": sum(r.calibration_circuits for r in runs),
    }
    if len(y_train) <= EXACT_UP_TO:
        exact_kernel = ProjectedKernel(gamma=args.gamma, encoder=encoder, dtype=torch.complex128) \
            if args.method == "projected" else FidelityKernel(encoder=encoder, dtype=torch.complex128)
        exact, exact_test = exact_kernel.evaluate(x_tr), exact_kernel.evaluate(x_te, x_tr)
        result["kernel_error"] = {"frobenius_relative": float(np.linalg.norm(gram - exact) / np.linalg.norm(exact)),
                                  "max": float(np.abs(gram - exact).max()),
                                  "test_max": float(np.abs(test - exact_test).max())}
        result["exact_accuracy"] = float(SVC(kernel="precomputed", C=args.C).fit(exact, y_train).score(exact_test, y_test))
    result["seconds"] = time.perf_counter() - t_start
    result["machine"] = f"{platform.machine()}, {torch.get_num_threads()} torch threads"
    out = args.out or args.manifest.with_name(args.manifest.stem + ".result.json")
    write_atomic(out, json.dumps(result, indent=2) + "\n")
    index.update(status="done", result=out.name)
    write_atomic(args.manifest, json.dumps(index, indent=1) + "\n")
    print(f"accuracy {100 * accuracy:.2f} %" + (f" (exact kernel: {100 * result['exact_accuracy']:.2f} %)"
                                                 if "exact_accuracy" in result else ""))
    if "kernel_error" in result:
        e = result["kernel_error"]
        print(f"kernel error vs exact: relative Frobenius {e['frobenius_relative']:.4f}, max {e['max']:.4f} "
              f"(test block max {e['test_max']:.4f})")
    print(f"{result['circuits']} circuits, {result['executions']} executions, {result['jobs']} job(s)"
          + (f", {result['calibration_circuits']} calibration circuits" if result["calibration_circuits"] else "")
          + f"; {result['seconds']:.1f} s; result in {out}")
    return 0
