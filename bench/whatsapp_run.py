"""One hub-worker's turn at a WhatsApp bill run, as a process the bench can kill mid-run.

    python bench/whatsapp_run.py <ini> <cycle>

Builds the hub from the ini, starts (or resumes) the run of <cycle> and hands off until it is
done, printing one JSON line every few seconds: handed off so far, seconds spent handing off,
and this process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from pyramid.paster import get_app

    from hub.outbox import unit_of_work
    from hub.whatsapp.service import run_bill_cycle, start_run

    ini, cycle = sys.argv[1], sys.argv[2]
    registry = get_app(ini, "main").registry
    with unit_of_work(registry) as session:
        start_run(session, cycle)
    handing = 0.0
    handed = 0
    while True:
        started = time.perf_counter()
        progress = run_bill_cycle(registry, cycle, max_seconds=2.0)
        handing += time.perf_counter() - started
        handed += progress.handed_now
        print(
            json.dumps(
                {
                    "state": progress.state,
                    "handed_off": progress.handed_off,
                    "handed_here": handed,
                    "eligible": progress.eligible,
                    "seconds": handing,
                    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            ),
            flush=True,
        )
        if progress.state != "running":
            return 0


if __name__ == "__main__":
    sys.exit(main())
