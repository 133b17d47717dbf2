"""The worker process: ``python -m loadtnt.worker``, one per (driver, loop, trial) and worker index.

It speaks JSON lines: the parent writes a job and then commands on stdin, the worker answers on
stdout (see :mod:`.channel`).  It imports only pure-Python harness modules, the optional Cython
recorder and hot loop (built for the same CPython) and hdrhistogram — no PyYAML, no driver until
its adapter connects — so it also runs under another driver's interpreter.
"""
