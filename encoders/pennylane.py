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

Wire order -- NOTE, the opposite of ``qcstar.circuits.interop.to_pennylane``: ``wires`` is read
like PennyLane's own embeddings, **first wire = most significant bit**. Our qubit ``q`` goes on
``wires[n - 1 - q]``, so on a device whose wires are ``wires`` (in that order) ``qml.state()``
equals ``encoder.states(x)`` exactly, element by element:
``to_pennylane(AmplitudeEncoder(), x, wires=range(10))`` prepares the same vector as
``qml.AmplitudeEmbedding(x_normalised, wires=range(10))``. (``circuits.interop.to_pennylane``
converts a bare :class:`~qcstar.circuits.Circuit` and puts qubit ``i`` on ``wires[i]``, first
wire = least significant bit, Qiskit's order; this module passes it ``wires`` reversed.)

Inputs follow the encoder's rules for one sample or a batch (:mod:`qcstar.encoders.base`): with a
``sample_shape`` (or the net's ``in_shape``) one ``(H, W)`` image and a batch are never confused.
Without one, a square ``(m, m)`` input is one image when only that reading needs
``len(wires)`` qubits (``to_pennylane(AmplitudeEncoder(), mnist_image, wires=range(10))``
works), and an error otherwise.

Interfaces: the operation follows the interface of ``x``. Torch inputs give torch values
(``interface="torch"``, ``TorchLayer``, ``lightning.qubit``), which keep their gradients
through our torch circuits. NumPy / autograd (PennyLane's default interface) and JAX inputs give
values of that kind, and the decomposition applies the template's affine map from values to
PennyLane gate parameters with ``qml.math`` (measured once with torch, cached per template and
wires), so ``qml.grad``, ``qml.GradientDescentOptimizer`` and the parameter-shift rule work,
and ``qml.ops.functions.assert_valid`` passes in full. The encoders compute the values in torch,
so gradients with respect to the *input* ``x`` exist with the torch interface only; an input
traced by autograd or JAX (trainable ``x``) is refused with a message saying so.

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

import copy
import functools
from typing import Any, Sequence

import numpy as np
import torch

from qcstar.circuits import Circuit, ConfigError, ShapeError
from qcstar.circuits.digest import content_digest
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

    __slots__ = ("circuit", "digest", "_affine")

    def __init__(self, circuit: Circuit):
        if not circuit.metadata.get("template"):
            raise ConfigError("FrozenTemplate needs a template circuit (see qcstar.circuits.template)")
        self.circuit = circuit
        self.digest = _circuit_digest(circuit)
        self._affine: dict[tuple, Any] = {}  # wires -> the measured affine map (see _affine_map)

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
        self._affine = {}


def _as_float64(p: Any) -> Tensor:
    return (p if isinstance(p, Tensor) else torch.tensor(float(p))).detach().to(torch.float64)


def _circuit_digest(c: Circuit) -> str:
    """Content digest of a template: structure, placeholders and constant matrices (as complex128,
    so the digest does not depend on the dtype a matrix was built in)."""
    ops = [
        (op.name, op.wires, op.controls, op.control_values, op.mux, [_as_float64(p) for p in op.params],
         None if op.matrix is None else op.matrix.detach().to(torch.complex128))
        for op in c.ops
    ]
    head = (c.n_qubits, c.metadata.get("n_parameters"), c.metadata.get("phase_index"), _as_float64(c.global_phase))
    return content_digest(head, ops)


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


def _decompose(values: Any, wires: Any, template: FrozenTemplate) -> list:
    from qcstar.circuits.interop import to_pennylane as circuit_to_pennylane

    circuit = bind_template(template.circuit, _as_torch(values))
    # our qubit q -> wires[n - 1 - q]: PennyLane's first wire is the most significant bit
    return circuit_to_pennylane(circuit, wires=list(wires)[::-1])


def _affine_map(qml: Any, wires: Any, template: FrozenTemplate) -> tuple:
    """The template's PennyLane gate parameters as an affine function of its values, measured with torch.

    Placeholders are only indexed, and the conversion shifts, negates or Gray-code-combines them,
    so the map is affine: measure its Jacobian ``J`` and offset ``c`` at a probe point, check it
    at a second point, and cache ``(ops, leaves, J, c)`` on the template per wires.
    """
    key = tuple(wires)
    cached = template._affine.get(key)
    if cached is not None:
        return cached
    p_total = template.n_parameters
    with qml.QueuingManager.stop_recording():
        probe = torch.zeros(p_total, dtype=torch.float64, requires_grad=True)
        ops = _decompose(probe, wires, template)
        leaves = [(i, j, tuple(d.shape)) for i, op in enumerate(ops) for j, d in enumerate(op.data)
                  if isinstance(d, Tensor) and d.requires_grad]
        if any(ops[i].data[j].is_complex() for i, j, _ in leaves):
            raise ShapeError("QcstarEmbedding: this template is not affine in its values; use the torch interface")
        flat = torch.cat([ops[i].data[j].reshape(-1) for i, j, _ in leaves]) if leaves else torch.zeros(0, dtype=torch.float64)
        rows = [torch.autograd.grad(flat[r], probe, retain_graph=True, allow_unused=True)[0] for r in range(flat.numel())]
        zero = torch.zeros(p_total, dtype=torch.float64)
        jac = torch.stack([zero if g is None else g for g in rows]) if rows else torch.zeros(0, p_total, dtype=torch.float64)
        offset = flat.detach()
        point = torch.linspace(-1.0, 1.0, p_total, dtype=torch.float64)
        check = _decompose(point, wires, template)
        flat2 = torch.cat([check[i].data[j].reshape(-1) for i, j, _ in leaves]) if leaves else offset
        if not torch.allclose(flat2.detach(), offset + jac @ point, atol=1e-9):
            raise ShapeError("QcstarEmbedding: this template is not affine in its values; use the torch interface")
    out = (ops, leaves, jac.numpy(), offset.numpy())
    template._affine[key] = out
    return out


def _affine_decomposition(qml: Any, values: Any, wires: Any, template: FrozenTemplate) -> list:
    """The decomposition for NumPy, autograd and JAX values, which cannot enter our (torch) circuits.

    Gate parameters are ``c + J @ values`` computed with ``qml.math`` (so autograd boxes and JAX
    tracers pass through); the template's constants (fixed matrices, fixed angles) become NumPy
    arrays, which every interface accepts.
    """
    ops, leaves, jac, offset = _affine_map(qml, wires, template)
    new_flat = qml.math.tensordot(values, jac.T, axes=[[-1], [0]]) + offset  # (..., M)
    batch = tuple(qml.math.shape(values)[:-1])
    new_data = {i: [d.detach().numpy() if isinstance(d, Tensor) else d for d in op.data] for i, op in enumerate(ops)}
    start = 0
    for i, j, shape in leaves:
        size = int(np.prod(shape))
        new_data[i][j] = qml.math.reshape(new_flat[..., start:start + size], batch + shape)
        start += size
    with qml.QueuingManager.stop_recording():
        out = [qml.ops.functions.bind_new_parameters(op, new_data[i]) if op.data else op for i, op in enumerate(ops)]
    if qml.QueuingManager.recording():  # queue them, as constructing ops would have
        for op in out:
            qml.apply(op)
    return out


@functools.lru_cache(maxsize=1)
def embedding_class() -> type:
    """The :class:`QcstarEmbedding` operation class, created on first use (needs pennylane)."""
    qml = _pennylane()

    class QcstarEmbedding(qml.operation.Operation):
        """A qcstar encoder's circuit as a PennyLane template.

        Build it with :func:`qcstar.encoders.to_pennylane`; directly, ``QcstarEmbedding(values, wires,
        template=FrozenTemplate(encoder.template_circuit()))`` with ``values`` ``(P,)`` or
        ``(B, P)``. ``wires[0]`` is the most significant qubit (our qubit ``n - 1``).
        """

        grad_method = None  # the values come from data; gradients flow through the decomposition

        def __init__(self, *values: Any, wires: Any = None, template: FrozenTemplate | None = None, id: str | None = None):
            # values: one array (P,) or (B, P); none at all when the template has no parameters
            if not isinstance(template, FrozenTemplate):
                raise ConfigError(f"QcstarEmbedding: template must be a FrozenTemplate, got {type(template).__name__}")
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
                raise ConfigError(
                    f"QcstarEmbedding: the encoder's circuit has {template.n_qubits} qubits but {len(self.wires)} wires "
                    f"were given ({list(self.wires)}); pass wires=range({template.n_qubits})"
                )

        @property
        def ndim_params(self) -> tuple[int, ...]:
            return (1,) * len(self.data)  # (P,) per sample; a leading axis broadcasts

        @staticmethod
        def compute_decomposition(*values: Any, wires: Any, template: FrozenTemplate) -> list:  # type: ignore[override]
            # torch values keep their graph through our torch circuits; everything else (and a
            # template without values, whose constants must suit any interface) goes the NumPy way
            if values and isinstance(values[0], Tensor):
                return _decompose(values[0], wires, template)
            v = values[0] if values else np.zeros(0)
            return _affine_decomposition(qml, v, wires, template)

    QcstarEmbedding.__module__ = __name__
    QcstarEmbedding.__qualname__ = "QcstarEmbedding"
    return QcstarEmbedding


def __getattr__(name: str) -> Any:
    # the class exists only once pennylane is importable; pickle finds it through this hook
    if name == "QcstarEmbedding":
        return embedding_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tensor) else tuple(np.shape(x))


def _check_not_traced(qml: Any, x: Any) -> None:
    """Refuse inputs that autograd or JAX is differentiating: the encoders compute in torch."""
    if isinstance(x, (Tensor, np.ndarray, list, tuple, int, float)) and not type(x).__module__.startswith("autograd"):
        return
    traced = type(x).__module__.startswith("autograd") or qml.math.is_abstract(x)
    if traced:
        raise ConfigError(
            f"to_pennylane: the input x is being differentiated ({type(x).__name__}); qcstar encoders compute their "
            "template values in torch, so gradients with respect to the input exist with interface='torch' only. "
            "Pass x as data (e.g. pennylane.numpy.array(x, requires_grad=False), or qml.grad(f, argnum=...) on the "
            "weights only), or use a torch QNode"
        )


def _like_input(qml: Any, values: Tensor, x: Any) -> Any:
    """``values`` in the interface of the input ``x``: torch stays torch (with its graph), JAX
    inputs give JAX arrays, everything else (NumPy, autograd's NumPy, lists) NumPy arrays."""
    if isinstance(x, Tensor):
        return values
    arr = values.detach().cpu().numpy()
    if qml.math.get_interface(x) == "jax":
        import jax.numpy as jnp

        return jnp.asarray(arr)
    return arr


def _is_one_sample(shape: tuple[int, ...], sample_shape: tuple[int, ...] | None) -> bool:
    if sample_shape is not None:
        return shape == tuple(sample_shape) or shape == (int(np.prod(sample_shape)),)
    return len(shape) == 1


def _reading(encoder: Any, x: Any, n_wires: int) -> tuple[Any, Any, bool]:
    """``(encoder, x, one_sample)``: how to read ``x``. A square 2-D input without a known sample
    shape is one image or a batch of flat samples; the wires decide when only one reading has
    ``n_wires`` qubits (else the encoder's own ambiguity error is raised)."""
    shape = _shape(x)
    sample_shape = getattr(encoder, "sample_shape", None)
    if sample_shape is not None or len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        return encoder, x, _is_one_sample(shape, sample_shape)
    as_batch = copy.copy(encoder)
    as_batch.sample_shape = (shape[1],)
    one = x[None]

    def fits(enc: Any, data: Any) -> bool:
        try:
            return int(enc.n_qubits_for(data)) == n_wires
        except ShapeError:
            return False

    one_fits, batch_fits = fits(encoder, one), fits(as_batch, x)
    if one_fits and not batch_fits:
        return encoder, one, True
    if batch_fits and not one_fits:
        return as_batch, x, False
    encoder.n_qubits_for(x)  # raises the encoder's message naming sample_shape=
    raise ShapeError(f"to_pennylane: cannot tell whether the {shape} input is one sample or a batch; pass sample_shape=")


def to_pennylane(encoder: Encoder, x: Any, wires: Sequence[Any], *, id: str | None = None) -> Any:
    """The encoding of ``x`` as a PennyLane operation (queued when called inside a QNode).

    Args:
        encoder: any :class:`qcstar.encoders.Encoder`.
        x: one sample or a batch, read by the encoder's rules (see the module docstring; a batch
            gives a broadcast operation, as ``TorchLayer`` needs). Non-parametric encoders take
            one sample. Torch, NumPy, autograd and JAX inputs give an operation of that interface.
        wires: ``n`` wire labels, the FIRST the MOST significant qubit (PennyLane's embedding
            convention, the opposite of ``circuits.interop.to_pennylane``).

    Returns:
        a ``QcstarEmbedding`` operation.

    Example::

        @qml.qnode(qml.device("default.qubit", wires=10))
        def state(image):
            to_pennylane(AmplitudeEncoder(), image, wires=range(10))   # one 28x28 image
            return qml.state()
    """
    cls = embedding_class()
    qml = _pennylane()
    encoder = as_encoder(encoder, "to_pennylane")
    _check_not_traced(qml, x)
    wires = list(wires)
    encoder, x, one_sample = _reading(encoder, x, len(wires))
    if is_parametric(encoder):
        values = encoder.parameters(x)  # (B, P)
        template = encoder.template_for(x)
    else:
        # count the samples before encoding them: a non-parametric encoder (AQCE) may be costly
        t = validate_images(
            x, name=encoder_name(encoder), sample_shape=getattr(encoder, "sample_shape", None),
            allow_complex=True, allow_zero=True,
        )
        if t.shape[0] != 1:
            raise ShapeError(
                f"to_pennylane: {encoder_name(encoder)} is not parametric, so its PennyLane template holds one sample; "
                f"got a batch of {t.shape[0]}. Build one operation per sample"
            )
        template, values = templatize(encoder.circuits(t)[0])
        values = values[None]
    if one_sample:
        values = values[0]  # (P,): an unbroadcast operation
    return cls(_like_input(qml, values, x), wires=wires, template=FrozenTemplate(template), id=id)
