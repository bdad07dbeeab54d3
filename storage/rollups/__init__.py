"""The summary tables the store keeps from the tags: hourly rollups, daily/monthly levels, tag quality.

``hourly`` and ``levels`` hold the tables and how a range is rebuilt, ``tag_quality`` the per-source
model-tag counts, ``refresh`` the incremental refresh that keeps the three in step.
"""
