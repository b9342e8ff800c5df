"""Avro binary writers and readers compiled from a schema into plain Python functions.

fastavro's `schemaless_writer` and `schemaless_reader` walk the schema for every value and set
up buffers and options on every call; for the small records of the fold's hot path (one event
in, one profile item out) that set-up and the generic dispatch cost more than the bytes. The
functions here are generated once per schema, with one straight-line function per record.

They are exact, never approximately right:
- `compile_writer(schema)(value)` is byte-identical to fastavro's `schemaless_writer` for every
  value that fits the schema; a construct the compiler does not know (float, double, fixed, map,
  a union of several non-null branches, another logical type) is handed to fastavro.
- `compile_writer(schema, strict=True)` is for values nobody has checked: it raises `Unfit` on
  any value fastavro's `validate` would refuse (and on some it would take). It also compiles a
  union of records (the event's changes), and there it is stricter than fastavro on purpose: a
  record is written as the branch whose fields are exactly its keys, or not at all. fastavro
  writes the first branch the value validates against that shares the most fields with it, so
  an erasure `{"reason": "OTHER"}` became a Suppression of every channel (a Suppression's other
  fields have defaults, and OTHER is a suppression reason), and a frequency change with an
  out-of-range `max_per_week` became one too. Where fastavro picks the exact branch (every
  valid record whose keys are a branch's fields, but that erasure), the bytes are fastavro's.
- `compile_reader(schema)(data, pos)` returns what fastavro's `schemaless_reader` (same writer
  and reader schema) returns, and the end position. It accepts only well-formed input: on
  anything unusual (truncated, an out-of-range enum or union index, a boolean byte other than
  0 or 1, a negative length, bad UTF-8) it raises, and the caller lets fastavro decide (so
  fastavro's errors, and its leniencies, stay the behaviour). A schema with a construct the
  reader does not know gets no compiled reader (`UnsupportedSchema`).
Property tests hold both to fastavro.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastavro import parse_schema, schemaless_writer
from fastavro._logical_writers_py import prepare_timestamp_millis  # type: ignore[attr-defined]  # its .pyi declares only LOGICAL_WRITERS
from fastavro.logical_readers import LOGICAL_READERS
from fastavro.validation import validate

from prefstream.errors import PrefstreamError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnsupportedSchema(PrefstreamError):
    """The schema has a construct the reader compiler does not handle."""


class Malformed(PrefstreamError):
    """The compiled reader met input it does not accept (fastavro decides what it is)."""


class Encoded(bytes):
    """Bytes already in Avro binary for a value."""


class Unfit(PrefstreamError, ValueError):
    """A strict compiled writer met a value it does not vouch for (fastavro decides what it is)."""


_INT_RANGE = range(-(1 << 31), 1 << 31)
_LONG_RANGE = range(-(1 << 63), 1 << 63)


# -- varints -----------------------------------------------------------------------------------

def _varint_slow(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


# Varints of 14-bit chunks, looked up rather than computed: a timestamp is three lookups.
_VARINT = tuple(_varint_slow(n) for n in range(1 << 14))  # n < 2**14, complete (1 or 2 bytes)
_CHUNK = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14))  # 14 bits, more follow
SMALL = _VARINT[:128:2]  # zigzag(n) for 0 <= n < 64 is the varint of 2n


def _varint(number: int) -> bytes:
    """The varint of a non-negative number."""
    if number < 0x4000:
        return _VARINT[number]
    if number < 0x10000000:
        return _CHUNK[number & 0x3FFF] + _VARINT[number >> 14]
    if number < 0x40000000000:
        return _CHUNK[number & 0x3FFF] + _CHUNK[(number >> 14) & 0x3FFF] + _VARINT[number >> 28]
    return _varint_slow(number)


def zigzag(number: int) -> bytes:
    """An Avro int or long: the zigzag varint of `number`."""
    if 0 <= number < 64:
        return SMALL[number]
    return _varint((number << 1) ^ (number >> 63))


def timestamp_millis(moment: datetime | int) -> int:
    """A timestamp-millis value as fastavro's writer prepares it (int as is, aware or naive datetime)."""
    if type(moment) is int:
        return moment
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        delta = moment - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return prepare_timestamp_millis(moment, None)


