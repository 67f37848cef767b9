"""Command-line flags generated from a settings dataclass (one ``--field-name`` per field)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
from typing import Any


def field_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of dataclass ``cls`` (or of the dataclasses it
    extends), used as its ``--help`` text."""
    docs = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body
        for node, following in itertools.pairwise(body):
            if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr):
                value = following.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    docs[node.target.id] = value.value
    return docs


def add_dataclass_arguments(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()
) -> None:
    """Add a flag per field of ``cls`` (except ``skip``): ``bool`` fields get ``--x/--no-x``,
    ``list[int]``/``list[float]``/``list[str]`` fields take one or more values, ``dict[...]`` fields one or more
    ``key:value`` pairs (:class:`KeyValues`), ``int``/``float`` (optionally ``| None``) are parsed
    as such, everything else as a string."""
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = _default(field)
        help_text = f"{docs.get(field.name, '')} (default: {default})".strip()
        kind = str(field.type).removesuffix(" | None")
        if kind == "bool":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif kind.startswith("dict["):
            parser.add_argument(
                flag,
                nargs="+",
                action=KeyValues,
                default=default,
                help=help_text,
                metavar="KEY:VALUE",
            )
        elif kind.startswith("list["):
            item = {"list[int]": int, "list[float]": float}.get(kind, str)
            parser.add_argument(flag, nargs="+", type=item, default=default, help=help_text)
        else:
            item = {"int": int, "float": float}.get(kind, str)
            parser.add_argument(flag, type=item, default=default, help=help_text)


class KeyValues(argparse.Action):
    """``key:value ...`` -> ``{key: value}`` (RL Zoo's ``--env-kwargs``): a value that reads as a
    Python literal (``4``, ``0.5``, ``True``, ``None``, ``'a'``) becomes it, any other stays a
    string (paths, names)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        pairs = {}
        for item in values:
            key, sep, value = item.partition(":")
            if not sep or not key:
                parser.error(f"{option_string} takes key:value pairs, got {item!r}")
            try:
                pairs[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pairs[key] = value
        setattr(namespace, self.dest, pairs)


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default
