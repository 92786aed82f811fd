"""Connectors to the systems the discom runs outside the hub.

One package per outside system. Each package holds:

* the interface (``zope.interface``) the hub codes against, with plain
  dataclasses for what crosses it;
* a *reference backend* that runs inside the hub on its own ``ref_`` tables,
  filled with generated data, so the product works alone;
* a *real client* for the discom's system (zeep for SOAP, httpx for REST),
  always with explicit timeouts.

Connectors never import ``hub``: the hub picks a class by ini setting and
constructs it through :func:`connectors.base.load_connector`.
"""
