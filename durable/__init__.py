"""Crash-safe files for every folder: atomic replaces (fsync'd file and directory), fsync'd appends, the JSONL log.
The bottom layer: imports nothing of swe_dagger, so sandbox/, envs/, teachers/ and dagger/ all write through it."""
