"""Clinician reports (HTML and PDF) with plots; no Qt (matplotlib object API on Agg)."""
