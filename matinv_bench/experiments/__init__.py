"""Named suites and paper experiments composed from the solver and dataset registries."""
