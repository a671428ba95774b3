"""The two papers' tables, built from the general estimators, with the printed numbers beside ours.

``sez.papers.agglomeration``: the agglomeration and export-entry paper (Tables 1-7).
``sez.papers.sez_paper``: the SEZ paper (facts, DiD, heterogeneity, mediation, the model's tables).
``sez.papers.numbers``: the papers' printed numbers, read from the CSV files in ``numbers/``.
"""
