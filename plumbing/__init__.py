"""Shared plumbing under every app: encrypted fields and keyed hashes, the lead field
vocabulary, one-statement row writes, per-process objects, the SQLite backend with its
write queue, and the embedded broker. It imports no app of the project."""
