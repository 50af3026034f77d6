"""Bounds on what one template render may cost: time, and the size of the values it builds.

Templates come from the config but run over customer data, and a template or ``when:`` that loops for
minutes would stall routing. Jinja has no step counter and a CPU-bound render cannot be interrupted from
outside, so the sandbox checks in from inside: ``tick()`` runs at every call, attribute or item lookup
and every iteration of a ``{% for %}`` loop (``bounded_loops`` wraps each loop's iterable when a template
is parsed), and raises ``RenderTimeout`` once the deadline of the current ``budget()`` has passed.
Operations that could build a huge value in one step (``*``, ``+``, ``%``, ``~``, a width such as
``center(10**9)``) are checked before they run, and a render's output is capped at ``MAX_SIZE``
characters, so no single step can take long enough to matter between two ticks.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.visitor import NodeTransformer

DEFAULT_TIMEOUT = 1.0  # seconds; ``delivery.render_timeout``
MAX_SIZE = 1_000_000  # characters (or items) of one rendered template or one value built inside it
LOOP_FILTER = "_bounded"  # the filter bounded_loops wraps around every loop's iterable
CONCAT_FILTER = "_concat"  # the filter that replaces ``a ~ b`` in templates


class RenderTimeout(Exception):
    """The render ran past its deadline."""

    def __init__(self, seconds: float):
        super().__init__(f"render timed out after {seconds:g}s")


class RenderTooLarge(Exception):
    """A value or the output would be larger than ``MAX_SIZE``."""


class LeaveTheLoop(BaseException):
    """The work ran past the budget of ``on_the_loop``: give up this attempt and run it on the render thread.

    A BaseException, so the ``except Exception`` that turns a failing condition or action into its own
    outcome lets it through: the whole attempt is abandoned, not one action marked as failed."""


CLOCK_EVERY = 64  # ticks between two looks at the clock (reading it costs more than everything else in a tick)


class _Meter:
    """The render budget of one thread: its deadline, its time limit and ticks until the next clock check."""

    __slots__ = ("deadline", "loop_deadline", "steps", "timeout")

    def __init__(self) -> None:
        self.deadline = math.inf
        self.loop_deadline = math.inf  # set by ``on_the_loop``
        self.timeout = DEFAULT_TIMEOUT
        self.steps = CLOCK_EVERY


# A context variable rather than a thread-local: as private to each thread (a new thread starts with an empty
# context) and cheaper to read, which matters at every attribute lookup.
_METER: contextvars.ContextVar[_Meter] = contextvars.ContextVar("render_meter")
_now = time.monotonic


def _meter() -> _Meter:
    meter = _METER.get(None)
    if meter is None:
        meter = _Meter()
        _METER.set(meter)
    return meter


def tick() -> None:
    """Raise RenderTimeout when the current budget's deadline has passed (looked at every CLOCK_EVERY ticks)."""
    meter = _METER.get(None)
    if meter is None:
        return  # no budget was ever opened here
    meter.steps -= 1
    if meter.steps <= 0:
        meter.steps = CLOCK_EVERY
        now = _now()
        if now > meter.loop_deadline:
            raise LeaveTheLoop
        if now > meter.deadline:
            raise RenderTimeout(meter.timeout)


class on_the_loop:
    """Work inside may take ``seconds`` in all before ``tick`` raises LeaveTheLoop (its own budgets still
    apply). The route stage renders on the event loop this way: a usual plan takes well under a millisecond,
    less than handing it to the render thread and back costs, and one that would take longer leaves after
    ``seconds`` and runs again on the thread (``plan`` is pure, so running it twice is safe)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self) -> None:
        meter = _meter()
        meter.loop_deadline = _now() + self.seconds
        meter.steps = 1

    def __exit__(self, *exc: object) -> None:
        _meter().loop_deadline = math.inf


class time_limit:
    """Budgets opened inside last ``seconds`` (``delivery.render_timeout``) instead of DEFAULT_TIMEOUT."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.previous = DEFAULT_TIMEOUT

    def __enter__(self) -> None:
        meter = _meter()
        self.previous, meter.timeout = meter.timeout, self.seconds

    def __exit__(self, *exc: object) -> None:
        _meter().timeout = self.previous


