"""Where a compiled module lets a value typed Any into a place that mypyc checks (tests/test_native.py).

A compiled function checks, at run time, the declared type of each typed local, parameter, return value and
attribute. Pure Python checks nothing. So where a value typed `Any` (a value read from a platform's JSON, say)
flows unnarrowed into one of those places, the compiled build raises TypeError on input that pure Python reads
on: an odd Mastodon status once did, through a loop variable that an earlier line had typed. This finds the
places, from mypy's own types:
- `Any` assigned to a local, an attribute or a loop variable whose type is not `Any` or `object`;
- `Any` returned or yielded from a function that declares a narrower type;
- `Any` passed to a typed parameter of a function of a compiled module.

A line can say why it is safe with a comment `# any: <why>`; it is then not reported.

Usage: python tests/anyflow.py ROOT MODULE...   (prints one place a line)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mypy import build
from mypy import nodes as n
from mypy.modulefinder import BuildSource
from mypy.options import Options
from mypy.types import AnyType, CallableType, Instance, Type, TypeOfAny, UnionType, get_proper_type

# The attributes of mypy's statements and expressions that hold other statements and expressions. Not `node`,
# `info` nor `type`, which lead to definitions elsewhere.
_CHILDREN = (
    "defs", "body", "else_body", "finally_body", "handlers", "if_body", "expr", "exprs", "lvalues", "rvalue",
    "callee", "args", "items", "index", "left", "right", "operands", "base", "func", "decorators", "left_expr",
    "right_expr", "if_expr", "else_expr", "key", "value", "generator", "sequences", "condlist", "indices",
    "target", "begin_index", "end_index", "stride", "vars", "types", "analyzed", "arg",
)


def _loose(t: Type | None) -> bool:
    """Whether mypyc checks nothing for a place of type `t`."""
    t = get_proper_type(t)
    if t is None or isinstance(t, AnyType):
        return True
    if isinstance(t, Instance) and t.type.fullname == "builtins.object":
        return True
    return isinstance(t, UnionType) and any(_loose(item) for item in t.items)


def _is_any(t: Type | None) -> bool:
    t = get_proper_type(t)
    return isinstance(t, AnyType) and t.type_of_any != TypeOfAny.special_form


def _walk(node: Any, into_functions: bool = True) -> Iterator[Any]:
    """`node` and every statement and expression under it (not under a nested function's, unless asked)."""
    yield node
    if isinstance(node, n.FuncItem) and not into_functions:
        return
    for name in _CHILDREN:
        value = getattr(node, name, None)
        for child in value if isinstance(value, list | tuple) else (value,):
            for item in child if isinstance(child, list) else (child,):  # comprehensions hold lists of lists
                if isinstance(item, n.Node) and not isinstance(item, n.MypyFile):
                    yield from _walk(item, into_functions)


class _Finder:
    def __init__(self, types: dict[n.Expression, Type], module: str, compiled: tuple[str, ...], lines: list[str]):
        self.types = types
        self.module = module
        self.compiled = compiled
        self.lines = lines
        self.found: list[str] = []

    def report(self, node: n.Context, what: str) -> None:
        line = self.lines[node.line - 1] if 0 < node.line <= len(self.lines) else ""
        if "# any:" not in line:
            self.found.append(f"{self.module}:{node.line}: {what}")

    def target(self, lvalue: n.Expression, node: n.Context) -> None:
        if isinstance(lvalue, n.NameExpr) and isinstance(lvalue.node, n.Var) and lvalue.node.type is not None:
            if not _loose(lvalue.node.type):
                self.report(node, f"Any into {lvalue.name}: {lvalue.node.type}")
        elif isinstance(lvalue, n.MemberExpr):
            if not _loose(self.types.get(lvalue)):
                self.report(node, f"Any into .{lvalue.name}: {self.types.get(lvalue)}")
        elif isinstance(lvalue, n.TupleExpr | n.ListExpr):
            for item in lvalue.items:
                self.target(item, node)

    def function(self, func: n.FuncItem) -> None:
        kind = get_proper_type(func.type)
        returns = kind.ret_type if isinstance(kind, CallableType) else None
        for node in _walk(func.body, into_functions=False):  # a nested function is checked on its own
            if isinstance(node, n.AssignmentStmt) and _is_any(self.types.get(node.rvalue)):
                for lvalue in node.lvalues:
                    self.target(lvalue, node)
            elif isinstance(node, n.ForStmt) and self._items_any(node.expr):
                self.target(node.index, node)
            elif isinstance(node, n.ReturnStmt) and node.expr is not None and not func.is_generator:
                if not _loose(returns) and _is_any(self.types.get(node.expr)):
                    self.report(node, f"Any returned from {func.name}() -> {returns}")
            elif isinstance(node, n.YieldExpr) and node.expr is not None and _is_any(self.types.get(node.expr)):
                yielded = get_proper_type(returns)
                if isinstance(yielded, Instance) and yielded.args and not _loose(yielded.args[0]):
                    self.report(node, f"Any yielded from {func.name}()")
            elif isinstance(node, n.CallExpr):
                self.call(node)

    def _items_any(self, iterable: n.Expression) -> bool:
        t = get_proper_type(self.types.get(iterable))
        if _is_any(t):
            return True
        return isinstance(t, Instance) and bool(t.args) and _is_any(t.args[0]) and t.type.fullname in (
            "builtins.list", "builtins.set", "builtins.frozenset", "builtins.tuple")

    def call(self, node: n.CallExpr) -> None:
        callee = node.callee.node if isinstance(node.callee, n.NameExpr | n.MemberExpr) else None
        where = getattr(callee, "fullname", "") or ""
        if not where.startswith(tuple(m + "." for m in self.compiled)):
            return
        kind = get_proper_type(self.types.get(node.callee))
        if not isinstance(kind, CallableType):
            return
        for position, (arg, arg_kind, name) in enumerate(zip(node.args, node.arg_kinds, node.arg_names, strict=True)):
            if arg_kind not in (n.ARG_POS, n.ARG_NAMED) or not _is_any(self.types.get(arg)):
                continue
            at = kind.arg_names.index(name) if name in kind.arg_names else position
            if at < len(kind.arg_types) and not _loose(kind.arg_types[at]):
                self.report(node, f"Any passed to {where}({kind.arg_names[at]}: {kind.arg_types[at]})")


def find(root: Path, modules: list[str]) -> list[str]:
    """Every place in `modules` (their files under `root`) where Any reaches a checked place unnarrowed."""
    options = Options()
    options.export_types = True
    options.preserve_asts = True
    options.incremental = False
    options.ignore_missing_imports = True
    options.follow_imports = "silent"
    options.mypy_path = [str(root)]
    files = {m: root.joinpath(*m.split(".")).with_suffix(".py") for m in modules}
    result = build.build([BuildSource(str(path), m) for m, path in files.items()], options)
    found: list[str] = []
    for module, path in files.items():
        finder = _Finder(result.types, module, tuple(modules), path.read_text().splitlines())
        for node in _walk(result.graph[module].tree):
            if isinstance(node, n.FuncItem):
                finder.function(node)
        found += finder.found
    return sorted(set(found), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


if __name__ == "__main__":
    for place in find(Path(sys.argv[1]), sys.argv[2:]):
        print(place)
