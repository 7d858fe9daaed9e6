"""Pipeline stages: each file holds pure functions on the typed records of record.py."""
