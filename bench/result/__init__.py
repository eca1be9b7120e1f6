"""What a run leaves on disk and how it is read back: the result model, its files, the trace, integrity,
submission bundles and the folder store.

Nothing here measures or scores: these modules read and write plain data (JSON, Parquet, tar.gz).
"""