def _read_varint(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (>= 0x80) was `first`; returns (raw value, position)."""
    number, shift = first & 0x7F, 7
    while True:
        byte = data[pos]
        pos += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, pos
        shift += 7


# -- shared by both compilers ------------------------------------------------------------------

def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    return schema["type"] if isinstance(schema["type"], str) else "wrapped"


class _Generator:
    """Source for one function per named record and one for the top value, with constants."""

    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.namespace: dict[str, Any] = {}
        self.functions: dict[str, str] = {}  # record full name -> generated function name
        self.sources: list[str] = []
        self.counter = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def constant(self, stem: str, value: Any) -> str:
        name = self.fresh(stem)
        self.namespace[name] = value
        return name

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        if isinstance(schema, dict) and isinstance(schema["type"], (dict, list)) and "logicalType" not in schema:
            return self.resolve(schema["type"])
        if isinstance(schema, dict) and isinstance(schema["type"], str) and schema["type"] in self.named:
            return self.resolve(schema["type"])
        return schema

    def finish(self, name: str, top: list[str], label: str) -> Callable[..., Any]:
        source = "\n\n".join([*self.sources, "\n".join(top)])
        exec(compile(source, f"<avro {label}>", "exec"), self.namespace)  # noqa: S102 - our own generated code
        function = self.namespace[name]
        function.source = source  # the generated code, for debugging
        return function


def _fastavro_writer(schema: Any, named: dict[str, Any]) -> Callable[[Any], bytes]:
    """fastavro's writer of one value of `schema`: the reference the compiled writers equal."""
    parsed = parse_schema(schema, named_schemas=dict(named))

    def write(value: Any) -> bytes:
        buffer = io.BytesIO()
        schemaless_writer(buffer, parsed, value)
        return buffer.getvalue()

    return write


# -- writer ------------------------------------------------------------------------------------

class _Writer(_Generator):
    def __init__(self, named: dict[str, Any], strict: bool = False) -> None:
        super().__init__(named)
        self.strict = strict
        self.namespace |= {"_SMALL": SMALL, "_zz": zigzag, "_ts": timestamp_millis, "_Encoded": Encoded,
                           "_Unfit": Unfit, "_INT": _INT_RANGE, "_LONG": _LONG_RANGE}

    def check(self, var: str, condition: str, pad: str) -> list[str]:
        """In a strict writer: raise Unfit unless `condition` holds of `var`."""
        return [f"{pad}if not ({condition}): raise _Unfit({var!r})"] if self.strict else []

    def record_function(self, schema: dict[str, Any]) -> str:
        """The name of the generated `f(out, record)` appending a record to the bytearray `out`."""
        name = schema["name"]
        if name in self.functions:
            return self.functions[name]
        function = self.functions[name] = self.fresh("_record")
        lines = [f"def {function}(out, r):", *self.check("r", "r.__class__ is dict", "    ")]
        for field in schema["fields"]:
            field_type = field["type"]
            if "default" in field:
                expr = f"r.get({field['name']!r}, {self.constant('_default', field['default'])})"
            elif isinstance(field_type, list) and "null" in field_type:
                expr = f"r.get({field['name']!r})"
            else:
                expr = f"r[{field['name']!r}]"
            lines += self.value(field_type, expr, "    ")
        if len(lines) == 1:
            lines.append("    pass")
        self.sources.append("\n".join(lines))
        return function

    def value(self, schema: Any, expr: str, pad: str) -> list[str]:
        """Statements appending the encoding of `expr` (a value of `schema`) to `out`."""
        schema = self.resolve(schema)
        kind = _kind(schema)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and not (logical == "timestamp-millis" and kind == "long"):
            return self.fallback(schema, expr, pad)
        if logical == "timestamp-millis":
            var = self.fresh("n")
            return [f"{pad}{var} = _ts({expr})", *self.check(var, f"{var}.__class__ is int and {var} in _LONG", pad),
                    f"{pad}out += _SMALL[{var}] if 0 <= {var} < 64 else _zz({var})"]
        if kind == "null":
            return self.check(expr, f"{expr} is None", pad)
        if kind == "boolean":
            var = self.fresh("b")
            return [f"{pad}{var} = {expr}", *self.check(var, f"{var} is True or {var} is False", pad),
                    f"{pad}out += b'\\x01' if {var} else b'\\x00'"]
        if kind in ("int", "long"):
            var = self.fresh("n")
            bounds = "_INT" if kind == "int" else "_LONG"
            return [f"{pad}{var} = {expr}", *self.check(var, f"{var}.__class__ is int and {var} in {bounds}", pad),
                    f"{pad}out += _SMALL[{var}] if 0 <= {var} < 64 else _zz({var})"]
        if kind in ("string", "bytes"):
            var, size = self.fresh("s"), self.fresh("n")
            string = kind == "string"
            checked = self.check(var, f"{var}.__class__ {'is str' if string else 'in (bytes, bytearray)'}", pad)
            encoded = [f"{pad}{var} = {var}.encode()"] if string else []
            return [f"{pad}{var} = {expr}", *checked, *encoded, f"{pad}{size} = len({var})",
                    f"{pad}out += _SMALL[{size}] if {size} < 64 else _zz({size})", f"{pad}out += {var}"]
        if kind == "enum":
            table = self.constant("_enum", {symbol: zigzag(index) for index, symbol in enumerate(schema["symbols"])})
            return [f"{pad}out += {table}[{expr}]"]
        if kind == "record":
            return [f"{pad}{self.record_function(schema)}(out, {expr})"]
        if kind == "array":
            items, item, size = self.fresh("a"), self.fresh("i"), self.fresh("n")
            return [f"{pad}{items} = {expr}", *self.check(items, f"{items}.__class__ in (list, tuple)", pad),
                    f"{pad}if {items}:", f"{pad}    {size} = len({items})",
                    f"{pad}    out += _SMALL[{size}] if {size} < 64 else _zz({size})",
                    f"{pad}    for {item} in {items}:", *self.value(schema["items"], item, pad + "        "),
                    f"{pad}out += b'\\x00'"]
        if kind == "union" and len(schema) == 2 and "null" in schema:
            null_index = schema.index("null")
            other = schema[1 - null_index]
            var = self.fresh("u")
            return [f"{pad}{var} = {expr}", f"{pad}if {var} is None:", f"{pad}    out += {zigzag(null_index)!r}",
                    f"{pad}else:", f"{pad}    out += {zigzag(1 - null_index)!r}",
                    *(self.value(other, var, pad + "    ") or [f"{pad}    pass"])]
        if kind == "union" and self.strict:
            return self.union_of_records(schema, expr, pad) or self.fallback(schema, expr, pad)
        return self.fallback(schema, expr, pad)

    def union_of_records(self, schema: list[Any], expr: str, pad: str) -> list[str]:
        """A union of records (and null), the branch chosen by the value's keys; [] when not compiled."""
        branches = [self.resolve(branch) for branch in schema]
        records = [(index, branch) for index, branch in enumerate(branches) if _kind(branch) == "record"]
        if len(records) + branches.count("null") != len(branches) or branches.count("null") > 1:
            return []
        fields = [frozenset(field["name"] for field in branch["fields"]) for _, branch in records]
        if len(set(fields)) != len(fields):
            return []  # two branches with the same fields: the keys cannot tell them apart
        table = self.constant("_branches", {names: position for position, names in enumerate(fields)})
        var, position = self.fresh("u"), self.fresh("k")
        lines = [f"{pad}{var} = {expr}"]
        if "null" in branches:
            lines += [f"{pad}if {var} is None:", f"{pad}    out += {zigzag(branches.index('null'))!r}", f"{pad}else:"]
            pad += "    "
        lines += [*self.check(var, f"{var}.__class__ is dict", pad),
                  f"{pad}{position} = {table}.get(frozenset({var}))",
                  f"{pad}if {position} is None: raise _Unfit({var!r})"]
        for number, (index, branch) in enumerate(records):
            lines += [f"{pad}{'if' if number == 0 else 'elif'} {position} == {number}:",
                      f"{pad}    out += {zigzag(index)!r}", f"{pad}    {self.record_function(branch)}(out, {var})"]
        return lines

    def fallback(self, schema: Any, expr: str, pad: str) -> list[str]:
        writer = _fastavro_writer(schema, self.named)
        if self.strict:  # fastavro writes without validating: in a union branch that would decide the branch
            writer = _validated(writer, schema, self.named)
        name = self.constant("_fastavro", writer)
        return [f"{pad}out += {name}({expr})"]

    def build(self, schema: Any) -> Callable[[Any], Encoded]:
        body = self.value(schema, "value", "    ") or ["    pass"]
        return self.finish("write", ["def write(value):", "    out = bytearray()", *body, "    return _Encoded(out)"],
                           f"writer {str(schema)[:40]}")


def compile_writer(schema: Any, named: dict[str, Any] | None = None, strict: bool = False) -> Callable[[Any], Encoded]:
    """A function that encodes one value of `schema` as Avro binary, byte-identical to fastavro.

    `schema` is a parsed (fastavro) schema or a type inside one; `named` resolves references to
    named types (default: those `schema` defines). `strict`: raise Unfit on a value fastavro's
    `validate` refuses, instead of writing what fastavro's writer would make of it.
    """
    return _Writer(_named_types(schema) if named is None else named, strict).build(schema)


def _validated(write: Callable[[Any], bytes], schema: Any, named: dict[str, Any]) -> Callable[[Any], bytes]:
    """`write`, refusing (Unfit) a value fastavro's `validate` refuses."""
    parsed = parse_schema(schema, named_schemas=dict(named))

    def checked(value: Any) -> bytes:
        if not validate(value, parsed, raise_errors=False):
            raise Unfit("refused by fastavro's validate")
        return write(value)

    return checked


# -- reader ------------------------------------------------------------------------------------

# Epoch milliseconds a reader with `epoch_millis` accepts: 1970 up to the last millisecond of 9999,
# the years of a datetime (fastavro fails beyond them). Earlier times are left to fastavro as well.
MILLIS_RANGE = range(0, 253_402_300_800_000)


class _Reader(_Generator):
    def __init__(self, named: dict[str, Any], epoch_millis: bool = False) -> None:
        super().__init__(named)
        self.epoch_millis = epoch_millis
        self.namespace |= {"_varint": _read_varint, "_Malformed": Malformed, "_BOOL": {0: False, 1: True},
                           "_MILLIS_END": MILLIS_RANGE.stop}

    def raw(self, var: str, pad: str) -> list[str]:
        """Statements reading one varint (not yet un-zigzagged) into `var`."""
        return [f"{pad}{var} = data[pos]", f"{pad}pos += 1", f"{pad}if {var} > 127:",
                f"{pad}    {var}, pos = _varint(data, pos, {var})"]

    def raw_long(self, var: str, pad: str) -> list[str]:
        """`raw` with the continuation bytes read in place, not by a call: for values that nearly
        always take several bytes (timestamps)."""
        byte, shift = self.fresh("c"), self.fresh("s")
        return [f"{pad}{var} = data[pos]", f"{pad}pos += 1", f"{pad}if {var} > 127:", f"{pad}    {var} &= 0x7F",
                f"{pad}    {shift} = 7", f"{pad}    while True:", f"{pad}        {byte} = data[pos]", f"{pad}        pos += 1",
                f"{pad}        {var} |= ({byte} & 0x7F) << {shift}", f"{pad}        if {byte} < 0x80:",
                f"{pad}            break", f"{pad}        {shift} += 7"]

    def record_function(self, schema: dict[str, Any]) -> str:
        """The name of the generated `f(data, pos) -> (record, pos)`."""
        name = schema["name"]
        if name in self.functions:
            return self.functions[name]
        function = self.functions[name] = self.fresh("_record")
        lines = [f"def {function}(data, pos):"]
        names = []
        for field in schema["fields"]:
            var = self.fresh("f")
            lines += self.value(field["type"], var, "    ")
            names.append(f"{field['name']!r}: {var}")
        lines.append(f"    return {{{', '.join(names)}}}, pos")
        self.sources.append("\n".join(lines))
        return function

    def value(self, schema: Any, target: str, pad: str) -> list[str]:
        """Statements reading a value of `schema` into the variable `target`, advancing `pos`."""
        schema = self.resolve(schema)
        kind = _kind(schema)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None:
            if not (logical == "timestamp-millis" and kind == "long"):
                raise UnsupportedSchema(f"logical type {logical}")
            if self.epoch_millis:
                return [*self.raw_long(target, pad), f"{pad}{target} = ({target} >> 1) ^ -({target} & 1)",
                        f"{pad}if not 0 <= {target} < _MILLIS_END:", f"{pad}    raise _Malformed"]
            read = self.constant("_timestamp", LOGICAL_READERS["long-timestamp-millis"])
            return [*self.raw_long(target, pad), f"{pad}{target} = {read}(({target} >> 1) ^ -({target} & 1))"]
        if kind == "null":
            return [f"{pad}{target} = None"]
        if kind == "boolean":
            return [f"{pad}{target} = _BOOL[data[pos]]", f"{pad}pos += 1"]
        if kind in ("int", "long"):
            return [*self.raw(target, pad), f"{pad}{target} = ({target} >> 1) ^ -({target} & 1)"]
        if kind in ("string", "bytes"):
            size = self.fresh("n")
            decode = ".decode()" if kind == "string" else ""
            return [*self.raw(size, pad), f"{pad}if {size} & 1:", f"{pad}    raise _Malformed",
                    f"{pad}{size} = pos + ({size} >> 1)", f"{pad}{target} = data[pos:{size}]{decode}", f"{pad}pos = {size}"]
        if kind == "enum":
            table = self.constant("_enum", {2 * index: symbol for index, symbol in enumerate(schema["symbols"])})
            return [*self.raw(target, pad), f"{pad}{target} = {table}[{target}]"]
        if kind == "record":
            return [f"{pad}{target}, pos = {self.record_function(schema)}(data, pos)"]
        if kind == "array":
            count, item = self.fresh("n"), self.fresh("i")
            return [f"{pad}{target} = []", *self.raw(count, pad), f"{pad}{count} = ({count} >> 1) ^ -({count} & 1)",
                    f"{pad}while {count}:", f"{pad}    if {count} < 0:", f"{pad}        {count} = -{count}",
                    *self.raw(item, pad + "        "),
                    f"{pad}    for _ in range({count}):", *self.value(schema["items"], item, pad + "        "),
                    f"{pad}        {target}.append({item})",
                    *self.raw(count, pad + "    "), f"{pad}    {count} = ({count} >> 1) ^ -({count} & 1)"]
        if kind == "union":
            branch = self.fresh("b")
            lines = self.raw(branch, pad)
            for index, option in enumerate(schema):
                lines += [f"{pad}{'if' if index == 0 else 'elif'} {branch} == {2 * index}:",
                          *self.value(option, target, pad + "    ")]
            return [*lines, f"{pad}else:", f"{pad}    raise _Malformed"]
        raise UnsupportedSchema(f"type {kind}")

    def build(self, schema: Any) -> Callable[[bytes, int], tuple[Any, int]]:
        body = self.value(schema, "value", "    ")
        return self.finish("read", ["def read(data, pos):", *body, "    return value, pos"], f"reader {str(schema)[:40]}")


def compile_reader(schema: Any, named: dict[str, Any] | None = None,
                   epoch_millis: bool = False) -> Callable[[bytes, int], tuple[Any, int]]:
    """A function `read(data, pos) -> (value, end)` decoding one value of `schema` from `data[pos:]`,
    equal to fastavro's `schemaless_reader` with the same writer and reader schema; raises on any
    input it does not accept (see the module). Raises UnsupportedSchema at once for a schema it
    cannot compile.

    `epoch_millis`: every timestamp-millis value is the int Avro stores (`timestamp_millis` of
    fastavro's datetime) instead of a datetime, and a value outside MILLIS_RANGE is input it does
    not accept."""
    return _Reader(_named_types(schema) if named is None else named, epoch_millis).build(schema)


def _named_types(schema: Any) -> dict[str, Any]:
    named: dict[str, Any] = {}
    if isinstance(schema, dict) and "__named_schemas" in schema:
        return dict(schema["__named_schemas"])
    parse_schema(schema, named_schemas=named)
    return named
