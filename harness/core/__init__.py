"""The pure core: notation, patterns, segments, scenarios as data, claims, verdicts.

Nothing here needs privileges or touches the kernel: it reads text and bytes it is given and
returns values, so it is unit-tested without root. It imports only the standard library.
"""

#: The packages of the harness this package may import (besides itself).
MAY_IMPORT: tuple[str, ...] = ()
