"""Builders for the demo corpus, one module per format family (used by ``../build.py``)."""
