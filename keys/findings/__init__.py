"""Findings for the published report: ``python -m keys summary DIR`` (issue 16).

Standard library only, like the rest of keys/: it reads a decrypt output
directory and writes a self-contained folder of static HTML pages and CSV tables.
``summarize`` in keys.findings.build is the entry point.
"""
