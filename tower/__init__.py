"""Control Tower's shared core: the canonical event, settings, clock, store client and schema runner.

Nothing in this package imports a stage (`collector`, `correlator`, `slo`, `dashboard`, `adapters`);
the stages import it. The one composition root that wires stages together is `tower.cli`, and it
imports them lazily inside its commands.
"""

from tower import compiled as _compiled  # noqa: F401  (decides, before any of them loads, whether the compiled modules run)

__version__ = "0.1.0"
