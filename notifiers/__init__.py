"""Adapters that tell people about deploys: one module per channel behind one small Protocol."""
