"""Alerts: rules -> lifecycle -> transactional outbox -> notifiers.

* ``rules.py``, ``content_rules.py``: pure rule evaluation (candidates with plain-Chinese evidence)
* ``lifecycle.py``: de-duplication, auto-resolve, cooldown / re-notify, silences, ack and resolve
* ``message.py``: the notification text duty staff read
* ``outbox.py``: notifications committed with their alert, delivered with retries
* ``engine.py``: the two scheduled jobs, ``evaluate_rules`` and ``deliver_outbox``
* ``loaders.py``: the reads the rules need; ``cli.py``: ``sensing alerts``
* ``notifiers/``: webhook, WeCom, DingTalk, Feishu, SMTP
"""
