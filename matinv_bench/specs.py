"""Spec strings and the registries that turn them into objects.

A spec is ``name`` or ``name[key=value,...]``, for example ``neumann[order=3]`` or
``randsvd[n=64,cond=1e8]``. A prefix spec ``npy:PATH`` passes everything after the colon
as the single parameter ``path``. Values are parsed as int, float, bool or string, in that
order of preference.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from matinv_bench import plugins
from matinv_bench.errors import SpecError

T = TypeVar("T")

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*$")


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` if it is an integer in [low, high] (bool, an int subclass, is not); else SpecError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        where = f">= {low}" if high is None else f"in {low}..{high}"
        raise SpecError(f"{name} must be an integer {where}, got {value!r}")
    return value


def parse_value(text: str) -> Any:
    """Parse one parameter value: int, then float, then bool, then string."""
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _split_params(body: str) -> list[str]:
    """Split ``a=1,b=[x,y]`` on top-level commas only (values may hold nested specs)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p for p in parts if p.strip()]


def parse_spec(spec: str, prefixes: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Return ``(name, params)`` for a spec string.

    Raises :class:`SpecError` with a readable message for malformed specs.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError(f"empty spec {spec!r}")
    for prefix in prefixes:
        if spec.startswith(prefix + ":"):
            path = spec[len(prefix) + 1 :]
            if not path:
                raise SpecError(f"spec {spec!r} needs a path after '{prefix}:'")
            return prefix, {"path": path}
    m = _SPEC.match(spec)
    if not m:
        raise SpecError(f"malformed spec {spec!r}: expected name or name[key=value,...]")
    name, body = m.group(1), m.group(2)
    params: dict[str, Any] = {}
    for item in _split_params(body or ""):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SpecError(f"malformed parameter {item.strip()!r} in spec {spec!r}: expected key=value")
        if key in params:
            raise SpecError(f"parameter {key!r} given twice in spec {spec!r}")
        params[key] = parse_value(value)
    return name, params


def _format_value(v: Any) -> str:
    if isinstance(v, float) and float(f"{v:g}") == v:
        return f"{v:g}"
    return str(v)


def format_spec(name: str, params: dict[str, Any]) -> str:
    """Canonical spec string: parameters sorted by key, so equal specs compare equal."""
    if not params:
        return name
    body = ",".join(f"{k}={_format_value(params[k])}" for k in sorted(params))
    return f"{name}[{body}]"


class Registry(Generic[T]):
    """A name -> class mapping filled by the :meth:`register` decorator.

    ``build(spec)`` checks the spec's parameters against the class's keyword arguments and
    raises :class:`SpecError` naming the allowed ones, so that a typo never reaches a solver.

    With ``plugins="group"`` the registry imports the plugins (:mod:`matinv_bench.plugins`: the
    files of ``MATINV_BENCH_PLUGINS`` and the entry points of that group) the first time it is
    read, and remembers which plugin registered which name (:meth:`origin`).
    """

    _plugins_lock = threading.RLock()

    def __init__(self, kind: str, prefixes: tuple[str, ...] = (), plugins: str | None = None):
        self.kind = kind
        self.prefixes = prefixes
        self.plugin_group = plugins
        self._classes: dict[str, type[T]] = {}
        self._origins: dict[str, str] = {}
        self._plugins_state = "none" if plugins is None else "pending"  # then "loading", "done"

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            cls.name = name  # type: ignore[attr-defined]
            self._classes[name] = cls
            origin = plugins.loading()
            if origin is not None:
                self._origins[name] = origin
            return cls

        return deco

    def _load_plugins(self) -> None:
        """Import the plugins once; other threads wait for it, a plugin that reads this registry
        while it is imported sees what is registered so far."""
        if self._plugins_state in ("none", "done"):
            return
        with self._plugins_lock:
            if self._plugins_state != "pending":
                return
            self._plugins_state = "loading"
            try:
                plugins.load(self.plugin_group)
            finally:
                self._plugins_state = "done"

    def origin(self, name: str) -> str | None:
        """The plugin that registered ``name`` (``file PATH`` or ``entry point ...``); None for
        the package's own."""
        self._load_plugins()
        return self._origins.get(name)

    def from_plugins(self) -> list[str]:
        """The names registered by plugins, sorted."""
        self._load_plugins()
        return sorted(n for n in self._origins if n in self._classes)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._classes)

    def get(self, name: str) -> type[T]:
        self._load_plugins()
        try:
            return self._classes[name]
        except KeyError:
            known = ", ".join(self.names())
            raise SpecError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def parameters(self, name: str) -> dict[str, Any]:
        """The keyword parameters of a registered class and their defaults."""
        sig = inspect.signature(self.get(name).__init__)
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def build(self, spec: str) -> T:
        """Instantiate a spec string; the object keeps its canonical spec in ``.spec``."""
        name, params = parse_spec(spec, self.prefixes)
        cls = self.get(name)
        allowed = self.parameters(name)
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            hint = ", ".join(allowed) or "none"
            raise SpecError(f"{self.kind} {name!r} has no parameter {', '.join(unknown)}; allowed: {hint}")
        try:
            obj = cls(**params)
        except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. int(1e400) overflows
            raise SpecError(f"bad parameters for {self.kind} {spec!r}: {exc}") from None
        obj.spec = spec if name in self.prefixes else format_spec(name, params)  # type: ignore[attr-defined]
        obj.params = params  # type: ignore[attr-defined]
        return obj
