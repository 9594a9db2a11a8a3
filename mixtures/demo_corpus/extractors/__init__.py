"""One text extractor per demo-corpus domain.

Each module has ``extract(files) -> Iterator[Doc]``: ``files`` maps an artifact key to its local
path; the artifact is read in place (zipfile / tarfile), never installed. Members are visited in
sorted order and every document gets an id that is unique within its domain.
"""
