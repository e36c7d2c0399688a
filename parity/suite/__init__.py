"""The parity suite: statistics proving that torch samples are distributed like TensorFlow's.

* :mod:`parity.suite.stats` — exact targets, streaming grid KS, variance z-test, Holm.
* :mod:`parity.suite.references` — TensorFlow/Keras reference samples, live or recorded.
* :mod:`parity.suite.runner` — the case matrix and how one case is run.
* :mod:`parity.suite.mutants` — known-wrong initializers the suite must flag.
* :mod:`parity.suite.report` — ``report.md``, ``report.json`` and the plots.
* :mod:`parity.suite.cli` — ``python -m parity``.

Nothing here is imported by ``import parity``; scipy, matplotlib, rich and TensorFlow are
imported by the modules that need them.
"""
