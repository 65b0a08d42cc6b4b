"""Read stage: paths, stdin, directories, archives and compression in; newline-aligned blocks and records out.

`inputs` finds what to read, `decompress`/`blocks` turn bytes into bounded blocks, `entries` finds
entry boundaries, `text` cleans, and `formats/` holds one module per input format and the registry.
"""
