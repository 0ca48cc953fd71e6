"""Streamlit + Plotly over the query API: executive, operations, order trace (issue: the dashboard).

Not built yet: the package exists so the distribution's layout is the one DESIGN.md describes.
"""
