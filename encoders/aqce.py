"""MNISQ's Automatic Quantum Circuit Encoding (AQCE), batched over images in torch.

AQCE (Shirakawa, Ueda, Yunoki, arXiv:2112.14524; as used by MNISQ, arXiv:2306.16627) builds a
circuit ``C = U_M ... U_1`` of real orthogonal two-qubit blocks on freely chosen qubit pairs,
starting from the computational basis state ``|s>`` closest to the target ``|t>``, so that the
overlap ``F = <t|C|s>`` is large. Every block is found algebraically (eigen- and singular value
decompositions of 4x4 matrices); there is no gradient descent and no randomness.

The algorithm, as implemented here (all arithmetic real, float64 by default):

0. **Start**: ``s = argmax_k |t_k|`` (ties: lowest k); the circuit begins with an X gate on
   every qubit whose bit is 1 in ``s``.
1. **Seed**: ``M_0`` identity blocks, then ``N`` sweeps. The sweeps run front to back and
   re-choose the pair of every block, so the placeholders' pairs never matter: the first sweep
   turns the seed into a sequential greedy construction, each block the best one given the
   blocks before it. (We label the placeholders with pair (0, 1).)
2. **Grow** by ``M_delta`` blocks, one at a time: for the residual ``|r> = C^T|t>`` take the
   two-qubit reduced density matrix ``rho_ij`` of every pair, pick the pair with the largest
   top eigenvalue, never the pair of the block currently at the front (the new block would
   merge into it), and insert ``V`` at the FRONT. ``V``'s columns are ``rho_ij``'s
   eigenvectors in descending order, permuted so that ``V|s_ij>`` is the dominant eigenvector
   (MNISQ's C++ code always maps ``|00>`` to it, which is only right when ``s_ij = 00``), with the
   sign that makes the new overlap contribution non-negative.
3. **Sweep** ``N`` times over positions ``m = 1..M``: with ``|phi>`` the blocks before ``m``
   applied to ``|s>`` and ``|chi>`` the blocks after ``m`` undone from ``|t>``, the
   environment ``E_ij = Tr_rest |phi><chi|`` (4x4) of each of the ``n(n-1)/2`` pairs gives the
   best overlap a block on ``(i, j)`` can reach, ``||E_ij||_* = sum of singular values``;
   the block moves to the best pair (ties: lowest pair index) and becomes the polar factor.
   ``phi`` and ``chi`` are updated incrementally, so a sweep costs O(M) block applications.
4. **Stop** when ``M >= M_max`` (MNISQ's budget rule: f80/f90/f95 end at 27/54/108 blocks), or,
   in ``target_overlap`` mode, as soon as the overlap reaches the target.

Rank-deficient environments (for example at position 1, where ``|phi> = |s>`` is a basis
state) have many optimal polar factors; we take the polar factor of ``E + delta I`` with a tiny
``delta`` (1e-7 in float64), i.e. among the optimal blocks the one closest to the identity.
This makes the result independent of the LAPACK build, at an overlap cost below ``~delta``.

How it is fast (per image and sweep position the work is ~200 k multiply-adds):

* the environments of all pairs are partial traces of a few 5-qubit "reduced operators"
  ``R_S = Tr_{not S} |phi><chi|`` (32x32 batched matmuls) over sets ``S`` that together cover
  every pair; no per-pair copies of the state;
* the nuclear norms of all ``B x 45`` environments come from a fixed-count, vectorised
  one-sided Jacobi SVD (no per-matrix LAPACK calls); only the chosen block's polar factor uses
  ``torch.linalg.svd`` on ``(B, 4, 4)``;
* blocks on per-image pairs are applied by one gather, a batched 4x4 matmul and one scatter.

Names: MNISQ's data set files call the overlap ``Re<t|C|s>`` "fidelity" (and so does the
``fidelity/`` folder of our MNISQ-layout files, for compatibility). In this module each name
means one thing: ``overlap`` is ``Re<t|C|s>`` (real, since every block is real), ``fidelity``
is the state fidelity ``|<t|C|s>|^2 = overlap**2``.

Preprocessing is MNISQ's amplitude recipe, :func:`qcstar.encoders.amplitude.mnisq_amplitudes` (the
one implementation shared with ``AmplitudeEncoder``), with the input shape rules of
:mod:`qcstar.encoders.base`: pass ``sample_shape=(28, 28)`` (or call ``fit``) to encode one image.

Example::

    enc = AQCEEncoder(level="f80")               # 27 blocks per image, MNISQ's budget
    res = enc.encode(images)                     # images: (B, 28, 28) uint8 / float
    res.overlap, res.fidelity                    # (B,), (B,)
    states = enc.states(images)                  # (B, 1024) complex128, from the cache
    circs = enc.circuits(images)                 # list of circuits.Circuit (x + 27 'unitary')
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from qcstar.circuits import Circuit, ConfigError, ShapeError
from qcstar.circuits.devices import resolve_device
from qcstar.circuits.digest import content_digest
from qcstar.circuits.linalg import nearest_unitary
from qcstar.circuits.resources import check_memory

from .amplitude import mnisq_amplitudes
from .base import Encoder, check_finite_float, check_sample_shape

Tensor = torch.Tensor

#: MNISQ presets (M_0, M_delta, N sweeps, M_max), arXiv:2306.16627. The one definition of the levels:
#: the data set tools import it.
LEVELS: dict[str, tuple[int, int, int, int]] = {
    "f80": (6, 3, 10, 25),
    "f90": (12, 6, 10, 50),
    "f95": (24, 12, 10, 100),
}

#: Growth schedule (M_0, M_delta, N) of ``target_overlap`` mode when ``level=None``.
TARGET_SCHEDULE: tuple[int, int, int] = (3, 3, 10)

#: Default block cap in ``target_overlap`` mode (f95's budget).
TARGET_MAX_BLOCKS = 108

#: Sweeps of the vectorised one-sided Jacobi SVD (4x4 converges to rounding in <= 5).
JACOBI_SWEEPS = 4


# --------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------

def _fail(msg: str) -> ConfigError:
    return ConfigError(f"AQCEEncoder: {msg}")


def amplitude_vectors(
    images: Any,
    *,
    n_qubits: int = 10,
    scale: float = 255.0,
    dtype: torch.dtype = torch.float64,
    sample_shape: Sequence[int] | None = None,
) -> Tensor:
    """AQCE's targets: :func:`qcstar.encoders.amplitude.mnisq_amplitudes` with MNISQ's defaults
    (10 qubits, pixels divided by ``scale`` = 255, real images only).

    ``images``: (B, H, W) or (B, D) (one image is ``x[None]``, or pass ``sample_shape``).
    Returns real ``(B, 2**n_qubits)``; messages name ``AQCEEncoder``.

    Example::

        t = amplitude_vectors(np.zeros((2, 28, 28)) + 1)   # (2, 1024), t[:, 784:] == 0
    """
    return mnisq_amplitudes(
        images, n_qubits=n_qubits, max_value=scale, sample_shape=sample_shape, allow_complex=False,
        dtype=dtype, name="AQCEEncoder",
    )


# --------------------------------------------------------------------------------------
# index tables (per n_qubits and device)
# --------------------------------------------------------------------------------------

def _cover_sets(n: int, k: int) -> list[tuple[int, ...]]:
    """Greedy, deterministic cover of all qubit pairs by k-subsets (k = n gives one set)."""
    todo = set(itertools.combinations(range(n), 2))
    sets: list[tuple[int, ...]] = []
    while todo:
        best = max(itertools.combinations(range(n), k), key=lambda s: sum(p in todo for p in itertools.combinations(s, 2)))
        sets.append(best)
        todo -= set(itertools.combinations(best, 2))
    return sets


class _Tables:
    """Index tensors for pair environments and per-image two-qubit block application.

    ``pairs`` (P, 2) in lexicographic order (the tie-break order); ``block_idx`` (P, 4, 2**(n-2)):
    the basis index with pair bits ``a = b_i + 2 b_j`` and the other qubits ``r`` (increasing
    order); ``set_perm`` (S * 2**n,): each cover set S as columns (bits of S) and the rest as
    rows; ``env_idx`` (P * 16 * w,): entries of the flattened (S, 2**k, 2**k) reduced operators
    whose sum over the last axis (w = 2**(k-2)) is E_ij[a, c].
    """

    def __init__(self, n: int, device: torch.device):
        self.n = n
        dim = 2**n
        pairs = list(itertools.combinations(range(n), 2))
        self.pairs = torch.tensor(pairs, dtype=torch.long, device=device)
        self.n_pairs = len(pairs)
        rest_n = n - 2
        r = torch.arange(2**rest_n)
        block = torch.empty(len(pairs), 4, 2**rest_n, dtype=torch.long)
        for p, (i, j) in enumerate(pairs):
            others = [q for q in range(n) if q not in (i, j)]
            base = sum(((r >> k) & 1) << q for k, q in enumerate(others)) if others else torch.zeros_like(r)
            for a in range(4):
                block[p, a] = base + ((a & 1) << i) + (((a >> 1) & 1) << j)
        self.block_idx = block.to(device)

        # Cover sets: k = 5 for n = 10 (7 sets, 32x32 matmuls); all qubits for n <= 4.
        k = n if n <= 4 else min(n, max(4, (n + 1) // 2))
        sets = _cover_sets(n, k)
        self.k = k
        self.n_sets = len(sets)
        hi = torch.arange(2 ** (n - k))
        lo = torch.arange(2**k)
        perm = torch.empty(len(sets), 2 ** (n - k), 2**k, dtype=torch.long)
        owner: dict[tuple[int, int], tuple[int, int, int]] = {}
        for s, S in enumerate(sets):
            comp = [q for q in range(n) if q not in S]
            rows = sum(((hi >> b) & 1) << q for b, q in enumerate(comp)) if comp else torch.zeros_like(hi)
            cols = sum(((lo >> b) & 1) << q for b, q in enumerate(S))
            perm[s] = rows[:, None] + cols[None, :]
            for a_, b_ in itertools.combinations(range(k), 2):
                owner.setdefault((S[a_], S[b_]), (s, a_, b_))
        self.set_perm = perm.reshape(-1).to(device)
        w = 2 ** (k - 2)
        env = torch.empty(len(pairs), 4, 4, w, dtype=torch.long)
        wr = torch.arange(w)
        for p, pr in enumerate(pairs):
            s, ka, kb = owner[pr]
            others = [b for b in range(k) if b not in (ka, kb)]
            rest = sum(((wr >> m) & 1) << b for m, b in enumerate(others)) if others else torch.zeros_like(wr)
            for a in range(4):
                u = rest + ((a & 1) << ka) + (((a >> 1) & 1) << kb)
                for c in range(4):
                    v = rest + ((c & 1) << ka) + (((c >> 1) & 1) << kb)
                    env[p, a, c] = s * 4**k + u * 2**k + v
        self.env_idx = env.reshape(-1).to(device)
        self.w = w
        self.sizes = (dim, len(sets) * 4**k)
        self._flat: dict[tuple[str, int], Tensor] = {}

    def flat(self, name: str, batch: int) -> Tensor:
        """``table`` offset per image into a flattened (B, size) tensor: one index_select on
        the flat storage is several times faster than index_select along dim 1."""
        key = (name, batch)
        out = self._flat.get(key)
        if out is None:
            table = self.set_perm if name == "set" else self.env_idx
            size = self.sizes[0] if name == "set" else self.sizes[1]
            out = (table[None, :] + size * torch.arange(batch, device=table.device)[:, None]).reshape(-1)
            if len(self._flat) > 64:
                self._flat.clear()
            self._flat[key] = out
        return out


_TABLES: dict[tuple[int, str], _Tables] = {}


def _tables(n: int, device: torch.device) -> _Tables:
    key = (n, str(device))
    if key not in _TABLES:
        # block_idx alone holds n(n-1)/2 * 2**n int64 indices: refuse sizes that cannot fit
        check_memory(8 * (n * (n - 1) // 2) * 2**n, f"AQCE index tables for {n} qubits", factor=2)
        _TABLES[key] = _Tables(n, device)
    return _TABLES[key]


# --------------------------------------------------------------------------------------
# batched kernels
# --------------------------------------------------------------------------------------

def pair_environments(phi: Tensor, chi: Tensor, tab: _Tables) -> Tensor:
    """``E[b, p, a, c] = sum_rest phi[b, (a, rest)] chi[b, (c, rest)]`` for every pair p.

    phi, chi: (B, 2**n) real. Returns (B, P, 4, 4). ``Tr(U E) = <chi|U|phi>`` for a block U on
    pair p; with ``phi = chi = r`` it is the reduced density matrix of ``r``.
    """
    b = phi.shape[0]
    k, ns = tab.k, tab.n_sets
    rows = 2 ** (tab.n - k)
    perm = tab.flat("set", b)
    f = phi.contiguous().view(-1).index_select(0, perm).view(b * ns, rows, 2**k)  # (B*S, rest, S-bits)
    x = f if chi is phi else chi.contiguous().view(-1).index_select(0, perm).view(b * ns, rows, 2**k)
    red = torch.bmm(f.transpose(1, 2), x)  # (B*S, 2**k, 2**k): R_S = Tr_{not S} |phi><chi|
    e = red.view(-1).index_select(0, tab.flat("env", b)).view(b, tab.n_pairs, 4, 4, tab.w)
    return e.sum(-1)


_ROUNDS = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2))


def singular_values_4x4(e: Tensor, sweeps: int = JACOBI_SWEEPS) -> Tensor:
    """Singular values (unsorted) of a batch of 4x4 real matrices ``(..., 4, 4) -> (..., 4)``.

    One-sided Jacobi with a fixed number of sweeps: elementwise torch ops only, so it is
    vectorised over the whole batch (no per-matrix LAPACK call) and gives the same bits for a
    matrix whatever batch it sits in. Each round rotates two disjoint column pairs at once.
    """
    # cols[k] = column k of e, (..., 4); rounds pair (p1, q1) and (p2, q2) side by side
    c = e.transpose(-1, -2)
    cols = [c[..., k, :] for k in range(4)]
    for _ in range(sweeps):
        for p1, q1, p2, q2 in _ROUNDS:
            cp = torch.stack((cols[p1], cols[p2]))  # (2, ..., 4)
            cq = torch.stack((cols[q1], cols[q2]))
            alpha = (cp * cp).sum(-1)
            beta = (cq * cq).sum(-1)
            gamma = (cp * cq).sum(-1)
            # rotation that makes the two columns orthogonal: tan 2t = 2 gamma / (beta - alpha)
            theta = 0.5 * torch.atan2(2 * gamma, beta - alpha)
            cs = torch.cos(theta).unsqueeze(-1)
            sn = torch.sin(theta).unsqueeze(-1)
            newp = cs * cp - sn * cq
            newq = sn * cp + cs * cq
            cols[p1], cols[p2] = newp[0], newp[1]
            cols[q1], cols[q2] = newq[0], newq[1]
    return torch.linalg.vector_norm(torch.stack(cols, -2), dim=-1)


def apply_blocks(state: Tensor, gates: Tensor, pair: Tensor, tab: _Tables) -> Tensor:
    """Apply one 4x4 block per image on per-image pairs: gather, batched matmul, scatter.

    state (B, 2**n), gates (B, 4, 4) (index b_i + 2 b_j), pair (B,) pair ids. Returns (B, 2**n).
    """
    b = state.shape[0]
    idx = tab.block_idx.index_select(0, pair).view(b, -1)  # (B, 2**n), a permutation per image
    sub = state.gather(1, idx).view(b, 4, -1)
    out = torch.empty_like(state)
    out.scatter_(1, idx, torch.bmm(gates, sub).view(b, -1))
    return out


def _polar(e: Tensor, delta: float) -> Tensor:
    """Orthogonal U maximising Tr(U E) (among ties, the one closest to I): the transposed polar
    factor of E + delta I (``Tr(U E)`` is maximised by ``U = W^T`` when ``E`` has polar factor ``W``)."""
    return nearest_unitary(e, shift=delta).transpose(-1, -2)


def _canonical_signs(vecs: Tensor) -> Tensor:
    """Flip each column so its largest-magnitude entry (first on ties) is positive."""
    arg = vecs.abs().argmax(dim=-2, keepdim=True)  # (B, 1, 4)
    sign = torch.sign(vecs.gather(-2, arg))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return vecs * sign


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------

@dataclass
class AQCEResult:
    """Per-image AQCE circuits and their quality.

    ``matrices[b, k]`` is the k-th block applied (k = 0 acts first on ``|s>``), a real
    orthogonal 4x4 matrix with index ``b_i + 2 b_j`` on ``pairs[b, k] = (i, j)``, ``i < j``.
    Images with fewer than ``M`` blocks (target mode) are padded with identities on pair
    (-1, -1); ``n_blocks[b]`` says how many are real.

    ``overlap`` is ``Re<t|C|s>`` (MNISQ's files call it "fidelity"); ``fidelity`` is the state
    fidelity ``|<t|C|s>|^2``. Circuits record the overlap as ``metadata["overlap"]``.
    """

    matrices: Tensor  # (B, M, 4, 4) real
    pairs: Tensor  # (B, M, 2) long
    n_blocks: Tensor  # (B,) long
    init_bits: Tensor  # (B, n) long, 1 = an X gate on that qubit
    overlap: Tensor  # (B,) Re<t|C|s> (what MNISQ's files call "fidelity")
    fidelity: Tensor  # (B,) the state fidelity |<t|C|s>|^2 = overlap**2
    targets: Tensor  # (B, 2**n) real amplitude vectors
    final_states: Tensor  # (B, 2**n) real C|s>

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def blocks(self, b: int) -> list[tuple[int, int, Tensor]]:
        """Image b's blocks as ``(i, j, 4x4 matrix)`` in application order."""
        m = int(self.n_blocks[b])
        return [(int(self.pairs[b, k, 0]), int(self.pairs[b, k, 1]), self.matrices[b, k]) for k in range(m)]

    def circuit(self, b: int) -> Circuit:
        """Image b as a :class:`circuits.Circuit`: X gates on the set bits, then one 'unitary' per block."""
        n = int(self.init_bits.shape[1])
        c = Circuit(n, metadata={"encoder": "aqce", "overlap": float(self.overlap[b])})
        for q in range(n):
            if int(self.init_bits[b, q]):
                c.x(q)
        for i, j, m in self.blocks(b):
            c.unitary(m.to(torch.float64).cpu(), (i, j))
        return c


# --------------------------------------------------------------------------------------
# the encoder
# --------------------------------------------------------------------------------------

class AQCEEncoder(Encoder):
    """MNISQ's AQCE encoder: images -> real two-qubit-block circuits, batched in torch.

    ``level`` picks MNISQ's presets (f80/f90/f95 -> 27/54/108 blocks). With
    ``target_overlap=tau`` the circuit grows (the level's schedule, or (3, 3, 10) when
    ``level=None``) until the overlap reaches tau or ``max_blocks`` (default 108) is hit.
    ``max_blocks`` caps the blocks in either mode; ``sweeps`` overrides N. ``sample_shape``
    (e.g. ``(28, 28)``) is the shape of one image, so that one image gives one circuit (see
    :mod:`qcstar.encoders.base`; ``fit(images)`` learns it).

    Example::

        enc = AQCEEncoder(level="f90", batch_size=128)
        res = enc.encode(images)              # AQCEResult; res.overlap ~ 0.9 on MNIST
        c0 = enc.circuits(images)[0]          # circuits.Circuit, simulate(c0) == states[0]
    """

    def __init__(
        self,
        *,
        level: str | None = "f80",
        target_overlap: float | None = None,
        n_qubits: int = 10,
        max_blocks: int | None = None,
        sweeps: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
        batch_size: int = 64,
        progress: bool = False,
        sample_shape: Sequence[int] | None = None,
    ):
        if level is not None and level not in LEVELS:
            raise _fail(f"level must be one of {sorted(LEVELS)} or None, got {level!r}")
        if level is None and target_overlap is None:
            raise _fail("give a level ('f80', 'f90', 'f95') or a target_overlap")
        if target_overlap is not None:
            tau = check_finite_float(target_overlap, "target_overlap", self.name, positive=True)
            if tau > 1.0:
                raise _fail(f"target_overlap must be in (0, 1], got {target_overlap}")
        if isinstance(n_qubits, bool) or not isinstance(n_qubits, int) or n_qubits < 2:
            raise _fail(f"n_qubits must be an int >= 2 (blocks act on pairs), got {n_qubits!r}")
        if max_blocks is not None and (isinstance(max_blocks, bool) or not isinstance(max_blocks, int) or max_blocks < 0):
            raise _fail(f"max_blocks must be an int >= 0 or None, got {max_blocks!r}")
        if sweeps is not None and (isinstance(sweeps, bool) or not isinstance(sweeps, int) or sweeps < 0):
            raise _fail(f"sweeps must be an int >= 0 or None, got {sweeps!r}")
        if dtype not in (torch.float64, torch.float32):
            raise _fail(f"dtype must be torch.float64 or torch.float32, got {dtype}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise _fail(f"batch_size must be a positive int, got {batch_size!r}")
        self.level = level
        self.target_overlap = None if target_overlap is None else float(target_overlap)
        self._n_qubits = n_qubits
        if level is not None:
            m0, md, nsw, mmax = LEVELS[level]
        else:
            m0, md, nsw = TARGET_SCHEDULE
            mmax = TARGET_MAX_BLOCKS
        if self.target_overlap is not None:
            # target mode: grow until the overlap is reached; the budget is only a cap
            mmax = TARGET_MAX_BLOCKS if max_blocks is None else max_blocks
            cap = mmax
        else:
            cap = max_blocks  # None: MNISQ's rule (may overshoot M_max by one growth step)
        self.m0, self.m_delta, self.n_sweeps, self.m_max = m0, md, (nsw if sweeps is None else sweeps), mmax
        self.cap = cap
        self.device = resolve_device(device) or torch.device("cpu")  # ConfigError for cuda without CUDA
        self.dtype = dtype
        self.batch_size = batch_size
        self.progress = progress
        self.delta = 1e-7 if dtype == torch.float64 else 1e-4
        self.sample_shape = check_sample_shape(sample_shape, self.name)
        self._cache: tuple[str, AQCEResult] | None = None

    name = "AQCEEncoder"

    @property
    def n_qubits(self) -> int:
        return self._n_qubits

    def _key(self) -> tuple:
        return (self.level, self.target_overlap, self._n_qubits, self.m0, self.m_delta, self.n_sweeps,
                self.m_max, self.cap, str(self.dtype), self.sample_shape)

    def __repr__(self) -> str:
        mode = f"target_overlap={self.target_overlap}" if self.target_overlap is not None else f"level={self.level!r}"
        return (
            f"AQCEEncoder({mode}, n_qubits={self.n_qubits}, schedule=(M0={self.m0}, Mdelta={self.m_delta}, "
            f"N={self.n_sweeps}, Mmax={self.m_max}), cap={self.cap}, dtype={self.dtype}, device={self.device})"
        )

    # -- public API --------------------------------------------------------------------
    def amplitude_vectors(self, images: Any) -> Tensor:
        """MNISQ preprocessing of ``images`` into ``(B, 2**n_qubits)`` real targets."""
        return amplitude_vectors(images, n_qubits=self.n_qubits, dtype=torch.float64, sample_shape=self.sample_shape)

    def config(self) -> dict[str, Any]:
        """The settings that change the circuits (recorded by dataset builds to refuse mixed resumes).

        Batch size, device and progress bars do not change the result (the encoder is
        batch-invariant) and are left out."""
        return {
            "class": "qcstar.encoders.aqce.AQCEEncoder",
            "level": self.level,
            "target_overlap": self.target_overlap,
            "n_qubits": self.n_qubits,
            "m0": self.m0,
            "m_delta": self.m_delta,
            "sweeps": self.n_sweeps,
            "m_max": self.m_max,
            "max_blocks": self.cap,
            "dtype": str(self.dtype),
        }

    def encode(self, images: Any) -> AQCEResult:
        """Run AQCE on a batch of images ``(B, H, W)`` or ``(B, D)``; returns an :class:`AQCEResult`.

        Results are cached for the last input, so ``states``/``circuits`` on the same images
        do not re-run the encoder.
        """
        targets = self.amplitude_vectors(images)
        key = content_digest(targets, repr(self))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        res = self.encode_targets(targets)
        self._cache = (key, res)
        return res

    def states(self, images: Any, *, dtype: torch.dtype | None = None) -> Tensor:
        """The circuit states ``C|s>`` as complex ``(B, 2**n)`` (default complex128 for float64)."""
        res = self.encode(images)
        if dtype is None:
            dtype = torch.complex128 if self.dtype == torch.float64 else torch.complex64
        return res.final_states.to(dtype)

    def circuits(self, images: Any) -> list[Circuit]:
        """One :class:`circuits.Circuit` per image: X gates, then one 'unitary' op per block."""
        res = self.encode(images)
        return [res.circuit(b) for b in range(len(res))]

    def encode_targets(self, targets: Tensor) -> AQCEResult:
        """AQCE on already-preprocessed, L2-normalised real targets ``(B, 2**n)``."""
        if targets.dim() != 2 or targets.shape[1] != 2**self.n_qubits:
            raise ShapeError(f"AQCEEncoder: targets must have shape (B, {2 ** self.n_qubits}), got {tuple(targets.shape)}")
        parts = []
        chunks = range(0, targets.shape[0], self.batch_size)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=targets.shape[0], desc=f"AQCE {self.level or self.target_overlap}", unit="img")
        for s in chunks:
            parts.append(self._encode_batch(targets[s : s + self.batch_size]))
            if bar is not None:
                bar.update(parts[-1].targets.shape[0])
        if bar is not None:
            bar.close()
        return _concat(parts)

    # -- the algorithm -----------------------------------------------------------------
    def _encode_batch(self, targets: Tensor) -> AQCEResult:
        n, dev, dt = self.n_qubits, self.device, self.dtype
        tab = _tables(n, dev)
        t = targets.to(device=dev, dtype=dt)
        bsz = t.shape[0]
        # Step 0: best basis state (ties: lowest index, torch.argmax's rule)
        s_idx = t.abs().argmax(dim=1)  # (B,)
        bits = (s_idx[:, None] >> torch.arange(n, device=dev)) & 1  # (B, n)
        s_state = torch.zeros_like(t)
        s_state.scatter_(1, s_idx[:, None], 1.0)

        gates = torch.zeros(bsz, 0, 4, 4, dtype=dt, device=dev)
        pairs = torch.zeros(bsz, 0, dtype=torch.long, device=dev)
        overlap = t.gather(1, s_idx[:, None]).squeeze(1)
        final = s_state.clone()
        target_mode = self.target_overlap is not None

        # outputs, filled as images finish (target mode) or at the end
        out_gates: list[Tensor | None] = [None] * bsz
        out_pairs: list[Tensor | None] = [None] * bsz
        out_overlap = torch.empty(bsz, dtype=dt, device=dev)
        out_final = torch.empty_like(t)
        active = torch.arange(bsz, device=dev)

        def retire(mask: Tensor) -> None:
            nonlocal active, t, s_state, s_idx, bits, gates, pairs, overlap, final
            for loc in mask.nonzero().flatten().tolist():
                g = int(active[loc])
                out_gates[g] = gates[loc].clone()
                out_pairs[g] = pairs[loc].clone()
                out_overlap[g] = overlap[loc]
                out_final[g] = final[loc]
            keep = ~mask
            active, t, s_state, s_idx, bits = active[keep], t[keep], s_state[keep], s_idx[keep], bits[keep]
            gates, pairs, overlap, final = gates[keep], pairs[keep], overlap[keep], final[keep]

        def reached() -> Tensor:
            return overlap >= self.target_overlap  # type: ignore[operator]

        if target_mode:
            retire(reached())
        cap = self.cap
        m = 0
        seed = self.m0 if cap is None else min(self.m0, cap)
        first = True
        while active.numel() > 0:
            if first:
                add = seed
                first = False
                if add > 0:
                    eye = torch.eye(4, dtype=dt, device=dev).expand(active.numel(), add, 4, 4)
                    gates = eye.clone()
                    pairs = torch.zeros(active.numel(), add, dtype=torch.long, device=dev)
            else:
                if m >= self.m_max or (cap is not None and m >= cap):
                    break
                add = self.m_delta if cap is None else min(self.m_delta, cap - m)
                if add <= 0:
                    break
                gates, pairs = self._grow(t, s_idx, bits, gates, pairs, add, tab)
            m += add
            if m > 0:
                for _ in range(self.n_sweeps):
                    gates, pairs, overlap, final = self._sweep(t, s_state, gates, pairs, tab)
                if self.n_sweeps == 0:
                    final = s_state
                    for k in range(m):
                        final = apply_blocks(final, gates[:, k], pairs[:, k], tab)
                    overlap = (t * final).sum(1)
            if target_mode:
                retire(reached())
            if m == 0 and seed == 0 and self.m_delta == 0:
                break
        if active.numel() > 0:
            retire(torch.ones(active.numel(), dtype=torch.bool, device=dev))

        # pack (pad with identities on pair -1 for images with fewer blocks)
        mmax = max(int(g.shape[0]) for g in out_gates)  # type: ignore[union-attr]
        mats = torch.eye(4, dtype=dt, device=dev).repeat(bsz, mmax, 1, 1)
        prs = torch.full((bsz, mmax, 2), -1, dtype=torch.long, device=dev)
        nb = torch.zeros(bsz, dtype=torch.long)
        for b in range(bsz):
            g, p = out_gates[b], out_pairs[b]
            k = int(g.shape[0])  # type: ignore[union-attr]
            nb[b] = k
            if k:
                mats[b, :k] = g
                prs[b, :k] = tab.pairs[p]  # type: ignore[index]
        bits_all = (targets.to(dev).abs().argmax(dim=1)[:, None] >> torch.arange(n, device=dev)) & 1
        ov = out_overlap
        return AQCEResult(
            matrices=mats.cpu(),
            pairs=prs.cpu(),
            n_blocks=nb,
            init_bits=bits_all.cpu(),
            overlap=ov.cpu(),
            fidelity=(ov * ov).cpu(),
            targets=targets.detach().to(dt).cpu(),
            final_states=out_final.cpu(),
        )

    def _sweep(self, t: Tensor, s_state: Tensor, gates: Tensor, pairs: Tensor, tab: _Tables):
        """One front-to-back sweep: every block becomes the best block on the best pair."""
        m_total = gates.shape[1]
        gates = gates.clone()
        pairs = pairs.clone()
        # chi for position 0: all blocks but the first undone from |t>
        chi = t
        for k in range(m_total - 1, 0, -1):
            chi = apply_blocks(chi, gates[:, k].transpose(-1, -2), pairs[:, k], tab)
        phi = s_state
        rows = torch.arange(t.shape[0], device=t.device)
        for k in range(m_total):
            env = pair_environments(phi, chi, tab)  # (B, P, 4, 4)
            best = singular_values_4x4(env).sum(-1).argmax(dim=1)  # (B,) lowest pair on ties
            u = _polar(env[rows, best], self.delta)
            gates[:, k] = u
            pairs[:, k] = best
            phi = apply_blocks(phi, u, best, tab)
            if k + 1 < m_total:
                chi = apply_blocks(chi, gates[:, k + 1], pairs[:, k + 1], tab)
        overlap = (t * phi).sum(1)
        return gates, pairs, overlap, phi

    def _grow(self, t: Tensor, s_idx: Tensor, bits: Tensor, gates: Tensor, pairs: Tensor, add: int, tab: _Tables):
        """Insert ``add`` blocks at the front, each from the residual's top reduced-density eigenvector."""
        bsz = t.shape[0]
        rows = torch.arange(bsz, device=t.device)
        r = t  # residual C^T |t>
        for k in range(gates.shape[1] - 1, -1, -1):
            r = apply_blocks(r, gates[:, k].transpose(-1, -2), pairs[:, k], tab)
        for _ in range(add):
            rho = pair_environments(r, r, tab)  # (B, P, 4, 4) reduced density matrices
            top = singular_values_4x4(rho).max(dim=-1).values  # = top eigenvalue (rho is PSD)
            if gates.shape[1] > 0:
                # never the pair of the front block: the new block would merge into it
                top = top.scatter(1, pairs[:, :1], float("-inf"))
            best = top.argmax(dim=1)
            _, vecs = torch.linalg.eigh(rho[rows, best])  # ascending
            vecs = _canonical_signs(vecs.flip(-1))  # columns: descending eigenvalues
            ij = tab.pairs[best]  # (B, 2)
            s_ij = bits.gather(1, ij[:, :1]).squeeze(1) + 2 * bits.gather(1, ij[:, 1:]).squeeze(1)
            # dominant eigenvector's sign: make its overlap with r's slice at |s_rest> >= 0
            clear = s_idx & ~((1 << ij[:, 0]) | (1 << ij[:, 1]))
            a = torch.arange(4, device=t.device)
            slice_idx = clear[:, None] + ((a & 1)[None] << ij[:, :1]) + (((a >> 1) & 1)[None] << ij[:, 1:])
            proj = r.gather(1, slice_idx)  # (B, 4)
            dot = (proj * vecs[:, :, 0]).sum(1)
            flip = torch.where(dot < 0, -1.0, 1.0).to(vecs.dtype)
            vecs = torch.cat([vecs[:, :, :1] * flip[:, None, None], vecs[:, :, 1:]], dim=2)
            # column c of V is eigenvector number c XOR s_ij: V|s_ij> = dominant eigenvector
            perm = a[None, :] ^ s_ij[:, None]  # (B, 4)
            v = vecs.gather(2, perm[:, None, :].expand(bsz, 4, 4))
            gates = torch.cat([v[:, None], gates], dim=1)
            pairs = torch.cat([best[:, None], pairs], dim=1)
            r = apply_blocks(r, v.transpose(-1, -2), best, tab)
        return gates, pairs


def _concat(parts: Sequence[AQCEResult]) -> AQCEResult:
    if len(parts) == 1:
        return parts[0]
    m = max(p.matrices.shape[1] for p in parts)

    def pad(x: Tensor, fill: Tensor | float) -> Tensor:
        if x.shape[1] == m:
            return x
        extra = m - x.shape[1]
        if isinstance(fill, Tensor):
            return torch.cat([x, fill.expand(x.shape[0], extra, *fill.shape)], dim=1)
        return torch.cat([x, torch.full((x.shape[0], extra, *x.shape[2:]), fill, dtype=x.dtype)], dim=1)

    eye = torch.eye(4, dtype=parts[0].matrices.dtype)
    return AQCEResult(
        matrices=torch.cat([pad(p.matrices, eye) for p in parts]),
        pairs=torch.cat([pad(p.pairs, -1) for p in parts]),
        n_blocks=torch.cat([p.n_blocks for p in parts]),
        init_bits=torch.cat([p.init_bits for p in parts]),
        overlap=torch.cat([p.overlap for p in parts]),
        fidelity=torch.cat([p.fidelity for p in parts]),
        targets=torch.cat([p.targets for p in parts]),
        final_states=torch.cat([p.final_states for p in parts]),
    )


__all__ = ["AQCEEncoder", "AQCEResult", "LEVELS", "amplitude_vectors", "apply_blocks", "pair_environments", "singular_values_4x4"]
