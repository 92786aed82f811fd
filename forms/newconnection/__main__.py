"""``python -m forms.newconnection > hub/connections/soap/connection-form.xsd``: regenerate the form XSD."""

from __future__ import annotations

import sys

from forms.newconnection import service_xsd

sys.stdout.buffer.write(service_xsd())
