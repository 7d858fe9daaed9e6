"""The ground floor every stage stands on: records, keys, the stage wrapper, geometry, mask decoding, image
bytes, text helpers, file I/O and fetching. Nothing here imports a role folder or pipelines/."""
