"""Hostile conditions shared by tests/hostile (small counts) and bench/hostile_bench.py (soak).

:mod:`~testkit.hostile.client` a raw-socket HTTP client and random reports,
:mod:`~testkit.hostile.ledger` what was sent and acknowledged, reconciled with the export,
:mod:`~testkit.hostile.scenarios` crash and load runs against a live gunicorn,
:mod:`~testkit.hostile.batch_reader` a strict reader of exported batches,
:mod:`~testkit.hostile.mutations` damaged batches for the analyst's tool.
"""
