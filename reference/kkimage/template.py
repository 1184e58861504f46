"""Destination templates: Go text/template syntax with a Sprig subset, evaluated by jinja2.

KubeKey renders `push.dest` and `copy.to.path` with Go's text/template and Sprig. We translate
the Go template into a jinja2 template whose expressions call Go-semantics helpers (pipelines
pass the previous value as the *last* argument, Go truthiness, Go value printing), so that the
same text renders the same string. Unlike Go's default, an undefined name is an error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import TemplateError
from .reference import DIGEST, ImageReference, parse_reference

# ---- Go value semantics ----------------------------------------------------------------------


def go_str(value: Any) -> str:
    """How Go's text/template prints a value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def go_truth(value: Any) -> bool:
    return bool(value)


def _go_quote(value: Any) -> str:
    return json.dumps(go_str(value), ensure_ascii=False)


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    remaining = list(args)
    out: list[str] = []
    position = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[position : match.start()])
        position = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if not remaining:
            out.append(f"%!{verb}(MISSING)")
            continue
        value = remaining.pop(0)
        if verb in "sv":
            text = go_str(value)
            if precision:
                text = text[: int(precision)]
        elif verb == "q":
            text = _go_quote(value)
        elif verb == "d" and isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            raise TemplateError(f"printf: unsupported verb %{verb} for {go_str(value)!r}")
        if width:
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        out.append(text)
    out.append(fmt[position:])
    if remaining:
        out.append("%!(EXTRA " + ", ".join(go_str(v) for v in remaining) + ")")
    return "".join(out)


def _go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TemplateError(f"invalid regular expression {pattern!r}: {exc}") from None


def _go_expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: `$1`, `${1}`, `$name`, `${name}` (the longest run of letters,
    digits and underscores); `$$` is a dollar; a group that does not exist is empty."""

    def group(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except (IndexError, re.error):
            return ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", group, template)


def _first_by_truth(values: tuple[Any, ...], truth: bool) -> Any:
    """Go's and/or: the first value whose truth is `truth`, else the last value."""
    return next((v for v in values if go_truth(v) == truth), values[-1])


def _print(*values: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, value in enumerate(values):
        if i and not isinstance(value, str) and not isinstance(values[i - 1], str):
            out += " "
        out += go_str(value)
    return out


def _default(fallback: Any, value: Any = None) -> Any:
    return value if go_truth(value) else fallback


def _first(items: Any) -> Any:
    return items[0] if items else None


def _last(items: Any) -> Any:
    return items[-1] if items else None


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("eq: needs at least two arguments")
    return any(first == other for other in others)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Go builtins
    "printf": _printf,
    "print": _print,
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "not": lambda v: not go_truth(v),
    "and": lambda first, *rest: _first_by_truth((first, *rest), False),
    "or": lambda first, *rest: _first_by_truth((first, *rest), True),
    "len": len,
    "index": lambda item, *keys: _index(item, keys),
    # Sprig, with Sprig's argument order (the piped value is the last argument)
    "default": _default,
    "empty": lambda v: not go_truth(v),
    "replace": lambda old, new, s: go_str(s).replace(old, new),
    "trimPrefix": lambda prefix, s: go_str(s).removeprefix(prefix),
    "trimSuffix": lambda suffix, s: go_str(s).removesuffix(suffix),
    "trim": lambda s: go_str(s).strip(),
    "trimAll": lambda chars, s: go_str(s).strip(chars),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: go_str(s).title(),
    "quote": lambda *a: " ".join(_go_quote(v) for v in a),
    "squote": lambda *a: " ".join(f"'{go_str(v)}'" for v in a),
    "contains": lambda sub, s: sub in go_str(s),
    "hasPrefix": lambda prefix, s: go_str(s).startswith(prefix),
    "hasSuffix": lambda suffix, s: go_str(s).endswith(suffix),
    "regexMatch": lambda rx, s: _go_regex(rx).search(go_str(s)) is not None,
    "regexFind": lambda rx, s: m.group(0) if (m := _go_regex(rx).search(go_str(s))) else "",
    "regexReplaceAll": lambda rx, s, repl: _go_regex(rx).sub(
        lambda m: _go_expand(go_str(repl), m), go_str(s)
    ),
    "regexReplaceAllLiteral": lambda rx, s, repl: _go_regex(rx).sub(
        lambda _m: go_str(repl), go_str(s)
    ),
    "splitList": lambda sep, s: go_str(s).split(sep),
    "join": lambda sep, items: sep.join(go_str(v) for v in items),
    "first": _first,
    "last": _last,
    "toString": go_str,
    "ternary": lambda yes, no, cond: yes if go_truth(cond) else no,
    "list": lambda *items: list(items),
    "append": lambda items, item: [*(items or []), item],
    "toJson": lambda value: _to_json(value),
}


