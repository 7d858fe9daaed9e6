"""Pipeline stages, by role: core/ (the ground floor: records, the stage wrapper, helpers), then sources/,
maskers/, removers/, quality/, language/ and formats/ side by side, each with one registry in its
__init__ and one file per variant. Stage code is pure functions on the typed records of core/records.py."""
