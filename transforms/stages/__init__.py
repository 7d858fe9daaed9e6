"""The stages every chain runs whatever the variants — load, filter, blend, write — one file each.

load.py (bytes -> decoded, resized image), filter.py (score each candidate's mask, keep it or give the
rule that dropped it), blend.py (the source equals the target outside the dilated mask) and write.py (the
shard writer every output format shares). They are not variants: no registry here, and no ``kind`` picks
them; pipelines/chain.py places them in the one stage order around the variants the role folders hold.
"""
