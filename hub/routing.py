"""Route matching that goes straight to a fixed path's route.

Pyramid's mapper tries every route in the order they were added until one
matches: a request for the 23rd route runs 22 regular expressions first
(~0.3 µs each, and the path is decoded again for it). Most of the hub's hot
paths are fixed (``/api/v1/certificates/verify``, ``/soap/election``), so
:class:`RoutesMapper` indexes them: for a request whose path is exactly a fixed
route's pattern it tries only the earlier routes that match that very path
(found once, with their own matchers), then that route. Anything else, and a
route whose predicates refuse the request, goes through Pyramid's scan, so
the route chosen is always the one Pyramid's order would choose.
"""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.urldispatch import Route
from pyramid.urldispatch import RoutesMapper as PyramidRoutesMapper

# For a fixed path: the routes to try in order (earlier routes matching it, then its own).
_Candidates = tuple[Route, ...]


class RoutesMapper(PyramidRoutesMapper):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._fixed: dict[str, _Candidates] | None = None

    def connect(self, *args: Any, **kwargs: Any) -> Route:
        self._fixed = None  # routes changed: index again on the next request
        return super().connect(*args, **kwargs)

    def _index(self) -> dict[str, _Candidates]:
        routes: list[Route] = list(self.routelist)
        fixed: dict[str, _Candidates] = {}
        for position, route in enumerate(routes):
            path = route.pattern if route.pattern.startswith("/") else "/" + route.pattern
            # A fixed path is one its own route matches with no variable part, and
            # that holds only printable ASCII (then PATH_INFO as the server passes
            # it is the same text as the decoded path Pyramid matches).
            if path in fixed or not (path.isascii() and path.isprintable()) or route.match(path) != {}:
                continue
            earlier = [r for r in routes[:position] if r.match(path) is not None]
            fixed[path] = (*earlier, route)
        self._fixed = fixed
        return fixed

    def __call__(self, request: Request) -> dict[str, Any]:
        fixed = self._fixed
        if fixed is None:
            fixed = self._index()
        path = request.environ.get("PATH_INFO") or "/"
        candidates = fixed.get(path)
        if candidates is not None:
            for route in candidates:
                match = route.match(path)
                if match is None:
                    continue
                info = {"match": match, "route": route}
                preds = route.predicates
                if preds and not all(p(info, request) for p in preds):
                    continue
                return info
        result: dict[str, Any] = super().__call__(request)
        return result
