"""Command-line helpers of the scripts in ``experiments/``.

* ``quick_output``: where a ``--quick`` smoke run writes - never into ``experiments/results/``.
* ``comma_choices``, ``positive_int``: flag checks that end in argparse's error (exit 2).
* ``append_json_line``: the resumable run logs (one JSON line per finished unit of work).
* ``pyplot``: matplotlib on the file-only Agg backend, or None with a hint when it is missing.
* ``save_png``: a matplotlib figure written atomically (a killed run never leaves half a PNG).
* ``run_script``: the entry point; qcstar's own errors end a script with their message.

Every script in ``experiments/`` takes ``--quick``: tiny sizes, seconds, the same code path
(PennyLane side included), results in a fresh temporary folder (``$TMPDIR`` is honoured) or an
explicit ``--out`` outside ``experiments/results/``, so that a smoke run never overwrites a
published table. ``tests/experiments/test_quick.py`` runs every script that way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, NoReturn

from qcstar.circuits.errors import QcstarError

RESULTS = Path(__file__).resolve().parent / "results"


def quick_output(
    parser: argparse.ArgumentParser,
    given: str | Path | None,
    *,
    name: str,
    filename: str | None = None,
    flag: str = "--out",
) -> Path:
    """Where a ``--quick`` run of script ``name`` writes.

    ``given``: what the user passed with ``flag`` (a folder, file or prefix, as the script
    defines it), or None: then a fresh temporary folder, joined with ``filename`` when the
    script's flag names a file. A path inside ``experiments/results/`` ends the program through
    ``parser.error`` (exit 2): smoke numbers must never replace the published ones.
    """
    if given is None:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-quick-"))
        print(f"--quick: results go to {folder}", flush=True)
        return folder / filename if filename else folder
    path = Path(given).resolve()
    if path == RESULTS or RESULTS in path.parents:
        parser.error(
            f"--quick writes smoke-test results, never into {RESULTS} (got {flag} {given}); "
            f"drop {flag} for a temporary folder or give a path outside experiments/results/"
        )
    return path


def comma_choices(parser: argparse.ArgumentParser, flag: str, value: str, allowed: Collection[str]) -> list[str]:
    """``value`` of ``flag`` split at commas, each item checked against ``allowed``; a wrong or
    empty item ends the program through ``parser.error`` (exit 2) naming the allowed ones."""
    items = [item.strip() for item in value.split(",")]
    wrong = [item for item in items if item not in allowed]
    if wrong:
        parser.error(f"{flag}: {', '.join(map(repr, wrong))} not known; expected a comma-separated "
                     f"list of {', '.join(sorted(allowed))} (got {value!r})")
    return items


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts and sizes: an int >= 1 (a 0 would divide by zero or do nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def read_json_lines(path: Path, key: str | None = None) -> Any:
    """The records of a JSON-lines log written by :func:`append_json_line`: a list, or with ``key``
    a dict by ``record[key]`` (a later line wins). Blank lines and a line torn by a kill are skipped
    (the torn record is redone by the resumed run)."""
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records if key is None else {r[key]: r for r in records}


def run_jobs(fn: Callable[[Any], dict], jobs: list, *, workers: int, log: Path,
             describe: Callable[[dict], str]) -> None:
    """Run ``fn`` on every job (in ``workers`` forked processes when > 1), appending each record
    to ``log`` as it finishes (so a kill loses only the jobs in flight) and printing
    ``[i/n] describe(record)``."""
    def done(i: int, rec: dict) -> None:
        append_json_line(log, rec)
        print(f"[{i + 1}/{len(jobs)}] {describe(rec)}", flush=True)

    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            for i, rec in enumerate(pool.imap_unordered(fn, jobs, chunksize=1)):
                done(i, rec)
    else:
        for i, job in enumerate(jobs):
            done(i, fn(job))


def append_json_line(path: Path, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` and fsync it.

    A run killed mid-write leaves a torn last line without its newline; readers skip lines
    that do not parse, and this starts a new line first, so the record appended after a
    resume is never glued to the torn one (and then lost to the next reader).
    """
    with open(path, "ab+") as fh:
        torn = False
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        fh.write((b"\n" if torn else b"") + json.dumps(record).encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or None (with a hint) when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'qcstar[plot]')")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path, *, dpi: int = 110) -> None:
    """Render ``fig`` to PNG in memory, write it atomically to ``path`` and close the figure."""
    import io

    import matplotlib.pyplot as plt

    from qcstar.circuits.files import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def run_script(main: Callable[[], object]) -> NoReturn:
    """Call a script's ``main()`` and exit with its status: an int it returns, else 0.

    A :class:`~qcstar.circuits.errors.QcstarError` (missing data files, a size over the memory
    limit, ...) already says what was expected and how to fix it, so it ends the script as
    ``<script>: error: <message>`` with exit 1 instead of a traceback.
    """
    try:
        status = main()
    except QcstarError as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
