"""Where a compiled module lets a value typed Any into a place that mypyc checks (tests/test_native.py).

A compiled function checks, at run time, the declared type of each typed local, parameter, return value and
attribute. Pure Python checks nothing. So where a value typed `Any` (a value read from a platform's JSON, say)
flows unnarrowed into one of those places, the compiled build raises TypeError on input that pure Python reads
on: an odd Mastodon status once did, through a loop variable that an earlier line had typed. This finds such
places from mypy's own types, where a value typed Any (or a union holding Any) is:
- assigned to a local, an attribute or a loop variable whose type is not `Any` or `object` (plain, augmented,
  `:=`, `with ... as`, unpacked);
- returned or yielded from a function that declares a narrower type;
- passed to a typed parameter of a function or method of a compiled module (`*args` too);
- stored into a typed list, set or dict (`append`, `add`, `insert`, `setdefault`, `x[k] = ...`).
What it does not see: pure-Python modules calling compiled ones (the compiled function checks its arguments
on entry), and flows through builtins other than those.

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
from mypy.types import AnyType, CallableType, Instance, TupleType, Type, TypeOfAny, UnionType, get_proper_type

# The attributes of mypy's statements and expressions that hold other statements and expressions. Not `node`,
# `info` nor `type`, which lead to definitions elsewhere.
_CHILDREN = (
    "defs", "body", "else_body", "finally_body", "handlers", "if_body", "expr", "exprs", "lvalues", "rvalue",
    "callee", "args", "items", "index", "left", "right", "operands", "base", "func", "decorators", "left_expr",
    "right_expr", "if_expr", "else_expr", "key", "value", "generator", "sequences", "condlist", "indices",
    "target", "begin_index", "end_index", "stride", "vars", "types", "analyzed", "arg", "lvalue",
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
    """Whether a value of type `t` can be anything: Any, or a union with Any in it (`x or doc["k"]`), which mypyc
    holds as an object and checks where it lands."""
    t = get_proper_type(t)
    if isinstance(t, UnionType):
        return any(_is_any(item) for item in t.items)
    return isinstance(t, AnyType) and t.type_of_any != TypeOfAny.special_form


def _reaches(value: Type | None, place: Type | None) -> bool:
    """Whether a value of type `value` put in a place of type `place` can fail mypyc's check there: it can be
    anything and the place is typed, or a tuple holds such a value where a typed tuple is expected."""
    if _loose(place):
        return False
    if _is_any(value):
        return True
    value, place = get_proper_type(value), get_proper_type(place)
    return isinstance(value, TupleType) and isinstance(place, TupleType) and len(value.items) == len(place.items) \
        and any(_reaches(v, p) for v, p in zip(value.items, place.items, strict=True))


def _items(t: Type | None, count: int) -> list[Type | None]:
    """The types of `count` values unpacked from a value of type `t` (None where not known)."""
    t = get_proper_type(t)
    if isinstance(t, TupleType) and len(t.items) == count:
        return list(t.items)
    if _is_any(t):
        return [AnyType(TypeOfAny.explicit)] * count
    if isinstance(t, Instance) and t.args and t.type.fullname in _SEQUENCES:
        return [t.args[0]] * count
    return [None] * count


_SEQUENCES = ("builtins.list", "builtins.tuple", "builtins.set", "builtins.frozenset")
_CONTAINERS = ("builtins.list", "builtins.set", "builtins.dict")
_STORES = ("append", "add", "insert", "setdefault")


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

    def assign(self, lvalue: n.Expression, value: Type | None, node: n.Context) -> None:
        """A value of type `value` stored in `lvalue` (unpacked, for a tuple or a list of targets)."""
        if isinstance(lvalue, n.TupleExpr | n.ListExpr):
            for item, item_type in zip(lvalue.items, _items(value, len(lvalue.items)), strict=True):
                self.assign(item, item_type, node)
            return
        if isinstance(lvalue, n.StarExpr) or value is None:
            return
        if isinstance(lvalue, n.IndexExpr):  # `counts[key] = doc["n"]` into a dict[str, int]
            holder = get_proper_type(self.types.get(lvalue.base))
            if isinstance(holder, Instance) and holder.type.fullname in _CONTAINERS \
                    and _reaches(value, holder.args[-1]):
                self.report(node, f"Any stored in a {holder}")
            return
        if isinstance(lvalue, n.NameExpr) and isinstance(lvalue.node, n.Var) and lvalue.node.type is not None:
            if _reaches(value, lvalue.node.type):
                self.report(node, f"Any into {lvalue.name}: {lvalue.node.type}")
        elif isinstance(lvalue, n.MemberExpr) and _reaches(value, self.types.get(lvalue)):
            self.report(node, f"Any into .{lvalue.name}: {self.types.get(lvalue)}")

    def function(self, func: n.FuncItem) -> None:
        kind = get_proper_type(func.type)
        returns = kind.ret_type if isinstance(kind, CallableType) else None
        for node in _walk(func.body, into_functions=False):  # a nested function is checked on its own
            if isinstance(node, n.AssignmentStmt):
                many = n.TupleExpr | n.ListExpr
                for lvalue in node.lvalues:
                    pairs = isinstance(lvalue, many) and isinstance(node.rvalue, many)
                    if pairs and len(lvalue.items) == len(node.rvalue.items):  # `a, b = doc, 1`: mypy types each
                        for item, value in zip(lvalue.items, node.rvalue.items, strict=True):
                            self.assign(item, self.types.get(value), node)
                    else:
                        self.assign(lvalue, self.types.get(node.rvalue), node)
            elif isinstance(node, n.OperatorAssignmentStmt):
                self.assign(node.lvalue, self.types.get(node.rvalue), node)
            elif isinstance(node, n.AssignmentExpr):
                self.assign(node.target, self.types.get(node.value), node)
            elif isinstance(node, n.ForStmt):
                self.assign(node.index, node.inferred_item_type, node)
            elif isinstance(node, n.WithStmt):
                for expr, target in zip(node.expr, node.target, strict=True):
                    if target is not None:
                        self.assign(target, self.types.get(expr), node)
            elif isinstance(node, n.ReturnStmt) and node.expr is not None and not func.is_generator:
                if _reaches(self.types.get(node.expr), returns):
                    self.report(node, f"Any returned from {func.name}() -> {returns}")
            elif isinstance(node, n.YieldExpr) and node.expr is not None and _is_any(self.types.get(node.expr)):
                yielded = get_proper_type(returns)
                if isinstance(yielded, Instance) and yielded.args and not _loose(yielded.args[0]):
                    self.report(node, f"Any yielded from {func.name}()")
            elif isinstance(node, n.CallExpr):
                self.call(node)

    def call(self, node: n.CallExpr) -> None:
        kind = get_proper_type(self.types.get(node.callee))
        if not isinstance(kind, CallableType):
            return
        if isinstance(node.callee, n.MemberExpr) and node.callee.name in _STORES:
            # `names.append(doc["name"])` into a list[str]: the value is checked as it goes in.
            holder = get_proper_type(self.types.get(node.callee.expr))
            stored = self.types.get(node.args[-1]) if node.args else None
            if isinstance(holder, Instance) and holder.type.fullname in _CONTAINERS \
                    and _reaches(stored, holder.args[-1]):
                self.report(node, f"Any stored in a {holder}")
            return
        # A function or a class by its name; a method through its instance (`self.judge(...)`) by its definition.
        callee = node.callee.node if isinstance(node.callee, n.NameExpr | n.MemberExpr) else None
        where = getattr(callee, "fullname", "") or getattr(kind.definition, "fullname", "") or ""
        if not where.startswith(tuple(m + "." for m in self.compiled)):
            return
        # The parameters filled by position, in order, up to a `*args` (which mypyc does not check).
        positional = [i for i, k in enumerate(kind.arg_kinds) if k in (n.ARG_POS, n.ARG_OPT)]
        position = 0
        for arg, arg_kind, name in zip(node.args, node.arg_kinds, node.arg_names, strict=True):
            value = self.types.get(arg)
            if arg_kind in (n.ARG_STAR, n.ARG_STAR2):
                if (_is_any(value) or _is_any(_items(value, 1)[0])) and not all(map(_loose, kind.arg_types)):
                    self.report(node, f"Any unpacked into the parameters of {where}")
                continue
            if arg_kind == n.ARG_POS:
                at = positional[position] if position < len(positional) else None
                position += 1
            else:
                at = kind.arg_names.index(name) if name in kind.arg_names else None
            if at is not None and _reaches(value, kind.arg_types[at]):
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
