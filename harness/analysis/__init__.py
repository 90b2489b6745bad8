"""Analysis of a run directory: histograms, summaries, thresholds, recovery.

Nothing here imports Locust or gevent; it reads what a run wrote.
"""
