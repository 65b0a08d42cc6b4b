"""Match stage: raw blocks and compiled rules in; hits (which rule matched which record) out.

`scanner` finds candidate lines by literal prefilter, `engine` parses and evaluates only those, and
`parallel` runs the same over entry-aligned byte ranges in worker processes.
"""
