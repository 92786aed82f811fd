"""WSGI entry point for granian: ``granian --interface wsgi hub.wsgi:application``.

The ini file comes from ``HUB_INI`` (default development.ini).
"""

from __future__ import annotations

import os

from pyramid.paster import get_app

_ini = os.environ.get("HUB_INI", "development.ini")
application = get_app(_ini, "main")
