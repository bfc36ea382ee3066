"""`make bench-peers`: our server against other projects doing the same job, in one run.

Each module in `bench.peers.__main__.MODULES` has a `main()` that installs nothing (the make
target has done that), measures us and its peer on the same machine with the same load
generator, and returns its figures with a `ratios` mapping (ours over theirs, higher is
better for us). A peer that is not installed is reported as such, with our figures alone.
"""
