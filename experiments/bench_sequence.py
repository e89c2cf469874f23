"""Training throughput of the sequence classifiers at MNIST f80 sequence lengths (issue 12).

For each model (S4D, Transformer, LSTM; backbones size-matched, :func:`qcstar.sequence.size_matched`)
and each tokenizer's f80 length (``gate`` 32, ``lexical`` 2,205 with 256 number bins, ``char``
5,880 tokens: the means over our AQCE build of the first MNIST test images), one AdamW training
step on random tokens is timed after a warm-up: training tokens per second (padding-free
batches of about ``--tokens`` tokens). On the CPU, and on CUDA (bf16 autocast) when present.
The last line: the S4D layer's FFT convolution against its recurrent form (the same outputs;
:meth:`qcstar.sequence.S4D.recurrent_convolve`) as a speed ratio.

    python experiments/bench_sequence.py            # writes experiments/results/bench_sequence.md
    python experiments/bench_sequence.py --quick    # seconds, short lengths, temporary folder
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import RESULTS, positive_int, quick_output, run_script  # noqa: E402

NAME = "bench_sequence"
#: mean f80 lengths per tokenizer (MNIST test images 0..999, our AQCE build) and their vocabularies
LENGTHS = {"gate": (32, 2451, 36), "lexical": (2205, 358, 0), "char": (5880, 97, 0)}
QUICK_LENGTHS = {"gate": (32, 2451, 36), "lexical": (96, 358, 0), "char": (160, 97, 0)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d-model", type=positive_int, default=64, help="S4D width; the others are size-matched (default 64)")
    p.add_argument("--layers", type=positive_int, default=4, help="layers (default 4)")
    p.add_argument("--d-state", type=positive_int, default=64, help="S4D state size N (default 64)")
    p.add_argument("--tokens", type=positive_int, default=8192, help="tokens per training batch (default 8192; GPU x8)")
    p.add_argument("--seconds", type=float, default=3.0, help="timing per configuration after warm-up (default 3)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--cpu-attention-limit", type=positive_int, default=3000,
                   help="skip the Transformer on the CPU above this length (one step of full attention over 5.9k "
                        "tokens takes minutes on a small CPU; default 3000)")
    p.add_argument("--out", default=None, help="output folder (default experiments/results)")
    p.add_argument("--quick", action="store_true", help="seconds: short lengths, tiny models, temporary folder")
    return p.parse_args(argv), p


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s), shared 2-core VM, no GPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(kind: str, options: dict, length: int, vocab: int, n_features: int, batch: int,
                  device: torch.device, seconds: float) -> tuple[float, int, dict]:
    """Training tokens per second of one model at one length: warm-up step, then steps for ``seconds``."""
    from qcstar.circuits.tokens import TokenSequences
    from qcstar.sequence import make_model

    torch.manual_seed(0)
    opts = dict(options)
    if kind == "transformer":
        opts["max_len"] = length
    model = make_model(kind, vocab_size=vocab, n_features=n_features, n_classes=10, **opts).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = TokenSequences(torch.randint(1, vocab, (batch, length)), torch.full((batch,), length),
                       torch.randn(batch, length, n_features) if n_features else None).to(device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    _sync(device)
    steps, t0 = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - t0 < seconds:
        step()
        steps += 1
    _sync(device)
    elapsed = time.perf_counter() - t0
    return batch * length * steps / elapsed, steps, model.parameter_counts()


def conv_vs_recurrence(device: torch.device, length: int, d_model: int, d_state: int) -> tuple[float, float, float]:
    """Seconds of the S4D layer's FFT convolution and of its recurrent form on (4, H, L); max |difference|."""
    from qcstar.sequence import S4D

    torch.manual_seed(0)
    layer = S4D(d_model=d_model, d_state=d_state).to(device)
    u = torch.randn(4, d_model, length, device=device)
    with torch.no_grad():
        layer.convolve(u)
        _sync(device)
        t0 = time.perf_counter()
        fft = layer.convolve(u)
        _sync(device)
        t_fft = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec = layer.recurrent_convolve(u)
        _sync(device)
        t_rec = time.perf_counter() - t0
    return t_fft, t_rec, float((fft - rec).abs().max())


