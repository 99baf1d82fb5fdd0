"""
The HTTP discipline every upstream shares (the PIM and every REST DAM): timeouts, retries with a
total deadline, the fair-use limiter and its 429 pause, auth hooks and request observation.
"""
