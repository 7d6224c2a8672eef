"""Whitelist check of ad-hoc SQL, on the AST that ClickHouse's own parser produces.

A text check (regexes over the query) can always be fooled by something the engine reads
differently: a scalar `file(...)` slipped past a check for the table function, a comment,
a CTE. So the query is parsed by the same engine session that will run it (`EXPLAIN AST`,
which parses only: nothing is analysed, folded or executed), and the dumped tree is walked:

- the root is one SELECT (a `WITH`, `UNION`, `INTERSECT`/`EXCEPT` of SELECTs), with no
  `SETTINGS`, `FORMAT` or `INTO OUTFILE` clause;
- every table is a connlog table (`ALLOWED_TABLES`, from `collector.schema.names`), in the
  connlog database or unqualified; an unqualified name that is not a connlog table must
  name no table of that database (it is then a CTE, or the query fails), so `system.*`,
  other databases, dictionaries and the schema's own bookkeeping tables are refused, also
  on the right of `IN`;
- no table function at all (`file`, `url`, `s3`, `remote`, `executable`, `numbers`...);
- every function is in an allowed family (`ALLOWED_CATEGORIES`, the categories ClickHouse
  itself lists in `system.functions`, aliases resolved), or `EXTRA_FUNCTIONS`, or an
  allowed aggregate with combinators (`countIf`, `sumArrayOrNull`). Everything else is
  refused: files, URLs, the network, the environment, settings, the server, dictionaries,
  models, introspection, `sleep`, `throwIf`. An allow list was chosen over a deny list
  because a ClickHouse upgrade adds functions, and a new one is then refused until
  someone looks at it.

The dump has one node per line, but an identifier quoted with backticks may hold a raw
newline and so split a line; every line must therefore match a strict grammar (plain
names only) and every node's declared child count must match the lines under it, or the
query is refused. Literals are escaped by the dump and never split a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from connlog.collector.schema.ddl import STORAGE_TABLES
from connlog.query_api.errors import ApiError, bad_request

# The tables analysts query: the storage tables, one list with the schema's TTL and settings
# (a table a migration adds is queryable at once; the ingest tables are always empty).
ALLOWED_TABLES: Final[frozenset[str]] = frozenset(t.name for t in STORAGE_TABLES)

# Function families (system.functions.categories) with no access to anything but their
# arguments: no files, URLs, network, settings, server state or dictionaries.
ALLOWED_CATEGORIES: Final[frozenset[str]] = frozenset(
    (
        "Aggregate Functions",
        "Arithmetic",
        "Arrays",
        "Bit",
        "Comparison",
        "Conditional",
        "Dates and Times",
        "Encoding",
        "Hash",
        "IP Address",
        "JSON",
        "Logical",
        "Map",
        "Mathematical",
        "Null",
        "Rounding",
        "String",
        "String Replacement",
        "String Search",
        "String Splitting",
        "Tuple",
        "Type Conversion",
        "URL",
        "UUID",
    )
)

# Pure helpers filed under "Other", and parser-made nodes that are not in system.functions.
EXTRA_FUNCTIONS: Final[frozenset[str]] = frozenset(
    (
        "lambda",  # `x -> ...` in arrayMap and friends
        "exists",  # EXISTS (subquery)
        "toTypeName",
        "formatReadableSize",
        "formatReadableDecimalSize",
        "formatReadableQuantity",
        "formatReadableTimeDelta",
    )
)

# Functions whose second argument, when a bare name, is a table (`x IN otel_logs`).
IN_FUNCTIONS: Final[frozenset[str]] = frozenset(
    (
        "in",
        "notIn",
        "globalIn",
        "globalNotIn",
        "nullIn",
        "notNullIn",
        "globalNullIn",
        "globalNotNullIn",
    )
)

# Node types the walk understands; any other is refused (a new ClickHouse node type is
# unknown, not assumed safe).
KNOWN_NODES: Final[frozenset[str]] = frozenset(
    (
        "SelectWithUnionQuery",
        "SelectIntersectExceptQuery",
        "SelectQuery",
        "ExpressionList",
        "Function",
        "Identifier",
        "TableIdentifier",
        "Literal",
        "Asterisk",
        "QualifiedAsterisk",
        "ColumnsRegexpMatcher",
        "ColumnsListMatcher",
        "QualifiedColumnsRegexpMatcher",
        "QualifiedColumnsListMatcher",
        "ColumnsTransformerList",
        "ColumnsExceptTransformer",
        "ColumnsReplaceTransformer",
        "ColumnsReplaceTransformerReplacement",
        "ColumnsApplyTransformer",
        "TablesInSelectQuery",
        "TablesInSelectQueryElement",
        "TableExpression",
        "TableJoin",
        "ArrayJoin",
        "Subquery",
        "WithElement",
        "OrderByElement",
        "WindowDefinition",
        "WindowListElement",
        "SampleRatio",
        "InterpolateElement",
        "Set",  # a SETTINGS clause: known, and refused with its own message
    )
)

_PLAIN = r"[A-Za-z_][A-Za-z0-9_]*"
_TABLE_NAME = re.compile(rf"^{_PLAIN}(?:\.{_PLAIN})?$")  # table or database.table
_COLUMN_NAME = re.compile(rf"^{_PLAIN}(?:\.(?:{_PLAIN}|[0-9]+))*$")  # alias.Events.Name
_STRICT_NAMES: Final = {
    "Function": re.compile(rf"^{_PLAIN}$"),
    "Identifier": _COLUMN_NAME,
    "TableIdentifier": _TABLE_NAME,
}
# "<indent><Type>[ <name>][ (alias <a>)][ (children <n>)]": names are matched loosely here
# and strictly below, per node type.
_LINE = re.compile(
    r"^(?P<indent> *)(?P<type>[A-Z][A-Za-z]*)"
    r"(?: (?P<name>.*?))??"
    r"(?: \(alias (?P<alias>[^()]*)\))?"
    r"(?: \(children (?P<children>\d+)\))?$"
)
_MAX_DEPTH = 200


@dataclass
class Node:
    type: str
    name: str
    children: list[Node] = field(default_factory=list)

    def walk(self, parent: Node | None = None) -> Iterator[tuple[Node, Node | None]]:
        yield self, parent
        for child in self.children:
            yield from child.walk(self)


def _refuse(code: str, message: str) -> ApiError:
    return bad_request(code, message, "query")


def parse_dump(lines: Iterable[str]) -> Node:
    """The tree of an `EXPLAIN AST` dump, or a 400 if any line is not a plain node line."""
    stack: list[tuple[int, Node, int]] = []  # (indent, node, declared children)
    root: Node | None = None

    def close_to(indent: int) -> None:
        while stack and stack[-1][0] >= indent:
            _, node, declared = stack.pop()
            if len(node.children) != declared:
                raise _refuse("sql_unreadable", "the query's structure could not be read; use plain names")

    for line in lines:
        m = _LINE.match(line)
        if m is None or m.group("type") not in KNOWN_NODES:
            shown = line.strip().split(" ")[0][:40] if line.strip() else "an empty line"
            raise _refuse("sql_not_allowed", f"query element not allowed: {shown}")
        node_type, name = m.group("type"), m.group("name") or ""
        strict = _STRICT_NAMES.get(node_type)
        if strict is not None and not strict.match(name):
            raise _refuse(
                "sql_unreadable", f"{node_type.lower()} names must be plain ([A-Za-z0-9_]), got {name[:60]!r}"
            )
        indent = len(m.group("indent"))
        node = Node(node_type, name)
        close_to(indent)
        if not stack:
            if root is not None or indent != 0:
                raise _refuse("sql_unreadable", "the query's structure could not be read; use plain names")
            root = node
        elif indent != stack[-1][0] + 1:
            raise _refuse("sql_unreadable", "the query's structure could not be read; use plain names")
        else:
            stack[-1][1].children.append(node)
        if indent > _MAX_DEPTH:
            raise _refuse("sql_too_complex", f"query is nested more than {_MAX_DEPTH} levels deep")
        stack.append((indent, node, int(m.group("children") or 0)))
    close_to(0)
    if root is None:
        raise _refuse("sql_empty", "query is empty")
    return root


@dataclass(frozen=True)
class FunctionPolicy:
    """Which function names are allowed; built from the engine's own `system.functions`."""

    allowed: frozenset[str]
    allowed_ci: frozenset[str]  # lower-cased names of case-insensitive allowed functions
    denied: frozenset[str]  # every other exact name: `XYZ` is never allowed as the alias `xyz`
    aggregates: frozenset[str]
    aggregates_ci: frozenset[str]
    combinators: tuple[str, ...]  # longest first

    @classmethod
    def load(cls, client: Client) -> FunctionPolicy:
        rows = client.query(
            "SELECT f.name, f.case_insensitive, f.is_aggregate, "
            "if(f.alias_to = '', f.categories, t.categories) "
            "FROM system.functions AS f LEFT JOIN system.functions AS t ON t.name = f.alias_to"
        ).result_rows
        allowed: set[str] = set(EXTRA_FUNCTIONS)
        ci: set[str] = set()
        aggregates: set[str] = set()
        denied: set[str] = set()
        for name, case_insensitive, is_aggregate, categories in rows:
            cats = {c.strip() for c in str(categories).split(",") if c.strip()}
            if not cats or not cats <= ALLOWED_CATEGORIES:
                denied.add(str(name))
                continue
            allowed.add(str(name))
            if case_insensitive:
                ci.add(str(name).lower())
            if is_aggregate:
                aggregates.add(str(name))
        combinators = [
            str(r[0])
            for r in client.query("SELECT name FROM system.aggregate_function_combinators").result_rows
        ]
        return cls(
            frozenset(allowed),
            frozenset(ci),
            frozenset(denied - allowed),
            frozenset(aggregates),
            frozenset(a.lower() for a in aggregates if a.lower() in ci),
            tuple(sorted(combinators, key=len, reverse=True)),
        )

    def allows(self, name: str) -> bool:
        if name in self.allowed:
            return True
        if name in self.denied:
            return False
        if name.lower() in self.allowed_ci:
            return True
        return self._aggregate_with_combinators(name, 0)

    def _aggregate_with_combinators(self, name: str, depth: int) -> bool:
        if depth > 4:
            return False
        for suffix in self.combinators:
            if name.endswith(suffix) and len(name) > len(suffix):
                base = name[: -len(suffix)]
                if base in self.aggregates or base.lower() in self.aggregates_ci:
                    return True
                if self._aggregate_with_combinators(base, depth + 1):
                    return True
        return False


