"""The one home of shadowgap's statistics: estimators, intervals and weighting.

Views (API, dashboard, alerts, reports) and detectors read these; they never re-derive a
formula of their own.
"""