def _to_json(value: Any) -> str:
    """Sprig's toJson: Go's json.Marshal (compact, map keys sorted, <>& escaped)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _iterate(value: Any) -> list[Any]:
    """What `range` walks: a list's items, a map's values in key order (as Go), none for
    nothing."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    if isinstance(value, list | tuple):
        return list(value)
    raise TemplateError(f"range can't iterate over {go_str(value)}")


def _index(item: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        try:
            item = item[key]
        except (KeyError, IndexError, TypeError):
            raise TemplateError(f"index: no entry {go_str(key)!r}") from None
    return item


def _field(root: Any, names: tuple[str, ...]) -> Any:
    value = root
    for position, name in enumerate(names):
        if not isinstance(value, dict) or name not in value:
            path = "." + ".".join(names[: position + 1])
            raise TemplateError(f"undefined variable {path}")
        value = value[name]
    return value


# ---- translation -----------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\$[A-Za-z0-9_]*|\.)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[|()])
    )""",
    re.VERBOSE,
)


class _Translation:
    """What translating one template has collected so far."""

    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.dots: list[str] = []  # the jinja2 name of `.` in each enclosing range, innermost last
        self.variables: set[str] = set()

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"__c[{len(self.constants) - 1}]"

    @property
    def dot(self) -> str:
        return self.dots[-1] if self.dots else "__root"

    def variable(self, name: str) -> str:
        if name not in self.variables:
            raise TemplateError(f"undefined variable ${name}")
        return f"__vars.{name}"


class _PipelineParser:
    """Parses one action's pipeline into a jinja2 expression string."""

    def __init__(self, text: str, translation: _Translation) -> None:
        self.tokens = self._tokenize(text)
        self.position = 0
        self.translation = translation

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise TemplateError(f"unexpected {text[position:].strip()[:20]!r} in action")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise TemplateError("unexpected end of action")
        self.position += 1
        return token

    def parse(self) -> str:
        expression = self.pipeline()
        if self.peek() is not None:
            raise TemplateError(f"unexpected {self.peek()[1]!r} in action")  # type: ignore[index]
        return expression

    def pipeline(self) -> str:
        expression = self.command(piped=None)
        while self.peek() == ("punct", "|"):
            self.take()
            expression = self.command(piped=expression)
        return expression

    def command(self, piped: str | None) -> str:
        token = self.peek()
        if token is None or token == ("punct", "|"):
            raise TemplateError("missing value in pipeline")
        if token[0] == "ident" and token[1] not in ("true", "false", "nil"):
            name = self.take()[1]
            if name not in FUNCTIONS:
                raise TemplateError(f'function "{name}" not defined')
            args = []
            while (nxt := self.peek()) is not None and nxt not in (("punct", "|"), ("punct", ")")):
                args.append(self.operand())
            if piped is not None:
                args.append(piped)
            return f"__f[{name!r}]({', '.join(args)})"
        if piped is not None:
            raise TemplateError(f"cannot pipe into {token[1]!r}: not a function")
        value = self.operand()
        if self.peek() not in (None, ("punct", "|"), ("punct", ")")):
            raise TemplateError(f"{self.peek()[1]!r} is not a function")  # type: ignore[index]
        return value

    def operand(self) -> str:
        kind, text = self.take()
        if kind == "string":
            try:
                return self.translation.constant(json.loads(text))
            except ValueError:
                raise TemplateError(f"invalid string literal {text}") from None
        if kind == "raw":
            return self.translation.constant(text[1:-1])
        if kind == "number":
            return self.translation.constant(float(text) if "." in text else int(text))
        if kind == "field":
            head, *rest = text.split(".")
            names = tuple(n for n in rest if n)
            if head == "$":  # the template's data, whatever range has made of `.`
                base = "__root"
            elif head.startswith("$"):
                base = self.translation.variable(head[1:])
            else:
                base = self.translation.dot
            return f"__field({base}, {names!r})" if names else base
        if kind == "ident":
            return self.translation.constant({"true": True, "false": False, "nil": None}[text])
        if text == "(":
            inner = self.pipeline()
            if self.take() != ("punct", ")"):
                raise TemplateError("unclosed '('")
            return inner
        raise TemplateError(f"unexpected {text!r} in action")


