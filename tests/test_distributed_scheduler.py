"""``lbdsl solve --scheduler ADDRESS`` gives up after its time-out whatever answers at the
address, in one line (exit status 1, no traceback), and leaves nothing running.

Dask bounds only the TCP connect by the client's time-out: a server that accepts the connection
and then never answers Dask's handshake (an HTTP server waits for a line end that never comes)
kept ``Client(address, timeout=10)`` waiting for ever.  These run the real command line against
real servers on localhost — ``http.server``, a socket server that accepts and never answers, and
ones that answer garbage — with the time-out set lower (:data:`SCHEDULER_TIMEOUT`), and once
with the documented 10 s in a fresh ``python -m lbdsl``.  The bounds on the time they take are
generous: these are hang tests, not speed tests."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import lbdsl.distributed
import lbdsl.scheduler
from lbdsl.cli import main

pytest.importorskip("dask.distributed")

SPEC = """network p {
    input u : 4x4
    param W : 8x16 = normal(std = 1, seed = 0)
    h = relu(W @ u)
    output h
}
invert p {
    truth = image("shepp_logan", size = 4x4)
    data = forward(truth)
    figures = false
    solver = pdhg(max_iter = 5)
}
"""

#: far above any time-out here, far below "for ever"
BOUND = 60
#: the time-out the in-process tests set (seconds)
QUICK = 1

NOT_DASK = "(is something else listening there?)"


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.lbn"
    path.write_text(SPEC)
    return path


# ---------------------------------------------------------------------------------------------
# servers that are not Dask's, each on a free port of localhost, for the test's duration


@contextlib.contextmanager
def _http_server() -> Iterator[str]:
    """``python -m http.server``, in a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def _socket_server(answer: bytes | None, hang_up: bool = False) -> Iterator[str]:
    """A server that accepts every connection and sends ``answer`` (None: nothing, ever),
    then keeps the connection open (``hang_up``: closes it)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if answer is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(answer)
            if hang_up:
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=10)
        for conn in held:
            conn.close()
        listener.close()


SERVERS = {
    # what answers, the server, what the line says
    "http-server": (_http_server, f"no Dask answer within {QUICK} s {NOT_DASK}"),
    "silent": (lambda: _socket_server(None), f"no Dask answer within {QUICK} s {NOT_DASK}"),
    # a frame of 16 bytes announced, 3 sent: Dask waits for the rest
    "short-frame": (lambda: _socket_server(b"\x10" + b"\0" * 7 + b"abc"),
                    f"no Dask answer within {QUICK} s {NOT_DASK}"),
    # read as the size of a frame: exabytes
    "garbage": (lambda: _socket_server(b"HTTP/1.0 400 Bad request\r\n\r\n"),
                f"the answer is not Dask's {NOT_DASK}"),
    "garbage-hang-up": (lambda: _socket_server(b"nope\r\n", hang_up=True),
                        f"the connection was closed without a Dask answer {NOT_DASK}"),
}


def _dask_threads() -> set[threading.Thread]:
    """The threads Dask's clients run their event loops in."""
    return {t for t in threading.enumerate() if t.name == "IO loop"}


def _one_line(err: str, address: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: cannot reach the Dask scheduler at {address}: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("server", list(SERVERS))
def test_a_server_that_is_not_dask_is_given_up_in_one_line(spec, server, capsys, monkeypatch):
    """In this process, the time-out lowered: exit status 1, one line that says what happened,
    and no Dask event loop thread left behind."""
    monkeypatch.setattr(lbdsl.scheduler, "SCHEDULER_TIMEOUT", QUICK)
    start_server, says = SERVERS[server]
    before = _dask_threads()
    with start_server() as address:
        start = time.monotonic()
        status = main(["solve", "spec.lbn", "--out", "out", "--scheduler", address])
        took = time.monotonic() - start
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert _one_line(err, address).endswith(says), err
    assert took < BOUND
    assert _dask_threads() <= before            # the failed client's event loop is stopped
    assert not (spec.parent / "out").exists()


@pytest.mark.parametrize(("address", "says"), [
    ("foo://127.0.0.1:1", "the protocol 'foo' is not supported; Dask speaks tcp://"),
    ("http://127.0.0.1:8787", "http:// is a web address (the dashboard's?), not the "
                              "scheduler's; Dask speaks tcp://"),
    ("inproc://x", "the protocol 'inproc' is not available here; Dask speaks tcp://"),
    ("ucx://127.0.0.1:1", "Dask speaks tcp://"),   # not here without distributed-ucxx
    ("tcp://127.0.0.1:abc", "expected tcp://HOST:PORT, the port a number from 1 to 65535"),
    ("tcp://127.0.0.1", "expected tcp://HOST:PORT"),
    ("127.0.0.1:99999", "expected tcp://HOST:PORT"),
    ("tcp://[::1", "expected tcp://HOST:PORT"),
    ("", "expected tcp://HOST:PORT"),
])
def test_an_unsupported_or_malformed_address_is_one_line(spec, address, says, capsys):
    """Refused before any connection: at once, in one line that names Dask's protocols or
    the form of an address."""
    start = time.monotonic()
    status = main(["solve", "spec.lbn", "--out", "out", "--scheduler", address])
    took = time.monotonic() - start
    out, err = capsys.readouterr()
    assert status == 1, out + err
    assert says in _one_line(err, address), err
    assert took < BOUND


def test_tls_without_dask_tls_settings_is_one_line(spec, capsys):
    import dask

    unset = {f"distributed.comm.tls.{key}": None
             for key in ("ca-file", "client.cert", "client.key")}
    with dask.config.set(unset):
        assert main(["solve", "spec.lbn", "--scheduler", "tls://127.0.0.1:1"]) == 1
    line = _one_line(capsys.readouterr().err, "tls://127.0.0.1:1")
    assert "tls:// needs Dask's TLS settings" in line


#: the command line in a fresh process with the time-out lowered (else as ``python -m lbdsl``)
QUICK_CLI = ("import sys, lbdsl.scheduler as d; d.SCHEDULER_TIMEOUT = {timeout}; "
             "from lbdsl.cli import main; sys.exit(main())")


def _run(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=BOUND,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, time.monotonic() - start


@pytest.mark.parametrize("server", ["http-server", "silent"])
def test_the_process_ends_promptly_after_giving_up(spec, server):
    """A fresh process: it says its one line and exits — no event loop thread, no exit
    handler keeps it alive."""
    start_server, says = SERVERS[server]
    with start_server() as address:
        proc, took = _run([sys.executable, "-c", QUICK_CLI.format(timeout=QUICK), "solve",
                           "spec.lbn", "--out", "out", "--scheduler", address], spec.parent)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _one_line(proc.stderr, address).endswith(says), proc.stderr
    assert took < BOUND


def test_the_documented_time_out_against_http_server(spec):
    """The report: ``python -m http.server`` and ``--scheduler tcp://127.0.0.1:PORT``, with the
    documented 10 s — given up after it, not never."""
    with _http_server() as address:
        proc, took = _run([sys.executable, "-m", "lbdsl", "solve", "spec.lbn", "--out", "out",
                           "--scheduler", address], spec.parent)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert lbdsl.scheduler.SCHEDULER_TIMEOUT == 10
    assert _one_line(proc.stderr, address).endswith(f"no Dask answer within 10 s {NOT_DASK}")
    assert 10 <= took < BOUND
