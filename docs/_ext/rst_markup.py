"""Griffe extension: numpydoc's reStructuredText markup in docstrings, rendered as Markdown.

The package's docstrings follow numpydoc (scikit-learn's convention): cross-references as Sphinx
roles (``:func:`name```, ``:class:`~pkg.Name```) and display formulas as ``.. math::`` blocks.
mkdocstrings renders docstrings as Markdown, where these would show as raw text. This extension
rewrites them when the API is loaded: a role becomes inline code of its target (the last
component when the target starts with ``~``, the title of ``title <target>``), ``:math:`x```
becomes ``$x$`` and a ``.. math::`` block a ``$$ ... $$`` block (rendered by KaTeX).

Names that a package exports lazily (listed in ``__all__``, provided by a module ``__getattr__``
so that torch is imported only when they are used) are invisible to static analysis; the
extension adds them as aliases of the objects the import finds.

A class or function whose docstring is assembled at import time (``__doc__ = head + shared``,
as the kernel-ridge baselines do) has no docstring for griffe's static analysis; the extension
then takes the runtime ``__doc__``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<rest>.*)$")


def _role(match: re.Match[str]) -> str:
    role, body = match["role"], match["body"].strip()
    if role == "math":
        return f"${body}$"
    titled = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^>]+)>", body)
    if titled:
        return f"`{titled['title']}`"
    if body.startswith("~"):
        body = body[1:].rsplit(".", 1)[-1]
    return f"`{body}`"


def _math_blocks(text: str) -> str:
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = len(match["indent"].expandtabs())
        body = [match["rest"]] if match["rest"] else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        formula = textwrap.dedent("\n".join(body)).strip("\n")
        pad = " " * indent
        out += [f"{pad}$$", *(pad + line for line in formula.splitlines()), f"{pad}$$", ""]
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText roles and math blocks as Markdown."""
    return _ROLE.sub(_role, _math_blocks(text))


def _runtime_doc(obj: griffe.Object) -> str | None:
    """The ``__doc__`` of a module-level class or function, imported (None when it fails)."""
    if not (obj.is_class or obj.is_function) or not obj.parent or not obj.parent.is_module:
        return None
    try:
        value = getattr(importlib.import_module(obj.parent.path), obj.name)
    except Exception:  # noqa: BLE001 - a module that cannot be imported here keeps no docstring
        return None
    doc = inspect.getdoc(value)
    return doc if doc and value.__doc__ is not type(value).__doc__ else None


def _modules(module: griffe.Module):
    yield module
    for member in module.modules.values():
        if not member.is_alias:
            yield from _modules(member)


def _add_lazy_exports(pkg: griffe.Module) -> None:
    """Aliases for the names of ``__all__`` that only a module ``__getattr__`` provides."""
    for module in _modules(pkg):
        exports = [
            e if isinstance(e, str) else getattr(e, "name", str(e)) for e in module.exports or ()
        ]
        missing = [name for name in exports if name not in module.members]
        if not missing or "__getattr__" not in module.members:
            continue
        try:
            runtime = importlib.import_module(module.path)
        except Exception:  # noqa: BLE001 - then the names stay undocumented
            continue
        for name in missing:
            try:
                owner = getattr(getattr(runtime, name), "__module__", None)
            except Exception:  # noqa: BLE001 - an optional dependency is missing
                continue
            if owner and owner != module.path and owner.split(".")[0] == pkg.path:
                module.set_member(name, griffe.Alias(name, f"{owner}.{name}", parent=module))


class RstMarkup(griffe.Extension):
    """Rewrites every docstring of the loaded packages with :func:`rst_to_markdown`."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _add_lazy_exports(pkg)

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None and not obj.name.startswith("_"):
            doc = _runtime_doc(obj)
            if doc:
                obj.docstring = griffe.Docstring(doc, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
