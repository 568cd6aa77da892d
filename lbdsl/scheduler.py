"""Connecting to a Dask scheduler someone else started (``lbdsl solve --scheduler ADDRESS``):
bounded in time whatever listens at the address, refused in one line when the address is not
one Dask can use.  Imported by :mod:`lbdsl.distributed` only when Dask is installed."""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn

from .errors import LbdslError

__all__ = ["SCHEDULER_TIMEOUT", "connect"]

#: How long ``--scheduler ADDRESS`` waits for the Dask scheduler there, in seconds: to connect,
#: and then for its answer (Dask's handshake, the scheduler's identity).  After that it gives
#: up with one line, whatever listens at the address — nothing, or a server that is not Dask's
#: and never answers (see :func:`_connect`).
SCHEDULER_TIMEOUT = 10


#: The seconds :func:`connect` waits beyond :data:`SCHEDULER_TIMEOUT` before it stops waiting
#: itself: Dask's own time-out on connecting (nothing listening) comes first, with its message.
_GRACE = 1.0


def connect(address: str) -> Any:
    """A ``Client`` of the Dask scheduler at ``address``, or ``LbdslError`` in one line.

    Dask bounds only the TCP connect by the client's ``timeout``: once a connection is open,
    its handshake waits for the peer's answer with no time-out at all, so a server that is not
    Dask's and keeps the connection open without answering (an HTTP server waits for a line
    end that never comes) keeps ``Client(address, timeout=10)`` waiting for ever.  So the
    client here also gives its whole start :data:`SCHEDULER_TIMEOUT` (plus :data:`_GRACE`),
    through the bound Dask's own ``sync`` offers (``callback_timeout``): both this thread's
    wait and the start on the client's event loop are cancelled then.  A start that fails
    either way closes the client and stops its event loop thread (Dask leaves both behind):
    nothing of it is left running.  The address is checked first: an unknown protocol (or the
    dashboard's ``http://`` address) or a malformed one is refused before any connection."""
    from dask.distributed import Client

    _check_address(address)
    timeout = SCHEDULER_TIMEOUT
    bound = timeout + _GRACE

    class _Client(Client):
        def start(self, **kwargs: Any) -> None:
            try:
                super().start(callback_timeout=bound, **kwargs)
            except BaseException:
                _discard(self)
                raise

    try:
        return _Client(address, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - every way to fail is said in one line
        raise LbdslError(f"cannot reach the Dask scheduler at {address}: "
                         f"{_why(exc, timeout)}") from None


def _discard(client: Any) -> None:
    """Close a client whose start failed, and stop its event loop thread (``close`` does not
    when the failed start has already closed the client)."""
    with contextlib.suppress(Exception):
        client.close(timeout=2)
    runner = getattr(client, "_loop_runner", None)
    if runner is not None:
        with contextlib.suppress(Exception):
            runner.stop()


def _why(exc: BaseException, timeout: float) -> str:
    """Why connecting failed, in words, from what Dask raised."""
    from distributed.comm.core import CommClosedError, FatalCommClosedError

    other = "(is something else listening there?)"
    if isinstance(exc, TimeoutError):            # ours, or Dask's wait for an answer
        return f"no Dask answer within {timeout:g} s {other}"
    if isinstance(exc, CommClosedError) and not isinstance(exc, FatalCommClosedError):
        return f"the connection was closed without a Dask answer {other}"
    if isinstance(exc, (OSError, ImportError, RuntimeError)):
        # nothing listening (Dask's time-out on connecting), TLS, a version mismatch, a
        # configuration that requires encryption: Dask's own words
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__
    # an answer that Dask could not read (garbage: a huge frame size, not a message, ...)
    return f"the answer is not Dask's {other}"


def _check_address(address: str) -> None:
    """``LbdslError`` in one line unless ``address`` is ``PROTOCOL://HOST:PORT`` (or
    ``HOST:PORT``, Dask's default protocol) with a protocol Dask speaks here."""
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.tcp import BaseTCPBackend

    def refuse(why: str) -> NoReturn:
        raise LbdslError(f"cannot reach the Dask scheduler at {address}: {why}")

    scheme, loc = parse_address(address)
    usable = _protocols()
    example = "tcp://HOST:8786, as `dask scheduler` prints it"
    if scheme in ("http", "https"):
        refuse(f"{scheme}:// is a web address (the dashboard's?), not the scheduler's; Dask "
               f"speaks {', '.join(p + '://' for p in usable)} (e.g. {example})")
    backend = registry.backends.get(scheme) if scheme in usable else None
    if backend is None and scheme not in registry.backends:
        with contextlib.suppress(ValueError):   # one a package adds (an entry point), or none
            backend = registry.get_backend(scheme)
    if backend is None:
        what = "is not available here" if scheme in registry.backends else "is not supported"
        refuse(f"the protocol {scheme!r} {what}; Dask speaks "
               f"{', '.join(p + '://' for p in usable)} (e.g. {example})")
    if isinstance(backend, BaseTCPBackend):
        try:
            host, port = parse_host_port(loc)
        except ValueError:
            host, port = "", 0
        if not host or not 1 <= port <= 65535:
            refuse(f"expected {scheme}://HOST:PORT, the port a number from 1 to 65535 "
                   f"(e.g. {example})")
    if scheme == "tls":
        from distributed.security import Security

        try:
            context = Security().get_connection_args("client").get("ssl_context")
        except Exception as exc:  # noqa: BLE001 - a bad TLS setting: said in one line
            refuse(f"Dask's TLS settings: {str(exc).strip().splitlines()[0]}")
        if context is None:
            refuse("tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file, "
                   ".client.cert and .client.key; e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE)")


def _protocols() -> list[str]:
    """The protocols Dask can connect with here: its registered ones that make a connector
    (``ucx`` is only a stub without ``distributed-ucxx``), less ``inproc`` (a scheduler in
    this very process)."""
    from distributed.comm import registry

    usable = []
    for name, backend in sorted(registry.backends.items()):
        if name == "inproc":
            continue
        try:
            backend.get_connector()
        except Exception:  # noqa: BLE001 - not usable here
            continue
        usable.append(name)
    return usable
