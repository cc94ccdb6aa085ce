"""How large a workflow or action file may be.

Its own module so that reading a file (``load``) does not import PyYAML
(``yamlsource``), which a run that finds its workflow in the cache never needs.
"""

MAX_SOURCE_BYTES = 1024 * 1024
