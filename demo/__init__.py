"""``make demo``: the whole story on a throw-away local Salt cluster (see demo/run.py)."""
