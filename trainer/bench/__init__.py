"""``python -m trainer.bench``: what each loader does against the lab's object store, in one run.

- :mod:`~trainer.bench.loaders`: loader throughput with no model, label mixing and peak memory;
- :mod:`~trainer.bench.ceiling`: the server's small-GET ceiling, measured with wrk;
- :mod:`~trainer.bench.training`: one epoch of the real trainer per loader (rate, data wait, accuracy);
- :mod:`~trainer.bench.verdicts`: the targets checked, tables, chart and JSON;
- :mod:`~trainer.bench.cli`: the command line that wires them.
"""

from trainer.bench.loaders import loader_factory, time_loader

__all__ = ["loader_factory", "time_loader"]
