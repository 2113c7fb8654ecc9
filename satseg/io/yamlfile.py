"""The one YAML reader of satseg: safe, with YAML 1.2 number spellings, one-line errors.

PyYAML implements YAML 1.1, whose float rule needs a dot and a signed exponent: ``1e-3``,
``1E5`` or ``5e+2`` come back as *strings*, so ``learning_rate: 1e-3`` was rejected as "not a
number". :class:`SatsegYamlLoader` adds the YAML 1.2 core-schema float rule
(https://yaml.org/spec/1.2.2/#1032-tag-resolution) so every usual spelling is a float; ints stay
ints. Nothing is ever constructed beyond plain scalars, lists and mappings (``SafeLoader``).

Every satseg YAML document (manifest, training config, search space, ``--set`` values, the
dashboard's editors) is read through :func:`load_yaml` / :func:`load_yaml_file`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from satseg.errors import ConfigError, SatsegError

__all__ = ["SatsegYamlLoader", "as_number", "load_yaml", "load_yaml_file", "yaml_error_text"]

# YAML 1.2 core schema floats: 1e-3, 1E5, .5, 5., -2.5e+3 (a dot or an exponent is required;
# plain digits stay ints). Underscores as in YAML 1.1 (1_000.5) are accepted too.
_FLOAT_12 = re.compile(
    r"""^[-+]?(?:(?:[0-9][0-9_]*)(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$
       |^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)$""",
    re.X,
)
# What :func:`as_number` accepts in a string (also ints, inf and nan spellings).
_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$")


class SatsegYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3``, ``1E5``, ``.5`` as floats."""


# add_implicit_resolver copies the inherited table on first use, so SafeLoader is not changed.
SatsegYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789.")
)


def load_yaml(text: str) -> Any:
    """Parse YAML ``text`` safely (plain types only) with YAML 1.2 float spellings.

    Raises ``yaml.YAMLError`` for bad syntax; use :func:`yaml_error_text` for a one-line message.
    """
    return yaml.load(text, Loader=SatsegYamlLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_error_text(exc: BaseException) -> str:
    """One line for a YAML syntax error: ``line L, column C: problem (context)``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem is None:
        problem = " ".join(str(exc).split())
    text = " ".join(str(problem).split())
    if context:
        text += f" ({' '.join(str(context).split())})"
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return text


def load_yaml_file(
    path: str | Path,
    *,
    what: str = "YAML file",
    error: type[SatsegError] = ConfigError,
) -> Any:
    """Read the YAML file ``path``; a missing, unreadable or malformed file raises ``error``
    with one line naming ``what`` and the file (and line and column for syntax errors)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise error(f"{what} {p} does not exist; check the path")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} {p} is not UTF-8 text; give a YAML file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise error(
            f"{what} {p} is not valid YAML: {yaml_error_text(exc)}; fix the syntax there"
        ) from None
    except RecursionError:
        raise error(f"{what} {p} nests too deeply to be a satseg YAML file") from None


def as_number(value: Any) -> Any:
    """``value`` as an int or float when it is a string spelling a number (``"1e-3"``,
    ``" 2 "``), else ``value`` unchanged. For numbers that reach satseg as text (JSON from the
    dashboard, ``--set``, stored strings); bools are never numbers."""
    if not isinstance(value, str):
        return value
    s = value.strip().replace("_", "")
    low = s.lower()
    if low in ("inf", "+inf", ".inf", "+.inf", "-inf", "-.inf", "nan", ".nan"):
        return float(low.replace(".", ""))
    if not _NUMBER.match(s) or s in ("", ".", "+.", "-."):
        return value
    if re.fullmatch(r"[-+]?[0-9]+", s):
        return int(s)
    return float(s)