_ASSIGNMENT = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\s*(:?=)\s*(.*)", re.DOTALL)


class _Translated(NamedTuple):
    source: str  # the jinja2 template
    constants: list[Any]  # what its `__c[i]` are
    outputs: list[str] | None  # its `{{ }}` expressions in order, if it has no statements


def _translate(text: str) -> _Translated:
    translation = _Translation()
    parts: list[str] = ["{% set __vars = namespace() %}"]
    outputs: list[str] = []

    def output(expression: str) -> None:
        parts.append("{{ " + expression + " }}")
        outputs.append(expression)

    blocks: list[str] = []  # "if" or "range", innermost last
    position = 0
    pending_trim = False
    for match in _ACTION.finditer(text):
        literal = text[position : match.start()]
        if pending_trim:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        if literal:
            output(translation.constant(literal))
        position = match.end()
        pending_trim = bool(match.group(3))
        body = match.group(2).strip()
        if body.startswith("/*"):
            continue
        keyword, _, rest = body.partition(" ")
        assignment = _ASSIGNMENT.fullmatch(body)
        if keyword == "if":
            parts.append("{% if __truth(" + _PipelineParser(rest, translation).parse() + ") %}")
            blocks.append("if")
        elif keyword == "range":
            element = _ASSIGNMENT.fullmatch(rest.strip())
            if element and element.group(2) == ":=":  # range $e := pipeline
                translation.variables.add(element.group(1))
                rest = element.group(3)
            items = _PipelineParser(rest, translation).parse()
            dot = f"__dot{len(translation.dots)}"
            parts.append(f"{{% for {dot} in __iterate({items}) %}}")
            if element:
                parts.append(f"{{% set __vars.{element.group(1)} = {dot} %}}")
            translation.dots.append(dot)
            blocks.append("range")
        elif keyword == "else" and rest.strip().startswith("if "):
            condition = _PipelineParser(rest.strip()[3:], translation).parse()
            parts.append("{% elif __truth(" + condition + ") %}")
        elif body == "else":
            parts.append("{% else %}")
        elif body == "end":
            if not blocks:
                raise TemplateError("unexpected {{end}}")
            if blocks.pop() == "range":
                translation.dots.pop()
                parts.append("{% endfor %}")
            else:
                parts.append("{% endif %}")
        elif assignment:  # {{ $x := pipeline }}, {{ $x = pipeline }}: no output
            name, operator, pipeline = assignment.groups()
            if operator == ":=":
                translation.variables.add(name)
            value = _PipelineParser(pipeline, translation).parse()
            parts.append(f"{{% set {translation.variable(name)} = {value} %}}")
        elif keyword in ("with", "define", "template", "block"):
            raise TemplateError(f"{{{{{keyword}}}}} is not supported in templates")
        else:
            output("__str(" + _PipelineParser(body, translation).parse() + ")")
    literal = text[position:]
    if pending_trim:
        literal = literal.lstrip()
    if "{{" in literal or "}}" in literal:
        raise TemplateError("unclosed action")
    if literal:
        output(translation.constant(literal))
    if blocks:
        raise TemplateError(f"unexpected EOF: {{{{{blocks[-1]}}}}} without {{{{end}}}}")
    statements = len(parts) - len(outputs) > 1  # beyond the namespace every template sets
    return _Translated("".join(parts), translation.constants, None if statements else outputs)


