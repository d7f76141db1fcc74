"""asv benchmark suites for matinv-bench (see asv.conf.json and the README's "Regression tracking")."""
