"""Ctrl-C during a CP-SAT solve.

CP-SAT's own SIGINT handler (parameter `catch_sigint_signal`, on by default) replaces the process's
handler during a solve and leaves the default action behind when it is done, so a second Ctrl-C in
the same process (a sweep) killed it outright. Solves therefore run with that parameter off, in a
worker thread, while the main thread waits in short steps: Python raises `KeyboardInterrupt` there
at once, the search is stopped (`stop_search` is thread-safe), and the interrupt goes on to the CLI,
which prints `aborted` and exits 1.
"""

from __future__ import annotations

import threading

from ortools.sat.python import cp_model

WAIT_STEP_S = 0.05
"""How often the waiting main thread lets Python deliver a pending Ctrl-C."""


def interruptible_solve(solver: cp_model.CpSolver, model: cp_model.CpModel) -> int:
    """`solver.solve(model)`, stoppable with Ctrl-C (raises KeyboardInterrupt after stopping it)."""
    solver.parameters.catch_sigint_signal = False
    done = threading.Event()
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["status"] = solver.solve(model)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=work, name="cp-sat", daemon=True)
    try:
        thread.start()
        while not done.wait(WAIT_STEP_S):
            pass
    except KeyboardInterrupt:
        # The process must not exit while the search runs in C++ (std::terminate, exit -6): stop it and
        # wait for it, also when Ctrl-C came during `start()` or before the search began (a stop that
        # early is lost, so it is repeated), and through further Ctrl-Cs.
        while thread.is_alive():
            try:
                solver.stop_search()
                thread.join(WAIT_STEP_S)
            except KeyboardInterrupt:
                continue
        raise
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["status"]  # type: ignore[return-value]
