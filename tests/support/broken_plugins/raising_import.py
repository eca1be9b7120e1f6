"""A plugin whose module fails at import, as one does when its vendor library is missing."""

raise RuntimeError("libacme_smi.so.3: cannot open shared object file")
