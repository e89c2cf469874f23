"""The gates an ``include`` provides, the writer's gate definitions, and inline expansion.

Semantics follow Qiskit, because our gate matrices are Qiskit's: every name of Qiskit's
``qelib1.inc`` (v2) or ``stdgates.inc`` (v3) is the catalogue gate of that name (``rz`` is
``RZGate``, ``u3``/``U`` are ``UGate``, ``c3x`` is a triple-controlled X), and a ``gate``
definition is expanded inline: its meaning is its body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..gates import GATES
from ..ir import Op
from .expressions import evaluate


@dataclass
class GateDef:
    """A gate known to the parser: a catalogue gate, or a definition expanded inline."""

    name: str
    n_params: int
    n_qubits: int
    catalogue: str | None = None  # emit this catalogue gate (with `controls` leading controls)
    controls: int = 0
    params: list[str] = field(default_factory=list)
    # body items: ('g', GateDef, [Expr], [arg index]) or ('p', Expr) for gphase
    body: list[tuple] = field(default_factory=list)
    depth: int = 0  # nesting depth of definitions below (0 for catalogue gates)
    size: int = 1  # ops emitted per application: known before anything is expanded


def catalogue_gate(name: str, catalogue: str | None = None, controls: int = 0) -> GateDef:
    spec = GATES[catalogue or name]
    return GateDef(name, spec.num_params, spec.num_wires + controls, catalogue or name, controls)


#: The gates of the original qelib1.inc (arXiv:1707.03429), which Qiskit's qasm2 reader defines
#: as built-ins: a program may not redefine them after the include.
QELIB1_BUILTIN = frozenset({
    "u3", "u2", "u1", "cx", "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz",
    "cz", "cy", "ch", "ccx", "crz", "cu1", "cu3",
})
# Gates of Qiskit's qelib1.inc that our catalogue lacks, defined in catalogue gates. rccx and
# rc3x are the relative-phase Toffolis (their standard definitions); tests compare them with
# Qiskit's RCCXGate / RC3XGate including phase.
_QELIB1_EXTRA = """
gate u0(gamma) q { }
gate rccx a,b,c { h c; t c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c; h c; }
gate rc3x a,b,c,d { h d; t d; cx c,d; tdg d; h d; cx a,d; t d; cx b,d; tdg d; cx a,d; t d; cx b,d; tdg d;
                    h d; t d; cx c,d; tdg d; h d; }
"""

_LIB_CACHE: dict[int, dict[str, GateDef]] = {}


def library(version: int) -> dict[str, GateDef]:
    """The gates ``include "qelib1.inc"`` (2) or ``include "stdgates.inc"`` (3) makes available."""
    if version in _LIB_CACHE:
        return _LIB_CACHE[version]
    lib: dict[str, GateDef] = {}
    specs = list(GATES.values())  # the catalogue knows its QASM names (circuits.gates.GateSpec)
    for spec in specs:  # aliases first: a gate's own name wins over another gate's alias
        for name in spec.qasm2_aliases if version == 2 else spec.qasm3_aliases:
            lib[name] = catalogue_gate(name, spec.name)
        if version == 2:
            for name, controls in spec.qasm2_controlled:
                lib[name] = catalogue_gate(name, spec.name, controls)
    for spec in specs:
        name = spec.qasm2_name if version == 2 else spec.qasm3_name
        if name is not None:
            lib[name] = catalogue_gate(name, spec.name)
    if version == 2:
        from .parser import parse_definitions

        lib.update(parse_definitions("OPENQASM 2.0;\n" + _QELIB1_EXTRA, prelude=lib))
    _LIB_CACHE[version] = lib
    return lib


def protected_names(version: int) -> frozenset[str]:
    """Names an included library owns: redefining them is an error (as in Qiskit)."""
    return QELIB1_BUILTIN if version == 2 else frozenset(library(3))


def expand(g: GateDef, values: list[float], qubits: list[int], out: list[Op]) -> float:
    """Append the catalogue ops of ``g`` applied to ``qubits``; return the global phase it adds.

    Recursion is bounded by the definition depth (``max_depth``), and the number of ops by
    ``g.size``, which the caller has checked against ``max_ops`` before calling.
    """
    if g.catalogue is not None:
        c = g.controls
        out.append(Op(g.catalogue, tuple(qubits[c:]), tuple(values), controls=tuple(qubits[:c])))
        return 0.0
    phase = 0.0
    env = dict(zip(g.params, values))
    for item in g.body:
        if item[0] == "p":
            phase += evaluate(item[1], env)
            continue
        _, sub, exprs, argidx = item
        phase += expand(sub, [evaluate(e, env) for e in exprs], [qubits[k] for k in argidx], out)
    return phase


# ======================================================================================
# what the writer emits
# ======================================================================================

# The writer's definitions come from GateSpec.qasm2_def / qasm3_def. Each body uses only gates
# that Qiskit's strict qasm2 reader knows (v2) or stdgates (v3); it may differ from the catalogue
# gate by a global phase, which the writer measures numerically and adds to the
# `// global_phase:` comment. Parameters are named p0, p1, ... because qiskit_qasm3_import binds
# a definition's parameters in alphabetical order of their names.


def _definition(name: str, version: int) -> str | None:
    spec = GATES[name]
    return spec.qasm2_def if version == 2 else spec.qasm3_def


_DEF_GATES_CACHE: dict[int, dict[str, GateDef]] = {}


def definition_text(name: str, version: int) -> str:
    """The ``gate`` definition the writer emits for catalogue gate ``name``."""
    text = _definition(name, version)
    assert text is not None, name
    if version == 3:
        text = text.replace(",", ", ")
    return f"gate {name}" + ("" if text.startswith("(") else " ") + text


def definitions(version: int) -> dict[str, GateDef]:
    """Our own definitions parsed by our own reader: the writer's phase bookkeeping then
    agrees with what :func:`loads` will compute, by construction."""
    if version not in _DEF_GATES_CACHE:
        from .parser import parse_definitions

        defs = [name for name in GATES if _definition(name, version) is not None]
        inc = '"qelib1.inc"' if version == 2 else '"stdgates.inc"'
        text = f"OPENQASM {version}.0;\ninclude {inc};\n" + "\n".join(definition_text(n, version) for n in defs)
        _DEF_GATES_CACHE[version] = parse_definitions(text)
    return _DEF_GATES_CACHE[version]


def native_name(name: str, version: int) -> str | None:
    """The name under which the target library has catalogue gate ``name`` natively, or
    ``None`` when the writer must emit its definition."""
    spec = GATES[name]
    if version == 3:
        if spec.qasm3_def is not None:
            return None
        return next((n for n in (spec.qasm3_name, *spec.qasm3_aliases) if n is not None), None)
    if spec.qasm2_def is not None:
        return None
    return next((n for n in (spec.qasm2_name, *spec.qasm2_aliases) if n in QELIB1_BUILTIN), None)


__all__ = [
    "GateDef", "library", "expand", "catalogue_gate", "protected_names", "QELIB1_BUILTIN", "definitions",
    "definition_text", "native_name",
]
