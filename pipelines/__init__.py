"""Beam pipeline assembly and the `inpaint-pairs` command line."""
