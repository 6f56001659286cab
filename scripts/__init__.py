"""Scripts run by the Makefile (``make demo``)."""
