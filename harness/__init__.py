"""
The local-cluster harness: real haproxy processes, sorry servers, app servers, and Salt
masters and LB minions on loopback, started and stopped by PID. ``make demo``, the
benchmarks and the tests use it; it is no part of what operators install.
"""

from pathlib import Path

# The checkout: the harness points Salt's daemons at its _modules, _runners, salt/ ...
REPO = Path(__file__).resolve().parents[1]
