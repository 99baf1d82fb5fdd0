"""
The running daemon: the composition root that wires settings to parts, the scheduler, signals,
and the HTTP endpoints (/metrics, /healthz, /readyz).
"""
