"""Pipeline stages, by role: core/ (the ground floor: records, the stage wrapper, helpers), then sources/,
maskers/, removers/, quality/, language/ and formats/ side by side, each with one registry in its
__init__ and one file per variant, and beside them stages/, the stages every chain runs whatever the
variants (load, filter, blend, write). Stage code is pure functions on the typed records of core/records.py."""
