"""S4D: a diagonal state-space layer (Gu, Gupta, Goel, Re, "On the Parameterization and
Initialization of Diagonal State Space Models", NeurIPS 2022, arXiv:2206.11893), written from the
paper. Needs only torch.

The continuous model of one channel (the paper's symbols, eq. 1)::

    x'(t) = A x(t) + B u(t),    y(t) = C x(t) + D u(t)

with ``A = diag(A_1 .. A_N)`` complex, in conjugate pairs: only ``N/2`` of them are kept and the
output is ``2 Re(...)`` (real signals). ``A = -exp(log_A_real) + i A_imag`` keeps ``Re A < 0``
(stable). Initialisations (paper section 4):

* S4D-Lin: ``A_n = -1/2 + i pi n``;
* S4D-Inv: ``A_n = -1/2 + i (N/pi) (N/(2n+1) - 1)``.

``B = 1`` (trained), ``C ~ N(0, 1/2) + i N(0, 1/2)``, and a step ``dt = exp(log_dt)`` per channel
with ``log dt ~ U[log dt_min, log dt_max]``. Zero-order hold (ZOH) discretisation::

    A_bar = exp(dt A),   B_bar = (A_bar - 1) / A * B

gives the recurrence ``x_k = A_bar x_{k-1} + B_bar u_k``, ``y_k = 2 Re(C x_k) + D u_k`` and,
unrolled, the convolution ``y = K * u + D u`` with the kernel (a Vandermonde product)::

    K_l = 2 Re( sum_n C_n B_bar_n A_bar_n^l ),   l = 0 .. L-1.

Training uses the FFT convolution (:meth:`S4D.forward`, O(L log L)); :meth:`S4D.step` is the
recurrent form (O(N) per token). The kernel is built from blocks of ``sqrt(L)`` powers
(:meth:`S4DKernel.forward`), so neither the forward pass nor its backward holds an
``(H, N/2, L)`` complex tensor: memory is ``O(H L + H N sqrt(L))`` (char-level f95 QASM has
L = 24k).

The SSM's own parameters (``log_dt``, ``log_A_real``, ``A_imag``, ``B``) train best with a
smaller learning rate and no weight decay (paper, appendix; the reference code does the same):
:meth:`S4D.optimizer_groups` lists them apart.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from qcstar.circuits.errors import ConfigError, ShapeError

Tensor = torch.Tensor

__all__ = ["S4DKernel", "S4D", "SSM_PARAMETERS"]

#: names of the parameters that get the SSM learning rate and no weight decay
SSM_PARAMETERS = ("log_dt", "log_A_real", "A_imag", "B")


class S4DKernel(nn.Module):
    """The convolution kernel ``K`` (H, L) of ``H`` independent diagonal SSMs of state size ``N``.

    ``init``: ``"lin"`` (S4D-Lin) or ``"inv"`` (S4D-Inv). ``chunk``: the block length ``c`` of the
    kernel's positions (0: ``ceil(sqrt(L))``, which minimises the work; see :meth:`forward`).
    """

    def __init__(self, *, d_model: int, d_state: int = 64, init: str = "lin", dt_min: float = 1e-3,
                 dt_max: float = 1e-1, chunk: int = 0):
        super().__init__()
        if d_state < 2 or d_state % 2:
            raise ConfigError(f"S4D: d_state N must be an even int >= 2 (conjugate pairs), got {d_state!r}")
        if init not in ("lin", "inv"):
            raise ConfigError(f"S4D: init must be 'lin' (S4D-Lin) or 'inv' (S4D-Inv), got {init!r}")
        if not 0 < dt_min <= dt_max:
            raise ConfigError(f"S4D: need 0 < dt_min <= dt_max, got {dt_min!r}, {dt_max!r}")
        if chunk < 0:
            raise ConfigError(f"S4D: chunk must be >= 0 (0: the square root of the length), got {chunk!r}")
        H, N2 = d_model, d_state // 2
        self.chunk = int(chunk)
        # log dt ~ U[log dt_min, log dt_max], one step per channel: (H,)
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        n = torch.arange(N2, dtype=torch.float32)
        if init == "lin":
            a_imag = math.pi * n
        else:
            a_imag = (d_state / math.pi) * (d_state / (2 * n + 1) - 1)
        self.log_dt = nn.Parameter(log_dt)                                          # (H,)
        self.log_A_real = nn.Parameter(torch.full((H, N2), math.log(0.5)))          # (H, N/2): Re A = -1/2
        self.A_imag = nn.Parameter(a_imag.repeat(H, 1))                             # (H, N/2)
        self.B = nn.Parameter(torch.view_as_real(torch.ones(H, N2, dtype=torch.cfloat)).clone())  # (H, N/2, 2)
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N2, dtype=torch.cfloat)).clone())  # (H, N/2, 2), var 1/2 each

    def discrete(self) -> tuple[Tensor, Tensor, Tensor]:
        """``dt A`` (H, N/2), ``C B_bar`` (H, N/2) complex, and ``A_bar`` (H, N/2) (ZOH)."""
        dt = torch.exp(self.log_dt.float())                                         # (H,)
        A = -torch.exp(self.log_A_real.float()) + 1j * self.A_imag.float()          # (H, N/2)
        dtA = dt[:, None] * A                                                       # (H, N/2)
        A_bar = torch.exp(dtA)
        B_bar = (A_bar - 1) / A * torch.view_as_complex(self.B.float())              # (H, N/2)
        CB = torch.view_as_complex(self.C.float()) * B_bar                           # (H, N/2)
        return dtA, CB, A_bar

    def forward(self, L: int) -> Tensor:
        """The kernel ``K`` (H, L), float32.

        Positions ``l = c k + j`` (``c = ceil(sqrt(L))`` unless ``chunk``): ``A_bar^l = A_bar^(c k) A_bar^j``,
        so ``K[c k + j] = 2 Re(sum_n (C B_bar A_bar^(c k))_n (A_bar^j)_n)`` is one batched product of
        an (H, L/c, N/2) and an (H, N/2, c) tensor: O(H N sqrt(L)) exponentials and memory instead
        of the O(H N L) of a materialised Vandermonde matrix, and a matmul for the rest.
        """
        dtA, CB, _ = self.discrete()
        c = min(self.chunk, L) if self.chunk else math.isqrt(max(L - 1, 0)) + 1
        n_blocks = -(-L // c)
        j = torch.arange(c, device=dtA.device, dtype=torch.float32)
        k = torch.arange(n_blocks, device=dtA.device, dtype=torch.float32) * c
        within = torch.exp(dtA[:, :, None] * j)                                        # (H, N/2, c): A_bar^j
        blocks = CB[:, :, None] * torch.exp(dtA[:, :, None] * k)                       # (H, N/2, L/c): CB A_bar^(ck)
        K = 2 * torch.einsum("hnk,hnc->hkc", blocks, within).real                     # (H, L/c, c)
        return K.reshape(K.shape[0], -1)[:, :L]


class S4D(nn.Module):
    """One S4D layer on ``(B, H, L)`` (``transposed``) or ``(B, L, H)`` input, same shape out.

    ``y = GELU(K * u + D u)``, dropout, then a position-wise ``Conv1d(H, 2H, 1)`` and GLU that
    mixes the channels (the SSM itself keeps them apart), as in the paper's experiments.
    ``bidirectional``: a second kernel runs the sequence backwards and the two outputs add
    (a classifier sees the whole sequence from every position); then there is no :meth:`step`.
    """

    def __init__(self, *, d_model: int, d_state: int = 64, init: str = "lin", dropout: float = 0.0,
                 bidirectional: bool = False, transposed: bool = True, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 chunk: int = 0):
        super().__init__()
        if d_model < 1:
            raise ConfigError(f"S4D: d_model H must be >= 1, got {d_model!r}")
        self.h = d_model
        self.n = d_state
        self.bidirectional = bool(bidirectional)
        self.transposed = transposed
        kernel_args = dict(d_state=d_state, init=init, dt_min=dt_min, dt_max=dt_max, chunk=chunk)
        self.kernel = S4DKernel(d_model=d_model * (2 if bidirectional else 1), **kernel_args)
        self.D = nn.Parameter(torch.randn(d_model))                                  # (H,) skip term
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Sequential(nn.Conv1d(d_model, 2 * d_model, kernel_size=1), nn.GLU(dim=-2))

    def convolve(self, u: Tensor) -> Tensor:
        """``K * u + D u`` by FFT of length 2L (no wrap-around): (B, H, L) -> (B, H, L), float32."""
        if u.dim() != 3 or u.shape[1] != self.h:
            raise ShapeError(f"S4D: expected (batch, H={self.h}, L) input, got {tuple(u.shape)}")
        L = u.shape[-1]
        u = u.float()
        k = self.kernel(L)                                                          # (H or 2H, L)
        if self.bidirectional:
            # on a circle of 2L positions the forward kernel takes lags 0..L-1 and the backward one,
            # reversed, lags -1..-L: y_t += sum_j K'_j u_{t+1+j} (the future, without wrap-around)
            k = F.pad(k[:self.h], (0, L)) + F.pad(k[self.h:].flip(-1), (L, 0))      # (H, 2L)
        k_f = torch.fft.rfft(k, n=2 * L)                                            # (H, L+1)
        u_f = torch.fft.rfft(u, n=2 * L)                                            # (B, H, L+1)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]                            # (B, H, L)
        return y + u * self.D[:, None]

    def forward(self, u: Tensor) -> Tensor:
        if not self.transposed:
            u = u.transpose(-1, -2)                                                 # (B, L, H) -> (B, H, L)
        y = self.dropout(F.gelu(self.convolve(u)))
        y = self.output(y)
        return y if self.transposed else y.transpose(-1, -2)

    # -- the recurrent form ---------------------------------------------------------------
    def initial_state(self, batch: int) -> Tensor:
        """The zero state ``x_0``: (B, H, N/2) complex."""
        return torch.zeros(batch, self.h, self.n // 2, dtype=torch.cfloat, device=self.D.device)

    def step(self, u_k: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token of the recurrence: ``x_k = A_bar x_{k-1} + B_bar u_k``,
        ``y_k = 2 Re(C x_k) + D u_k`` (before the GELU and output mix): (B, H) -> (B, H), new state."""
        if self.bidirectional:
            raise ConfigError("S4D: a bidirectional layer has no recurrent form (it reads the future)")
        dt = torch.exp(self.kernel.log_dt.float())
        A = -torch.exp(self.kernel.log_A_real.float()) + 1j * self.kernel.A_imag.float()
        A_bar = torch.exp(dt[:, None] * A)
        B_bar = (A_bar - 1) / A * torch.view_as_complex(self.kernel.B.float())
        state = A_bar * state + B_bar * u_k.float()[..., None]                       # (B, H, N/2)
        y = 2 * (torch.view_as_complex(self.kernel.C.float()) * state).sum(-1).real + self.D * u_k
        return y, state

    def recurrent_convolve(self, u: Tensor) -> Tensor:
        """``K * u + D u`` by running :meth:`step` over ``L``: (B, H, L) -> (B, H, L). O(L N) serial."""
        state = self.initial_state(u.shape[0])
        ys = []
        for k in range(u.shape[-1]):
            y, state = self.step(u[..., k], state)
            ys.append(y)
        return torch.stack(ys, dim=-1)

    def optimizer_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(SSM parameters, the others): the first get the SSM learning rate and no weight decay."""
        ssm = [getattr(self.kernel, name) for name in SSM_PARAMETERS]
        ids = {id(p) for p in ssm}
        return ssm, [p for p in self.parameters() if id(p) not in ids]
