"""The one simulator: batched, differentiable statevector simulation in torch (CPU or CUDA).

State layout: a complex tensor ``(B, 2**n)`` (or ``(2**n,)``), basis index
``sum_q b_q 2**q`` (qubit 0 = least significant bit, Qiskit's order).

How it stays fast (think in memory passes over the state):

* consecutive single-qubit gates on a wire are fused into one 2x2 matrix per sample;
* a layer of single-qubit gates is applied by grouping the wires into contiguous chunks and
  multiplying the state by the Kronecker product of each chunk, one batched matmul per chunk
  on a *view* of the state (no ``movedim`` copies);
* from the default |0...0> start, the first layer builds the product state directly;
* permutation gates (CX, SWAP, CCX, CSWAP, X-free ladders) and constant diagonal signs (CZ,
  CCZ) are composed into one signed permutation and applied as a single gather, whose
  backward is the inverse gather;
* multiplexed single-qubit gates controlled by the top qubits (the C*-net's block-diagonal
  layers) use the same chunked kernel with one matrix per value of the index register;
* these decisions depend on the ops' structure only, so they are made once per structure
  (:class:`~.plan._CircuitPlan`, cached); executing a plan builds every layer's matrices in one vectorised
  call per gate name, and a run of chunk matmuls and gathers is one autograd node
  (:class:`_FusedChain`) whose backward makes no conjugated copies of the state;
* :func:`expval` simulates only the observable's light cone (:func:`light_cone`).

Everything else (dense 2-qubit blocks, controlled and general multiplexed ops) goes through
one general path that expands the op to a dense matrix on its wires and contracts it.

Modules: :mod:`.matrices` (op matrices, Kronecker products), :mod:`.kernels` (block matmuls,
gathers, the fused autograd node), :mod:`.plan` (structure-only decisions, composed
permutations), :mod:`.runner` (:func:`simulate`, :func:`unitary_matrix`), :mod:`.measurement`
(probabilities, expectations, shots) and :mod:`.pruning` (light cones, :func:`expval`).
Everything is importable from ``qcstar.circuits.statevector`` itself.
"""

from __future__ import annotations

from .kernels import _FusedChain, apply_block, apply_matrix, apply_permutation  # noqa: F401
from .pruning import expval, light_cone
from .matrices import kron_chain, op_base_matrix, op_full_matrix
from .measurement import counts, expectation, probabilities, sample
from .plan import _PLANS, MAX_CHUNK, basis_image, permutation, wire_chunks  # noqa: F401
from .runner import _strided_stack, simulate, unitary_matrix  # noqa: F401

__all__ = [
    "MAX_CHUNK", "apply_block", "basis_image", "apply_matrix", "apply_permutation", "counts", "expectation", "expval",
    "kron_chain", "light_cone", "op_base_matrix", "op_full_matrix", "permutation", "probabilities", "sample",
    "simulate", "unitary_matrix", "wire_chunks",
]
