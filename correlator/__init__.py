"""Identity resolution over business objects → order journeys, their milestones, durations and anomalies."""

import tower  # noqa: F401  (first: `tower.compiled` decides whether this package's compiled modules run)