def main(argv=None) -> int:
    args, parser = parse_args(argv)
    torch.set_num_threads(args.threads)
    from qcstar.circuits.files import write_atomic
    from qcstar.sequence import size_matched

    if args.quick:
        out = quick_output(parser, args.out, name=NAME)
        d_model, layers, d_state, seconds, lengths = 8, 1, 8, 0.0, QUICK_LENGTHS
        args.tokens = 256
    else:
        out = Path(args.out) if args.out else RESULTS
        d_model, layers, d_state, seconds, lengths = args.d_model, args.layers, args.d_state, args.seconds, LENGTHS
    out.mkdir(parents=True, exist_ok=True)
    configs = size_matched(d_model=d_model, n_layers=layers, d_state=d_state)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    lines = ["# Sequence classifiers: training throughput at MNIST f80 lengths", "",
             f"Size-matched backbones (S4D d_model {d_model}, {layers} layers, N = {d_state}; Transformer / LSTM "
             "widths matched to its parameter count), one AdamW step on random tokens, padding-free batches of about "
             f"{args.tokens} tokens ({8 * args.tokens} on a GPU, bf16 autocast), timed after a warm-up step. "
             f"Load average when it started: {os.getloadavg()[0]:.1f} (other jobs share this machine; the "
             "numbers are lower bounds).", "",
             "| device | model | tokenizer | length | batch | params (backbone) | steps | training tokens/s |",
             "|---|---|---|---|---|---|---|---|"]
    for device in devices:
        budget = args.tokens * (8 if device.type == "cuda" else 1)
        for tok, (length, vocab, n_features) in lengths.items():
            batch = max(1, budget // length)
            for kind in ("s4d", "transformer", "lstm"):
                options = {k: v for k, v in configs[kind].items() if k != "backbone_params"}
                if kind == "transformer" and device.type == "cpu" and length > args.cpu_attention_limit:
                    lines.append(f"| {machine(device)} | {kind} | {tok} | {length} | {batch} | - | 0 | not run: "
                                 f"longer than --cpu-attention-limit {args.cpu_attention_limit} |")
                    continue
                rate, steps, params = time_training(kind, options, length, vocab, n_features, batch, device, seconds)
                row = (f"| {machine(device)} | {kind} | {tok} | {length} | {batch} | {params['backbone']:,} | {steps} | "
                       f"{rate:,.0f} |")
                print(row, flush=True)
                lines.append(row)
                write_atomic(out / f"{NAME}.md", "\n".join(lines + ["", "(running)", ""]))  # a kill keeps the rows
    conv_length = 256 if args.quick else 2048
    ratios = []
    for device in devices:
        t_fft, t_rec, diff = conv_vs_recurrence(device, conv_length, d_model, d_state)
        ratios.append(f"{machine(device)}: FFT {1000 * t_fft:.1f} ms, recurrence {1000 * t_rec:.0f} ms, "
                      f"ratio {t_rec / t_fft:,.0f}x (max |difference| {diff:.1e})")
    last = (f"S4D FFT convolution vs recurrent form at L = {conv_length}, H = {d_model}, N = {d_state}, batch 4: "
            + "; ".join(ratios))
    lines += ["", "Command: `python experiments/bench_sequence.py " + " ".join(sys.argv[1:] if argv is None else argv)
              + "`", "", last, ""]
    write_atomic(out / f"{NAME}.md", "\n".join(lines))
    print(last)
    print(f"ratio_fft_vs_recurrence={t_rec / t_fft:.1f}")  # the last device's (CUDA when present)
    return 0


if __name__ == "__main__":
    run_script(main)
