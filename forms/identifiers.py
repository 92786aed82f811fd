"""The discom's identifiers as partners, officers and consumers type them.

ASCII digits only: ``\\d`` would also accept Devanagari digits (०-९) and other scripts' digits,
which billing and the SMS gateway do not.
"""

from __future__ import annotations

import re

# A consumer number (IVRS / K number): billing's 10 to 12 digits.
CONSUMER_NUMBER = re.compile(r"[0-9]{10,12}")
# An Indian mobile number without the country code.
MOBILE = re.compile(r"[6-9][0-9]{9}")
