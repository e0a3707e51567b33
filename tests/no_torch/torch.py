"""Put first on PYTHONPATH by tests: makes ``import torch`` fail, as on a machine without it."""

raise ImportError("torch is blocked in this test process")
