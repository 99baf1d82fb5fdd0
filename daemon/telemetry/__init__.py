"""
What the daemon tells its operators: Prometheus metrics and structured logs.
"""
