"""Reports a person reads: a corpus report of a batch run."""
