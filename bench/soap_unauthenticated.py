"""What one unauthenticated 10 MiB SOAP envelope costs the hub: wall time and peak RSS growth.

    .venv/bin/python bench/soap_unauthenticated.py [--mib 10] [--credentials none|username-token]

The envelope goes to /soap/singlewindow in this process (no server), with no credentials
or with a UsernameToken of a client that does not exist. Its Body holds many small
elements, the shape that costs a DOM parser the most memory. A small envelope is sent
first so that what the app builds on its first request is not counted. Peak RSS is the
process's high-water mark (ru_maxrss) after the big request, less the one before it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import logging
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import hub_environment
from bench.profile_platform import call

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"


def username_token() -> bytes:
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha1(
        nonce + created.encode() + b"wrong"
    ).digest()  # the UsernameToken profile prescribes SHA-1
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        "<wsse:Username>nobody</wsse:Username>"
        f'<wsse:Password Type="{DIGEST}">{base64.b64encode(digest).decode()}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    ).encode()


def envelope(size: int, credentials: str) -> bytes:
    header = (
        b"<soap:Header>" + username_token() + b"</soap:Header>" if credentials == "username-token" else b""
    )
    head = f'<soap:Envelope xmlns:soap="{SOAP11_ENV}">'.encode() + header + b"<soap:Body><x>"
    tail = b"</x></soap:Body></soap:Envelope>"
    item = b"<i>1</i>"
    return head + item * max(0, (size - len(head) - len(tail)) // len(item)) + tail


def max_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=float, default=10.0)
    parser.add_argument("--credentials", choices=("none", "username-token"), default="none")
    args = parser.parse_args()
    from pyramid.paster import get_app

    with hub_environment(ratelimit="database") as env:
        app = get_app(str(env.ini), "main")
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        with open(env.root / "bench.log", "w") as log_file, contextlib.redirect_stderr(log_file):
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(log_file)
            call(app, "POST", "/soap/singlewindow", headers, envelope(1024, args.credentials))
            body = envelope(int(args.mib * 1024 * 1024), args.credentials)
            before = max_rss_kib()
            started = time.perf_counter()
            status, answer = call(app, "POST", "/soap/singlewindow", headers, body)
            elapsed = time.perf_counter() - started
            after = max_rss_kib()
    code = answer.split(b"<hub:code>")[1].split(b"<")[0].decode() if b"<hub:code>" in answer else "-"
    print(
        f"{len(body) / 1048576:.1f} MiB, credentials {args.credentials}: {status} {code}, "
        f"{elapsed * 1000:.0f} ms, peak RSS +{(after - before) / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
