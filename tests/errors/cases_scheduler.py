"""Catalogue rows for ``lbdsl solve --scheduler ADDRESS`` given an address Dask cannot use: an
unsupported protocol, the dashboard's web address, a malformed one, ``tls://`` without Dask's
TLS settings.  Each is refused at once, before any connection, in one line naming the
protocols Dask speaks or the form of an address (exit status 1).

A server that listens at the address but is not Dask's has no row here: its row would need a
port chosen when the test runs (the argv of a case is fixed, and docs/errors.md must not
change from run to run), and the one that never answers takes the whole 10 s time-out, which
only a test can lower.  tests/test_distributed_scheduler.py runs those against real servers
on localhost.
"""

from __future__ import annotations

from cases import GOOD, SETTINGS, Case, solve

__all__ = ["SCHEDULER_CASES"]

#: what the refusal of a protocol names
DASK_SPEAKS = "Dask speaks tcp://, tls://, ws://, wss://"

SCHEDULER_CASES: list[Case] = [
    solve(SETTINGS, "scheduler-unknown-protocol", GOOD, 1,
          f"the protocol 'foo' is not supported; {DASK_SPEAKS}",
          "`--scheduler foo://127.0.0.1:8786`, a protocol Dask does not speak",
          "--scheduler", "foo://127.0.0.1:8786"),
    solve(SETTINGS, "scheduler-dashboard-address", GOOD, 1,
          f"http:// is a web address (the dashboard's?), not the scheduler's; {DASK_SPEAKS}",
          "`--scheduler http://127.0.0.1:8787`, the dashboard's address",
          "--scheduler", "http://127.0.0.1:8787"),
    solve(SETTINGS, "scheduler-bad-port", GOOD, 1,
          "expected tcp://HOST:PORT, the port a number from 1 to 65535",
          "`--scheduler tcp://127.0.0.1:abc`, a port that is not a number",
          "--scheduler", "tcp://127.0.0.1:abc"),
    solve(SETTINGS, "scheduler-no-port", GOOD, 1, "expected tcp://HOST:PORT",
          "`--scheduler 127.0.0.1`, no port", "--scheduler", "127.0.0.1"),
    solve(SETTINGS, "scheduler-tls-without-settings", GOOD, 1,
          "tls:// needs Dask's TLS settings",
          "`--scheduler tls://127.0.0.1:8786` without Dask's TLS settings",
          "--scheduler", "tls://127.0.0.1:8786"),
]