class budget:
    """Everything rendered inside shares one deadline, the time limit from now; a nested budget keeps
    the outer deadline (one action's templates, its ``for_each`` and all its items share one)."""

    __slots__ = ("meter", "outer")

    def __enter__(self) -> None:
        self.meter = meter = _meter()
        self.outer = meter.deadline == math.inf
        if self.outer:
            meter.deadline = _now() + meter.timeout
            meter.steps = 1  # the first tick looks at the clock

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.outer:
            self.meter.deadline = math.inf


def bounded(iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable, ticking at every element."""
    for item in iterable:
        tick()
        yield item


def _sized(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
        raise RenderTooLarge(f"a value of more than {MAX_SIZE:,} characters or items")
    return value


def concat(parts: Iterable[Any]) -> str:
    """``a ~ b ~ c`` with the size checked."""
    return str(_sized("".join(str(part) for part in parts)))


_BIG_WIDTH = re.compile(r"%[-#0 +]*(\*|\d{7,})|\{[^{}]*?\d{7,}[^{}]*\}")


def check_format(text: Any) -> None:
    """Refuse a ``%`` or ``{}`` format with a width of a million or more (``'%1000000000d'``)."""
    if isinstance(text, str) and _BIG_WIDTH.search(text):
        raise RenderTooLarge("a format width of a million or more")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``**``, ``+`` and ``%`` whose result would be too large, before computing it."""
    tick()
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_SIZE:
                raise RenderTooLarge(f"a value of more than {MAX_SIZE:,} characters or items")
    elif operator == "**":
        if isinstance(left, int | float) and isinstance(right, int | float) and abs(right) > 1000:
            raise RenderTooLarge("an exponent above 1000")
    elif operator == "+":
        sequences = isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple)
        if sequences and len(left) + len(right) > MAX_SIZE:
            raise RenderTooLarge(f"a value of more than {MAX_SIZE:,} characters or items")
    elif operator == "%":
        check_format(left)


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map"})


def check_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Before a call from a template: tick, and refuse a huge width to ``str`` methods and ``lipsum``."""
    tick()
    owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)  # the sandbox wraps str.format
    name = getattr(obj, "__name__", "")
    if (isinstance(owner, str) and name in _WIDTH_METHODS) or name == "generate_lorem_ipsum":
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
                raise RenderTooLarge(f"{name}: a number above {MAX_SIZE:,}")
        if name == "format" and isinstance(owner, str):
            check_format(owner)


def guard_widths(func: Callable[..., Any], *, format_arg: bool = False) -> Callable[..., Any]:
    """A filter that refuses an int argument above MAX_SIZE (``indent(10**9)``), or a huge format width."""

    @functools.wraps(func)  # keeps jinja's pass_environment / pass_eval_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
                raise RenderTooLarge(f"{func.__name__}: a number above {MAX_SIZE:,}")
        if format_arg:
            check_format(next((a for a in args if isinstance(a, str)), None))
        return func(*args, **kwargs)

    return guarded


WIDTH_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice")


def install(env: jinja2.Environment) -> None:
    """Register the filters ``bounded_loops`` refers to and guard the filters that take a width."""
    for name in WIDTH_FILTERS:
        env.filters[name] = guard_widths(env.filters[name])
    env.filters["format"] = guard_widths(env.filters["format"], format_arg=True)
    env.filters[LOOP_FILTER] = bounded
    env.filters[CONCAT_FILTER] = concat


class _Bound(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        loop: Any = self.generic_visit(node)
        loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        return loop  # type: ignore[no-any-return]

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        joined: Any = self.generic_visit(node)
        items = nodes.List(list(joined.nodes), lineno=joined.lineno)
        return nodes.Filter(items, CONCAT_FILTER, [], [], None, None, lineno=joined.lineno)


def bounded_loops(tree: nodes.Template, env: jinja2.Environment) -> nodes.Template:
    """The parsed template with every loop's iterable ticking and every ``~`` size-checked."""
    result = _Bound().visit(tree)
    result.set_environment(env)
    return result  # type: ignore[no-any-return]


def render(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """``template.render(context)`` with the output capped at MAX_SIZE characters."""
    parts: list[str] = []
    size = 0
    for chunk in template.root_render_func(template.new_context(dict(context))):
        size += len(chunk)
        if size > MAX_SIZE:
            raise RenderTooLarge(f"output of more than {MAX_SIZE:,} characters")
        parts.append(chunk)
    return "".join(parts)
