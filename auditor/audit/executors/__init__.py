"""Where an audit's units run: `local` (this process, one after another) or `ray` (actors on a Ray cluster).

`spec` names them (the `[run] executor` vocabulary), `local` and `ray` are the two mappers behind the
runner's `UnitMapper` seam, `replica` rebuilds a context elsewhere from the verified model bytes, and
`registry` (above them) opens the one a spec names.
"""
