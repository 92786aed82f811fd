"""hub.routing: a fixed path goes straight to its route, and always to the route Pyramid's order picks."""

from __future__ import annotations

from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.interfaces import IRoutesMapper
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from webtest import TestApp

from hub.routing import RoutesMapper


def _named(name: str) -> Any:
    def view(request: Request) -> Response:
        return Response(f"{name} {dict(request.matchdict or {})}")

    return view


def _app(routes: list[tuple[str, str, dict[str, Any]]]) -> tuple[TestApp, RoutesMapper]:
    registry = Registry("test_routing")
    mapper = RoutesMapper()
    registry.registerUtility(mapper, IRoutesMapper)
    config = Configurator(registry=registry)
    config.setup_registry()
    for name, pattern, predicates in routes:
        config.add_route(name, pattern, **predicates)
        config.add_view(_named(name), route_name=name)
    return TestApp(config.make_wsgi_app()), mapper


def test_a_fixed_path_reaches_its_route() -> None:
    app, _ = _app([("a", "/a", {}), ("b", "/b", {}), ("c", "c", {})])
    assert app.get("/b").text == "b {}"
    assert app.get("/c").text == "c {}", "a pattern without its leading slash is still /c"
    app.get("/d", status=404)


def test_an_earlier_pattern_route_matching_the_path_still_wins() -> None:
    app, _ = _app([("any", "/items/{name}", {}), ("new", "/items/new", {})])
    assert app.get("/items/new").text == "any {'name': 'new'}"


def test_a_fixed_route_whose_predicates_refuse_leaves_it_to_the_next() -> None:
    app, _ = _app(
        [
            ("post_only", "/thing", {"request_method": "POST"}),
            ("pattern", "/{what}", {}),
            ("get", "/thing", {}),
        ]
    )
    assert app.post("/thing").text == "post_only {}"
    assert app.get("/thing").text == "pattern {'what': 'thing'}"


@pytest.mark.parametrize("path", ["/a/", "/a\n", "/A", "/a/b"])
def test_paths_that_are_not_exactly_a_fixed_route_are_matched_as_pyramid_does(path: str) -> None:
    routes: list[tuple[str, str, dict[str, Any]]] = [("a", "/a", {}), ("rest", "/a/*rest", {})]
    app, _ = _app(routes)
    plain = Configurator()
    for name, pattern, predicates in routes:
        plain.add_route(name, pattern, **predicates)
        plain.add_view(_named(name), route_name=name)
    expected = TestApp(plain.make_wsgi_app()).get(path, expect_errors=True)
    answer = app.get(path, expect_errors=True)
    assert (answer.status, answer.text) == (expected.status, expected.text)


def test_a_route_added_after_the_first_request_is_found() -> None:
    app, mapper = _app([("a", "/a", {})])
    app.get("/b", status=404)
    mapper.connect("b", "/b")
    assert mapper(Request.blank("/b"))["route"].name == "b"


def test_the_hub_uses_it(wsgi_app: Any) -> None:
    assert isinstance(wsgi_app.registry.getUtility(IRoutesMapper), RoutesMapper)
