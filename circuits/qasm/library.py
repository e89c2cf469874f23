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
# The rest of Qiskit's qelib1.inc: a program may define these itself (its definition wins).
_QELIB1_NAMES = [
    "u2", "u1", "cx", "id", "u", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz",
    "sx", "sxdg", "cz", "cy", "swap", "ch", "ccx", "cswap", "crx", "cry", "crz", "cu1", "cp", "cu3",
    "csx", "cu", "rxx", "rzz",
]
_STDGATES_NAMES = [
    "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy", "cz", "cp",
    "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "id", "u1", "u2",
]

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
    if version == 2:
        from .parser import parse_definitions

        for name in _QELIB1_NAMES:
            lib[name] = catalogue_gate(name)
        lib["u3"] = catalogue_gate("u3", "u")
        lib["c3x"] = catalogue_gate("c3x", "x", 3)
        lib["c4x"] = catalogue_gate("c4x", "x", 4)
        lib["c3sqrtx"] = catalogue_gate("c3sqrtx", "sx", 3)
        lib.update(parse_definitions("OPENQASM 2.0;\n" + _QELIB1_EXTRA, prelude=lib))
    else:
        for name in _STDGATES_NAMES:
            lib[name] = catalogue_gate(name)
        lib["u3"] = catalogue_gate("u3", "u")
        lib["phase"] = catalogue_gate("phase", "p")
        lib["cphase"] = catalogue_gate("cphase", "cp")
        lib["CX"] = catalogue_gate("CX", "cx")
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

# Gate definitions we emit for catalogue gates that the target library lacks. Each body uses
# only gates that Qiskit's strict qasm2 reader knows (v2) or stdgates (v3). Bodies may differ
# from the catalogue gate by a global phase; the writer measures that phase numerically and
# adds it to the `// global_phase:` comment. Parameters are named p0, p1, ... because
# qiskit_qasm3_import binds a definition's parameters in alphabetical order of their names.
_DEFS_COMMON = {
    "rzz": ("p0", "a,b", "cx a,b; rz(p0) b; cx a,b;"),
    "rxx": ("p0", "a,b", "h a; h b; cx a,b; rz(p0) b; cx a,b; h a; h b;"),
    "ryy": ("p0", "a,b", "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b;"),
    "rzx": ("p0", "a,b", "h b; cx a,b; rz(p0) b; cx a,b; h b;"),
    "sxdg": ("", "a", "rx(-pi/2) a;"),
    "iswap": ("", "a,b", "h a; h b; cx a,b; rz(-pi/2) b; cx a,b; h a; h b; rx(pi/2) a; rx(pi/2) b; "
                         "cx a,b; rz(-pi/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b;"),
    "dcx": ("", "a,b", "cx a,b; cx b,a;"),
    "ecr": ("", "a,b", "h b; cx a,b; rz(pi/4) b; cx a,b; h b; x a; h b; cx a,b; rz(-pi/4) b; cx a,b; h b;"),
    "xx_plus_yy": ("p0,p1", "a,b", "rz(p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; "
                   "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(-p1) a;"),
    "xx_minus_yy": ("p0,p1", "a,b", "rz(-p1) a; h a; h b; cx a,b; rz(p0/2) b; cx a,b; h a; h b; "
                    "rx(pi/2) a; rx(pi/2) b; cx a,b; rz(-p0/2) b; cx a,b; rx(-pi/2) a; rx(-pi/2) b; rz(p1) a;"),
    "ccz": ("", "a,b,c", "h c; ccx a,b,c; h c;"),
}
_DEFS_V2 = dict(_DEFS_COMMON, **{
    "sx": ("", "a", "rx(pi/2) a;"),
    "r": ("p0,p1", "a", "u3(p0,p1-pi/2,pi/2-p1) a;"),
    "swap": ("", "a,b", "cx a,b; cx b,a; cx a,b;"),
    "cswap": ("", "a,b,c", "cx c,b; ccx a,b,c; cx c,b;"),
    "crx": ("p0", "a,b", "cu3(p0,-pi/2,pi/2) a,b;"),
    "cry": ("p0", "a,b", "cu3(p0,0,0) a,b;"),
    "csx": ("", "a,b", "cu3(pi/2,-pi/2,pi/2) a,b; u1(pi/4) a;"),
    "cu": ("p0,p1,p2,p3", "a,b", "u1(p3) a; cu3(p0,p1,p2) a,b;"),
    "cs": ("", "a,b", "cu1(pi/2) a,b;"),
    "csdg": ("", "a,b", "cu1(-pi/2) a,b;"),
})
_DEFS_V3 = dict(_DEFS_COMMON, **{
    "r": ("p0,p1", "a", "U(p0,p1-pi/2,pi/2-p1) a;"),
    "csx": ("", "a,b", "crx(pi/2) a,b; p(pi/4) a;"),
    "cs": ("", "a,b", "cp(pi/2) a,b;"),
    "csdg": ("", "a,b", "cp(-pi/2) a,b;"),
})
# Catalogue gates written under another name that means exactly the same matrix.
_RENAME_V2 = {"u": "u3", "p": "u1", "cp": "cu1"}
_NATIVE_V2 = QELIB1_BUILTIN  # the only gates Qiskit's strict qasm2 reader knows
_RENAME_V3 = {"u": "U"}
_NATIVE_V3 = {"U", "p", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "cx", "cy", "cz",
              "cp", "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "cu", "id", "u1", "u2"}

_DEF_GATES_CACHE: dict[int, dict[str, GateDef]] = {}


def definition_text(name: str, version: int) -> str:
    """The ``gate`` definition the writer emits for catalogue gate ``name``."""
    params, args, body = (_DEFS_V2 if version == 2 else _DEFS_V3)[name]
    head = f"gate {name}" + (f"({params})" if params else "") + f" {args}"
    if version == 3:
        head = head.replace(",", ", ")
        body = body.replace(",", ", ")
    return head + " { " + body + " }"


def definitions(version: int) -> dict[str, GateDef]:
    """Our own definitions parsed by our own reader: the writer's phase bookkeeping then
    agrees with what :func:`loads` will compute, by construction."""
    if version not in _DEF_GATES_CACHE:
        from .parser import parse_definitions

        defs = _DEFS_V2 if version == 2 else _DEFS_V3
        inc = '"qelib1.inc"' if version == 2 else '"stdgates.inc"'
        text = f"OPENQASM {version}.0;\ninclude {inc};\n" + "\n".join(definition_text(n, version) for n in defs)
        _DEF_GATES_CACHE[version] = parse_definitions(text)
    return _DEF_GATES_CACHE[version]


def native_name(name: str, params: list[float], version: int) -> tuple[str, list[float]] | None:
    """The name (and parameters) under which the target library has catalogue gate ``name``
    natively, or ``None`` when the writer must emit a definition."""
    if version == 2:
        name = _RENAME_V2.get(name, name)
        return (name, params) if name in _NATIVE_V2 else None
    name = _RENAME_V3.get(name, name)
    if name in ("cu3", "cu1"):  # stdgates has cu/cp: same matrices with gamma = 0
        name, params = ("cu", params + [0.0]) if name == "cu3" else ("cp", params)
    return (name, params) if name in _NATIVE_V3 else None

__all__ = [
    "GateDef", "library", "expand", "catalogue_gate", "protected_names", "QELIB1_BUILTIN", "definitions",
    "definition_text", "native_name",
]
