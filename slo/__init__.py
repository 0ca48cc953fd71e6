"""SLIs from journeys, error budgets, multiwindow burn-rate alerts, reconciliation (issue: SLOs).

Not built yet: the package exists so the distribution's layout is the one DESIGN.md describes.
"""
