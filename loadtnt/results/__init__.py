"""A run's output: the result file and what is computed from the workers' parts.

- :mod:`.entries`: one ``runs`` entry per op from the workers' histograms, the per-second timeline;
- :mod:`.file`: the ``loadtnt-result/1`` file, written atomically and read back;
- :mod:`.environment`: where a run ran (versions, commit, CPU);
- :mod:`.summary`: the table printed at the end of ``loadtnt run``.
"""
