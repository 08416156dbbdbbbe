"""Quality SLOs per segment: objectives, error budgets, burn rates and burn-rate alerts.

The metric and its statistics are defined in :mod:`shadowgap.stats.slo`; this package reads
the judged pairs (:mod:`shadowgap.slo.budget`), decides (:mod:`shadowgap.slo.rules`) and raises
the ``slo_burn`` alert (:mod:`shadowgap.slo.alerting`). docs/slo.md is the manual.
"""
