"""WSGI entry point for granian: ``granian --interface wsgi hub.wsgi:application``.

The ini file comes from ``HUB_INI`` (default development.ini).
"""

from __future__ import annotations

import gc
import os

from pyramid.paster import get_app

_ini = os.environ.get("HUB_INI", "development.ini")
application = get_app(_ini, "main")
# Everything loaded so far lives as long as the process: keep the cyclic
# collector from scanning it again on every full collection.
gc.collect()
gc.freeze()
