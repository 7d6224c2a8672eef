"""Methods replaced at class level by an HTTP library's capture, and their originals.

The captures (`urllib3_capture`, `aiohttp_capture`) patch classes, not instances, so
clients created before `init()` are covered too. Each keeps one `ClassPatches`: `install`
checks that the library has every patch point before touching any (a version without one
is left alone entirely, never half patched), and `uninstall` puts back exactly what
`install` replaced, so installing and restoring stay one list instead of two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# (class, method name, replacement); the method names of one library are distinct.
Target = tuple[Any, str, Any]


class ClassPatches:
    def __init__(self) -> None:
        self.installed = False
        self._originals: dict[str, tuple[Any, Any]] = {}

    def original(self, name: str) -> Any:
        """The library's own method `name`, for the replacement to call."""
        return self._originals[name][1]

    def install(self, targets: Callable[[], Sequence[Target]]) -> bool:
        """Patch every target (idempotent); False when the library is not importable or lacks one.

        `targets` imports the library and lists the patch points; its ImportError (or any
        other failure) means "not installed", as the SDK must never raise into a connector.
        """
        if self.installed:
            return True
        try:
            points = targets()
        except Exception:  # noqa: BLE001 - a missing or broken library is simply not patched
            return False
        if not all(hasattr(cls, name) for cls, name, _ in points):
            return False
        for cls, name, patched in points:
            self._originals[name] = (cls, getattr(cls, name))
            setattr(cls, name, patched)
        self.installed = True
        return True

    def uninstall(self) -> None:
        """Put back the library's methods."""
        if not self.installed:
            return
        for name, (cls, original) in self._originals.items():
            setattr(cls, name, original)
        self.installed = False
