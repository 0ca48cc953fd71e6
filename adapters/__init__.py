"""Platform payloads (X12, EDIFACT, Shopify, carriers, OCEL…) → canonical events (issue: adapters).

Not built yet: the package exists so the distribution's layout is the one DESIGN.md describes.
"""