@dataclass(frozen=True)
class SqlGuard:
    """Checks one statement against the whitelist on the client that will run it."""

    database: str
    functions: FunctionPolicy

    def check(self, client: Client, statement: str) -> None:
        try:
            dump = client.query(f"EXPLAIN AST {statement}").result_rows
        except ClickHouseError as exc:
            message = clean_error(str(exc))
            if "READONLY" in message:  # a SETTINGS clause, refused while parsing
                raise _refuse("sql_not_allowed", "SETTINGS clauses are not allowed") from exc
            if not message.startswith("Code:"):  # chDB's answer to several statements
                message = "the query could not be parsed as one SELECT statement"
            raise _refuse("sql_syntax", message) from exc
        root = parse_dump(str(row[0]) for row in dump)
        self.check_tree(client, root)

    def check_tree(self, client: Client, root: Node) -> None:
        if root.type != "SelectWithUnionQuery":
            raise _refuse("sql_not_read_only", f"only one SELECT statement is allowed, got {root.type}")
        # Children: the SELECTs, then the output format the client appends (`Native`).
        # Anything else is a clause of the statement itself: INTO OUTFILE, SETTINGS, FORMAT.
        extra = [c for c in root.children[1:] if not (c.type == "Identifier" and c.name == "Native")]
        if extra:
            raise _refuse("sql_not_allowed", "INTO OUTFILE, FORMAT and SETTINGS clauses are not allowed")
        local_tables: set[str] | None = None
        for node, parent in root.walk():
            if node.type == "Function":
                if parent is not None and parent.type == "TableExpression":
                    raise _refuse("sql_not_allowed", f"table functions are not allowed: {node.name}()")
                if not self.functions.allows(node.name):
                    raise _refuse("sql_function_not_allowed", f"function not allowed: {node.name}")
                if node.name in IN_FUNCTIONS and node.children and len(node.children[0].children) == 2:
                    right = node.children[0].children[1]
                    if right.type == "Identifier":
                        local_tables = self._check_table(client, right.name, local_tables)
            elif node.type == "TableIdentifier":
                local_tables = self._check_table(client, node.name, local_tables)
            elif node.type == "Set":
                raise _refuse("sql_not_allowed", "SETTINGS clauses are not allowed")

    def _check_table(self, client: Client, name: str, local: set[str] | None) -> set[str] | None:
        db, _, table = name.rpartition(".")
        allowed = ", ".join(sorted(ALLOWED_TABLES))
        if db and db != self.database:
            raise _refuse(
                "sql_table_not_allowed", f"only the connlog tables can be read ({allowed}); got {name}"
            )
        if table in ALLOWED_TABLES:
            return local
        if db:
            raise _refuse(
                "sql_table_not_allowed", f"only the connlog tables can be read ({allowed}); got {name}"
            )
        if local is None:
            local = {
                str(r[0])
                for r in client.query(
                    "SELECT name FROM system.tables WHERE database = {db:String}",
                    parameters={"db": self.database},
                ).result_rows
            }
        if table in local:  # a table of the database, not a CTE
            raise _refuse(
                "sql_table_not_allowed", f"only the connlog tables can be read ({allowed}); got {name}"
            )
        return local


def clean_error(message: str) -> str:
    """ClickHouse's message without the client's wrapper noise or a version trailer."""
    text = re.sub(r"\(version [^)]*\)", "", message)
    text = re.sub(r"\s+", " ", text).strip()
    m = re.search(r"(Code: \d+\. DB::Exception: .*)", text)
    text = m.group(1) if m else text
    text = re.sub(r"(?:Code: \d+\. DB::Exception: )+(?=Code: \d+\. DB::Exception: )", "", text)
    return re.sub(
        r"(?:\s*\.?\s*\([A-Z_]+\))+\s*\.?$", lambda t: " " + t.group(0).strip(" .").split(")")[0] + ")", text
    )[:500]
