"""Any encoder as a PennyLane template (an ``Operation``), for QNodes and ``qml.qnn.TorchLayer``.

``to_pennylane(encoder, x, wires)`` returns a :class:`QcstarEmbedding` operation:

* its one trainable-type parameter is the encoder's template values ``encoder.parameters(x)``,
  ``(P,)`` for one sample or ``(B, P)`` for a batch (PennyLane parameter broadcasting,
  ``ndim_params = (1,)``);
* its hyperparameter is the fixed circuit template (hashable by content);
* ``compute_decomposition`` binds the values into the template and converts the resulting
  :class:`circuits.Circuit` with ``circuits.interop.to_pennylane``.

Non-parametric encoders (e.g. AQCE) take one sample: their circuit becomes the template, its
gate angles the parameter, and its dense blocks constants of the template.

Wire order: ``wires`` is read like PennyLane's own embeddings, **first wire = most significant
bit**. Our qubit ``q`` goes on ``wires[n - 1 - q]``, so on a device whose wires are ``wires``
(in that order) ``qml.state()`` equals ``encoder.states(x)`` exactly, element by element:
``to_pennylane(AmplitudeEncoder(), x, wires=range(10))`` prepares the same vector as
``qml.AmplitudeEmbedding(x_normalised, wires=range(10))``.

Inputs follow the batch rules of ``encoder.states`` (``(D,)`` one sample, ``(B, D)`` or
``(B, H, W)`` a batch; pass one ``(H, W)`` image as ``x.reshape(-1)`` or ``x[None]``).

Interfaces: the decomposition builds our circuits, which hold torch tensors, so torch values
(``interface="torch"``, also ``lightning.qubit``) go straight through and keep their gradients.
Autograd/JAX values cannot enter a torch circuit; for them the decomposition applies the
template's affine map from values to PennyLane gate parameters (measured once with torch), so
``qml.grad`` and the parameter-shift rule work too (``assert_valid`` passes in full).

Example::

    import pennylane as qml
    enc = AngleEncoder(n_qubits=4, size=2)
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev, interface="torch")
    def circuit(inputs, weights):
        to_pennylane(enc, inputs, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.PauliZ(w)) for w in range(4)]

    layer = qml.qnn.TorchLayer(circuit, {"weights": (2, 4, 3)})
    out = layer(images.reshape(len(images), -1))   # (B, 4), differentiable in the weights
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Sequence

import numpy as np
import torch

from qcstar.circuits import Circuit, ShapeError
from qcstar.circuits.errors import require

from .base import Encoder, as_encoder, bind_template, encoder_name, is_parametric, templatize, validate_images

Tensor = torch.Tensor

__all__ = ["to_pennylane", "embedding_class", "FrozenTemplate"]


def _pennylane():
    return require("pennylane", "pennylane", "qcstar.encoders.to_pennylane")


class FrozenTemplate:
    """A circuit template as a hashable, picklable value (equality by content digest).

    PennyLane compares operations by their hyperparameters and requires them hashable; a
    :class:`circuits.Circuit` is neither, so the template travels wrapped in this.
    """

    __slots__ = ("circuit", "digest")

    def __init__(self, circuit: Circuit):
        if not circuit.metadata.get("template"):
            raise ShapeError("FrozenTemplate needs a template circuit (see encoders.base)")
        self.circuit = circuit
        self.digest = _circuit_digest(circuit)

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    @property
    def n_parameters(self) -> int:
        return int(self.circuit.metadata["n_parameters"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenTemplate) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"FrozenTemplate(n_qubits={self.n_qubits}, ops={len(self.circuit.ops)}, parameters={self.n_parameters}, digest={self.digest[:8]})"

    def __getstate__(self) -> tuple:
        return (self.circuit, self.digest)

    def __setstate__(self, state: tuple) -> None:
        self.circuit, self.digest = state


def _circuit_digest(c: Circuit) -> str:
    h = hashlib.sha256()
    h.update(repr((c.n_qubits, c.metadata.get("n_parameters"), c.metadata.get("phase_index"))).encode())
    phase = c.global_phase
    h.update(repr(float(phase) if not isinstance(phase, Tensor) else phase.tolist()).encode())
    for op in c.ops:
        h.update(repr((op.name, op.wires, op.controls, op.control_values, op.mux)).encode())
        for p in op.params:
            h.update(repr(p.tolist() if isinstance(p, Tensor) else float(p)).encode())
        if op.matrix is not None:
            h.update(op.matrix.detach().to(torch.complex128).cpu().numpy().tobytes())
    return h.hexdigest()


def _as_torch(values: Any) -> Tensor:
    """Template values as a real torch tensor (numpy arrays and lists are converted)."""
    if isinstance(values, Tensor):
        return values
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(
            f"QcstarEmbedding: parameters of type {type(values).__name__} cannot enter a qcstar circuit; "
            "use torch tensors (interface='torch'), numpy arrays or plain numbers"
        ) from exc
    return torch.from_numpy(arr)


def _is_traced(values: Any) -> bool:
    """True for autograd boxes, JAX tracers and other array types that are not torch/numpy."""
    if isinstance(values, (Tensor, np.ndarray, list, tuple, float, int)):
        return type(values).__module__.startswith("autograd") if isinstance(values, np.ndarray) else False
    return True


def _decompose(values: Any, wires: Any, template: FrozenTemplate) -> list:
    from qcstar.circuits.interop import to_pennylane as circuit_to_pennylane

    circuit = bind_template(template.circuit, _as_torch(values))
    # our qubit q -> wires[n - 1 - q]: PennyLane's first wire is the most significant bit
    return circuit_to_pennylane(circuit, wires=list(wires)[::-1])


def _traced_decomposition(qml: Any, values: Any, wires: Any, template: FrozenTemplate) -> list:
    """The decomposition for autograd/JAX values, which cannot enter our (torch) circuits.

    The PennyLane gate parameters of a template are affine in its values (placeholders are only
    indexed, and the conversion shifts, negates or Gray-code-combines them), so we measure that
    map once with torch at a probe point (Jacobian ``J`` and offset ``c``), check it at a second
    point, and apply ``c + J @ values`` with ``qml.math``, which keeps the caller's tracer.
    """
    p_total = template.n_parameters
    with qml.QueuingManager.stop_recording():
        probe = torch.zeros(p_total, dtype=torch.float64, requires_grad=True)
        ops = _decompose(probe, wires, template)
        leaves = [(i, j, d) for i, op in enumerate(ops) for j, d in enumerate(op.data)
                  if isinstance(d, Tensor) and d.requires_grad]
        if any(d.is_complex() for _, _, d in leaves):
            raise ShapeError("QcstarEmbedding: this template is not affine in its values; use the torch interface")
        flat = torch.cat([d.reshape(-1) for _, _, d in leaves]) if leaves else torch.zeros(0, dtype=torch.float64)
        rows = [torch.autograd.grad(flat[r], probe, retain_graph=True, allow_unused=True)[0] for r in range(flat.numel())]
        jac = torch.stack([torch.zeros(p_total, dtype=torch.float64) if g is None else g for g in rows]) if rows else torch.zeros(0, p_total, dtype=torch.float64)
        offset = flat.detach()
        point = torch.linspace(-1.0, 1.0, p_total, dtype=torch.float64)
        check = _decompose(point, wires, template)
        flat2 = torch.cat([check[i].data[j].reshape(-1) for i, j, _ in leaves]) if leaves else offset
        if not torch.allclose(flat2.detach(), offset + jac @ point, atol=1e-9):
            raise ShapeError("QcstarEmbedding: this template is not affine in its values; use the torch interface")
        new_flat = qml.math.tensordot(values, jac.T.numpy(), axes=[[-1], [0]]) + offset.numpy()  # (..., M)
        batch = tuple(qml.math.shape(values)[:-1])
        start = 0
        new_data: dict[int, list] = {}
        for i, j, d in leaves:
            size = d.numel()
            piece = qml.math.reshape(new_flat[..., start:start + size], batch + tuple(d.shape))
            new_data.setdefault(i, list(ops[i].data))[j] = piece
            start += size
        ops = [qml.ops.functions.bind_new_parameters(op, new_data[i]) if i in new_data else op for i, op in enumerate(ops)]
    if qml.QueuingManager.recording():  # queue them, as constructing ops would have
        for op in ops:
            qml.apply(op)
    return ops


@functools.lru_cache(maxsize=1)
def embedding_class() -> type:
    """The :class:`QcstarEmbedding` operation class, created on first use (needs pennylane)."""
    qml = _pennylane()

    class QcstarEmbedding(qml.operation.Operation):
        """A qcstar encoder's circuit as a PennyLane template.

        Build it with :func:`encoders.to_pennylane`; directly, ``QcstarEmbedding(values, wires,
        template=FrozenTemplate(encoder.template_circuit()))`` with ``values`` ``(P,)`` or
        ``(B, P)``. ``wires[0]`` is the most significant qubit (our qubit ``n - 1``).
        """

        grad_method = None  # the values come from data; gradients flow through the decomposition

        def __init__(self, *values: Any, wires: Any = None, template: FrozenTemplate | None = None, id: str | None = None):
            # values: one array (P,) or (B, P); none at all when the template has no parameters
            if not isinstance(template, FrozenTemplate):
                raise ShapeError(f"QcstarEmbedding: template must be a FrozenTemplate, got {type(template).__name__}")
            p = template.n_parameters
            if len(values) > 1 or (p > 0 and len(values) != 1):
                raise ShapeError(f"QcstarEmbedding takes one array of {p} template values, got {len(values)} arrays")
            if values:
                shape = tuple(qml.math.shape(values[0]))
                if len(shape) not in (1, 2) or shape[-1] != p:
                    raise ShapeError(f"QcstarEmbedding: values must have shape ({p},) or (B, {p}), got {shape}")
                if p == 0:
                    values = ()  # nothing to carry: an operation without parameters
            self._hyperparameters = {"template": template}
            super().__init__(*values, wires=wires, id=id)
            if len(self.wires) != template.n_qubits:
                raise ShapeError(
                    f"QcstarEmbedding: the encoder's circuit has {template.n_qubits} qubits but {len(self.wires)} wires "
                    f"were given ({list(self.wires)}); pass wires=range({template.n_qubits})"
                )

        @property
        def ndim_params(self) -> tuple[int, ...]:
            return (1,) * len(self.data)  # (P,) per sample; a leading axis broadcasts

        @staticmethod
        def compute_decomposition(*values: Any, wires: Any, template: FrozenTemplate) -> list:  # type: ignore[override]
            v = values[0] if values else torch.zeros(0, dtype=torch.float64)
            if _is_traced(v):
                return _traced_decomposition(qml, v, wires, template)
            return _decompose(v, wires, template)

    QcstarEmbedding.__module__ = __name__
    QcstarEmbedding.__qualname__ = "QcstarEmbedding"
    return QcstarEmbedding


def __getattr__(name: str) -> Any:
    # the class exists only once pennylane is importable; pickle finds it through this hook
    if name == "QcstarEmbedding":
        return embedding_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _batch_rank(x: Any) -> int:
    if isinstance(x, Tensor):
        return x.dim()
    return np.ndim(x)


def to_pennylane(encoder: Encoder, x: Any, wires: Sequence[Any], *, id: str | None = None) -> Any:
    """The encoding of ``x`` as a PennyLane operation (queued when called inside a QNode).

    Args:
        encoder: any :class:`encoders.Encoder`.
        x: one sample ``(D,)`` or a batch ``(B, D)`` / ``(B, H, W)`` (parametric encoders; a
            batch gives a broadcast operation, as ``TorchLayer`` needs). Non-parametric
            encoders take one sample.
        wires: ``n`` wire labels, the first the most significant (see the module docstring).

    Returns:
        a ``QcstarEmbedding`` operation.

    Example::

        @qml.qnode(qml.device("default.qubit", wires=6))
        def state(x):
            to_pennylane(AmplitudeEncoder(), x, wires=range(6))   # an 8x8 image, flattened
            return qml.state()
    """
    cls = embedding_class()
    encoder = as_encoder(encoder, "to_pennylane")
    unbatched = _batch_rank(x) == 1
    if is_parametric(encoder):
        values = encoder.parameters(x)  # (B, P)
        template = encoder.template_for(x)
    else:
        t = validate_images(x, name=encoder_name(encoder), allow_complex=True, allow_zero=True)
        if t.shape[0] != 1:
            raise ShapeError(
                f"to_pennylane: {encoder_name(encoder)} is not parametric, so its PennyLane template holds one sample; "
                f"got a batch of {t.shape[0]}. Build one operation per sample"
            )
        template, values = templatize(encoder.circuits(t)[0])
        values = values[None]
    if unbatched:
        values = values[0]  # (P,): an unbroadcast operation
    return cls(values, wires=wires, template=FrozenTemplate(template), id=id)