if TYPE_CHECKING:
    import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2  # imported on first use: only templates with statements need it

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


# What a translation's expressions call, besides the data (`__root`) and its constants (`__c`).
HELPERS: dict[str, Any] = {
    "__f": FUNCTIONS,
    "__field": _field,
    "__iterate": _iterate,
    "__str": go_str,
    "__truth": go_truth,
}


class DestinationTemplate:
    """A destination (`push.dest`, `copy.to.path`): a template if it holds `{{` and `}}`.

    A template without statements (if, range, variables), the usual kind, is evaluated as
    one Python expression of its outputs: jinja2 is imported only for those that have them
    (its import and compile are a quarter of a push's start-up; docs/performance.md).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.is_template = "{{" in text and "}}" in text
        self._evaluate: Callable[[dict[str, Any]], str] | None = None
        self._constants: list[Any] = []
        if not self.is_template:
            return
        try:
            source, self._constants, outputs = _translate(text)
            if outputs is None:
                self._evaluate = _jinja2_template(source).render
            else:
                joined = "".join(f"{output}, " for output in outputs)
                code = compile(f"({joined})", "<template>", "eval")
                self._evaluate = lambda names: "".join(eval(code, {"__builtins__": {}}, names))
        except TemplateError as exc:
            raise TemplateError(f"template {text!r}: {exc}") from None

    def render(self, variables: dict[str, Any]) -> str:
        if self._evaluate is None:
            return self.text
        try:
            return self._evaluate({**HELPERS, "__root": variables, "__c": self._constants})
        except TemplateError as exc:
            raise TemplateError(f"template {self.text!r}: {exc}") from None
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise TemplateError(f"template {self.text!r}: {exc}") from None


def _jinja2_template(source: str) -> jinja2.Template:
    import jinja2

    try:
        return _environment().from_string(source)
    except jinja2.TemplateError as exc:  # a translation bug; still one clear line
        raise TemplateError(str(exc)) from None


def source_variables(source: ImageReference, user: dict[str, Any] | None = None) -> dict[str, Any]:
    """Template variables for one source image: user variables plus the module's own.

    `.module.image.src.reference.*` is KubeKey G1's name, `.module.image.reference.*` G2's.
    """
    fields = {
        "registry": source.registry,
        "repository": source.repository,
        "reference": source.reference if not source.tag else source.tag,
    }
    variables = dict(user or {})
    variables["module"] = {"image": {"src": {"reference": fields}, "reference": dict(fields)}}
    return variables


_DIGEST_AS_TAG = re.compile(rf"^(?P<name>.+):(?P<digest>{DIGEST.pattern})$")


def render_destination(
    template: DestinationTemplate, source: ImageReference, user: dict[str, Any] | None = None
) -> ImageReference:
    """The destination reference for `source`.

    Without a tag the destination takes the source's tag, or its digest for a digest source;
    `name:sha256:<hex>` (a digest rendered where a tag was expected) means `name@sha256:<hex>`.
    """
    rendered = read_digest_as_tag(template.render(source_variables(source, user)).strip())
    return tagged_like(parse_reference(rendered, require_tag_or_digest=False), source)


def read_digest_as_tag(text: str) -> str:
    """`name:sha256:<hex>` (a digest rendered where a tag goes, as KubeKey's builtin roles
    do for pinned images) as `name@sha256:<hex>`; anything else as it is."""
    match = _DIGEST_AS_TAG.match(text)
    return f"{match['name']}@{match['digest']}" if match else text


def tagged_like(destination: ImageReference, source: ImageReference) -> ImageReference:
    """`destination`, with `source`'s tag (or, for a digest source, its digest) if it names
    neither."""
    if destination.tag or destination.digest:
        return destination
    if source.tag:
        return destination.with_tag(source.tag)
    return destination.with_digest(source.digest or "")
