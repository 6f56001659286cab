"""Adapters that redeploy workloads: one module per orchestrator behind one small Protocol."""
