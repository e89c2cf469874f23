"""Subcommands of the ``qcstar`` CLI: one module each, exposing ``register(subparsers)``."""
