"""The first step of a run: a YAML scenario becomes a validated model.

- :mod:`.parse`: YAML in (with file:line:field errors), a :class:`~.model.Scenario` out;
- :mod:`.model`: the typed scenario, its operations and server set-ups, CLI overrides;
- :mod:`.opspec`: which fields each op takes, and operations compiled for a worker;
- :mod:`.generators`: value generators (uniform, zipf, sequential, string);
- :mod:`.durations`: ``2s``, ``500ms``, ``1m``.

This package imports nothing by itself: workers import :mod:`.opspec` and :mod:`.generators`
(pure Python) under other drivers' interpreters, without PyYAML.
"""
